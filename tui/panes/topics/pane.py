"""The Topics pane: grow and edit the topic tree, then generate pairs for it.

It is on screen at start-up, so core.generation.generate and the brief form (TextArea) are imported
where they are first used."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.message import Message
from textual.validation import Integer
from textual.widgets import Static, Tree

from tui.background import RunSlot
from tui.keys import hint
from tui.panes.base import Pane
from tui.screens.ask import AskText, Confirm
from tui.text import safe, safe_line, safe_rich

if TYPE_CHECKING:
    from textual.app import ComposeResult
    from textual.content import Content
    from textual.widgets.tree import TreeNode

    from core.generation.generate import Progress
    from core.store import TopicNode
    from tui.messages import RunFinished
    from tui.panes.topics.brief import BriefRequest


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

    def compose(self) -> ComposeResult:
        tree: Tree[int | None] = Tree(Text("All topics"), data=None, id="topic-tree")
        tree.show_root = True
        tree.guide_depth = 3
        if self.config.ui.ascii:
            tree.show_guides = False
            tree.ICON_NODE, tree.ICON_NODE_EXPANDED = "+ ", "- "
        yield tree
        yield Static(self._idle_hint(), id="topics-status", classes="pane-status")

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

    def pane_shown(self) -> None:
        self.reload()

    # ---- loading -------------------------------------------------------------------------
    @work(thread=True, exclusive=True, group="topics-load", exit_on_error=False)
    def reload(self) -> None:
        self.post_message(TreeLoaded(self.store.topic_tree()))

    def on_tree_loaded(self, message: TreeLoaded) -> None:
        tree = self.query_one(Tree)
        selected = tree.cursor_node.data if tree.cursor_node else None
        expanded = {n.data for n in _walk(tree.root) if n.is_expanded}
        tree.clear()
        total_q = sum(n.questions for n in message.nodes)
        total_ok = sum(n.accepted for n in message.nodes)
        tree.root.set_label(Text(f"All topics  {total_q} q · {total_ok} ok", style="bold"))

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
                    tree.move_cursor(node)
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

    # ---- editing -------------------------------------------------------------------------
    def action_add_child(self) -> None:
        parent = self.selected_topic

        def done(name: str | None) -> None:
            if name and name.strip():
                self.store.add_topic(name.strip(), parent)
                self.reload()

        self.app.push_screen(AskText("New subtopic name" if parent else "New topic name"), done)

    def action_add_top(self) -> None:
        def done(name: str | None) -> None:
            if name and name.strip():
                self.store.add_topic(name.strip(), None)
                self.reload()

        self.app.push_screen(AskText("New top-level topic name"), done)

    def action_rename(self) -> None:
        topic_id = self._need_topic()
        if topic_id is None:
            return
        topic = self.store.topic(topic_id)

        def done(name: str | None) -> None:
            if name and name.strip():
                self.store.rename_topic(topic_id, name.strip())
                self.reload()

        self.app.push_screen(AskText("Rename topic", topic.name if topic else ""), done)

    def action_delete(self) -> None:
        topic_id = self._need_topic()
        if topic_id is None:
            return
        topic = self.store.topic(topic_id)
        name = topic.name if topic else "?"

        def done(yes: bool | None) -> None:
            if yes:
                self.store.delete_topic(topic_id)
                self.reload()

        self.app.push_screen(Confirm(f"Delete '{name}' and its subtopics? Its pairs stay, without a topic."), done)

    def action_move(self, offset: int) -> None:
        topic_id = self._need_topic()
        topic = self.store.topic(topic_id) if topic_id is not None else None
        if topic is None:
            return
        self.store.move_topic(topic.id, topic.parent_id, max(0, topic.position + offset))
        self.reload()

    def action_outdent(self) -> None:
        topic = self.store.topic(self._need_topic() or -1)
        if topic is None or topic.parent_id is None:
            return
        parent = self.store.topic(topic.parent_id)
        self.store.move_topic(topic.id, parent.parent_id if parent else None, (parent.position + 1) if parent else None)
        self.reload()

    def action_indent(self) -> None:
        topic = self.store.topic(self._need_topic() or -1)
        if topic is None:
            return
        siblings = [t for t in self.store.topics() if t.parent_id == topic.parent_id and t.position < topic.position]
        if not siblings:
            self.app.notify("Nothing above to indent under.", severity="warning")
            return
        new_parent = max(siblings, key=lambda t: t.position)
        self.store.move_topic(topic.id, new_parent.id)
        self.reload()

    def action_questions_per_topic(self) -> None:
        topic_id = self._need_topic()
        if topic_id is None:
            return
        topic = self.store.topic(topic_id)
        current = topic.questions_per_topic if topic and topic.questions_per_topic else ""

        def done(value: str | None) -> None:
            if value is None:
                return
            self.store.set_questions_per_topic(topic_id, int(value) if value.strip() else None)
            self.reload()

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
            if not path:
                return
            try:
                data = json.loads(Path(path).expanduser().read_text(encoding="utf-8"))
                nodes = data["topics"] if isinstance(data, dict) else data
                _check_tree(nodes)
                added = self.store.replace_topics(nodes)
            except (OSError, ValueError, KeyError, TypeError) as exc:
                self.app.notify(safe(f"Import failed, nothing imported: {exc}"), severity="error")
                return
            self.app.notify(safe(f"Imported {added} topics"))
            self.reload()

        self.app.push_screen(AskText("Import a topic tree from a JSON file", placeholder="topics.json"), done)

    def action_export_tree(self) -> None:
        def done(path: str | None) -> None:
            if not path:
                return
            try:
                Path(path).expanduser().write_text(json.dumps({"topics": self.store.export_topics()}, indent=2))
            except OSError as exc:
                self.app.notify(safe(f"Export failed: {exc}"), severity="error")
                return
            self.app.notify(safe(f"Exported the topic tree to {path}"))

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
        from core.generation.generate import GenerationSettings, PairGenerator

        topic_id = self.selected_topic
        services = self.app.services  # type: ignore[attr-defined]
        gen = self.config.generation
        settings = GenerationSettings(
            questions_per_topic=gen.questions_per_topic,
            refusal_share=gen.refusal_share,
            answer_style=gen.answer_style,
            max_concurrency=self.config.llm.generator.max_concurrency,
        )

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
