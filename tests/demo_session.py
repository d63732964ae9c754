"""A filled demo session and the views of it that the snapshot tests and tools/screenshots.py show.

`fill_session` fills a session the way a user would, against the embedded demo services: a topic
tree with generated and triaged pairs, an exported dataset, a finished four-job sweep (one job
overfits), the best job deployed, a judged comparison against a reference model, and two saved
playground prompt versions. Calls to the LLM emulator go one at a time from a rewound sampler (the
two targets of the comparison answer greedily, as they answer at once), and job and endpoint names
are fixed, so two fills hold the same pairs, curves and verdicts.

The `show_*` coroutines drive a running app (keys only) to the state each picture shows.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

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
JOB_PREFIX = "td-demo-5eed-"  # the session's job-name prefix, otherwise random


def demo_config() -> Any:
    """The shipped defaults (no user config), with the demo trainer and endpoints fast and the LLM unthrottled."""
    from core.config import load_config

    config = load_config(include_user=False)
    config.demo.epoch_seconds, config.demo.endpoint_seconds = 0.5, 0.5
    for profile in (config.llm.generator, config.llm.judge):
        profile.rpm, profile.tpm = 100_000, 100_000_000
    return config


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
        max_concurrency=1,
    )
    asyncio.run(
        _with_target(
            services, "generator", lambda t: PairGenerator(store, t, settings, model=config.llm.generator.model).run()
        )
    )
    asyncio.run(_with_target(services, "judge", lambda t: score_pairs(store, t, concurrency=1)))
    run_curation(store, config)
    pairs = list(store.iter_pairs())
    flagged = [p.id for p in pairs if p.flags]
    clean = [p.id for p in pairs if not p.flags]
    # most clean pairs accepted, half of the flagged ones rejected, the rest left for review
    store.set_statuses({"accepted": clean[:-8], "rejected": flagged[: len(flagged) // 2]})
    export_dataset(store, config, format="instruction", statuses=("accepted",))


def run_sweep(store: Any, config: Any) -> None:
    from core.training.jobs import PREFIX_META_KEY, JobsService, SweepSpec

    store.set_meta(PREFIX_META_KEY, JOB_PREFIX)  # the demo trainer seeds each job's curves from its name
    # A wide log window: under load the demo trainer's log lines land late, and a narrow one skips
    # some of them. Frequent status polls make up the time it costs.
    jobs = JobsService(store, config, log_settle_seconds=8.0, initial_log_settle_seconds=8.0, describe_interval=1.0)
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
    row = endpoints.deploy(endpoints.plan_finetuned(best["job"], endpoint_name=f"{best['job']}-ep"))
    endpoints.wait(row.name, poll_s=0.3, timeout_s=60)
    return row.name


def compare_with_reference(store: Any, services: Any, endpoint: str) -> None:
    from core.evaluation.judge import EvalSettings, evaluate
    from core.evaluation.questions import generate_question_set

    asyncio.run(
        _with_target(
            services,
            "generator",
            lambda t: generate_question_set(store, t, "heldout", per_topic=2, brief=BRIEF, concurrency=1),
        )
    )
    asyncio.run(
        evaluate(
            services,
            f"endpoint:{endpoint}",
            REFERENCE,
            set_name="heldout",
            settings=EvalSettings(temperature=0.0, concurrency=1),
        )
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


def fill_session(store: Any, config: Any, step: Callable[[str], None] = lambda _: None) -> None:
    """Fill `store` against the running demo services (see core.sandbox.demo.start_demo); `step` hears progress."""
    from core.sandbox.llm.engine import reset_sampling
    from core.services import Services

    reset_sampling()
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


# ---- driving the app to each picture -------------------------------------------------------------


async def wait_for(pilot: Any, condition: Callable[[], Any], what: str, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        await pilot.pause(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


async def settle(pilot: Any) -> None:
    """Let running workers finish and the screen repaint."""
    await pilot.pause()
    for _ in range(400):
        if all(worker.is_finished for worker in pilot.app.workers):
            break
        await asyncio.sleep(0.02)
    await pilot.pause(0.3)


async def show_topics(pilot: Any) -> None:
    """The tree with per-topic question and accepted counts, a leaf selected."""
    from textual.widgets import Tree

    app = pilot.app
    await pilot.press("1")
    tree = app.query_one("#topic-tree", Tree)
    await wait_for(pilot, lambda: len(list(tree.root.children)) == len(TREE), "the topic tree")
    tree.root.expand_all()
    tree.focus()
    await pilot.press("home", "down", "down", "down")
    await settle(pilot)


async def show_pairs(pilot: Any) -> None:
    """The table and the detail of a flagged pair."""
    await pilot.press("2")
    await settle(pilot)
    table = pilot.app.active_pane.table
    for _ in range(40):
        pair = table.cursor_pair
        if pair is not None and pair.flags:
            break
        await pilot.press("j")
    await settle(pilot)


async def show_jobs(pilot: Any) -> None:
    """Four finished jobs, loss sparklines, the overfitting flag, the plot of the flagged job."""
    await pilot.press("3")
    jobs = pilot.app.active_pane
    await wait_for(pilot, lambda: jobs.snapshot is not None and len(jobs.snapshot.rows) == 4, "the job table")
    flagged = next((i for i, r in enumerate(jobs.snapshot.rows) if r.assessment.flagged), 0)
    jobs.table.focus()
    await pilot.press("home", *["down"] * flagged, "p")
    await settle(pilot)


async def show_compare(pilot: Any) -> None:
    """The judged comparison with its league score, on a question the fine-tuned model won (else lost)."""
    await pilot.press("4")
    compare = pilot.app.active_pane
    await wait_for(pilot, lambda: compare.report is not None and compare.report.complete, "the evaluation")
    await settle(pilot)
    outcomes = [item.outcome for item in compare.report.items]
    shown = next((outcomes.index(o) for o in ("A", "B") if o in outcomes), 0)
    await pilot.press(*["j"] * shown)
    await settle(pilot)


async def show_playground(pilot: Any) -> None:
    """Two streamed answers from the fine-tuned endpoint to QUESTION."""
    from textual.widgets import Input

    app = pilot.app
    await pilot.press("5")
    playground = app.active_pane
    await settle(pilot)
    question = app.query_one("#pg-question", Input)
    question.focus()
    await pilot.press(*QUESTION, "ctrl+j")
    runs = playground.runs
    await wait_for(pilot, lambda: runs.current is not None and not runs.running, "the playground answers")
    if app.focused is question:
        await pilot.press("home")  # show the start of the question
    await settle(pilot)


PANE_VIEWS = {
    "topics": show_topics,
    "pairs": show_pairs,
    "jobs": show_jobs,
    "compare": show_compare,
    "playground": show_playground,
}
