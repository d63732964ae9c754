"""Topic trees and Q/A pair generation, resumable and exactly-once.

The method that won the league: per leaf topic one call returns N questions (strict JSON schema),
then every question gets its own answer call with the answer-style system prompt; a share of
refusal pairs teaches the model to decline politely. Every unit of work is a task with a
deterministic key in the session store; a finished pair is committed together with its task, so
a killed run loses only the calls in flight and a rerun neither repeats nor duplicates anything.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from core.llm.base import ChatTarget

from core.curation.dedup import find_leaks
from core.generation import prompts
from core.safe_text import one_line
from core.store import GenTask, NewPair, Store, Topic

QUESTIONS = "questions"
ANSWER = "answer"
REFUSAL_QUESTIONS = "refusal_questions"
REFUSAL_BATCH = 10
MAX_FORMAT_ATTEMPTS = 2


class GenerationStopped(Exception):
    """A fatal error (bad key, no quota, ...) stopped the run; the reason is safe to show."""


def _ensured_task(store: Store, key: str) -> GenTask:
    """A task `ensure_tasks` registered; missing only if the session was reset under the run."""
    task = store.task(key)
    if task is None:
        raise GenerationStopped(f"task {key} is no longer in the session")
    return task


@dataclass
class GenerationSettings:
    questions_per_topic: int = 6
    refusal_share: float = 0.08
    answer_style: str = ""
    question_temperature: float = 0.9
    answer_temperature: float = 0.7
    top_p: float = 0.95
    question_max_tokens: int = 900
    answer_max_tokens: int = 700
    max_concurrency: int = 64
    round: str = ""
    """A named extra round ("more-eval-3"): its question tasks are new ones, `questions_per_topic` each, and
    questions near a held-out question are dropped before they are answered."""

    def validate(self) -> None:
        if not 1 <= self.questions_per_topic <= 50:
            raise ValueError("questions per topic must be between 1 and 50")
        if not 0 <= self.refusal_share < 0.5:
            raise ValueError("refusal share must be at least 0 and below 0.5")


@dataclass
class Progress:
    """What a progress bar or the Pairs pane shows; emitted after every finished task."""

    total: int = 0
    done: int = 0
    failed: int = 0
    pairs_added: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cost_usd: float = 0.0
    started: float = field(default_factory=time.monotonic)
    last_error: str | None = None
    last_pair_id: int | None = None

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def rate(self) -> float:
        return self.done / self.elapsed if self.elapsed > 0 else 0.0

    @property
    def eta_s(self) -> float | None:
        remaining = self.total - self.done - self.failed
        return remaining / self.rate if self.rate > 0 and remaining > 0 else (0.0 if remaining <= 0 else None)

    def as_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "done": self.done,
            "failed": self.failed,
            "pairs_added": self.pairs_added,
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "cost_usd": round(self.cost_usd, 6),
            "elapsed_s": round(self.elapsed, 2),
            "last_error": self.last_error,
        }


ProgressCallback = Callable[[Progress], None]


def _text(result: Any) -> str:
    return getattr(result, "text", result if isinstance(result, str) else "")


def _account(progress: Progress, result: Any) -> None:
    progress.prompt_tokens += int(getattr(result, "prompt_tokens", 0) or 0)
    progress.completion_tokens += int(getattr(result, "completion_tokens", 0) or 0)
    progress.cost_usd += float(getattr(result, "cost_usd", 0.0) or 0.0)


def _error_text(exc: BaseException) -> str:
    return one_line(f"{type(exc).__name__}: {exc}", 300)


def _is_fatal(exc: BaseException) -> bool:
    return bool(getattr(exc, "stops_run", False))


def parse_json_list(text: str, key: str) -> list[Any]:
    """The list under `key` in a JSON reply (tolerating a code fence); ValueError if it is not there."""
    body = text.strip()
    if body.startswith("```"):
        body = body.strip("`")
        body = body[body.find("\n") + 1 :] if "\n" in body else body
    try:
        data = json.loads(body)
    except json.JSONDecodeError as exc:
        raise ValueError(f"reply is not valid JSON ({exc.msg} at char {exc.pos})") from None
    if not isinstance(data, dict) or not isinstance(data.get(key), list):
        raise ValueError(f"reply has no '{key}' list")
    items: list[Any] = data[key]
    return items


def clean_questions(raw: list[Any], limit: int) -> list[str]:
    seen: set[str] = set()
    questions = []
    for item in raw:
        text = " ".join(str(item).split()) if item is not None else ""
        if text and text.casefold() not in seen:
            seen.add(text.casefold())
            questions.append(text)
    return questions[:limit]


def clean_topics(raw: list[Any]) -> list[dict[str, str]]:
    topics, seen = [], set()
    for item in raw:
        if isinstance(item, dict) and str(item.get("name", "")).strip():
            name = " ".join(str(item["name"]).split())[:120]
            if name.casefold() not in seen:
                seen.add(name.casefold())
                topics.append({"name": name, "description": " ".join(str(item.get("description", "")).split())[:400]})
    return topics


class _Run:
    """Shared machinery: bounded concurrency, progress, fatal stop."""

    def __init__(
        self, store: Store, target: ChatTarget, on_progress: ProgressCallback | None, concurrency: int, purpose: str
    ) -> None:
        self.store = store
        self.target = target
        self.on_progress = on_progress
        self.progress = Progress()
        self.semaphore = asyncio.Semaphore(max(1, concurrency))
        self.fatal: BaseException | None = None
        self.purpose = purpose

    def emit(self) -> None:
        if self.on_progress:
            self.on_progress(self.progress)

    async def call(self, messages: list[dict[str, str]], **kwargs: Any) -> Any:
        async with self.semaphore:
            if self.fatal:
                raise asyncio.CancelledError
            result = await self.target.complete(messages, **kwargs)
        _account(self.progress, result)
        return result

    async def call_json(self, messages: list[dict[str, str]], key: str, **kwargs: Any) -> list[Any]:
        last: Exception | None = None
        for _ in range(MAX_FORMAT_ATTEMPTS):
            result = await self.call(messages, **kwargs)
            if getattr(result, "finish_reason", "stop") == "length":
                last = ValueError("reply was cut off (finish_reason=length)")
                continue
            try:
                return parse_json_list(_text(result), key)
            except ValueError as exc:
                last = exc
        assert last is not None
        raise last

    async def guarded(self, key: str, work: Callable[[], Awaitable[None]]) -> None:
        """Run one task; record its failure with the reason; a fatal error stops the whole run."""
        try:
            await work()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # every failure is recorded against its task, none is lost
            if _is_fatal(exc):
                self.fatal = self.fatal or exc
            self.store.fail_task(key, _error_text(exc))
            self.progress.failed += 1
            self.progress.last_error = _error_text(exc)
            self.emit()

    def raise_if_fatal(self) -> None:
        if self.fatal:
            raise GenerationStopped(_error_text(self.fatal))


@dataclass(frozen=True)
class _Question:
    id: int
    question: str
    answer: str = ""
    kind: str = "qa"


class PairGenerator:
    """Questions per leaf topic, one answer call per question, plus refusal pairs."""

    def __init__(
        self,
        store: Store,
        target: ChatTarget,
        settings: GenerationSettings,
        *,
        brief: str | None = None,
        on_progress: ProgressCallback | None = None,
        model: str = "",
    ) -> None:
        settings.validate()
        self.store = store
        self.target = target
        self.settings = settings
        self.brief = brief if brief is not None else store.get_meta("domain_brief", "")
        self.model = model
        self.run_state = _Run(store, target, on_progress, settings.max_concurrency, "generate")

    @property
    def progress(self) -> Progress:
        return self.run_state.progress

    def plan(self, topic_ids: list[int] | None = None) -> None:
        """Register the question and refusal tasks for the chosen topics (idempotent)."""
        leaves = self._leaves(topic_ids)
        tasks: list[tuple[str, str, int | None, dict[str, Any]]] = []
        total_questions = 0
        extra = self.settings.round
        for topic in leaves:
            count = (
                self.settings.questions_per_topic
                if extra
                else topic.questions_per_topic or self.settings.questions_per_topic
            )
            total_questions += count
            key = f"{QUESTIONS}:{topic.id}:{count}" + (f":{extra}" if extra else "")
            tasks.append((key, QUESTIONS, topic.id, {"count": count}))
        share = self.settings.refusal_share
        if share > 0 and topic_ids is None:
            all_questions = sum(
                t.questions_per_topic or self.settings.questions_per_topic for t in self.store.leaf_topics()
            )
            refusals = round(all_questions * share / (1 - share))
            for index in range(math.ceil(refusals / REFUSAL_BATCH)):
                count = min(REFUSAL_BATCH, refusals - index * REFUSAL_BATCH)
                tasks.append((f"{REFUSAL_QUESTIONS}:{index}:{count}", REFUSAL_QUESTIONS, None, {"count": count}))
        self.store.ensure_tasks(tasks)

    def _leaves(self, topic_ids: list[int] | None) -> list[Topic]:
        leaves = self.store.leaf_topics()
        if topic_ids is None:
            return leaves
        wanted = set(topic_ids)
        chosen = []
        for leaf in leaves:
            cursor: Topic | None = leaf
            while cursor is not None:
                if cursor.id in wanted:
                    chosen.append(leaf)
                    break
                cursor = self.store.topic(cursor.parent_id) if cursor.parent_id is not None else None
        return chosen

    async def run(self, topic_ids: list[int] | None = None) -> Progress:
        if not self.store.leaf_topics():
            raise ValueError("the session has no topics yet: generate or import a topic tree first")
        self.store.retry_failed_tasks()
        self.plan(topic_ids)
        scope_topics = {t.id for t in self._leaves(topic_ids)}
        in_scope = lambda task: topic_ids is None or task.topic_id in scope_topics  # noqa: E731
        question_tasks = [t for t in self.store.tasks(QUESTIONS, "pending") if in_scope(t)]
        refusal_tasks = self.store.tasks(REFUSAL_QUESTIONS, "pending") if topic_ids is None else []
        answer_tasks = [t for t in self.store.tasks(ANSWER, "pending") if in_scope(t)]
        progress = self.progress
        progress.total = (
            len(question_tasks)
            + len(refusal_tasks)
            + len(answer_tasks)
            + sum(t.payload["count"] for t in question_tasks + refusal_tasks)
        )
        self.run_state.emit()
        run_id = self.store.start_run("generate")
        status = "failed"
        try:
            async with asyncio.TaskGroup() as group:
                for task in answer_tasks:
                    group.create_task(self._answer(task.key, task.payload, task.topic_id))
                for task in question_tasks:
                    group.create_task(self._questions(task.key, task.topic_id, task.payload["count"], group))
                for task in refusal_tasks:
                    group.create_task(self._refusal_questions(task.key, task.payload["count"], group))
            self.run_state.raise_if_fatal()
            status = "done"
        except asyncio.CancelledError:
            status = "cancelled"
            raise
        finally:
            self.store.finish_run(run_id, status, progress.as_dict())
        return progress

    async def _questions(self, key: str, topic_id: int | None, count: int, group: asyncio.TaskGroup) -> None:
        async def work() -> None:
            topic = self.store.topic(topic_id) if topic_id is not None else None
            if topic is None:
                raise ValueError("topic was deleted")
            path = self.store.topic_path(topic.id)
            raw = await self.run_state.call_json(
                prompts.questions_messages(self.brief, path, topic.description, count),
                "questions",
                temperature=self.settings.question_temperature,
                top_p=self.settings.top_p,
                max_tokens=self.settings.question_max_tokens,
                json_schema=prompts.questions_schema(count),
                purpose="questions",
            )
            questions = clean_questions(raw, count)
            if self.settings.round:  # more data where the model lost: never a held-out question again
                leaks = find_leaks([_Question(i, q) for i, q in enumerate(questions)], self.store.question_set_texts())
                questions = [q for i, q in enumerate(questions) if i not in leaks]
            if not questions:
                raise ValueError("reply held no usable questions")
            answer_keys = self._register_answers(key, topic.id, questions, "qa")
            self._task_done(count - len(questions))
            for answer_key, payload in answer_keys:
                group.create_task(self._answer(answer_key, payload, topic.id))

        await self.run_state.guarded(key, work)

    async def _refusal_questions(self, key: str, count: int, group: asyncio.TaskGroup) -> None:
        async def work() -> None:
            raw = await self.run_state.call_json(
                prompts.refusal_questions_messages(self.brief, count),
                "questions",
                temperature=self.settings.question_temperature,
                top_p=self.settings.top_p,
                max_tokens=self.settings.question_max_tokens,
                json_schema=prompts.questions_schema(count),
                purpose="refusal_questions",
            )
            questions = clean_questions(raw, count)
            if not questions:
                raise ValueError("reply held no usable questions")
            answer_keys = self._register_answers(key, None, questions, "refusal")
            self._task_done(count - len(questions))
            for answer_key, payload in answer_keys:
                group.create_task(self._answer(answer_key, payload, None))

        await self.run_state.guarded(key, work)

    def _register_answers(
        self, parent_key: str, topic_id: int | None, questions: list[str], kind: str
    ) -> list[tuple[str, dict[str, Any]]]:
        """Finish the question task and register its answer tasks in one transaction."""
        answers = [(f"{ANSWER}:{parent_key}:{i}", {"question": q, "kind": kind}) for i, q in enumerate(questions)]
        with self.store.db.tx():
            self.store.finish_task(parent_key, questions)
            self.store.ensure_tasks([(k, ANSWER, topic_id, p) for k, p in answers])
        return answers

    def _task_done(self, fewer_answers: int = 0) -> None:
        self.progress.done += 1
        self.progress.total -= max(0, fewer_answers)
        self.run_state.emit()

    async def _answer(self, key: str, payload: dict[str, Any], topic_id: int | None) -> None:
        async def work() -> None:
            question = payload["question"]
            kind = payload.get("kind", "qa")
            if kind == "refusal":
                messages = prompts.refusal_answer_messages(self.settings.answer_style, self.brief, question)
            else:
                path = self.store.topic_path(topic_id) if topic_id is not None else []
                messages = prompts.answer_messages(self.settings.answer_style, self.brief, path, question)
            result = await self.run_state.call(
                messages,
                temperature=self.settings.answer_temperature,
                top_p=self.settings.top_p,
                max_tokens=self.settings.answer_max_tokens,
                purpose="answer",
            )
            if getattr(result, "finish_reason", "stop") == "length":
                raise ValueError("answer was cut off (finish_reason=length)")
            answer = _text(result).strip()
            if not answer:
                raise ValueError("empty answer")
            provenance = {"model": getattr(result, "model", self.model), "task": key, "style": "answer_style"}
            with self.store.db.tx():
                pair_id = self.store.add_pair(
                    NewPair(
                        question,
                        answer,
                        topic_id=topic_id,
                        kind=kind,
                        task_key=key,
                        tags=("refusal",) if kind == "refusal" else (),
                        provenance=provenance,
                    )
                )
                self.store.finish_task(key)
            if pair_id is not None:
                self.progress.pairs_added += 1
                self.progress.last_pair_id = pair_id
            self._task_done()

        await self.run_state.guarded(key, work)


class TopicTreeBuilder:
    """Categories from a brief plus seed aspects, then subtopics per category; resumable."""

    def __init__(
        self,
        store: Store,
        target: ChatTarget,
        *,
        on_progress: ProgressCallback | None = None,
        categories: int = 12,
        subtopics: int = 12,
        concurrency: int = 16,
    ) -> None:
        self.store = store
        self.target = target
        self.categories = categories
        self.subtopics = subtopics
        self.run_state = _Run(store, target, on_progress, concurrency, "topics")

    async def generate(self, brief: str, aspects: list[str]) -> Progress:
        brief = brief.strip()
        if not brief:
            raise ValueError("the domain brief is empty")
        self.store.set_meta("domain_brief", brief)
        self.store.set_meta("domain_aspects", aspects)
        progress = self.run_state.progress
        key = f"tree:categories:{self.categories}"
        self.store.ensure_tasks([(key, "tree", None, {"count": self.categories})])
        progress.total = 1 + self.categories
        self.run_state.emit()
        if _ensured_task(self.store, key).status != "done":

            async def categories() -> None:
                raw = await self.run_state.call_json(
                    prompts.categories_messages(brief, aspects, self.categories),
                    "categories",
                    temperature=0.7,
                    top_p=0.95,
                    max_tokens=1500,
                    json_schema=prompts.CATEGORIES_SCHEMA,
                    purpose="topics",
                )
                found = clean_topics(raw)
                if not found:
                    raise ValueError("reply held no usable categories")
                with self.store.db.tx():
                    ids = [self.store.add_topic(c["name"], None, description=c["description"]) for c in found]
                    self.store.finish_task(key, ids)
                progress.done += 1
                self.run_state.emit()

            self.store.retry_failed_tasks("tree")
            await self.run_state.guarded(key, categories)
            self.run_state.raise_if_fatal()
        task = _ensured_task(self.store, key)
        if task.status != "done":
            raise GenerationStopped(task.error or "category generation failed")
        category_ids = [i for i in task.result if self.store.topic(i) is not None]
        progress.total = 1 + len(category_ids)
        progress.done = 1
        await asyncio.gather(
            *(self.expand(topic_id, self.subtopics, brief=brief, key_children=0) for topic_id in category_ids)
        )
        self.run_state.raise_if_fatal()
        return progress

    async def expand(
        self, topic_id: int, count: int, *, brief: str | None = None, key_children: int | None = None
    ) -> None:
        """Add `count` subtopics under one node.

        The key includes how many children the node has now, so a rerun after a crash repeats
        nothing while a later, deliberate expansion of the same node asks again. The tree build
        passes `key_children=0` (what a new category has), so resuming it never expands a
        category that was already expanded.
        """
        brief = brief if brief is not None else self.store.get_meta("domain_brief", "")
        children = (
            key_children if key_children is not None else sum(1 for t in self.store.topics() if t.parent_id == topic_id)
        )
        key = f"tree:expand:{topic_id}:{count}:{children}"
        self.store.retry_failed_tasks("tree")
        self.store.ensure_tasks([(key, "tree", topic_id, {"count": count})])
        if _ensured_task(self.store, key).status == "done":
            return

        async def work() -> None:
            topic = self.store.topic(topic_id)
            if topic is None:
                raise ValueError("topic was deleted")
            raw = await self.run_state.call_json(
                prompts.subtopics_messages(brief, self.store.topic_path(topic_id), topic.description, count),
                "subtopics",
                temperature=0.7,
                top_p=0.95,
                max_tokens=1500,
                json_schema=prompts.SUBTOPICS_SCHEMA,
                purpose="topics",
            )
            found = clean_topics(raw)
            if not found:
                raise ValueError("reply held no usable subtopics")
            existing = {c.name.casefold() for c in self.store.topics() if c.parent_id == topic_id}
            with self.store.db.tx():
                ids = [
                    self.store.add_topic(s["name"], topic_id, description=s["description"])
                    for s in found
                    if s["name"].casefold() not in existing
                ]
                self.store.finish_task(key, ids)
            self.run_state.progress.done += 1
            self.run_state.emit()

        await self.run_state.guarded(key, work)


async def regenerate_answers(
    store: Store, target: ChatTarget, settings: GenerationSettings, pair_ids: list[int]
) -> tuple[int, list[str]]:
    """Ask again for the answers of these pairs; each new answer replaces the old one (undoable)."""
    brief = store.get_meta("domain_brief", "")
    errors: list[str] = []
    gate = asyncio.Semaphore(max(1, settings.max_concurrency))

    async def one(pair_id: int) -> bool:
        pair = store.pair(pair_id)
        if pair is None:
            return False
        if pair.kind == "refusal":
            messages = prompts.refusal_answer_messages(settings.answer_style, brief, pair.question)
        else:
            path = store.topic_path(pair.topic_id) if pair.topic_id is not None else []
            messages = prompts.answer_messages(settings.answer_style, brief, path, pair.question)
        try:
            async with gate:
                result = await target.complete(
                    messages,
                    temperature=settings.answer_temperature,
                    top_p=settings.top_p,
                    max_tokens=settings.answer_max_tokens,
                    purpose="regenerate",
                )
            answer = _text(result).strip()
            if getattr(result, "finish_reason", "stop") == "length" or not answer:
                raise ValueError("answer was cut off or empty")
        except Exception as exc:  # reported back; the old answer stays
            errors.append(f"pair {pair_id}: {_error_text(exc)}")
            return False
        store.update_answer(pair_id, answer)
        return True

    done = await asyncio.gather(*(one(i) for i in pair_ids))
    return sum(done), errors
