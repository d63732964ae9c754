"""The Compare pane: two targets answer the same held-out questions, side by side; an LLM judge scores
them in both orders (the league score "k / N" with its interval); blind human votes and how often the
judge agreed; a regression check against the previous best; the endpoints dialog.

Everything that reads more than a row or two, or calls a model or AWS, runs off the UI thread:
store reads and writes in thread workers, evaluation and question generation in a BackgroundRun.
"""

from __future__ import annotations

import dataclasses
import re
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.content import Content
from textual.message import Message
from textual.validation import Integer
from textual.widgets import Static

from core.evaluation.judge import (
    BlindItem,
    EvalReport,
    EvalSettings,
    EvaluationError,
    HumanReport,
    QuestionOutcome,
    RegressionReport,
    TargetSpec,
    validate_voter,
)
from core.evaluation.selection import Match, Selection, resolve_selection, save_settings, stored_settings
from tui.account_mode import refused_in_console
from tui.background import RunSlot
from tui.keys import bound_keys, hint
from tui.panes.base import Pane
from tui.panes.compare.answers import AnswerSide, CompareAnswers
from tui.panes.compare.question import CompareQuestion, outcome_code
from tui.panes.compare.regression import CompareRegression
from tui.panes.compare.score import CompareScore, score_text
from tui.panes.compare.votes import CompareVotes
from tui.screens.ask import AskText
from tui.text import safe, safe_line

if TYPE_CHECKING:
    from textual.app import ComposeResult
    from textual.widget import Widget

    from core.evaluation.judge import EvalProgress
    from core.evaluation.questions import QuestionGenProgress
    from core.store.evals import AnswerRow
    from tui.messages import RunFinished

LIVE_RELOAD_SECONDS = 0.5  # at most two screen refreshes a second while a run is going
POLL_SECONDS = 2.0  # while shown: pick up an evaluation another process (tunedeck eval run) is writing
PANELS = ("score", "votes", "regression")
IMPORT, GENERATE, TYPE_TARGET = "\x00import", "\x00generate", "\x00type"
VOTER_META = "compare.voter"


class _ReportPanel(VerticalScroll):
    """Score, votes or regression; scrolled by the pane ({ and }), so it never takes the focus."""

    can_focus = False
    inherit_bindings = False


# ---- messages ------------------------------------------------------------------------------------


@dataclass
class CompareLoaded(Message):
    seq: int
    version: int  # of the selection it was loaded for
    matched: bool  # the loader chose the selection (from the newest evaluation or the targets)
    selection: Selection
    set_count: int | None
    evaluation_id: int | None
    report: EvalReport | None
    human: HumanReport | None
    blind: list[BlindItem] | None
    endpoints: int = 0  # endpoints of the session not deleted (none and no evaluation: the empty state)
    finished_jobs: int = 0  # training jobs that completed (something to deploy)


@dataclass
class EvalProgressed(Message):
    progress: EvalProgress  # a copy: the run goes on changing its own

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, EvalProgressed)


@dataclass
class QuestionsProgressed(Message):
    progress: QuestionGenProgress  # a copy

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, QuestionsProgressed)


@dataclass
class SetImported(Message):
    name: str | None
    count: int
    error: str | None


@dataclass
class VoteRecorded(Message):
    question_id: int
    error: str | None


@dataclass
class RegressionLoaded(Message):
    report: RegressionReport | None
    error: str | None


# ---- the pane ------------------------------------------------------------------------------------


class ComparePane(Pane):
    PANE_ID = "compare"
    TITLE = "Compare"
    STYLESHEET = "compare.tcss"
    ENDPOINTS_POLL_SECONDS = 5.0
    BINDINGS = [
        Binding(
            "a",
            "choose_target('A')",
            "Target A",
            id="compare.target_a",
            tooltip="The candidate (an endpoint, an OpenAI-compatible or Bedrock model, or typed)",
        ),
        Binding("b", "choose_target('B')", "Target B", id="compare.target_b", tooltip="The reference to beat"),
        Binding(
            "s",
            "choose_set",
            "Question set",
            id="compare.set",
            tooltip="Choose a held-out question set, import one (CSV/JSONL) or generate one",
        ),
        Binding(
            "r",
            "run(False)",
            "Run",
            id="compare.run",
            tooltip="Answer with A and B, judge in both orders; a rerun resumes",
        ),
        Binding(
            "R",
            "run(True)",
            "Fresh run",
            id="compare.run_fresh",
            show=False,
            tooltip="Start a new evaluation instead of resuming",
        ),
        Binding(
            "escape",
            "escape",
            "Cancel / leave vote",
            id="compare.escape",
            tooltip="Cancel the run, or leave blind voting",
        ),
        Binding("j,down", "move(1)", "Next", id="compare.next", tooltip="Next question"),
        Binding("k,up", "move(-1)", "Previous", id="compare.previous", tooltip="Previous question"),
        Binding(
            "right_square_bracket,pagedown",
            "scroll(1)",
            "Scroll down",
            show=False,
            id="compare.scroll_down",
            tooltip="Scroll both answers down together",
        ),
        Binding(
            "left_square_bracket,pageup",
            "scroll(-1)",
            "Scroll up",
            show=False,
            id="compare.scroll_up",
            tooltip="Scroll both answers up together",
        ),
        Binding(
            "right_curly_bracket",
            "scroll_report(1)",
            "Report down",
            show=False,
            id="compare.report_down",
            tooltip="Scroll the score / votes / regression panel down",
        ),
        Binding(
            "left_curly_bracket",
            "scroll_report(-1)",
            "Report up",
            show=False,
            id="compare.report_up",
            tooltip="Scroll the score / votes / regression panel up",
        ),
        Binding(
            "v",
            "vote_mode",
            "Blind vote",
            id="compare.vote_mode",
            tooltip="Vote without names: sides shuffled per question",
        ),
        # blind voting only (check_action hides the keys above that these reuse)
        Binding("a,left", "vote('left')", "Left better", id="compare.vote_left"),
        Binding("d,right", "vote('right')", "Right better", id="compare.vote_right"),
        Binding("t", "vote('tie')", "Tie", id="compare.vote_tie"),
        Binding("x,b", "vote('both_bad')", "Both bad", id="compare.vote_both_bad"),
        Binding("o", "show_panel('score')", "Score", id="compare.show_score", tooltip="Show the league score"),
        Binding(
            "h",
            "show_panel('votes')",
            "Votes",
            id="compare.show_votes",
            tooltip="Human preference and judge-human agreement",
        ),
        Binding(
            "g",
            "regression",
            "Regression",
            id="compare.regression",
            tooltip="Compare with the previous best candidate on the same set and opponent",
        ),
        Binding(
            "e", "choose_evaluation", "Evaluations", id="compare.evaluations", tooltip="Open an earlier evaluation"
        ),
        Binding(
            "u",
            "settings",
            "Rubric/settings",
            id="compare.settings",
            tooltip="The judge's rubric and the generation settings",
        ),
        Binding("E", "endpoints", "Endpoints", id="compare.endpoints", tooltip="List, deploy and delete endpoints"),
    ]
    _NORMAL_ONLY = frozenset(
        {
            "choose_target",
            "choose_set",
            "run",
            "vote_mode",
            "show_panel",
            "scroll_report",
            "regression",
            "choose_evaluation",
            "settings",
            "endpoints",
        }
    )

    def __init__(self, store, config, **kwargs) -> None:
        super().__init__(store, config, **kwargs)
        self.selection = Selection()
        self._selection_version = 0  # bumped by every choice of the user; older loads are then ignored
        self.set_count: int | None = None
        self.evaluation_id: int | None = None
        self.report: EvalReport | None = None
        self.human: HumanReport | None = None
        self.regression_report: RegressionReport | None = None
        self.regression_error: str | None = None
        self.blind: list[BlindItem] = []
        self.index = 0
        self.vote_mode = False
        self.voter: str | None = None
        self.panel = "score"
        self.runs = RunSlot(self, cancel_binding="compare.escape")
        self._seq = 0
        self._applied = 0
        self._last_live_reload = 0.0
        self._jump_to_unvoted = False
        self._pending_votes = 0
        self._my_votes: dict[int, str] = {}  # votes cast in this vote session (shown before the store has them)
        self._shown_answers: tuple | None = None
        self._poll_timer = None
        self._endpoints = 0
        self._finished_jobs = 0

    def compose(self) -> ComposeResult:
        yield Static("", id="compare-targets")
        with _ReportPanel(id="compare-report"):
            yield CompareScore(id="compare-score")
            yield CompareVotes(id="compare-votes")
            yield Static("", id="compare-ballot")  # the final's ballot: human and audience votes, kappa
            yield CompareRegression(id="compare-regression")
        yield CompareQuestion(id="compare-question")
        yield CompareAnswers(id="compare-answers")
        yield Static(self._hint(), id="compare-status", classes="pane-status")

    def _hint(self) -> Content:
        return safe(
            hint(
                self,
                (("compare.target_a", "compare.target_b"), "targets"),
                ("compare.set", "set"),
                ("compare.run", "run"),
                (("compare.next", "compare.previous"), "move"),
                (("compare.scroll_up", "compare.scroll_down"), "scroll"),
                ("compare.vote_mode", "vote"),
                (("compare.show_score", "compare.show_votes"), "score/votes"),
                ("compare.regression", "regression"),
                ("compare.endpoints", "endpoints"),
                ("app.help", "all keys"),
                separator="  ",
                joiner=" ",
            )
        )

    def on_mount(self) -> None:
        self._redraw()
        self._reload(match="newest")
        self._show_ballot()

    def _show_ballot(self) -> None:
        """The newest ballot imported with `tunedeck ballot import` (hidden when there is none)."""
        from core.playground.ballot import results_line, stored_results

        results = stored_results(self.store)
        line = self.query_one("#compare-ballot", Static)
        line.update(safe(results_line(results)) if results else "")
        line.display = results is not None

    def focus_target(self) -> Widget | None:
        return self.answers

    def pane_shown(self) -> None:
        # the first show can follow on_mount at once: keep asking for the newest evaluation then
        self._reload(match="newest" if self._applied == 0 else None)
        self._show_ballot()
        if self._poll_timer is None:
            self._poll_timer = self.set_interval(POLL_SECONDS, self._poll)
        else:
            self._poll_timer.resume()

    def pane_hidden(self) -> None:
        if self._poll_timer is not None:
            self._poll_timer.pause()

    def _poll(self) -> None:
        if not self._run_going() and self.report is not None and not self.report.complete:
            self._reload()

    @property
    def answers(self) -> CompareAnswers:
        return self.query_one(CompareAnswers)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "vote":
            return self.vote_mode
        if action in self._NORMAL_ONLY:
            return not self.vote_mode
        return True

    def _status(self, text: str | Content) -> None:
        self.query_one("#compare-status", Static).update(safe(text) if isinstance(text, str) else text)

    def _run_going(self) -> bool:
        return self.runs.running

    # ---- loading -------------------------------------------------------------------------------

    def _select(self, selection: Selection) -> None:
        """The user chose what to compare: any load already under way is now out of date."""
        self.selection = selection
        self._selection_version += 1

    def _reload(self, match: Match | None = None) -> None:
        """Re-read what the pane shows; `match` = "newest" (the newest evaluation) or "selection"
        (the newest evaluation of the chosen targets and set)."""
        self._seq += 1
        self._load(
            self._seq,
            self._selection_version,
            match,
            self.selection,
            self.evaluation_id,
            self.voter if self.vote_mode else None,
        )

    @work(thread=True, group="compare-load", exit_on_error=False)
    def _load(
        self,
        seq: int,
        version: int,
        match: Match | None,
        selection: Selection,
        evaluation_id: int | None,
        voter: str | None,
    ) -> None:
        from core.evaluation.judge import blind_items, human_report, load_report

        store = self.store
        resolved = resolve_selection(store, selection, evaluation_id, match)
        selection, evaluation_id = resolved.selection, resolved.evaluation_id
        qset = store.question_set(selection.set_name) if selection.set_name else None
        report = human = blind = None
        if evaluation_id is not None:
            report = load_report(store, evaluation_id)
            human = human_report(store, evaluation_id)
            if voter:
                blind = blind_items(store, evaluation_id, voter)
                if store.get_meta(VOTER_META) != voter:
                    store.set_meta(VOTER_META, voter)
        endpoints = len(store.endpoints())
        finished = 0 if endpoints or evaluation_id is not None else len(store.jobs(["Completed"]))
        self.post_message(
            CompareLoaded(
                seq,
                version,
                match is not None,
                selection,
                qset.count if qset else None,
                evaluation_id,
                report,
                human,
                blind,
                endpoints,
                finished,
            )
        )

    def on_compare_loaded(self, message: CompareLoaded) -> None:
        if message.seq < self._applied or message.version != self._selection_version:
            return  # a newer load is on its way
        self._applied = message.seq
        if message.matched:
            self.selection = message.selection
        self.set_count = message.set_count
        if message.evaluation_id != self.evaluation_id:
            self.index = 0
            self.regression_report, self.regression_error = None, None
        self.evaluation_id = message.evaluation_id
        self.report, self.human = message.report, message.human
        self._endpoints, self._finished_jobs = message.endpoints, message.finished_jobs
        if self.vote_mode:
            self.blind = [
                replace(item, vote=self._my_votes.get(item.question_id, item.vote)) for item in message.blind or []
            ]
            if self._jump_to_unvoted and self.blind:
                self.index = next((i for i, item in enumerate(self.blind) if item.vote is None), 0)
                self._jump_to_unvoted = False
        self._redraw()

    # ---- drawing -------------------------------------------------------------------------------

    def _redraw(self) -> None:
        self._draw_header()
        report_box = self.query_one("#compare-report", VerticalScroll)
        report_box.display = not self.vote_mode
        for name in PANELS:
            self.query_one(f"#compare-{name}").display = name == self.panel
        self.query_one(CompareScore).show(self.report.summary if self.report else None)
        self.query_one(CompareVotes).show(self.human)
        self.query_one(CompareRegression).show(self.regression_report, self.regression_error)
        if self.vote_mode:
            self._draw_blind()
        else:
            self._draw_item()

    def _draw_header(self) -> None:
        header = self.query_one("#compare-targets", Static)
        if self.vote_mode:
            header.update(
                Content.assemble(
                    ("Blind voting", "bold $accent"),
                    f"  target names are hidden until you leave ({bound_keys(self, 'compare.escape')})",
                )
            )
            return
        sel = self.selection
        parts: list[Any] = [
            ("A ", "bold"),
            safe_line(sel.target_a, 50)
            if sel.target_a
            else (f"{bound_keys(self, 'compare.target_a')} chooses", "$text-muted"),
            ("   B ", "bold"),
            safe_line(sel.target_b, 50)
            if sel.target_b
            else (f"{bound_keys(self, 'compare.target_b')} chooses", "$text-muted"),
            ("   set ", "bold"),
        ]
        if sel.set_name:
            parts += [
                safe_line(sel.set_name, 40),
                f" ({self.set_count} questions)" if self.set_count is not None else "",
            ]
        else:
            parts.append((f"{bound_keys(self, 'compare.set')} chooses or imports", "$text-muted"))
        if self.report is not None:
            evaluation = self.report.evaluation
            parts.append((f"   evaluation #{evaluation.id} {evaluation.status}", "$text-muted"))
        header.update(Content.assemble(*parts))

    def _side(self, label: str, target: str, answer: AnswerRow | None) -> AnswerSide:
        title = f"{label} · {target}"
        if answer is None:
            note = "waiting for the answer…" if self._run_going() else "not answered yet: r runs the evaluation"
            return AnswerSide(title, note=note)
        return AnswerSide(
            title,
            text=answer.text,
            error=answer.error,
            latency_ms=answer.latency_ms,
            tokens=answer.tokens,
            finish_reason=answer.finish_reason,
        )

    def _show_answers(self, key: tuple, left: AnswerSide, right: AnswerSide) -> None:
        if key != self._shown_answers:  # redraw (and scroll to the top) only when the question or text changed
            self._shown_answers = key
            self.answers.show(left, right)

    def _draw_item(self) -> None:
        question = self.query_one(CompareQuestion)
        items: list[QuestionOutcome] = self.report.items if self.report else []
        if not items:
            self._shown_answers = None
            sel = self.selection
            if self.report is not None:
                text = "The set has no questions."
            elif sel.complete:
                text = (
                    f"Ready: {bound_keys(self, 'compare.run')} asks A and B every question of the set, then the "
                    "judge compares each pair of answers in both orders."
                )
            elif self._applied and not self._endpoints:
                text = self._empty_text()
            else:
                text = (
                    f"Choose targets ({bound_keys(self, 'compare.target_a')}, {bound_keys(self, 'compare.target_b')})"
                    f" and a question set ({bound_keys(self, 'compare.set')}), then "
                    f"{bound_keys(self, 'compare.run')} runs the evaluation; "
                    f"{bound_keys(self, 'compare.evaluations')} opens an earlier one."
                )
            question.show_message(text)
            self.answers.clear("The two answers appear here, side by side.")
            return
        self.index = max(0, min(self.index, len(items) - 1))
        item = items[self.index]
        question.show_outcome(item, self.index, [outcome_code(i) for i in items])
        evaluation = self.report.evaluation  # type: ignore[union-attr]
        left = self._side("A", evaluation.target_a, item.answer_a)
        right = self._side("B", evaluation.target_b, item.answer_b)
        self._show_answers(("judged", evaluation.id, item.question.id, left, right), left, right)

    def _empty_text(self) -> str:
        """No endpoint and no evaluation yet: the step before (Jobs, with the key that shows it), or the deploy."""
        endpoints = hint(self, ("compare.endpoints", "endpoints"))
        then = hint(
            self,
            (("compare.target_a", "compare.target_b"), "targets"),
            ("compare.set", "question set"),
            ("compare.run", "run"),
            separator=", ",
        )
        if self._finished_jobs:
            return (
                f"No endpoint to compare yet: {endpoints} deploys the best of the {self._finished_jobs} finished "
                f"job(s) and the base model; then {then}."
            )
        jobs = hint(self, ("pane.jobs", "Jobs"))
        return (
            f"Nothing to compare yet. The step before is {jobs}: train a sweep to the end; then {endpoints} "
            f"deploys its best job and the base model, and {then}."
        )

    def _draw_blind(self) -> None:
        question = self.query_one(CompareQuestion)
        if not self.blind:
            self._shown_answers = None
            question.show_message("Loading the questions to vote on…")
            self.answers.clear("")
            return
        self.index = max(0, min(self.index, len(self.blind) - 1))
        item = self.blind[self.index]
        voted = sum(1 for b in self.blind if b.vote is not None)
        question.show_blind(item, self.index, len(self.blind), voted, self.voter or "")
        left, right = AnswerSide("Left", text=item.left), AnswerSide("Right", text=item.right)
        self._show_answers(("blind", self.evaluation_id, item.question_id), left, right)

    # ---- choosing targets, sets and evaluations --------------------------------------------------

    def action_choose_target(self, slot: str) -> None:
        from tui.screens.choice_picker import ChoicePicker

        choices: list[tuple[str, Content]] = []
        for row in self.store.endpoints():
            spec = f"endpoint:{row.name}"
            choices.append(
                (spec, safe_line(f"{spec}   {row.status} · {row.kind} · {row.job_name or row.model_id or ''}", 110))
            )
        from core.llm.target_names import FORMS, list_targets

        for role in ("generator", "judge"):
            profile = getattr(self.config.llm, role)
            spec = f"{'bedrock' if profile.provider == 'bedrock' else 'openai'}:{profile.model}"
            if spec not in [value for value, _ in choices]:
                choices.append((spec, safe_line(f"{spec}   ({role} profile)", 110)))
        for spec, what in list_targets(self.config):  # profile:NAME and openai:MODEL@PROFILE
            choices.append((spec, safe_line(f"{spec}   ({what})", 110)))
        choices.append((TYPE_TARGET, safe(f"… type a target: {FORMS}")))
        current = self.selection.target_a if slot == "A" else self.selection.target_b
        role = "the candidate: every score is A's" if slot == "A" else "the reference to beat"

        def typed(text: str | None) -> None:
            if text:
                self._set_target(slot, text)

        def picked(choice: tuple | None) -> None:
            if choice is None:
                return
            if choice[0] == TYPE_TARGET:
                self.app.push_screen(
                    AskText(f"Target {slot} ({role})", current or "", placeholder="openai:gpt-4o"), typed
                )
            else:
                self._set_target(slot, choice[0])

        self.app.push_screen(ChoicePicker(f"Target {slot} ({role})", choices, current=current), picked)

    def _set_target(self, slot: str, text: str) -> None:
        try:
            spec = str(TargetSpec.parse(text))
        except EvaluationError as exc:
            self.app.notify(safe(str(exc)), severity="error")
            return
        self._select(replace(self.selection, **{"target_a" if slot == "A" else "target_b": spec}))
        if self.selection.target_a == self.selection.target_b:
            self.app.notify("Targets A and B are the same: choose another for one of them.", severity="warning")
        self._draw_header()
        self._reload(match="selection")

    def action_choose_set(self) -> None:
        from tui.screens.choice_picker import ChoicePicker

        choices: list[tuple[str, Content]] = [
            (IMPORT, safe("+ import a CSV or JSONL file as a new set…")),
            (GENERATE, safe("+ generate a new set from the topic tree…")),
        ]
        for qset in reversed(self.store.question_sets()):
            choices.append((qset.name, safe_line(f"{qset.name}   {qset.count} questions   {qset.source}", 110)))

        def picked(choice: tuple | None) -> None:
            if choice is None:
                return
            if choice[0] == IMPORT:
                self._ask_import()
            elif choice[0] == GENERATE:
                self._ask_generate()
            else:
                self._select(replace(self.selection, set_name=choice[0]))
                self._reload(match="selection")

        self.app.push_screen(
            ChoicePicker(
                "Held-out question set (never part of a training export)", choices, current=self.selection.set_name
            ),
            picked,
        )

    def _ask_import(self) -> None:
        def got_path(path: str | None) -> None:
            if not path or not path.strip():
                return
            path = path.strip()
            stem = re.sub(r"[^A-Za-z0-9 ._-]", "-", Path(path).stem).strip(" .-_")[:64] or "heldout"

            def got_name(name: str | None) -> None:
                if name and name.strip():
                    self._status(f"importing {path}…")
                    self._import(path, name.strip())

            self.app.push_screen(AskText("Name of the new question set", stem), got_name)

        self.app.push_screen(
            AskText(
                "Import held-out questions: a .csv with a 'question' column (optional 'topic', "
                "'reference') or a .jsonl file; all or nothing",
                placeholder="heldout.jsonl",
            ),
            got_path,
        )

    @work(thread=True, group="compare-import", exit_on_error=False)
    def _import(self, path: str, name: str) -> None:
        from core.evaluation.questions import import_questions

        try:
            count = import_questions(self.store, name, Path(path).expanduser())
        except (ValueError, OSError) as exc:  # QuestionImportError lists every bad line
            self.post_message(SetImported(None, 0, str(exc)))
            return
        self.post_message(SetImported(name, count, None))

    def on_set_imported(self, message: SetImported) -> None:
        if message.error is not None:
            self._status(f"import failed: {message.error}")
            self.app.notify(safe(f"Import failed: {message.error}"), severity="error", timeout=12)
            return
        self.app.notify(safe(f"Imported {message.count} questions as set {message.name!r}"))
        self._status(f"set {message.name!r}: {message.count} questions")
        self._select(replace(self.selection, set_name=message.name))
        self._reload(match="selection")

    def _ask_generate(self) -> None:
        count = len(self.store.question_sets())

        def got_name(name: str | None) -> None:
            if not name or not name.strip():
                return

            def got_count(value: str | None) -> None:
                if value and value.strip():
                    self._generate(name.strip(), int(value))

            self.app.push_screen(
                AskText("Questions per leaf topic", "2", validators=[Integer(1, 50)], input_type="integer"), got_count
            )

        self.app.push_screen(AskText("Name of the new generated question set", f"heldout-{count + 1}"), got_name)

    def _generate(self, name: str, per_topic: int) -> None:
        from core.evaluation.questions import generate_question_set

        services = self.app.services  # type: ignore[attr-defined]
        concurrency = self.config.llm.generator.max_concurrency

        def report(progress) -> None:
            self.post_message(QuestionsProgressed(dataclasses.replace(progress)))

        async def job():
            target = services.chat_target("generator")
            try:
                progress = await generate_question_set(
                    self.store, target, name, per_topic=per_topic, concurrency=concurrency, on_progress=report
                )
                return name, progress
            finally:
                await target.aclose()

        self._start("questions", job)

    def action_choose_evaluation(self) -> None:
        from tui.screens.choice_picker import ChoicePicker

        names = {s.id: s.name for s in self.store.question_sets()}
        evaluations = self.store.evaluations()
        if not evaluations:
            self.app.notify("No evaluation in this session yet: r runs one.", severity="warning")
            return
        choices = [
            (
                e.id,
                safe_line(
                    f"#{e.id}  {e.target_a}  vs  {e.target_b}   set {names.get(e.set_id, '?')}   "
                    f"{e.summary.get('score', '-')}   {e.status}",
                    140,
                ),
            )
            for e in evaluations
        ]

        def picked(choice: tuple | None) -> None:
            if choice is None:
                return
            chosen = next(e for e in evaluations if e.id == choice[0])
            self._select(Selection(chosen.target_a, chosen.target_b, names.get(chosen.set_id)))
            self.evaluation_id = chosen.id
            self._reload()

        self.app.push_screen(
            ChoicePicker("Open an evaluation (newest first)", choices, current=self.evaluation_id), picked
        )

    # ---- settings ------------------------------------------------------------------------------

    def _settings(self) -> EvalSettings:
        return stored_settings(self.store, self.config.llm.judge.max_concurrency, self.config.league)

    def action_settings(self) -> None:
        from tui.panes.compare.settings import EvalSettingsForm

        def done(settings: EvalSettings | None) -> None:
            if settings is not None:
                self._save_settings(settings)

        self.app.push_screen(EvalSettingsForm(self._settings()), done)

    @work(thread=True, exclusive=True, group="compare-settings", exit_on_error=False)
    def _save_settings(self, settings: EvalSettings) -> None:
        save_settings(self.store, settings)
        self.app.call_from_thread(
            self.app.notify, "Saved: the next run uses these settings (changed settings start a new evaluation)."
        )

    # ---- running -------------------------------------------------------------------------------

    def _start(self, label: str, factory) -> None:
        if self.runs.start(label, factory):
            self._status(f"{label}: starting…   ({bound_keys(self, 'compare.escape')} cancels)")

    def action_run(self, fresh: bool = False) -> None:
        sel = self.selection
        missing = [
            what
            for what, value in (
                ("target A (a)", sel.target_a),
                ("target B (b)", sel.target_b),
                ("a question set (s)", sel.set_name),
            )
            if not value
        ]
        if missing:
            self.app.notify(f"Choose {', '.join(missing)} first.", severity="warning")
            return
        if sel.target_a == sel.target_b:
            self.app.notify("Targets A and B are the same.", severity="warning")
            return
        endpoints = any(target.startswith("endpoint:") for target in (sel.target_a, sel.target_b))
        if endpoints and refused_in_console(self, "invoke"):
            return
        from core.evaluation.judge import evaluate

        services = self.app.services  # type: ignore[attr-defined]
        settings = self._settings()
        target_a, target_b, set_name = sel.target_a, sel.target_b, sel.set_name

        def report(progress) -> None:
            self.post_message(EvalProgressed(dataclasses.replace(progress)))

        async def job():
            return await evaluate(
                services, target_a, target_b, set_name=set_name, settings=settings, on_progress=report, fresh=fresh
            )

        self._start("evaluate", job)

    def on_eval_progressed(self, message: EvalProgressed) -> None:
        p = message.progress
        line = (
            f"evaluate: answers {p.answers_done}/{p.answers_total} · verdicts {p.verdicts_done}/"
            f"{p.verdicts_total} · failed {p.failed} · ${p.cost_usd:.4f}   "
            f"({bound_keys(self, 'compare.escape')} cancels; a rerun resumes)"
        )
        if p.last_error:
            line += f"\nlast error: {p.last_error}"
        self._status(line)
        now = time.monotonic()
        if now - self._last_live_reload >= LIVE_RELOAD_SECONDS:
            self._last_live_reload = now
            self._reload(match="selection")

    def on_questions_progressed(self, message: QuestionsProgressed) -> None:
        p = message.progress
        line = (
            f"questions: topics {p.topics_done}/{p.topics_total} · failed {p.failed} · ${p.cost_usd:.4f}   "
            f"({bound_keys(self, 'compare.escape')} cancels)"
        )
        if p.last_error:
            line += f"\nlast error: {p.last_error}"
        self._status(line)

    def on_run_finished(self, message: RunFinished) -> None:
        label = message.label
        if message.cancelled:
            self._status(f"{label}: cancelled; what finished is kept" + ("; r resumes" if label == "evaluate" else ""))
        elif message.error is not None:
            self.app.report_error(f"compare {label}", message.error)  # type: ignore[attr-defined]
            self._status(f"{label}: stopped: {message.error}")
        elif label == "evaluate" and isinstance(message.result, EvalReport):
            report = message.result
            if (report.evaluation.target_a, report.evaluation.target_b, report.set_name) == (
                self.selection.target_a,
                self.selection.target_b,
                self.selection.set_name,
            ):
                self.evaluation_id = report.evaluation.id
            s = report.summary
            score = score_text(s["wins"], s["N"], s["interval"]) if s.get("N") else "nothing judged"
            self._status(
                f"evaluate: done · score {score}"
                + (f" · {s.get('pending', 0)} not judged: r resumes" if not report.complete else "")
            )
        elif label == "questions" and isinstance(message.result, tuple):
            set_name, p = message.result
            self._status(
                f"questions: set {set_name!r} with {p.questions} questions · "
                f"{p.dropped_as_training_duplicates} dropped as training duplicates · ${p.cost_usd:.4f}"
            )
            self._select(replace(self.selection, set_name=set_name))
            self._reload(match="selection")
            return
        self._reload()

    def action_escape(self) -> None:
        if self.vote_mode:
            self._leave_vote_mode()
        elif self.runs.cancel():
            self._status("cancelling… (answers and verdicts so far are kept)")

    # ---- moving and scrolling ------------------------------------------------------------------

    def action_move(self, step: int) -> None:
        count = len(self.blind) if self.vote_mode else (len(self.report.items) if self.report else 0)
        if count:
            self.index = max(0, min(self.index + step, count - 1))
            self._redraw()

    def action_scroll(self, pages: int) -> None:
        self.answers.scroll_both(pages)

    def action_scroll_report(self, pages: int) -> None:
        panel = self.query_one("#compare-report", VerticalScroll)
        panel.scroll_relative(y=pages * max(1, panel.scrollable_content_region.height - 1), animate=False)

    def action_show_panel(self, name: str) -> None:
        self.panel = name if name in PANELS else "score"
        self._redraw()

    # ---- blind voting --------------------------------------------------------------------------

    def action_vote_mode(self) -> None:
        answered = self.report is not None and any(
            i.answer_a is not None and i.answer_a.ok and i.answer_b is not None and i.answer_b.ok
            for i in self.report.items
        )
        if not answered:
            self.app.notify("Nothing to vote on yet: run an evaluation first (r).", severity="warning")
            return

        def named(name: str | None) -> None:
            if name is None:
                return
            try:
                voter = validate_voter(name)
            except EvaluationError as exc:
                self.app.notify(safe(str(exc)), severity="error")
                return
            self.voter, self.vote_mode, self.blind, self.index = voter, True, [], 0
            self._my_votes = {}
            self._jump_to_unvoted = True
            self.refresh_bindings()
            votes = hint(
                self,
                ("compare.vote_left", "left better"),
                ("compare.vote_right", "right better"),
                ("compare.vote_tie", "tie"),
                ("compare.vote_both_bad", "both bad"),
                joiner="  ",
                every_key=True,
            )
            moves = hint(self, (("compare.next", "compare.previous"), "move"), ("compare.escape", "done"), joiner="  ")
            self._status(f"blind voting: {votes}   {moves}")
            self._redraw()
            self._reload()

        last = self.store.get_meta(VOTER_META) or ""
        self.app.push_screen(
            AskText(
                "Blind vote: your name (each voter sees the sides shuffled differently)", str(last), placeholder="ann"
            ),
            named,
        )

    def action_vote(self, shown: str) -> None:
        if not self.vote_mode or not self.blind or self.evaluation_id is None or self.voter is None:
            return
        item = self.blind[self.index]
        self.blind[self.index] = replace(item, vote=shown)
        self._my_votes[item.question_id] = shown
        self._pending_votes += 1
        self._cast(self.evaluation_id, item.question_id, self.voter, shown)
        order = list(range(self.index + 1, len(self.blind))) + list(range(0, self.index))
        following = next((i for i in order if self.blind[i].vote is None), None)
        if following is None:
            self._status(
                f"all {len(self.blind)} questions voted: {bound_keys(self, 'compare.escape')} shows how often the "
                f"judge agreed ({hint(self, (('compare.next', 'compare.previous'), 'to change a vote'), joiner=' ')})"
            )
        else:
            self.index = following
        self._redraw()

    @work(thread=True, group="compare-vote", exit_on_error=False)
    def _cast(self, evaluation_id: int, question_id: int, voter: str, shown: str) -> None:
        from core.evaluation.judge import cast_vote

        try:
            cast_vote(self.store, evaluation_id, question_id, voter, shown)  # type: ignore[arg-type]
        except Exception as exc:
            self.post_message(VoteRecorded(question_id, f"{type(exc).__name__}: {exc}"))
            return
        self.post_message(VoteRecorded(question_id, None))

    def on_vote_recorded(self, message: VoteRecorded) -> None:
        self._pending_votes = max(0, self._pending_votes - 1)
        if message.error is not None:
            self.app.notify(
                safe(f"vote on question {message.question_id} not recorded: {message.error}"), severity="error"
            )
        if not self.vote_mode:
            self._reload()

    def _leave_vote_mode(self) -> None:
        self.vote_mode, self.blind, self.index = False, [], 0
        self.panel = "votes"
        self._shown_answers = None
        self.refresh_bindings()
        self._status(self._hint())
        self._redraw()
        self._reload()

    # ---- regression and endpoints --------------------------------------------------------------

    def action_regression(self) -> None:
        if self.evaluation_id is None:
            self.app.notify("Open or run an evaluation first.", severity="warning")
            return
        self._regression(self.evaluation_id)

    @work(thread=True, exclusive=True, group="compare-regression", exit_on_error=False)
    def _regression(self, evaluation_id: int) -> None:
        from core.evaluation.judge import regression_check

        try:
            self.post_message(RegressionLoaded(regression_check(self.store, evaluation_id), None))
        except EvaluationError as exc:
            self.post_message(RegressionLoaded(None, str(exc)))

    def on_regression_loaded(self, message: RegressionLoaded) -> None:
        self.regression_report, self.regression_error = message.report, message.error
        self.panel = "regression"
        self._redraw()

    def action_endpoints(self) -> None:
        if refused_in_console(self, "endpoints"):
            return
        from tui.screens.endpoints import EndpointsScreen

        def chosen(result: tuple[str, str] | None) -> None:
            if result is not None:
                self._set_target(*result)

        self.app.push_screen(EndpointsScreen(self.store, self.config, poll_seconds=self.ENDPOINTS_POLL_SECONDS), chosen)
