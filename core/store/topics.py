"""Topic tree accessors."""

from __future__ import annotations

import time
from dataclasses import field
from typing import TYPE_CHECKING

from core.store.db import inserted_id
from core.store.lazy_record import record

if TYPE_CHECKING:
    import sqlite3
    from collections.abc import Iterable

    from core.store.db import Database


@record
class Topic:
    id: int
    parent_id: int | None
    name: str
    description: str
    questions_per_topic: int | None
    position: int


@record
class TopicNode:
    """A topic with its children and counts, for tree views."""

    topic: Topic
    children: list[TopicNode] = field(default_factory=list)
    questions: int = 0
    accepted: int = 0

    @property
    def is_leaf(self) -> bool:
        return not self.children


def _topic(row: sqlite3.Row) -> Topic:
    return Topic(
        row["id"], row["parent_id"], row["name"], row["description"], row["questions_per_topic"], row["position"]
    )


class TopicsMixin:
    db: Database

    def add_topic(
        self, name: str, parent_id: int | None = None, *, description: str = "", questions_per_topic: int | None = None
    ) -> int:
        with self.db.tx() as conn:
            position = conn.execute(
                "SELECT COALESCE(MAX(position) + 1, 0) FROM topics WHERE parent_id IS ?", (parent_id,)
            ).fetchone()[0]
            cur = conn.execute(
                "INSERT INTO topics (parent_id, name, description, questions_per_topic, position, created_at) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (parent_id, name, description, questions_per_topic, position, time.time()),
            )
            return inserted_id(cur)

    def topic(self, topic_id: int) -> Topic | None:
        row = self.db.query_one("SELECT * FROM topics WHERE id = ?", (topic_id,))
        return _topic(row) if row else None

    def topics(self) -> list[Topic]:
        return [
            _topic(r) for r in self.db.query("SELECT * FROM topics ORDER BY parent_id IS NOT NULL, parent_id, position")
        ]

    def rename_topic(self, topic_id: int, name: str) -> None:
        with self.db.tx() as conn:
            conn.execute("UPDATE topics SET name = ? WHERE id = ?", (name, topic_id))

    def set_questions_per_topic(self, topic_id: int, count: int | None) -> None:
        with self.db.tx() as conn:
            conn.execute("UPDATE topics SET questions_per_topic = ? WHERE id = ?", (count, topic_id))

    def delete_topic(self, topic_id: int) -> None:
        """Delete a topic and its subtree; its pairs stay, detached from any topic."""
        with self.db.tx() as conn:
            conn.execute("DELETE FROM topics WHERE id = ?", (topic_id,))

    def move_topic(self, topic_id: int, new_parent_id: int | None, position: int | None = None) -> None:
        """Re-parent (or reorder) a topic; refuses to move a topic under its own subtree."""
        with self.db.tx() as conn:
            cursor = new_parent_id
            while cursor is not None:
                if cursor == topic_id:
                    raise ValueError("cannot move a topic under itself")
                row = conn.execute("SELECT parent_id FROM topics WHERE id = ?", (cursor,)).fetchone()
                cursor = row[0] if row else None
            siblings = [
                r[0]
                for r in conn.execute(
                    "SELECT id FROM topics WHERE parent_id IS ? AND id != ? ORDER BY position",
                    (new_parent_id, topic_id),
                )
            ]
            index = len(siblings) if position is None else max(0, min(position, len(siblings)))
            siblings.insert(index, topic_id)
            conn.execute("UPDATE topics SET parent_id = ? WHERE id = ?", (new_parent_id, topic_id))
            conn.executemany("UPDATE topics SET position = ? WHERE id = ?", [(i, t) for i, t in enumerate(siblings)])

    def topic_tree(self) -> list[TopicNode]:
        """The whole tree with per-node question and accepted-pair counts (subtree totals)."""
        topics = self.topics()
        counts = {
            row["topic_id"]: (row["n"], row["accepted"])
            for row in self.db.query(
                "SELECT topic_id, COUNT(*) AS n, SUM(status = 'accepted') AS accepted FROM pairs "
                "WHERE topic_id IS NOT NULL GROUP BY topic_id"
            )
        }
        children: dict[int | None, list[Topic]] = {}
        for topic in topics:
            children.setdefault(topic.parent_id, []).append(topic)

        def build(topic: Topic) -> TopicNode:
            kids = [build(child) for child in sorted(children.get(topic.id, []), key=lambda t: t.position)]
            own_q, own_a = counts.get(topic.id, (0, 0))
            return TopicNode(
                topic, kids, own_q + sum(k.questions for k in kids), (own_a or 0) + sum(k.accepted for k in kids)
            )

        return [build(t) for t in sorted(children.get(None, []), key=lambda t: t.position)]

    def leaf_topics(self) -> list[Topic]:
        return [
            _topic(r)
            for r in self.db.query(
                "SELECT * FROM topics t WHERE NOT EXISTS (SELECT 1 FROM topics c WHERE c.parent_id = t.id) ORDER BY id"
            )
        ]

    def topic_path(self, topic_id: int) -> list[str]:
        names: list[str] = []
        cursor: int | None = topic_id
        while cursor is not None:
            topic = self.topic(cursor)
            if topic is None:
                break
            names.append(topic.name)
            cursor = topic.parent_id
        return list(reversed(names))

    def replace_topics(self, tree: Iterable[dict]) -> int:
        """Import a tree of {"name", "description"?, "questions_per_topic"?, "children"?} in one transaction."""
        added = 0
        with self.db.tx() as conn:

            def insert(node: dict, parent: int | None, position: int) -> None:
                nonlocal added
                cur = conn.execute(
                    "INSERT INTO topics (parent_id, name, description, questions_per_topic, position, created_at) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        parent,
                        node["name"],
                        node.get("description", ""),
                        node.get("questions_per_topic"),
                        position,
                        time.time(),
                    ),
                )
                added += 1
                for i, child in enumerate(node.get("children", [])):
                    insert(child, cur.lastrowid, i)

            start = conn.execute(
                "SELECT COALESCE(MAX(position) + 1, 0) FROM topics WHERE parent_id IS NULL"
            ).fetchone()[0]
            for i, node in enumerate(tree):
                insert(node, None, start + i)
        return added

    def export_topics(self) -> list[dict]:
        def dump(node: TopicNode) -> dict:
            data: dict = {"name": node.topic.name}
            if node.topic.description:
                data["description"] = node.topic.description
            if node.topic.questions_per_topic is not None:
                data["questions_per_topic"] = node.topic.questions_per_topic
            if node.children:
                data["children"] = [dump(c) for c in node.children]
            return data

        return [dump(n) for n in self.topic_tree()]
