"""The Topics pane."""
from __future__ import annotations

from tui.panes.base import PlannedPane


class TopicsPane(PlannedPane):
    PANE_ID = "topics"
    TITLE = "Topics"
    PLAN = 'Grow a topic tree for your domain: the LLM proposes categories and subtopics from a domain brief and the aspects you list; you add, rename, delete and move topics and set questions per topic.'
    NEEDS = 'an OpenAI-compatible or Bedrock LLM ([llm.generator] in config; key in the variable it names).'
