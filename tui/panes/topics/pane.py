"""The Topics pane: grow and edit the topic tree, then generate pairs for it.

It is on screen at start-up, so core.generation.generate and the brief form (TextArea) are imported
where they are first used."""

from __future__ import annotations

import asyncio
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.actions import SkipAction
from textual.binding import Binding
from textual.message import Message
from textual.validation import Integer
from textual.widgets import Static, Tree

from core.store import StoreError
from tui.background import RunSlot
from tui.keys import hint
from tui.panes.base import Pane
from tui.screens.ask import AskText, Confirm
from tui.text import safe, safe_line, safe_rich

if TYPE_CHECKING:
    from collections.abc import Callable

    from textual.app import ComposeResult
    from textual.content import Content
    from textual.notifications import SeverityLevel
    from textual.timer import Timer
    from textual.widgets.tree import TreeNode

    from core.generation.generate import Progress
    from core.store import Store, Topic, TopicNode
    from tui.messages import RunFinished
    from tui.panes.topics.brief import BriefRequest


PROBE_SECONDS = 1.0
"""How often the shown pane checks whether another process (a headless run) changed the session."""


def _read_tree(store: Store) -> tuple[int, list[TopicNode]]:
    """The data version first, then the tree: a commit between them is seen by the next probe."""
    return store.data_version(), store.topic_tree()


@dataclass
class TreeLoaded(Message):
    nodes: list[TopicNode]


@dataclass
class RunProgressed(Message):
    label: str
    progress: Progress

    def can_replace(self, message: Message) -> bool:
        return isinstance(message, RunProgressed)


def _label(node: TopicNode) -> Text:
    text = safe_rich(node.topic.name, limit=80)
    count = f"  {node.questions} q · {node.accepted} ok"
    if node.topic.questions_per_topic is not None:
        count += f" · {node.topic.questions_per_topic}/topic"
    text.append(count, style="dim")
    return text


_SIBLING_JUMPS = ("cursor_parent", "cursor_parent_next_sibling", "cursor_previous_sibling", "cursor_next_sibling")


class TopicTree(Tree[int | None]):
    """The topic tree. Tree's shift+arrow sibling jumps step aside, so those keys reach the pane's
    moves (bindings that are not priority ones act in order with the keys typed before them)."""

    BINDINGS = [binding for binding in Tree.BINDINGS if binding.action not in _SIBLING_JUMPS]  # what help lists

    def action_cursor_parent(self) -> None:
        raise SkipAction()

    def action_cursor_parent_next_sibling(self) -> None:
        raise SkipAction()

    def action_cursor_previous_sibling(self) -> None:
        raise SkipAction()

    def action_cursor_next_sibling(self) -> None:
        raise SkipAction()


class TopicsPane(Pane):
    PANE_ID = "topics"
    TITLE = "Topics"
    STYLESHEET = "topics.tcss"
    BINDINGS = [
        Binding("b", "brief", "Brief → tree", id="topics.brief", tooltip="Generate a topic tree from a domain brief"),
        Binding("e", "expand", "Expand", id="topics.expand", tooltip="Ask the LLM for subtopics of this topic"),
        Binding("a", "add_child", "Add child", id="topics.add_child"),
        Binding("A", "add_top", "Add top-level", id="topics.add_top", show=False),
        Binding("r", "rename", "Rename", id="topics.rename", show=False),
        Binding("delete,d", "delete", "Delete", id="topics.delete", show=False),
        # not priority bindings: those act as the key arrives, before the arrow keys typed ahead of it
        # have moved the cursor (TopicTree leaves shift+arrows to the pane)
        Binding("shift+up", "move(-1)", "Move up", id="topics.move_up", show=False),
        Binding("shift+down", "move(1)", "Move down", id="topics.move_down", show=False),
        Binding("shift+left", "outdent", "Outdent", id="topics.outdent", show=False),
        Binding("shift+right", "indent", "Indent", id="topics.indent", show=False),
        Binding("n", "questions_per_topic", "Questions/topic", id="topics.per_topic", show=False),
        Binding(
            "g",
            "generate",
            "Generate pairs",
            id="topics.generate",
            tooltip="Questions and answers for the selected subtree (the whole tree on the root)",
        ),
        Binding("escape", "cancel_run", "Cancel run", id="topics.cancel"),
        Binding("i", "import_tree", "Import", id="topics.import", show=False),
        Binding("w", "export_tree", "Export", id="topics.export", show=False),
    ]

    def __init__(self, store, config, **kwargs) -> None:
        super().__init__(store, config, **kwargs)
        self.runs = RunSlot(self, cancel_binding="topics.cancel")
        self._store_pool: ThreadPoolExecutor | None = None
        self._probe_timer: Timer | None = None
        self._data_version: int | None = None
        self._shown_nodes: list[TopicNode] | None = None
        self._topics: dict[int, Topic] = {}
        self._edits = 0

    def compose(self) -> ComposeResult:
        tree = TopicTree(Text("All topics"), data=None, id="topic-tree")
        tree.show_root = True
        tree.guide_depth = 3
        if self.config.ui.ascii:
            tree.show_guides = False
            tree.ICON_NODE, tree.ICON_NODE_EXPANDED = "+ ", "- "
        yield tree
        yield Static(self._idle_hint(), id="topics-status", classes="pane-status")

    def _empty_hint(self) -> Content:
        """An empty session: the loop's five steps (with the keys that show each pane) and the first key."""
        steps = hint(
            self,
            ("pane.topics", "Topics"),
            ("pane.pairs", "Pairs"),
            ("pane.jobs", "Jobs"),
            ("pane.compare", "Compare"),
            ("pane.playground", "Playground"),
            separator=" → ",
        )
        first = hint(self, ("topics.brief", "write a domain brief and grow the topic tree"))
        return safe(f"The loop: {steps}. Start here, {first}")

    def _idle_hint(self) -> Content:
        return safe(
            hint(
                self,
                ("topics.brief", "brief → tree"),
                ("topics.expand", "expand"),
                (("topics.add_child", "topics.add_top"), "add"),
                ("topics.rename", "rename"),
                ("topics.delete", "delete"),
                (("topics.move_up", "topics.move_down", "topics.outdent", "topics.indent"), "move"),
                ("topics.per_topic", "questions per topic"),
                ("topics.generate", "generate pairs"),
            )
        )

    def on_mount(self) -> None:
        self.call_after_refresh(self.reload)  # the tree arrives just after the first frame, not against it
        self._probe_timer = self.set_interval(PROBE_SECONDS, self._probe, pause=not self.display)

    def on_unmount(self) -> None:
        if self._store_pool is not None:
            self._store_pool.shutdown(wait=False, cancel_futures=True)

    def pane_shown(self) -> None:
        self.reload()
        if self._probe_timer is not None:
            self._probe_timer.resume()

    def pane_hidden(self) -> None:
        if self._probe_timer is not None:
            self._probe_timer.pause()

    async def _in_store_thread(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run a store call on the pane's one store thread (one SQLite connection; edits keep their order)."""
        if self._store_pool is None:
            self._store_pool = ThreadPoolExecutor(1, thread_name_prefix="topics-store")
        return await asyncio.get_running_loop().run_in_executor(self._store_pool, partial(fn, *args))

    # ---- loading -------------------------------------------------------------------------
    @work(exclusive=True, group="topics-load", exit_on_error=False)
    async def reload(self) -> None:
        version, nodes = await self._in_store_thread(_read_tree, self.store)
        self._data_version = version
        self.post_message(TreeLoaded(nodes))

    @work(exclusive=True, group="topics-probe", exit_on_error=False)
    async def _probe(self) -> None:
        """Follow changes made elsewhere (a headless run on the same session) while the pane is shown."""
        version = await self._in_store_thread(self.store.data_version)
        if self._data_version is not None and version != self._data_version and not self._edits:
            self.reload()

    def on_tree_loaded(self, message: TreeLoaded) -> None:
        if message.nodes == self._shown_nodes:
            return  # another write moved the store's data version; rebuilding would only disturb the cursor
        self._shown_nodes = message.nodes
        self._topics = {}
        stack = list(message.nodes)
        while stack:
            node = stack.pop()
            self._topics[node.topic.id] = node.topic
            stack.extend(node.children)
        tree = self.query_one(Tree)
        selected = tree.cursor_node.data if tree.cursor_node else None
        expanded = {n.data for n in _walk(tree.root) if n.is_expanded}
        tree.clear()
        total_q = sum(n.questions for n in message.nodes)
        total_ok = sum(n.accepted for n in message.nodes)
        tree.root.set_label(Text(f"All topics  {total_q} q · {total_ok} ok", style="bold"))
        if not message.nodes:
            self.query_one("#topics-status", Static).update(self._empty_hint())

        def add(parent: TreeNode, node: TopicNode) -> None:
            if node.children:
                branch = parent.add(_label(node), data=node.topic.id, expand=node.topic.id in expanded)
                for child in node.children:
                    add(branch, child)
            else:
                parent.add_leaf(_label(node), data=node.topic.id)

        for node in message.nodes:
            add(tree.root, node)
        tree.root.expand()
        if selected is not None:
            for node in _walk(tree.root):
                if node.data == selected:
                    above = node.parent
                    while above is not None:  # an indented topic stays in sight
                        above.expand()
                        above = above.parent
                    tree.call_after_refresh(tree.move_cursor, node)  # once the new lines are laid out
                    break
        leaves = sum(1 for n in _walk(tree.root) if n.data is not None and not n.children)
        self.border_title = f"Topics ({leaves} leaf topics)"

    @property
    def selected_topic(self) -> int | None:
        node = self.query_one(Tree).cursor_node
        return node.data if node is not None else None

    def _need_topic(self) -> int | None:
        topic_id = self.selected_topic
        if topic_id is None:
            self.app.notify("Select a topic first (the root is the whole tree).", severity="warning")
        return topic_id

    # ---- editing: every store write and file read or write runs on the pane's store thread ------
    def _topic(self, topic_id: int | None) -> Topic | None:
        """The topic as last loaded (names and defaults for the dialogs, without a store read)."""
        return self._topics.get(topic_id) if topic_id is not None else None

    def _edit(self, fn: Callable[..., Note], *args: Any) -> None:
        """Run `fn(store, *args)` on the store thread, show the note it returns, then reload the tree."""
        self._edits += 1
        self._write(fn, *args)

    @work(group="topics-write", exit_on_error=False)
    async def _write(self, fn: Callable[..., Note], *args: Any) -> None:
        try:
            note = await self._in_store_thread(fn, self.store, *args)
        except (StoreError, ValueError) as exc:
            self.app.notify(safe(str(exc)), severity="error")
            note = None
        finally:
            self._edits -= 1
        if note is not None:
            self.app.notify(safe(note.text), severity=note.severity)
        if not self._edits:
            self.reload()

    def action_add_child(self) -> None:
        parent = self.selected_topic

        def done(name: str | None) -> None:
            if name and name.strip():
                self._edit(_add, name.strip(), parent)

        self.app.push_screen(AskText("New subtopic name" if parent else "New topic name"), done)

    def action_add_top(self) -> None:
        def done(name: str | None) -> None:
            if name and name.strip():
                self._edit(_add, name.strip(), None)

        self.app.push_screen(AskText("New top-level topic name"), done)

    def action_rename(self) -> None:
        topic_id = self._need_topic()
        if topic_id is None:
            return
        topic = self._topic(topic_id)

        def done(name: str | None) -> None:
            if name and name.strip():
                self._edit(_rename, topic_id, name.strip())

        self.app.push_screen(AskText("Rename topic", topic.name if topic else ""), done)

    def action_delete(self) -> None:
        topic_id = self._need_topic()
        if topic_id is None:
            return
        topic = self._topic(topic_id)
        name = topic.name if topic else "?"

        def done(yes: bool | None) -> None:
            if yes:
                self._edit(_delete, topic_id)

        self.app.push_screen(Confirm(f"Delete '{name}' and its subtopics? Its pairs stay, without a topic."), done)

    def action_move(self, offset: int) -> None:
        topic_id = self._need_topic()
        if topic_id is not None:
            self._edit(_move, topic_id, offset)

    def action_outdent(self) -> None:
        topic_id = self._need_topic()
        if topic_id is not None:
            self._edit(_outdent, topic_id)

    def action_indent(self) -> None:
        topic_id = self._need_topic()
        if topic_id is not None:
            self._edit(_indent, topic_id)

    def action_questions_per_topic(self) -> None:
        topic_id = self._need_topic()
        if topic_id is None:
            return
        topic = self._topic(topic_id)
        current = topic.questions_per_topic if topic and topic.questions_per_topic else ""

        def done(value: str | None) -> None:
            if value is not None:
                self._edit(_per_topic, topic_id, int(value) if value.strip() else None)

        self.app.push_screen(
            AskText(
                "Questions per topic for this topic (empty = the session default)",
                str(current),
                validators=[Integer(1, 50)],
                input_type="integer",
            ),
            done,
        )

    def action_import_tree(self) -> None:
        def done(path: str | None) -> None:
            if path:
                self._edit(_import_tree, path)

        self.app.push_screen(AskText("Import a topic tree from a JSON file", placeholder="topics.json"), done)

    def action_export_tree(self) -> None:
        def done(path: str | None) -> None:
            if path:
                self._edit(_export_tree, path)

        self.app.push_screen(AskText("Export the topic tree to a JSON file", "topics.json"), done)

    # ---- LLM runs ------------------------------------------------------------------------
    def _start(self, label: str, factory) -> None:
        if self.runs.start(label, factory):
            self.query_one("#topics-status", Static).update(safe(f"{label}: starting…"))

    def _progress(self, label: str):
        def report(progress: Progress) -> None:
            self.post_message(RunProgressed(label, progress))

        return report

    def action_brief(self) -> None:
        from tui.panes.topics.brief import BriefForm

        def done(request: BriefRequest | None) -> None:
            if request is None:
                return
            from core.generation.generate import TopicTreeBuilder

            services = self.app.services  # type: ignore[attr-defined]

            async def job():
                target = services.chat_target("generator")
                try:
                    builder = TopicTreeBuilder(
                        self.store,
                        target,
                        on_progress=self._progress("topic tree"),
                        categories=request.categories,
                        subtopics=request.subtopics,
                    )
                    return await builder.generate(request.brief, request.aspects)
                finally:
                    await target.aclose()

            self._start("topic tree", job)

        self.app.push_screen(
            BriefForm(self.store.get_meta("domain_brief", ""), self.store.get_meta("domain_aspects", [])), done
        )

    def action_expand(self) -> None:
        topic_id = self._need_topic()
        if topic_id is None:
            return
        from core.generation.generate import TopicTreeBuilder

        services = self.app.services  # type: ignore[attr-defined]

        async def job():
            target = services.chat_target("generator")
            try:
                builder = TopicTreeBuilder(self.store, target, on_progress=self._progress("expand"))
                await builder.expand(topic_id, 8)
                builder.run_state.raise_if_fatal()
                return builder.run_state.progress
            finally:
                await target.aclose()

        self._start("expand", job)

    def action_generate(self) -> None:
        from core.generation.generate import GenerationSettings

        gen = self.config.generation
        settings = GenerationSettings(
            questions_per_topic=gen.questions_per_topic,
            refusal_share=gen.refusal_share,
            answer_style=gen.answer_style,
            max_concurrency=self.config.llm.generator.max_concurrency,
        )
        self._generation_budget(self.selected_topic, settings)

    @work(thread=True, group="topics-budget", exclusive=True, exit_on_error=False)
    def _generation_budget(self, topic_id: int | None, settings: Any) -> None:
        """The run's estimate against the [budget] (store reads, off the UI loop); asks when it would pass."""
        from core.limits import estimate_generation, generation_check

        estimate = estimate_generation(
            self.store,
            self.config,
            questions_per_topic=settings.questions_per_topic,
            refusal_share=settings.refusal_share,
            topic_ids=[topic_id] if topic_id is not None else None,
        )
        found = generation_check(self.store, self.config, estimate)
        self.app.call_from_thread(self._generate_after_check, topic_id, settings, estimate.describe(), found.problems)

    def _generate_after_check(self, topic_id: int | None, settings: Any, estimate: str, problems: tuple) -> None:
        if not problems:
            self._generate(topic_id, settings)
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._generate(topic_id, settings)

        question = f"Generate pairs past the budget?\n{estimate}.\n" + "\n".join(problems)
        self.app.push_screen(Confirm(question), answered)

    def _generate(self, topic_id: int | None, settings: Any) -> None:
        from core.generation.generate import PairGenerator

        services = self.app.services  # type: ignore[attr-defined]

        async def job():
            target = services.chat_target("generator")
            try:
                generator = PairGenerator(
                    self.store,
                    target,
                    settings,
                    on_progress=self._progress("generate"),
                    model=self.config.llm.generator.model,
                )
                return await generator.run([topic_id] if topic_id is not None else None)
            finally:
                await target.aclose()

        self._start("generate", job)

    def action_cancel_run(self) -> None:
        if self.runs.cancel():
            self.query_one("#topics-status", Static).update(safe("cancelling… (finished pairs are kept)"))

    def on_run_progressed(self, message: RunProgressed) -> None:
        p = message.progress
        eta = f"{p.eta_s:.0f}s" if p.eta_s is not None else "?"
        line = (
            f"{message.label}: {p.done}/{p.total} done · {p.failed} failed · {p.rate:.1f}/s · eta {eta} · "
            f"{p.prompt_tokens + p.completion_tokens:,} tokens · ${p.cost_usd:.4f}   (esc cancels)"
        )
        if p.last_error:
            line += f"\nlast error: {p.last_error}"
        self.query_one("#topics-status", Static).update(safe_line(line) if not p.last_error else safe(line))
        if p.done % 20 == 0:
            self.reload()

    def on_run_finished(self, message: RunFinished) -> None:
        from core.generation.generate import Progress

        status = self.query_one("#topics-status", Static)
        if message.cancelled:
            status.update(safe(f"{message.label}: cancelled; rerun to resume where it stopped"))
        elif message.error is not None:
            self.app.report_error(message.label, message.error)  # type: ignore[attr-defined]
            status.update(safe(f"{message.label}: stopped: {message.error}"))
        elif isinstance(message.result, Progress):
            p = message.result
            status.update(
                safe(
                    f"{message.label}: done · {p.done} tasks · {p.failed} failed · "
                    f"${p.cost_usd:.4f}" + (f" · {p.pairs_added} new pairs" if p.pairs_added else "")
                )
            )
        self.reload()


def _walk(node: TreeNode):
    yield node
    for child in node.children:
        yield from _walk(child)


def _check_tree(nodes, path: str = "topics") -> None:
    if not isinstance(nodes, list):
        raise ValueError(f"{path} must be a list")
    for index, node in enumerate(nodes):
        where = f"{path}[{index}]"
        if not isinstance(node, dict) or not isinstance(node.get("name"), str) or not node["name"].strip():
            raise ValueError(f"{where} needs a non-empty 'name'")
        per_topic = node.get("questions_per_topic")
        if per_topic is not None and (not isinstance(per_topic, int) or not 1 <= per_topic <= 50):
            raise ValueError(f"{where}.questions_per_topic must be a whole number from 1 to 50")
        _check_tree(node.get("children", []), f"{where}.children")


# ---- the edits, run on the pane's store thread ---------------------------------------------------


@dataclass(frozen=True)
class Note:
    text: str
    severity: SeverityLevel = "information"


def _add(store: Store, name: str, parent_id: int | None) -> Note | None:
    store.add_topic(name, parent_id)
    return None


def _rename(store: Store, topic_id: int, name: str) -> Note | None:
    store.rename_topic(topic_id, name)
    return None


def _delete(store: Store, topic_id: int) -> Note | None:
    store.delete_topic(topic_id)
    return None


def _per_topic(store: Store, topic_id: int, count: int | None) -> Note | None:
    store.set_questions_per_topic(topic_id, count)
    return None


def _move(store: Store, topic_id: int, offset: int) -> Note | None:
    topic = store.topic(topic_id)
    if topic is not None:
        store.move_topic(topic.id, topic.parent_id, max(0, topic.position + offset))
    return None


def _outdent(store: Store, topic_id: int) -> Note | None:
    topic = store.topic(topic_id)
    if topic is None or topic.parent_id is None:
        return Note("Already a top-level topic.", "warning")
    parent = store.topic(topic.parent_id)
    store.move_topic(topic.id, parent.parent_id if parent else None, (parent.position + 1) if parent else None)
    return None


def _indent(store: Store, topic_id: int) -> Note | None:
    topic = store.topic(topic_id)
    if topic is None:
        return None
    siblings = [t for t in store.topics() if t.parent_id == topic.parent_id and t.position < topic.position]
    if not siblings:
        return Note("Nothing above to indent under.", "warning")
    store.move_topic(topic.id, max(siblings, key=lambda t: t.position).id)
    return None


def _import_tree(store: Store, path: str) -> Note:
    try:
        data = json.loads(Path(path).expanduser().read_text(encoding="utf-8"))
        nodes = data["topics"] if isinstance(data, dict) else data
        _check_tree(nodes)
        added = store.replace_topics(nodes)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        return Note(f"Import failed, nothing imported: {exc}", "error")
    return Note(f"Imported {added} topics")


def _export_tree(store: Store, path: str) -> Note:
    try:
        Path(path).expanduser().write_text(json.dumps({"topics": store.export_topics()}, indent=2))
    except OSError as exc:
        return Note(f"Export failed: {exc}", "error")
    return Note(f"Exported the topic tree to {path}")
