"""The round's rules as they stand: the answer token cap, what the context length leaves for the
answer (flagged while the system prompt is typed), generations left for this question, the scoring
weights, and the newest ballot's result."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.content import Content
from textual.widgets import Static

from tui.text import safe_line

if TYPE_CHECKING:
    from core.playground.final import Budget, RoundRules


class RulesLine(Static):
    DEFAULT_CSS = """
    RulesLine {
        height: auto;
        max-height: 3;
        color: $text-muted;
    }
    RulesLine.-short {
        color: $warning;
    }
    """

    def show(
        self, rules: RoundRules, budget: Budget, max_tokens: int, left: int | None, ballot: str | None = None
    ) -> None:
        parts: list[str | tuple[str, str] | Content] = [("rules ", "bold")]
        if rules.answer_token_cap:
            cap = rules.answer_token_cap
            capped = f" (max tokens {max_tokens} → {cap})" if max_tokens > cap else ""
            parts.append(f"answer cap {cap} tokens{capped}")
        else:
            parts.append("no answer cap")
        if budget.answer_room is not None:
            room = f" · context {rules.context_length}: prompt ~{budget.prompt_tokens} tokens"
            room += f", {budget.answer_room} left for the answer"
            parts.append((room + " — less than the cap", "$warning bold") if budget.short else room)
        if left is not None:
            text = f" · generations left {left} of {rules.generations}"
            parts.append((text, "$warning") if left == 0 else text)
        weights = f"{rules.weight_judge:g}/{rules.weight_human:g}/{rules.weight_audience:g}"
        double = ", last question ×2" if rules.double_last_question else ""
        parts.append(f" · judge/human/audience {weights}{double}")
        if ballot:
            parts += ["\n", safe_line(ballot, 300)]
        self.set_class(budget.short, "-short")
        self.update(Content.assemble(*parts))
