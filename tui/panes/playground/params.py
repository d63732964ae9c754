"""One generation parameter: a label, a keyboard slider and an input for the exact value, kept in sync."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from textual import on
from textual.containers import Horizontal
from textual.message import Message
from textual.validation import Integer, Number
from textual.widgets import Input, Label

from tui.widgets.float_slider import FloatSlider

if TYPE_CHECKING:
    from textual.app import ComposeResult


class ParamControl(Horizontal):
    """`temperature [━━━●────] 0.70`: the slider moves in steps; the box takes an exact value
    (enter applies it and returns to the slider; an out-of-range value is refused and marked)."""

    DEFAULT_CSS = """
    ParamControl {
        height: 1;
        width: 1fr;
    }
    ParamControl > .param-label {
        width: 13;
        color: $text-muted;
    }
    ParamControl > .param-input {
        width: 9;
        margin-left: 1;
    }
    ParamControl > .param-input.-invalid {
        color: $text-error;
    }
    """

    @dataclass
    class Changed(Message):
        param: ParamControl
        value: float

        @property
        def control(self) -> ParamControl:
            return self.param

    def __init__(
        self,
        label: str,
        *,
        value: float,
        minimum: float,
        maximum: float,
        step: float,
        coarse: float | None = None,
        decimals: int = 2,
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.label = label
        self.slider = FloatSlider(
            value, minimum=minimum, maximum=maximum, step=step, coarse=coarse, decimals=decimals, classes="param-slider"
        )
        validator = Integer(int(minimum), int(maximum)) if decimals == 0 else Number(minimum, maximum)
        self.entry = Input(
            self.slider.format(),
            type="integer" if decimals == 0 else "number",
            validators=[validator],
            compact=True,
            classes="param-input",
            select_on_focus=True,
        )

    def compose(self) -> ComposeResult:
        yield Label(self.label, classes="param-label")
        yield self.slider
        yield self.entry

    @property
    def value(self) -> float:
        return self.slider.value

    def set_value(self, value: float) -> None:
        self.slider.value = value

    @on(FloatSlider.Changed)
    def _slider_moved(self, event: FloatSlider.Changed) -> None:
        event.stop()
        if not self.entry.has_focus:
            self.entry.value = self.slider.format(event.value)
        self.entry.remove_class("-invalid")
        self.post_message(self.Changed(self, event.value))

    @on(FloatSlider.EditRequested)
    def _edit(self, event: FloatSlider.EditRequested) -> None:
        event.stop()
        self.entry.focus()

    @on(Input.Submitted)
    def _exact(self, event: Input.Submitted) -> None:
        event.stop()
        if not self._apply(event.value):
            return
        self.slider.focus()

    @on(Input.Blurred)
    def _left_entry(self, event: Input.Blurred) -> None:
        if not self._apply(self.entry.value):
            self.entry.value = self.slider.format()
            self.entry.remove_class("-invalid")

    def _apply(self, text: str) -> bool:
        result = self.entry.validate(text)
        if result is not None and not result.is_valid:
            self.entry.add_class("-invalid")
            return False
        try:
            value = float(text)
        except ValueError:
            self.entry.add_class("-invalid")
            return False
        self.slider.value = value
        self.entry.value = self.slider.format()
        return True
