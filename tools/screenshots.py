"""Render one SVG screenshot per pane into docs/screenshots/ (`make screenshots`).

Runs headless (Textual's Pilot) against the embedded demo services, after filling a throw-away
session the way a user would: a topic tree with generated and triaged pairs, an exported dataset,
a finished four-job sweep (one job overfits), the best job deployed, a judged comparison against
a reference model, and a streamed playground answer. HOME, XDG_* and TUNEDECK_SESSIONS_DIR point
into a temporary folder, so the user's config and sessions are never read or written.

    python tools/screenshots.py [--out docs/screenshots] [--keep]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SIZE = (140, 40)
BRIEF = "Household energy for UK customers: bills, meters, tariffs and help with debt."
TREE = {
    "Bills and payments": ["Reading your bill", "Payment plans", "Direct debits"],
    "Meters": ["Smart meter displays", "Submitting readings", "Prepayment meters"],
    "Tariffs": ["Fixed and variable tariffs", "Standing charges", "Switching supplier"],
    "Help and debt": ["Priority services", "Debt advice"],
}
# on a dataset this small only epoch=3 at 2e-4 overfits (checked against the demo trainer's loss model)
SWEEP = ["epoch=2,3", "learning_rate=0.00005,0.0002"]
SYSTEM_PROMPT = (
    "You are a friendly UK household energy adviser. Answer in plain language, in at most "
    "five sentences, and say when the customer should call their supplier."
)
REFERENCE = "openai:meta-llama/Llama-3.3-70B-Instruct"  # the league's judge compares with a larger model
QUESTION = "Why does my smart meter show two rates?"


def isolate(tmp: Path) -> None:
    """Point every per-user location into `tmp` before any tunedeck module reads them."""
    home = tmp / "home"
    (home / ".config").mkdir(parents=True)
    os.environ.update(
        {
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_CACHE_HOME": str(home / ".cache"),
            "TUNEDECK_SESSIONS_DIR": str(tmp / "sessions"),
            "TEXTUAL_ANIMATIONS": "none",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "OPENAI_BASE_URL", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)


def step(text: str) -> None:
    print(f"  {text}", file=sys.stderr, flush=True)


# ---- filling the session ----------------------------------------------------------------------


async def _with_target(services: Any, role: str, body: Callable[[Any], Any]) -> Any:
    target = services.chat_target(role)
    try:
        return await body(target)
    finally:
        await target.aclose()


def add_topics_and_pairs(store: Any, config: Any, services: Any) -> None:
    """A hand-made tree (as after editing the LLM's proposal), generated pairs, scored, curated, triaged."""
    from core.curation.service import export_dataset, run_curation, score_pairs
    from core.generation.generate import GenerationSettings, PairGenerator

    for category, subtopics in TREE.items():
        parent = store.add_topic(category)
        for name in subtopics:
            store.add_topic(name, parent)
    store.set_meta("domain_brief", BRIEF)
    settings = GenerationSettings(
        questions_per_topic=6,
        refusal_share=config.generation.refusal_share,
        answer_style=config.generation.answer_style,
    )
    asyncio.run(
        _with_target(
            services, "generator", lambda t: PairGenerator(store, t, settings, model=config.llm.generator.model).run()
        )
    )
    asyncio.run(_with_target(services, "judge", lambda t: score_pairs(store, t, concurrency=16)))
    run_curation(store, config)
    pairs = list(store.iter_pairs())
    flagged = [p.id for p in pairs if p.flags]
    clean = [p.id for p in pairs if not p.flags]
    # most clean pairs accepted, half of the flagged ones rejected, the rest left for review
    store.set_statuses({"accepted": clean[:-8], "rejected": flagged[: len(flagged) // 2]})
    export_dataset(store, config, format="instruction", statuses=("accepted",))


def run_sweep(store: Any, config: Any) -> None:
    from core.training.jobs import JobsService, SweepSpec

    jobs = JobsService(store, config)
    plan = jobs.plan_sweep(SweepSpec.from_strings(config.jumpstart.training_instance, SWEEP))
    jobs.launch_sweep(plan, accept_eula=True)
    deadline = time.monotonic() + 180
    while not jobs.idle():
        if time.monotonic() > deadline:
            raise RuntimeError("the sweep did not finish in 3 minutes")
        jobs.tick()
        time.sleep(0.3)


def deploy_best_job(store: Any, config: Any) -> str:
    """Deploy the job with the lowest eval loss among those not flagged; returns the endpoint name."""
    from core.serving.endpoints import EndpointManager
    from core.training.prices import PriceTable
    from core.training.sheet import sheet_records

    records = [
        r
        for r in sheet_records(store, PriceTable(config.jumpstart.prices), time.time())
        if r["status"] == "Completed" and r["best_eval_loss"] is not None
    ]
    best = min(records, key=lambda r: (r["overfitting"], r["best_eval_loss"]))
    endpoints = EndpointManager(store, config)
    row = endpoints.deploy(endpoints.plan_finetuned(best["job"]))
    endpoints.wait(row.name, poll_s=0.3, timeout_s=60)
    return row.name


def compare_with_reference(store: Any, services: Any, endpoint: str) -> None:
    from core.evaluation.judge import EvalSettings, evaluate
    from core.evaluation.questions import generate_question_set

    asyncio.run(
        _with_target(
            services, "generator", lambda t: generate_question_set(store, t, "heldout", per_topic=2, brief=BRIEF)
        )
    )
    asyncio.run(
        evaluate(services, f"endpoint:{endpoint}", REFERENCE, set_name="heldout", settings=EvalSettings(concurrency=8))
    )


def prepare_playground(store: Any) -> None:
    """Two saved prompt versions; the draft is the second one, with two samples per run."""
    from core.playground.rounds import Params, save_version
    from tui.panes.playground.pane import DRAFT_META

    first = save_version(store, "v1 plain", "You are a helpful assistant.", Params(0.7, 0.9, 512))
    second = save_version(store, "v2 adviser", SYSTEM_PROMPT, Params(0.4, 0.9, 384), parent_id=first.id)
    store.set_meta(
        DRAFT_META,
        {
            "system_prompt": SYSTEM_PROMPT,
            "temperature": 0.4,
            "top_p": 0.9,
            "max_tokens": 384,
            "samples": 2,
            "version_id": second.id,
        },
    )


def populate(store: Any, config: Any) -> None:
    from core.services import Services

    services = Services(store, config)
    step("topic tree, generated pairs, scores, curation, triage, export")
    add_topics_and_pairs(store, config, services)
    step("a sweep of four jobs, watched until done")
    run_sweep(store, config)
    step("deploy the best job")
    endpoint = deploy_best_job(store, config)
    step("held-out questions and a judged comparison with the reference model")
    compare_with_reference(store, services, endpoint)
    step("playground versions and draft")
    prepare_playground(store)


# ---- taking the pictures ----------------------------------------------------------------------


async def wait_for(pilot: Any, condition: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        await pilot.pause(0.05)
    raise RuntimeError(f"screenshots: timed out waiting for {what}")


async def settle(pilot: Any) -> None:
    """Let running workers finish and the screen repaint."""
    await pilot.pause()
    for _ in range(400):
        if all(worker.is_finished for worker in pilot.app.workers):
            break
        await asyncio.sleep(0.02)
    await pilot.pause(0.3)


def screen_text(app: Any) -> str:
    """The screen as plain text (for reviewing the pictures in a terminal)."""
    strips = app.screen._compositor.render_strips()
    return "\n".join("".join(segment.text for segment in strip).rstrip() for strip in strips) + "\n"


async def shoot(app: Any, out: Path, *, text: bool = False) -> list[Path]:
    from textual.widgets import Input, Tree

    saved: list[Path] = []

    def save(name: str) -> None:
        path = Path(app.save_screenshot(filename=f"{name}.svg", path=str(out)))
        saved.append(path)
        if text:
            (out / f"{name}.txt").write_text(screen_text(app), encoding="utf-8")
        step(f"saved {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")

    async with app.run_test(size=SIZE) as pilot:
        # Topics: the tree with per-topic question and accepted counts, a leaf selected
        await pilot.press("1")
        tree = app.query_one("#topic-tree", Tree)
        await wait_for(pilot, lambda: len(list(tree.root.children)) == len(TREE), "the topic tree")
        tree.root.expand_all()
        tree.focus()
        await pilot.press("home", "down", "down", "down")
        await settle(pilot)
        save("topics")

        # Pairs: the table and the detail of a flagged pair
        await pilot.press("2")
        await settle(pilot)
        pane = app.active_pane
        table = pane.table
        for _ in range(40):
            pair = table.cursor_pair
            if pair is not None and pair.flags:
                break
            await pilot.press("j")
        await settle(pilot)
        save("pairs")

        # Jobs: four finished jobs, loss sparklines, the overfitting flag, the plot of the flagged job
        await pilot.press("3")
        jobs = app.active_pane
        await wait_for(pilot, lambda: jobs.snapshot is not None and len(jobs.snapshot.rows) == 4, "the job table")
        rows = jobs.snapshot.rows
        flagged = next((i for i, r in enumerate(rows) if r.assessment.flagged), 0)
        jobs.table.focus()
        await pilot.press("home", *["down"] * flagged, "p")
        await settle(pilot)
        save("jobs")

        # Compare: the judged comparison with its league score
        await pilot.press("4")
        compare = app.active_pane
        await wait_for(pilot, lambda: compare.report is not None and compare.report.complete, "the evaluation")
        await settle(pilot)
        outcomes = [item.outcome for item in compare.report.items]
        shown = next((outcomes.index(o) for o in ("A", "B") if o in outcomes), 0)
        await pilot.press(*["j"] * shown)  # a decided question: one the fine-tuned model won, else lost
        await settle(pilot)
        save("compare")

        # Playground: two streamed answers from the fine-tuned endpoint
        await pilot.press("5")
        playground = app.active_pane
        await settle(pilot)
        app.query_one("#pg-question", Input).focus()
        await pilot.press(*QUESTION, "ctrl+j")
        await wait_for(
            pilot, lambda: playground.job is not None and not playground.job.running, "the playground answers"
        )
        if app.focused is app.query_one("#pg-question", Input):
            await pilot.press("home")  # show the start of the question
        await settle(pilot)
        save("playground")
    return saved


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--text", action="store_true", help="also write each screen as plain text (NAME.txt)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary session folder")
    args = parser.parse_args(argv)

    tmp = Path(tempfile.mkdtemp(prefix="tunedeck-screenshots-"))
    isolate(tmp)
    from core.config import load_config
    from core.sandbox.demo import start_demo
    from core.sessions import open_session
    from tui.app import TunedeckApp

    config = load_config(include_user=False)
    config.demo.epoch_seconds, config.demo.endpoint_seconds = 0.5, 0.5
    for profile in (config.llm.generator, config.llm.judge):
        profile.rpm, profile.tpm = 100_000, 100_000_000
    args.out.mkdir(parents=True, exist_ok=True)
    print("filling a demo session…", file=sys.stderr)
    demo = start_demo(config)
    try:
        store = open_session("demo")
        try:
            populate(store, config)
            print("taking screenshots…", file=sys.stderr)
            app = TunedeckApp(store, config, demo=True, check_identity=True)
            asyncio.run(shoot(app, args.out.resolve(), text=args.text))
        finally:
            store.close()
    finally:
        demo.stop()
        if args.keep:
            print(f"session kept in {tmp}", file=sys.stderr)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
