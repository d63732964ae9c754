"""A keyboard slider for a number in a range (Textual has none): fine and coarse steps, ends."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget


class FloatSlider(Widget, can_focus=True):
    """left/right (h/l) move one fine step, shift+left/right (H/L, pageup/pagedown) one coarse step,
    home/end jump to the ends, enter asks for exact entry. The value is clamped and snapped to the step."""

    DEFAULT_CSS = """
    FloatSlider {
        height: 1;
        width: 1fr;
        min-width: 12;
    }
    FloatSlider:focus {
        background: $boost;
        text-style: bold;
    }
    """

    BINDINGS = [
        Binding("left,h", "nudge(-1)", "Less", show=False),
        Binding("right,l", "nudge(1)", "More", show=False),
        Binding("shift+left,H,pagedown", "nudge_coarse(-1)", "Much less", show=False),
        Binding("shift+right,L,pageup", "nudge_coarse(1)", "Much more", show=False),
        Binding("home", "jump(0)", "Minimum", show=False),
        Binding("end", "jump(1)", "Maximum", show=False),
        Binding("enter,e", "edit", "Exact value", show=False),
    ]

    value: reactive[float] = reactive(0.0)

    @dataclass
    class Changed(Message):
        slider: FloatSlider
        value: float

        @property
        def control(self) -> FloatSlider:
            return self.slider

    @dataclass
    class EditRequested(Message):
        slider: FloatSlider

        @property
        def control(self) -> FloatSlider:
            return self.slider

    def __init__(
        self,
        value: float,
        *,
        minimum: float,
        maximum: float,
        step: float,
        coarse: float | None = None,
        decimals: int = 2,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        if maximum <= minimum or step <= 0:
            raise ValueError("need minimum < maximum and a positive step")
        self.minimum, self.maximum, self.step = float(minimum), float(maximum), float(step)
        self.coarse = float(coarse) if coarse else self.step * 10
        self.decimals = decimals
        self.set_reactive(FloatSlider.value, self.validate_value(value))

    def validate_value(self, value: float) -> float:
        clamped = min(max(float(value), self.minimum), self.maximum)
        snapped = self.minimum + round((clamped - self.minimum) / self.step) * self.step
        return round(min(max(snapped, self.minimum), self.maximum), 6)

    def watch_value(self, value: float) -> None:
        self.post_message(self.Changed(self, value))

    def action_nudge(self, steps: int) -> None:
        self.value = self.value + steps * self.step

    def action_nudge_coarse(self, steps: int) -> None:
        self.value = self.value + steps * self.coarse

    def action_jump(self, end: int) -> None:
        self.value = self.maximum if end else self.minimum

    def action_edit(self) -> None:
        self.post_message(self.EditRequested(self))

    def format(self, value: float | None = None) -> str:
        value = self.value if value is None else value
        return f"{value:.{self.decimals}f}" if self.decimals else str(int(round(value)))

    def render(self) -> Content:
        width = max(4, self.content_region.width - 2)
        share = (self.value - self.minimum) / (self.maximum - self.minimum)
        knob = min(width - 1, int(round(share * (width - 1))))
        done, knob_glyph, rest = ("=", "O", "-") if self.app.has_class("-ascii") else ("━", "●", "─")
        return Content.assemble(
            ("[", "$text-muted"),
            (done * knob, "$accent"),
            (knob_glyph, "$accent bold"),
            (rest * (width - 1 - knob), "$text-muted"),
            ("]", "$text-muted"),
        )
