"""The Playground pane: rehearse the final round against the fine-tuned endpoint.

Left: the system prompt, the question, temperature / top_p / max new tokens / samples, the target
and the saved prompt versions. Right: the round clock, the answers streaming side by side, and a
detail panel (diff, judge verdict, rehearsal scores).

Store writes and file I/O run in thread workers; streaming, judging and rehearsal in a BackgroundRun.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.validation import Integer
from textual.widgets import Input, Label, OptionList, Select, Static, TextArea
from textual.worker import Worker, WorkerFailed

from core.playground.ballot import results_line, stored_results
from core.playground.final import round_rules
from core.playground.finalists import MAX_FINALISTS
from core.playground.rounds import (
    MAX_TOKENS_RANGE,
    SAMPLES_RANGE,
    TEMPERATURE_RANGE,
    TOP_P_RANGE,
    DiffLine,
    Params,
    PlaygroundError,
    RoundClock,
    RunPlan,
    SampleUpdate,
    checked_round_seconds,
    chosen_sample,
    diff_versions,
    export_version,
    next_version_name,
    pick_in_comparison,
    plan_comparison,
    plan_run,
    round_seconds,
    save_version,
    set_round_seconds,
    target_choices,
    version_stats,
    winning_version,
)
from tui.account_mode import refused_in_console
from tui.background import RunSlot
from tui.keys import bound_keys, hint
from tui.panes.base import Pane
from tui.panes.playground.params import ParamControl
from tui.panes.playground.round_timer import RoundTimer
from tui.panes.playground.rules_line import RulesLine
from tui.panes.playground.samples import SampleView
from tui.panes.playground.versions import VersionList
from tui.screens.ask import AskText
from tui.text import safe, safe_line

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from textual.app import ComposeResult

    from core.playground.rehearsal import RehearsalProgress
    from core.playground.rounds import VersionStats
    from core.store.playground import PromptVersionRow
    from tui.messages import RunFinished

CUSTOM_TARGET = "__custom__"
DRAFT_META = "playground.draft"
TICK_SECONDS = 0.5
_DIFF_STYLES = {
    "add": "$success",
    "remove": "$error",
    "hunk": "$accent",
    "header": "bold",
    "param": "$warning",
    "note": "$text-muted",
    "same": "",
}


@dataclass
class SampleStreamed(Message):
    update: SampleUpdate

    def can_replace(self, message: Message) -> bool:
        return (
            isinstance(message, SampleStreamed)
            and message.update.sample_id == self.update.sample_id
            and not message.update.done
        )


@dataclass(frozen=True)
class _Generation:
    """What one ctrl+j asks for, read from the editor before the runs are written."""

    question: str
    target: str
    k: int
    round_id: int | None
    round_started_at: float | None
    system_prompt: str
    params: Params
    editor_version: int | None
    versions: tuple[int | None, int | None] | None  # side by side: the versions marked A and B
    token_cap: int  # the event's answer token cap (0 = none)


@dataclass
class FinetunedCounted(Message):
    """How many fine-tuned endpoints the session has (none: the answers area names the step before)."""

    count: int


@dataclass
class RehearsalProgressed(Message):
    progress: RehearsalProgress

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RehearsalProgressed)


class PlaygroundPane(Pane):
    PANE_ID = "playground"
    TITLE = "Playground"
    STYLESHEET = "playground.tcss"
    BINDINGS = [  # the footer shows the main ones; the status line and F1 list them all
        Binding("ctrl+j", "generate", "Generate", id="playground.generate", tooltip="Stream k answers"),
        Binding(
            "ctrl+r",
            "generate(True)",
            "Regenerate",
            id="playground.regenerate",
            show=False,
            tooltip="New answers to the same question",
        ),
        Binding("escape", "cancel", "Cancel", id="playground.cancel"),
        Binding(
            "ctrl+t", "submit", "Hand in", id="playground.submit", tooltip="Record the chosen answer for this round"
        ),
        Binding("ctrl+n", "new_round", "New round", id="playground.new_round", show=False),
        Binding("ctrl+s", "save_version", "Save version", id="playground.save"),
        Binding("f2", "focus_field('pg-system')", "System prompt", id="playground.focus_prompt", show=False),
        Binding("f3", "focus_field('pg-question')", "Question", id="playground.focus_question", show=False),
        Binding("ctrl+o", "focus_field('pg-versions')", "Versions", id="playground.versions", show=False),
        Binding(
            "ctrl+b",
            "toggle_compare",
            "Side by side",
            id="playground.compare",
            tooltip="Run the versions marked A and B on the same question",
        ),
        Binding("ctrl+g", "judge", "Ask the judge", id="playground.judge"),
        Binding("f4", "round_length", "Round length", id="playground.round_length", show=False),
        Binding(
            "f6",
            "bank",
            "Prompt bank",
            id="playground.bank",
            show=False,
            tooltip="Load the next prepared prompt, with the question's temperature and top_p preset",
        ),
        Binding(
            "f7",
            "finalists",
            "Finalists",
            id="playground.finalists",
            show=False,
            tooltip="Up to five versions answer the question; the judge ranks them into the event's points",
        ),
        Binding(
            "f8",
            "tricks",
            "Trick questions",
            id="playground.tricks",
            show=False,
            tooltip="Letter counts, sums and dates with checkable answers, asked with the editor's prompt",
        ),
    ]

    clock: Callable[[], float] = time.time  # tests put a fake clock here

    def __init__(self, store, config, **kwargs) -> None:
        super().__init__(store, config, **kwargs)
        self.runs = RunSlot(self, cancel_binding="playground.cancel")
        self.round_length = round_seconds(store, config)
        self.rules = round_rules(store, config)
        self.generations_used = 0  # answers generated for the current question (the rules may limit them)
        self._ballot_line: str | None = None
        self.round = RoundClock(self.round_length, clock=self._now)
        self.round_id: int | None = None  # set once the store has recorded the round
        self._round_recorded: Worker[None] | None = None
        self._planning = False  # a generation's runs are being written to the store
        self.round_question = ""
        self._auto_tried = False
        self.current_version_id: int | None = None
        self.marks: dict[str, int] = {}
        self.compare_mode = False
        self.comparison_id: int | None = None
        self.last_question = ""
        self.views: dict[int, SampleView] = {}
        self._targets: list[str] = []

    def _now(self) -> float:
        return type(self).clock()

    # ---- layout --------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        draft = self.store.get_meta(DRAFT_META, {}) or {}
        league = self.config.league  # the event's inference parameters, until the user changes them
        params = Params(
            float(draft.get("temperature", league.temperature)),
            float(draft.get("top_p", league.top_p)),
            int(draft.get("max_tokens", league.max_new_tokens)),
        )
        self.current_version_id = draft.get("version_id")
        with Horizontal(id="pg-main"):
            with Vertical(id="pg-left"):
                yield Label("System prompt", classes="pg-label")
                yield TextArea(
                    str(draft.get("system_prompt", "")), id="pg-system", soft_wrap=True, tab_behavior="focus"
                )
                yield Input(placeholder="Question (enter starts the round clock)", id="pg-question")
                yield ParamControl(
                    "temperature",
                    value=params.temperature,
                    minimum=TEMPERATURE_RANGE[0],
                    maximum=TEMPERATURE_RANGE[1],
                    step=0.05,
                    coarse=0.25,
                    id="pg-temperature",
                )
                yield ParamControl(
                    "top_p",
                    value=params.top_p,
                    minimum=TOP_P_RANGE[0],
                    maximum=TOP_P_RANGE[1],
                    step=0.01,
                    coarse=0.1,
                    id="pg-top-p",
                )
                yield ParamControl(
                    "max tokens",
                    value=params.max_tokens,
                    minimum=MAX_TOKENS_RANGE[0],
                    maximum=MAX_TOKENS_RANGE[1],
                    step=8,  # [league] max_new_tokens, e.g. 200, lies on the grid
                    coarse=256,
                    decimals=0,
                    id="pg-max-tokens",
                )
                yield ParamControl(
                    "samples",
                    value=int(draft.get("samples", 1)),
                    minimum=SAMPLES_RANGE[0],
                    maximum=SAMPLES_RANGE[1],
                    step=1,
                    coarse=2,
                    decimals=0,
                    id="pg-samples",
                )
                yield Select(
                    self._target_options(), value=self._targets[0], allow_blank=False, compact=True, id="pg-target"
                )
                yield Label(self._versions_hint(), classes="pg-label")
                yield VersionList(id="pg-versions")
            with Vertical(id="pg-right"):
                yield RoundTimer(id="pg-timer")
                yield Static(id="pg-mode")
                yield RulesLine(id="pg-rules")
                with Horizontal(id="pg-answers"):
                    yield Static(
                        Content.styled(
                            f"Answers appear here: type a question, then {bound_keys(self, 'playground.generate')}.",
                            "$text-muted",
                        ),
                        classes="pg-placeholder",
                    )
                with VerticalScroll(id="pg-detail"):
                    yield Static(id="pg-detail-text")
        yield Static(safe(self._hint()), id="pg-status", classes="pane-status")

    def _hint(self) -> str:
        return hint(
            self,
            ("playground.generate", "generate"),
            ("playground.regenerate", "regenerate"),
            ("playground.cancel", "cancel"),
            ("playground.submit", "hand in"),
            ("playground.new_round", "new round"),
            ("playground.save", "save version"),
            ("playground.focus_prompt", "prompt"),
            ("playground.focus_question", "question"),
            ("playground.versions", "versions"),
            ("playground.compare", "side by side"),
            ("playground.judge", "judge"),
            ("playground.round_length", "round length"),
            ("playground.bank", "prompt bank"),
            ("playground.finalists", "finalists"),
            ("playground.tricks", "trick questions"),
            separator=" · ",
            joiner=" ",
        )

    def _versions_hint(self) -> str:
        keys = hint(
            self,
            "enter",
            (("versions.mark_a", "versions.mark_b"), "mark"),
            ("versions.diff", "diff"),
            ("versions.rehearse", "rehearse"),
            (("versions.export", "versions.export_winner"), "export"),
            separator="·",
            joiner=" ",
        )
        return f"Versions: {keys}"

    def _target_options(self) -> list[tuple[Content, str]]:
        if not self._targets:
            self._targets = target_choices(self.store, self.config)
        options = [(safe_line(t, 60), t) for t in self._targets]
        options.append((Content.styled("other target…", "$text-muted italic"), CUSTOM_TARGET))
        return options

    def on_mount(self) -> None:
        self.refresh_versions()
        self._show_mode()
        self._read_ballot()
        self._show_rules()
        self.query_one(RoundTimer).show(self.round)
        self.set_interval(TICK_SECONDS, self._tick)
        self._count_finetuned()

    def pane_shown(self) -> None:
        self._count_finetuned()
        self.refresh_versions()
        self._read_ballot()
        self._show_rules()
        self._tick()

    # ---- small helpers -------------------------------------------------------------------
    @property
    def system_prompt(self) -> str:
        return self.query_one("#pg-system", TextArea).text

    def _param(self, name: str) -> ParamControl:
        return self.query_one(f"#pg-{name}", ParamControl)

    def params(self) -> Params:
        return Params(
            round(self._param("temperature").value, 4),
            round(self._param("top-p").value, 4),
            int(self._param("max-tokens").value),
        )

    @property
    def samples_k(self) -> int:
        return int(self._param("samples").value)

    @property
    def target(self) -> str:
        value = self.query_one("#pg-target", Select).value
        return value if isinstance(value, str) and value != CUSTOM_TARGET else self._targets[0]

    def _status(self, text: str) -> None:
        self.query_one("#pg-status", Static).update(safe(text))

    def _detail(self, content: Content) -> None:
        self.query_one("#pg-detail-text", Static).update(content)
        self.query_one("#pg-detail", VerticalScroll).scroll_home(animate=False)

    def _busy(self) -> bool:
        if self.runs.running or self._planning:
            self.app.notify(f"Still working: {bound_keys(self, 'playground.cancel')} cancels it.", severity="warning")
            return True
        return False

    def _editor_version(self) -> int | None:
        """The version loaded in the editor, if the editor still matches it exactly."""
        if self.current_version_id is None:
            return None
        version = self.store.prompt_version(self.current_version_id)
        if version is None or version.system_prompt != self.system_prompt or Params.of(version) != self.params():
            return None
        return version.id

    def _save_draft(self) -> None:
        p = self.params()
        self._write_draft(
            {
                "system_prompt": self.system_prompt,
                "temperature": p.temperature,
                "top_p": p.top_p,
                "max_tokens": p.max_tokens,
                "samples": self.samples_k,
                "version_id": self.current_version_id,
            }
        )

    @work(thread=True, group="playground-draft", exit_on_error=False)
    def _write_draft(self, draft: dict[str, object]) -> None:
        self.store.set_meta(DRAFT_META, draft)

    def refresh_versions(self, highlight: int | None = None) -> None:
        """Reread the saved versions and their results (in a worker: the results count every sample)."""
        self._load_versions(set(self.marks.values()), highlight)

    @work(thread=True, exclusive=True, group="playground-versions", exit_on_error=False)
    def _load_versions(self, marked: set[int], highlight: int | None) -> None:
        gone = {vid for vid in marked if self.store.prompt_version(vid) is None}
        stats = version_stats(self.store)
        self.app.call_from_thread(self._show_versions, stats, gone, highlight)

    def _show_versions(self, stats: list[VersionStats], gone: set[int], highlight: int | None) -> None:
        self.marks = {side: vid for side, vid in self.marks.items() if vid not in gone}
        self.query_one(VersionList).show(stats, self.marks, highlight=highlight)

    def _show_mode(self) -> None:
        if self.compare_mode:
            a, b = (self.store.prompt_version(self.marks[s]) for s in ("A", "B"))
            line = Content.assemble(
                ("side by side ", "bold"),
                "A ",
                safe_line(a.name if a else "?", 24),
                " vs B ",
                safe_line(b.name if b else "?", 24),
                f" · {self.samples_k} each · ",
                safe_line(self.target, 50),
            )
        else:
            version = self.store.prompt_version(self.current_version_id) if self.current_version_id else None
            edited = "" if self._editor_version() or version is None else " (edited)"
            name = f"{version.name}{edited}" if version else "unsaved prompt"
            line = Content.assemble(
                ("single ", "bold"),
                f"· {self.samples_k} sample(s) · ",
                safe_line(name, 30),
                " · ",
                safe_line(self.target, 50),
            )
        self.query_one("#pg-mode", Static).update(line)

    @work(thread=True, group="playground-finetuned", exclusive=True, exit_on_error=False)
    def _count_finetuned(self) -> None:
        live = [e for e in self.store.endpoints() if e.kind == "finetuned" and e.status not in ("Failed", "Deleting")]
        self.post_message(FinetunedCounted(len(live)))

    def on_finetuned_counted(self, message: FinetunedCounted) -> None:
        """The empty state: no fine-tuned endpoint yet names the step before (Compare, with its key)."""
        placeholders = self.query(".pg-placeholder").results(Static)
        placeholder = next(placeholders, None)
        if placeholder is None:
            return  # answers are on show
        generate = bound_keys(self, "playground.generate")
        if message.count:
            placeholder.update(Content.styled(f"Answers appear here: type a question, then {generate}.", "$text-muted"))
            return
        # app keys only: the Compare pane's own bindings are not declared until it is first shown
        compare = hint(self, (("pane.compare", "pane.compare.alt"), "Compare"))  # alt+N from a text field
        placeholder.update(
            Content.assemble(
                (
                    f"No fine-tuned endpoint to rehearse with yet. The step before is {compare}: deploy the best "
                    "job there and judge it against the base model. Until then the answers come from ",
                    "$text-muted",
                ),
                safe_line(self.target, 60),
                (f": type a question, then {generate}.", "$text-muted"),
            )
        )

    def _read_ballot(self) -> None:
        """The newest ballot tally, read when the pane is shown (not on every key typed)."""
        results = stored_results(self.store)
        self._ballot_line = results_line(results) if results else None

    def _show_rules(self) -> None:
        """The round's rules against the editor: cap, context room, generations left, ballot result."""
        question = self.query_one("#pg-question", Input).value.strip() or self.round_question
        budget = self.rules.budget(self.system_prompt, question)
        left = self.rules.generations_left(self.generations_used)
        self.query_one(RulesLine).show(self.rules, budget, self.params().max_tokens, left, self._ballot_line)

    @on(ParamControl.Changed)
    @on(TextArea.Changed)
    @on(Input.Changed, "#pg-question")
    def _editor_changed(self) -> None:
        if self.is_mounted:
            self._show_mode()
            self._show_rules()

    @on(Select.Changed, "#pg-target")
    def _target_changed(self, event: Select.Changed) -> None:
        event.stop()
        if event.value == CUSTOM_TARGET:
            self._ask_target()
        elif self.is_mounted:
            self._show_mode()

    def _ask_target(self) -> None:
        from core.evaluation.judge import EvaluationError, TargetSpec
        from core.llm.target_names import FORMS

        select = self.query_one("#pg-target", Select)

        def done(value: str | None) -> None:
            spec = None
            if value and value.strip():
                try:
                    spec = str(TargetSpec.parse(value))
                except EvaluationError as exc:
                    self.app.notify(safe(str(exc)), severity="error")
            if spec is None:
                select.value = self._targets[0]
                return
            if spec not in self._targets:
                self._targets.append(spec)
                select.set_options(self._target_options())
            select.value = spec

        self.app.push_screen(AskText(f"Target: {FORMS}", placeholder="openai:gpt-4o"), done)

    # ---- the prompt bank -----------------------------------------------------------------
    def action_bank(self) -> None:
        if self._busy():
            return
        self._load_bank(self.current_version_id, self.config.league.max_new_tokens)

    @work(thread=True, group="playground-bank", exit_on_error=False)
    def _load_bank(self, current_id: int | None, max_tokens: int) -> None:
        from core.playground.bank import ensure_bank

        versions = ensure_bank(self.store, max_tokens=max_tokens)
        ids = [v.id for v in versions]
        following = versions[(ids.index(current_id) + 1) % len(versions)] if current_id in ids else versions[0]
        self.app.call_from_thread(self._bank_loaded, following)

    def _bank_loaded(self, version: PromptVersionRow) -> None:
        from core.playground.bank import entry_of, preset_params, question_kind

        self.restore(version)
        question = self.query_one("#pg-question", Input).value.strip() or self.round_question
        kind = question_kind(question) if question else None
        if kind is not None:
            preset = preset_params(self.params(), kind)
            self._param("temperature").set_value(preset.temperature)
            self._param("top-p").set_value(preset.top_p)
        entry = entry_of(version)
        tags = f" [{', '.join(entry.tags)}]" if entry else ""
        params = self.params()
        preset_note = f" · {kind} question: temperature {params.temperature:g}, top_p {params.top_p:g}" if kind else ""
        key = bound_keys(self, "playground.bank")
        self._status(f"{version.name}{tags}{preset_note} · {key} loads the next prompt")
        self.refresh_versions(highlight=version.id)

    # ---- trick questions ------------------------------------------------------------------
    def action_tricks(self) -> None:
        if self._busy():
            return
        if self.target.startswith("endpoint:") and refused_in_console(self, "invoke"):
            return
        from core.evaluation.judge import build_eval_target
        from core.playground.tricks import run_tricks

        services = self.app.services  # type: ignore[attr-defined]
        store, target_name, system_prompt = self.store, self.target, self.system_prompt
        params, version_id = self.rules.capped(self.params()), self._editor_version()

        async def job():
            target = build_eval_target(services, target_name)
            try:
                return await run_tricks(
                    store,
                    target,
                    target_name=target_name,
                    system_prompt=system_prompt,
                    params=params,
                    version_id=version_id,
                )
            finally:
                await target.aclose()

        self._start("tricks", job)
        self._status("trick questions: asking each once with the editor's prompt…")

    def _show_tricks(self, results) -> None:
        right = sum(r.right for r in results)
        parts: list[Any] = [("trick questions ", "bold"), f"· {right}/{len(results)} right\n"]
        for r in results:
            mark = ("✓ ", "$success bold") if r.right else ("✗ ", "$error bold")
            said = r.error or r.answer
            parts += [
                mark,
                safe_line(r.question.text, 70),
                f" · expected {r.question.expected} · said ",
                safe_line(said, 60),
                "\n",
            ]
        self._detail(Content.assemble(*parts))
        self._status(
            f"trick questions: {right}/{len(results)} right"
            + ("" if right == len(results) else " · this prompt breaks some")
        )

    # ---- finalists ------------------------------------------------------------------------
    def action_finalists(self) -> None:
        if self._busy():
            return
        question = self.query_one("#pg-question", Input).value.strip()
        if not question:
            self.app.notify("Type a question first.", severity="warning")
            return

        def done(value: str | None) -> None:
            if value is None:
                return
            versions = self.store.prompt_versions()
            names = [n.strip() for n in value.split(",") if n.strip()]
            if names:
                by_name = {v.name: v for v in versions}
                missing = [n for n in names if n not in by_name]
                if missing:
                    self.app.notify(safe(f"no prompt version named {missing[0]!r}"), severity="error")
                    return
                chosen = [by_name[n] for n in dict.fromkeys(names)]
            else:
                chosen = versions[-MAX_FINALISTS:]
            if not 2 <= len(chosen) <= MAX_FINALISTS:
                self.app.notify(f"Finalists are 2 to {MAX_FINALISTS} prompt versions.", severity="warning")
                return
            self.run_worker(self._run_finalists(question, chosen), group="playground-finalists", exit_on_error=False)

        prompt = f"Finalists: 2-{MAX_FINALISTS} version names, comma-separated (empty: the {MAX_FINALISTS} newest)"
        self.app.push_screen(AskText(prompt, placeholder="v1, v2, bank: concise"), done)

    async def _run_finalists(self, question: str, versions: list[PromptVersionRow]) -> None:
        if not self.round.started or question != self.round_question:
            self._start_round(question)
        left = self.rules.generations_left(self.generations_used)
        if left is not None and len(versions) > left:
            self.app.notify(f"the round allows {left} more answer(s) for this question", severity="warning")
            return
        if self._round_recorded is not None:
            await self._round_recorded.wait()
        self.compare_mode = False
        self._show_mode()
        try:
            plans = await self._plan_finalists(
                self.rules.question_text(question), versions, self.target, self.round_id, self.round.started_at
            ).wait()
        except WorkerFailed as failed:
            self.app.notify(safe(str(failed.error)), severity="error")
            return
        self.generations_used += len(plans)
        self.last_question = question
        self._show_rules()
        self.comparison_id = None
        await self._mount_views(plans, names={str(i): v.name for i, v in enumerate(versions, start=1)})
        from core.evaluation.judge import build_eval_target
        from core.playground.finalists import rank_answers
        from core.playground.rounds import stream_runs

        services = self.app.services  # type: ignore[attr-defined]
        target_name, store, sent = self.target, self.store, self.rules.question_text(question)
        rubric = self.config.league.judge_rubric or None

        def forward(update: SampleUpdate) -> None:
            self.post_message(SampleStreamed(update))

        async def job():
            target = build_eval_target(services, target_name)
            try:
                await stream_runs(store, target, plans, on_update=forward, emit_every_s=0.1)
            finally:
                await target.aclose()
            samples = {v.name: store.samples(p.run_id)[0] for v, p in zip(versions, plans, strict=True)}
            answers = {name: s.text for name, s in samples.items() if s.ok and s.text.strip()}
            if len(answers) < 2:
                raise PlaygroundError("fewer than two finalists answered: nothing to rank")
            judge = services.chat_target("judge")
            try:
                extra = {"rubric": rubric} if rubric else {}
                ranking = await rank_answers(judge, sent, answers, orders=3, **extra)
            finally:
                await judge.aclose()
            for entry in ranking.entries:
                store.set_sample_judgement(samples[entry.label].id, entry.share, f"mean rank {entry.mean_rank:.1f}")
            return ranking

        self._start("finalists", job)
        self._status(f"{len(plans)} finalists answer, then the judge ranks them in 3 shuffled orders…")

    @work(thread=True, group="playground-plan", exit_on_error=False)
    def _plan_finalists(
        self, question: str, versions: list[PromptVersionRow], target: str, round_id: int | None, started: float | None
    ) -> list[RunPlan]:
        return [
            plan_run(
                self.store,
                slot=str(i),
                target_name=target,
                system_prompt=v.system_prompt,
                params=Params.of(v).capped(self.rules.answer_token_cap),
                question=question,
                k=1,
                version_id=v.id,
                round_id=round_id,
                kind="finalists",
                round_started_at=started,
            )
            for i, v in enumerate(versions, start=1)
        ]

    def _show_ranking(self, ranking) -> None:
        parts: list[Any] = [("finalists ", "bold"), f"· the judge's ranks over {ranking.orders} shuffled orders\n"]
        for n, entry in enumerate(ranking.entries, start=1):
            ranks = ", ".join(f"{r:g}" for r in entry.ranks)
            wavered = ("  the judge wavered", "$warning") if entry.spread >= 1 else ""
            parts += [
                f"{n}. ",
                safe_line(entry.label, 30, "bold"),
                f"  rank {entry.mean_rank:.1f} ± {entry.spread:.1f} ({ranks}) · {entry.points:.1f} points",
                wavered,
                "\n",
            ]
        self._detail(Content.assemble(*parts))
        for view in self.views.values():
            sample = self.store.sample(view.sample_id)
            if sample is not None and sample.judge_score is not None:
                view.mark(judge_score=sample.judge_score)
        top = ranking.entries[0]
        self._status(
            f"finalists ranked: {top.label} first ({top.points:.1f} points) · disagreement ±{ranking.disagreement:.1f}"
        )

    # ---- the round -----------------------------------------------------------------------
    def _start_round(self, question: str) -> None:
        self.round = RoundClock(self.round_length, clock=self._now)
        started = self.round.start()
        self.round_id = None
        self.round_question = question
        self._auto_tried = False
        self.generations_used = 0
        self.query_one(RoundTimer).show(self.round, question)
        self._show_rules()
        self._round_recorded = self._record_round(question, self.round_length, started)

    @work(thread=True, group="playground-round", exit_on_error=False)
    def _record_round(self, question: str, seconds: float, started: float) -> None:
        round_id = self.store.start_round(question, seconds, started)
        self.app.call_from_thread(self._round_started, started, round_id)

    def _round_started(self, started: float, round_id: int) -> None:
        if self.round.started_at == started:  # no newer round began while this one was being recorded
            self.round_id = round_id

    @on(Input.Submitted, "#pg-question")
    def _question_entered(self, event: Input.Submitted) -> None:
        event.stop()
        question = event.value.strip()
        if question and (question != self.round_question or not self.round.started):
            self._start_round(question)

    def action_new_round(self) -> None:
        question = self.query_one("#pg-question", Input).value.strip() or self.round_question
        if not question:
            self.app.notify("Type the question first.", severity="warning")
            return
        self._start_round(question)

    def _tick(self) -> None:
        self.query_one(RoundTimer).show(self.round, self.round_question)
        if self.round.should_auto_submit() and not self._auto_tried:
            self._auto_tried = True
            view = self._hand_in_candidate()
            if view is None:
                self._status("time is up and no answer was picked or focused to hand in")
            else:
                self._submit(view, auto=True)

    def _hand_in_candidate(self) -> SampleView | None:
        focused = self.app.focused
        return chosen_sample(list(self.views.values()), focused.sample_id if isinstance(focused, SampleView) else None)

    def _submit(self, view: SampleView, *, auto: bool) -> None:
        if self.round_id is None:
            return
        at = self.round.submit()
        self._record_submission(self.round_id, view.sample_id, None if view.done else view.text, at, auto)
        self.query_one(RoundTimer).show(self.round, self.round_question)
        how = "automatically, just before time ran out" if auto else ("in time" if self.round.in_time else "late")
        self._status(f"handed in {view.heading} {how} ({self.round.elapsed():.1f} s)")

    @work(thread=True, group="playground-round", exit_on_error=False)
    def _record_submission(self, round_id: int, sample_id: int, partial: str | None, at: float, auto: bool) -> None:
        if partial:
            self.store.update_sample_text(sample_id, partial)  # hand in what is on screen
        self.store.submit_round(round_id, sample_id, at, auto=auto)

    def action_submit(self) -> None:
        if not self.round.started or self.round_id is None:
            self.app.notify("No round is running: type a question and press enter.", severity="warning")
            return
        if self.round.submitted:
            self.app.notify(
                f"This round's answer is already handed in ({bound_keys(self, 'playground.new_round')} starts a "
                "new round).",
                severity="warning",
            )
            return
        view = self._hand_in_candidate()
        if view is None:
            self.app.notify(
                f"Nothing to hand in: pick an answer ({bound_keys(self, 'sample.pick')}) or move to one first.",
                severity="warning",
            )
            return
        self._submit(view, auto=False)

    def action_round_length(self) -> None:
        def done(value: str | None) -> None:
            if not value:
                return
            try:
                self.round_length = checked_round_seconds(float(value))
            except PlaygroundError as exc:
                self.app.notify(safe(str(exc)), severity="error")
                return
            self._write_round_length(self.round_length)
            self.app.notify(safe(f"Rounds now last {self.round_length:g} s (from the next round)."))

        self.app.push_screen(
            AskText(
                "Round length in seconds",
                f"{self.round_length:g}",
                validators=[Integer(5, 3600)],
                input_type="integer",
            ),
            done,
        )

    @work(thread=True, group="playground-settings", exit_on_error=False)
    def _write_round_length(self, seconds: float) -> None:
        set_round_seconds(self.store, seconds)

    # ---- generation ----------------------------------------------------------------------
    async def action_generate(self, regenerate: bool = False) -> None:
        if self._busy():
            return
        if self.target.startswith("endpoint:") and refused_in_console(self, "invoke"):
            return
        typed = self.query_one("#pg-question", Input).value.strip()
        question = (self.last_question or typed) if regenerate else typed
        if not question:
            self.app.notify("Type a question first.", severity="warning")
            self.query_one("#pg-question", Input).focus()
            return
        if not self.round.started or question != self.round_question:
            self._start_round(question)
        wanted = self.samples_k * (2 if self.compare_mode else 1)
        left = self.rules.generations_left(self.generations_used)
        if left is not None and wanted > left:
            allowed = f"the round allows {self.rules.generations} answer(s) per question"
            self.app.notify(f"{allowed}; {left} left: hand one in, or lower the samples.", severity="warning")
            return
        self._planning = True
        try:
            if self._round_recorded is not None:
                await self._round_recorded.wait()
            generation = _Generation(
                question=self.rules.question_text(question),
                target=self.target,
                k=self.samples_k,
                round_id=self.round_id,
                round_started_at=self.round.started_at,
                system_prompt=self.system_prompt,
                params=self.params(),
                editor_version=self._editor_version(),
                versions=(self.marks.get("A"), self.marks.get("B")) if self.compare_mode else None,
                token_cap=self.rules.answer_token_cap,
            )
            self.comparison_id, plans = await self._plan(generation).wait()
        except WorkerFailed as failed:
            if isinstance(failed.error, PlaygroundError):
                self.app.notify(safe(str(failed.error)), severity="error")
            else:
                self.app.report_error("playground generate", failed.error)  # type: ignore[attr-defined]
            return
        finally:
            self._planning = False
        self.generations_used += sum(len(p.sample_ids) for p in plans)
        self._show_rules()
        self.last_question = question
        self._save_draft()
        await self._mount_views(plans)
        from core.evaluation.judge import build_eval_target
        from core.playground.rounds import stream_runs

        services = self.app.services  # type: ignore[attr-defined]
        target_name = self.target

        def forward(update: SampleUpdate) -> None:
            self.post_message(SampleStreamed(update))

        async def job():
            target = build_eval_target(services, target_name)
            try:
                await stream_runs(self.store, target, plans, on_update=forward, emit_every_s=0.1)
            finally:
                await target.aclose()

        self._start("generate", job)
        cancel = bound_keys(self, "playground.cancel")
        self._status(
            f"generating {sum(len(p.sample_ids) for p in plans)} answer(s) from {target_name} · {cancel} cancels"
        )

    @work(thread=True, group="playground-plan", exit_on_error=False)
    def _plan(self, g: _Generation) -> tuple[int | None, list[RunPlan]]:
        """Write the runs about to stream, and their empty samples, to the store: (comparison, plans)."""
        if g.versions is not None:
            a, b = (self.store.prompt_version(v) if v is not None else None for v in g.versions)
            if a is None or b is None:
                raise PlaygroundError("mark two versions A and B first")
            return plan_comparison(
                self.store,
                target_name=g.target,
                version_a=a,
                version_b=b,
                question=g.question,
                k=g.k,
                round_id=g.round_id,
                round_started_at=g.round_started_at,
                token_cap=g.token_cap,
            )
        plan = plan_run(
            self.store,
            slot="single",
            target_name=g.target,
            system_prompt=g.system_prompt,
            params=g.params.capped(g.token_cap),
            question=g.question,
            k=g.k,
            version_id=g.editor_version,
            round_id=g.round_id,
            round_started_at=g.round_started_at,
        )
        return None, [plan]

    async def _mount_views(self, plans, names: dict[str, str] | None = None) -> None:
        area = self.query_one("#pg-answers", Horizontal)
        focused = self.app.focused
        had_focus = focused is not None and area in focused.ancestors
        if had_focus:
            self.query_one(VersionList).focus()  # never leave the focus on a widget being removed
        await area.remove_children()
        self.views = {}
        columns: list[Any] = []
        for plan in plans:
            views = [
                SampleView(
                    title=f"{plan.slot} #{i + 1}" if plan.slot != "single" else f"#{i + 1}",
                    slot=plan.slot,
                    idx=i,
                    sample_id=sid,
                    token_cap=plan.params.max_tokens if plan.params.max_tokens == self.rules.answer_token_cap else 0,
                )
                for i, sid in enumerate(plan.sample_ids)
            ]
            self.views.update({v.sample_id: v for v in views})
            if plan.slot == "single":
                columns += views
            else:
                version = self.store.prompt_version(self.marks.get(plan.slot, -1))
                column = Vertical(*views, classes="pg-column")
                name = (names or {}).get(plan.slot) or (version.name if version else "?")
                column.border_title = Content.assemble(f"{plan.slot}: ", safe_line(name, 30))
                columns.append(column)
        await area.mount_all(columns)
        if had_focus and self.views:
            next(iter(self.views.values())).focus()

    def _start(self, label: str, factory) -> None:
        self.runs.start(label, factory)

    def on_sample_streamed(self, message: SampleStreamed) -> None:
        u = message.update
        view = self.views.get(u.sample_id)
        if view is not None:
            view.show(u.text, done=u.done, finish_reason=u.finish_reason, error=u.error, latency_ms=u.latency_ms)

    def action_cancel(self) -> None:
        if self.runs.cancel():
            self._status("cancelling… (what has arrived is kept)")

    def on_run_finished(self, message: RunFinished) -> None:
        if message.cancelled:
            self._status(f"{message.label}: cancelled; partial answers are kept")
        elif message.error is not None:
            self.app.report_error(f"playground {message.label}", message.error)  # type: ignore[attr-defined]
            self._status(f"{message.label}: stopped: {message.error}")
        elif message.label == "generate":
            failed = sum(1 for v in self.views.values() if v.finish_reason == "error")
            then = (
                ("playground.judge", "asks the judge")
                if self.comparison_id
                else ("playground.regenerate", "regenerates")
            )
            keys = hint(
                self, ("sample.pick", "picks"), ("playground.submit", "hands in"), then, separator=" · ", joiner=" "
            )
            self._status(f"done: {len(self.views)} answer(s){f', {failed} failed' if failed else ''} · {keys}")
        elif message.label == "judge":
            self._judged(*message.result)
        elif message.label == "rehearsal":
            self._show_rehearsal(message.result)
        elif message.label == "finalists":
            self._show_ranking(message.result)
        elif message.label == "tricks":
            self._show_tricks(message.result)
        self.refresh_versions()

    # ---- picking and judging -------------------------------------------------------------
    @on(SampleView.Picked)
    def _picked(self, event: SampleView.Picked) -> None:
        event.stop()
        view = event.view
        if self.comparison_id is not None:
            self._pick_in_comparison(self.comparison_id, view.sample_id, event.tie)
            return
        if event.tie:
            self.app.notify(
                f"A tie is called between two versions ({bound_keys(self, 'playground.compare')} for side by side).",
                severity="warning",
            )
            return
        for other in self.views.values():
            other.mark(picked=other is view)
        self._status(f"picked {view.heading} · {bound_keys(self, 'playground.submit')} hands it in")
        self._record_pick(view.sample_id)

    @work(thread=True, group="playground-pick", exit_on_error=False)
    def _record_pick(self, sample_id: int) -> None:
        self.store.pick_sample(sample_id)

    @work(thread=True, group="playground-pick", exit_on_error=False)
    def _pick_in_comparison(self, comparison_id: int, sample_id: int, tie: bool) -> None:
        try:
            choice = pick_in_comparison(self.store, comparison_id, sample_id, tie=tie)
        except PlaygroundError as exc:
            self.app.call_from_thread(self.app.notify, safe(str(exc)), severity="error")
            return
        self.app.call_from_thread(self._picked_in_comparison, sample_id, choice)

    def _picked_in_comparison(self, sample_id: int, choice: str) -> None:
        for view in self.views.values():
            view.mark(picked=choice != "tie" and view.sample_id == sample_id)
        self._status("you call it a tie" if choice == "tie" else f"you prefer side {choice}")
        self.refresh_versions()

    def action_judge(self) -> None:
        if self._busy():
            return
        if self.comparison_id is None:
            self.app.notify(
                f"The judge compares two versions: mark A and B, {bound_keys(self, 'playground.compare')}, "
                f"then {bound_keys(self, 'playground.generate')}.",
                severity="warning",
            )
            return
        from core.playground.rounds import judge_comparison

        services = self.app.services  # type: ignore[attr-defined]
        comparison_id = self.comparison_id

        async def job():
            judge = services.chat_target("judge")
            try:
                choice, reason = await judge_comparison(self.store, judge, comparison_id)
                return comparison_id, choice, reason
            finally:
                await judge.aclose()

        self._start("judge", job)
        self._status("the judge is reading both sides (both orders)…")

    def _judged(self, comparison_id: int, choice: str, reason: str) -> None:
        comparison = self.store.comparison(comparison_id)
        for view in self.views.values():
            sample = self.store.sample(view.sample_id)
            if sample is not None and sample.judge_score is not None:
                view.mark(judge_score=sample.judge_score)
        verdict = "a tie" if choice == "tie" else f"side {choice}"
        human = comparison.human_choice if comparison else None
        self._detail(
            Content.assemble(
                ("judge: ", "bold"),
                (verdict, "$accent bold"),
                f" · you: {human or 'no pick yet'}\n",
                ("reason: ", "bold"),
                safe(reason),
            )
        )
        self._status(f"the judge prefers {verdict}")

    # ---- versions ------------------------------------------------------------------------
    def action_focus_field(self, widget_id: str) -> None:
        self.query_one(f"#{widget_id}").focus()

    def action_save_version(self) -> None:
        system_prompt, params = self.system_prompt, self.params()

        def done(name: str | None) -> None:
            if name and name.strip():
                self._save_version(name, system_prompt, params, self.current_version_id)

        self.app.push_screen(AskText("Name this prompt version", next_version_name(self.store)), done)

    @work(thread=True, group="playground-versions", exit_on_error=False)
    def _save_version(self, name: str, system_prompt: str, params: Params, parent_id: int | None) -> None:
        try:
            version = save_version(self.store, name, system_prompt, params, parent_id=parent_id)
        except (PlaygroundError, ValueError) as exc:  # ValueError: the name is taken
            self.app.call_from_thread(self.app.notify, safe(str(exc)), severity="error")
            return
        self.app.call_from_thread(self._version_saved, version)

    def _version_saved(self, version: PromptVersionRow) -> None:
        self.current_version_id = version.id
        self._save_draft()
        self.refresh_versions(highlight=version.id)
        self._show_mode()
        self.app.notify(safe(f"Saved version {version.name}"))

    @on(OptionList.OptionSelected, "#pg-versions")
    def _restore(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        version = self.store.prompt_version(int(event.option.id or -1))
        if version is None:
            return
        self.restore(version)

    def restore(self, version: PromptVersionRow) -> None:
        self.query_one("#pg-system", TextArea).load_text(version.system_prompt)
        self._param("temperature").set_value(version.temperature)
        self._param("top-p").set_value(version.top_p)
        self._param("max-tokens").set_value(version.max_tokens)
        self.current_version_id = version.id
        self._save_draft()
        self._show_mode()
        self._status(f"restored {version.name} into the editor")

    @on(VersionList.Command)
    def _version_command(self, event: VersionList.Command) -> None:
        event.stop()
        command, version_id = event.command, event.version_id
        if command == "clear_marks":
            self.marks.clear()
            self.compare_mode = False
        elif command in ("mark_a", "mark_b") and version_id is not None:
            side, other = ("A", "B") if command == "mark_a" else ("B", "A")
            self.marks[side] = version_id
            if self.marks.get(other) == version_id:
                del self.marks[other]
        elif command == "diff":
            self._diff(version_id)
        elif command == "rehearse":
            self._ask_rehearsal(version_id)
        elif command == "export" and version_id is not None:
            version = self.store.prompt_version(version_id)
            if version is not None:
                self._ask_export(version)
        elif command == "export_winner":
            winner = winning_version(self.store)
            if winner is None:
                self.app.notify(
                    f"No saved version yet ({bound_keys(self, 'playground.save')} saves one).", severity="warning"
                )
            else:
                self._ask_export(winner)
        if self.compare_mode and not {"A", "B"} <= set(self.marks):
            self.compare_mode = False
        self.refresh_versions()
        self._show_mode()

    def action_toggle_compare(self) -> None:
        if not self.compare_mode and not {"A", "B"} <= set(self.marks):
            marks = f"{bound_keys(self, 'versions.mark_a')} and {bound_keys(self, 'versions.mark_b')}"
            self.app.notify(
                f"Mark two versions first: {marks} in the version list ({bound_keys(self, 'playground.versions')}).",
                severity="warning",
            )
            return
        self.compare_mode = not self.compare_mode
        self._show_mode()

    def _diff(self, highlighted: int | None) -> None:
        pair: tuple[int | None, int | None]
        if {"A", "B"} <= set(self.marks):
            pair = (self.marks["A"], self.marks["B"])
        elif "A" in self.marks and highlighted is not None and highlighted != self.marks["A"]:
            pair = (self.marks["A"], highlighted)
        else:
            version = self.store.prompt_version(highlighted) if highlighted is not None else None
            pair = (version.parent_id, version.id) if version is not None else (None, None)
        old = self.store.prompt_version(pair[0]) if pair[0] is not None else None
        new = self.store.prompt_version(pair[1]) if pair[1] is not None else None
        if old is None or new is None:
            self.app.notify("Mark two versions (a, b) to diff them.", severity="warning")
            return
        self._show_diff(old, new, diff_versions(old, new))

    def _show_diff(self, old: PromptVersionRow, new: PromptVersionRow, lines: list[DiffLine]) -> None:
        parts: list[Any] = [("diff ", "bold"), safe_line(old.name, 30), " → ", safe_line(new.name, 30), "\n"]
        for line in lines:
            parts += [safe(line.text, _DIFF_STYLES.get(line.kind, "")), "\n"]
        self._detail(Content.assemble(*parts))

    def _ask_export(self, version: PromptVersionRow) -> None:
        default = str(self.store.path.parent / f"prompt-{_file_part(version.name)}.json")

        def done(path: str | None) -> None:
            if path:
                self._export(version, path)

        self.app.push_screen(AskText(f"Export '{version.name}' (.json or .toml)", default), done)

    @work(thread=True, group="playground-export", exit_on_error=False)
    def _export(self, version: PromptVersionRow, path: str) -> None:
        try:
            written = export_version(self.store, version, path)
        except OSError as exc:
            self.app.call_from_thread(self.app.notify, safe(f"Export failed: {exc}"), severity="error")
            return
        self.app.call_from_thread(self._exported, version, written)

    def _exported(self, version: PromptVersionRow, written: Path) -> None:
        self.app.notify(safe(f"Exported {version.name} to {written}"))
        self._status(f"exported {version.name} to {written}")

    # ---- rehearsal -----------------------------------------------------------------------
    def _ask_rehearsal(self, highlighted: int | None) -> None:
        if self._busy():
            return
        if {"A", "B"} <= set(self.marks):
            version_ids = [self.marks["A"], self.marks["B"]]
        elif highlighted is not None:
            version_ids = [highlighted]
        else:
            self.app.notify(f"Save a version first ({bound_keys(self, 'playground.save')}).", severity="warning")
            return
        sets = self.store.question_sets()
        if not sets:
            self.app.notify(
                "No question set in this session: import one (tunedeck questions import).", severity="warning"
            )
            return
        names = {s.name: s for s in sets}

        def got_k(value: str | None, set_id: int) -> None:
            if not value:
                return
            self._rehearse(version_ids, set_id, int(value))

        def got_set(name: str | None) -> None:
            if not name:
                return
            qset = names.get(name.strip())
            if qset is None:
                self.app.notify(safe(f"No question set named {name!r}; sets: {', '.join(names)}"), severity="error")
                return
            self.app.push_screen(
                AskText("Samples per question (k)", "3", validators=[Integer(1, 10)], input_type="integer"),
                lambda v: got_k(v, qset.id),
            )

        self.app.push_screen(AskText("Rehearse on which question set?", sets[-1].name), got_set)

    def _rehearse(self, version_ids: list[int], set_id: int, k: int) -> None:
        from core.evaluation.judge import build_eval_target
        from core.playground.rehearsal import run_rehearsal

        services = self.app.services  # type: ignore[attr-defined]
        target_name = self.target

        def progress(p) -> None:
            self.post_message(RehearsalProgressed(p))

        async def job():
            target = build_eval_target(services, target_name)
            judge = services.chat_target("judge")
            try:
                return await run_rehearsal(
                    self.store,
                    target,
                    judge,
                    target_name=target_name,
                    set_id=set_id,
                    version_ids=version_ids,
                    k=k,
                    on_progress=progress,
                )
            finally:
                await target.aclose()
                await judge.aclose()

        self._start("rehearsal", job)
        self._status("rehearsal: starting…")

    def on_rehearsal_progressed(self, message: RehearsalProgressed) -> None:
        p = message.progress
        line = (
            f"rehearsal: {p.done}/{p.total} (answers {p.samples_done}/{p.samples_total}, "
            f"verdicts {p.judgements_done}/{p.judgements_total}) · {p.failed} failed · esc cancels"
        )
        self._status(line + (f" · last error: {p.last_error}" if p.last_error else ""))

    def _show_rehearsal(self, report) -> None:
        winner = report.winner
        against = "each other" if report.rehearsal.baseline == "other" else "the reference answers"
        parts: list[Any] = [
            ("rehearsal ", "bold"),
            safe_line(report.set_name, 40),
            f" · {report.questions} questions × k={report.rehearsal.k} · judged against {against}\n",
        ]
        for s in report.scores:
            mean = f"{s.mean:.2f} ± {s.sd:.2f}" if s.mean is not None else "not judged"
            spread = (
                f" · per question ±{s.question_sd:.2f} · between samples ±{s.within_sd:.2f}"
                if s.question_sd is not None and s.within_sd is not None
                else ""
            )
            words = f" · {s.mean_words:.0f} words avg (max {s.max_words})" if s.mean_words is not None else ""
            star = ("★ ", "$success bold") if winner is not None and s.version_id == winner.version_id else "  "
            parts += [star, safe_line(s.name, 24, "bold"), f"  score {mean} (n={s.judged}){spread}{words}\n"]
        self._detail(Content.assemble(*parts))
        self._status(
            f"rehearsal {'done' if report.complete else 'incomplete'}" + (f": {winner.name} leads" if winner else "")
        )


def _file_part(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "-" for c in name).strip("-.") or "version"


__all__ = ["PlaygroundPane", "RehearsalProgressed", "SampleStreamed"]
