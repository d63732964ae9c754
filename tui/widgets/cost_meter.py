"""Status bar piece: running training instances and endpoints, dollars per hour and dollars so far,
the LLM spend (per purpose, with the unpriced calls, in the tooltip; never $0 for unpriced calls), and a warning once an
endpoint has been idle past the threshold (still billed).

It reads the session store only (no AWS call), in a thread worker, every `interval` seconds;
the Jobs pane pushes a fresh meter after each poll with `set_meter`.
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

from textual import work
from textual.content import Content
from textual.message import Message
from textual.reactive import reactive
from textual.widget import Widget

from tui.text import safe_line

REFRESH_SECONDS = 5.0


def compute_meter(store: Any, config: Any, now: float | None = None) -> Any:
    """core.training.prices.CostMeter of the session as the store knows it, with the LLM spend and
    the endpoints idle past the threshold."""
    from core.limits import llm_spend
    from core.serving.endpoints import live_resources  # loaded in the meter's worker, not at start-up
    from core.training.prices import PriceTable, cost_meter

    now = time.time() if now is None else now
    meter = cost_meter(
        store.jobs(),
        store.endpoints_for_billing(),
        PriceTable(config.jumpstart.prices),
        now,
        console_runs=store.console_run_ids(),
    )
    idle = tuple(r.name for r in live_resources(store, config, now=now) if r.idle)
    llm = float(store.llm_usage().get("cost_usd") or 0.0)
    return dataclasses.replace(meter, llm_usd=llm, idle_endpoints=idle, llm_by_purpose=llm_spend(store))


def _unpriced_llm_calls(meter: Any) -> int:
    return sum(p.unpriced_calls for p in getattr(meter, "llm_by_purpose", ()))


def meter_tooltip(meter: Any) -> str | None:
    """The meter's details: AWS so far, and the LLM spend per purpose (unpriced calls as unpriced)."""
    if meter is None:
        return None
    lines = [f"AWS: ${meter.usd_so_far:,.2f} so far, ${meter.usd_per_hour:,.2f}/h now"]
    if meter.unpriced:
        lines.append("no price known for: " + ", ".join(meter.unpriced))
    purposes = getattr(meter, "llm_by_purpose", ())
    if purposes:
        unpriced = _unpriced_llm_calls(meter)
        lines.append(f"LLM: ${meter.llm_usd:,.2f}" + (f" + {unpriced} unpriced call(s)" if unpriced else ""))
        lines += [f"  {p.describe()}" for p in purposes]
    else:
        lines.append("LLM: no calls yet")
    for name in getattr(meter, "idle_endpoints", ()):
        lines.append(f"idle, still billing: {name}")
    return "\n".join(lines)


def meter_label(meter: Any, ascii_only: bool = False) -> str:
    if meter is None:
        return "$ …"
    unknown = "+?" if meter.unpriced else ""
    dot = "·" if not ascii_only else "|"
    label = (
        f"{meter.training_instances} train {dot} {meter.endpoint_instances} endpoint "
        f"{dot} ${meter.usd_per_hour:.2f}/h{unknown} {dot} ${meter.usd_so_far:.2f} so far"
    )
    if getattr(meter, "llm_usd", 0.0):
        label += f" {dot} LLM ${meter.llm_usd:.2f}"
    elif _unpriced_llm_calls(meter):
        label += f" {dot} LLM unpriced"  # calls without a known price: never "$0"
    idle = getattr(meter, "idle_endpoints", ())
    if idle:
        label += f" {dot} {'!' if ascii_only else '⚠'} {len(idle)} idle endpoint{'s' if len(idle) > 1 else ''} billing"
    return label


class CostMeter(Widget):
    DEFAULT_CSS = """
    CostMeter { width: auto; height: 1; padding: 0 1; background: $panel; color: $text-muted; }
    CostMeter.-spending { color: $text-warning; text-style: bold; }
    CostMeter.-idle { color: $text-error; text-style: bold reverse; }
    """

    meter: reactive[Any] = reactive(None, always_update=True, layout=True)  # width: auto follows the label

    @dataclass
    class Computed(Message):
        meter: Any

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, CostMeter.Computed)

    @dataclass
    class AutoDeleteDue(Message):
        """Endpoints idle past `[budget] auto_delete_idle_minutes` and the session has not answered yet."""

        resources: list[Any]  # core.serving.endpoints.LiveResource
        minutes: float

    @dataclass
    class AutoDeleted(Message):
        results: list[tuple[str, str | None]]  # (what was done, error)

    def __init__(
        self,
        store: Any = None,
        config: Any = None,
        *,
        interval: float = REFRESH_SECONDS,
        ascii_only: bool | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self._store = store
        self._config = config
        self.interval = interval
        self._ascii = ascii_only
        self._asking = False  # the auto-delete question is on screen (asked once per session)

    @property
    def store(self) -> Any:
        return self._store if self._store is not None else getattr(self.app, "store", None)

    @property
    def config(self) -> Any:
        return self._config if self._config is not None else getattr(self.app, "config", None)

    def on_mount(self) -> None:
        if self._ascii is None:
            self._ascii = bool(getattr(getattr(self.config, "ui", None), "ascii", False))
        self.call_after_refresh(self.refresh_meter)  # after the first frame: start-up is busy enough
        if self.interval > 0:
            self.set_interval(self.interval, self.refresh_meter)

    @work(thread=True, exclusive=True, group="cost-meter", exit_on_error=False)
    def refresh_meter(self) -> None:
        store, config = self.store, self.config
        if store is None or config is None:
            return
        self.post_message(self.Computed(compute_meter(store, config)))
        self._auto_delete(store, config)

    def _auto_delete(self, store: Any, config: Any) -> None:
        """[budget] auto_delete_idle_minutes (off by default): ask once, then delete what is idle that long.
        Runs in the meter's worker thread; core.serving decides what is due."""
        from core.serving.endpoints import auto_delete, auto_delete_consent, auto_delete_due, auto_delete_minutes

        due = auto_delete_due(store, config)
        if not due:
            return
        consent = auto_delete_consent(store)
        if consent is None and not self._asking:
            self._asking = True
            self.post_message(self.AutoDeleteDue(due, auto_delete_minutes(config)))
        elif consent:
            self.post_message(self.AutoDeleted(auto_delete(store, config, due)))

    def on_cost_meter_auto_delete_due(self, message: AutoDeleteDue) -> None:
        message.stop()
        from tui.screens.ask import Confirm

        names = ", ".join(r.name for r in message.resources)
        total = sum(r.usd_per_hour or 0.0 for r in message.resources)
        question = (
            f"Auto-delete is on: {names} had no request for {message.minutes:g} minutes and bills "
            f"${total:.3f}/h.\nDelete idle endpoints (with their config and model) now and from now on in this "
            "session? No keeps them and only warns. (Asked once per session.)"
        )

        def answered(yes: bool | None) -> None:
            self._answer_worker(bool(yes))

        self.app.push_screen(Confirm(question), answered)

    @work(thread=True, group="cost-meter-auto-delete", exit_on_error=False)
    def _answer_worker(self, yes: bool) -> None:
        from core.serving.endpoints import set_auto_delete_consent

        store, config = self.store, self.config
        set_auto_delete_consent(store, yes)
        self._asking = False
        if yes:
            self._auto_delete(store, config)

    def on_cost_meter_auto_deleted(self, message: AutoDeleted) -> None:
        message.stop()
        for text, error in message.results:
            if error:
                self.app.notify(safe_line(f"auto-delete of {text} failed: {error}", 300), severity="error", timeout=8)
            else:
                self.app.notify(safe_line(f"auto-delete: {text}", 300), severity="warning", timeout=8)
        if message.results:
            self.refresh_meter()

    def on_cost_meter_computed(self, message: Computed) -> None:
        message.stop()
        self.meter = message.meter

    def set_meter(self, meter: Any) -> None:
        """A meter computed elsewhere (the Jobs pane's poll); the LLM spend and idle endpoints stay
        those of the last own computation."""
        if self.meter is not None and meter is not None:
            meter = dataclasses.replace(
                meter,
                llm_usd=self.meter.llm_usd,
                idle_endpoints=self.meter.idle_endpoints,
                llm_by_purpose=getattr(self.meter, "llm_by_purpose", ()),
            )
        self.meter = meter

    def watch_meter(self, meter: Any) -> None:
        self.set_class(bool(meter and (meter.training_instances or meter.endpoint_instances)), "-spending")
        self.set_class(bool(meter and getattr(meter, "idle_endpoints", ())), "-idle")
        self.tooltip = meter_tooltip(meter)

    def render(self) -> Content:
        return Content(meter_label(self.meter, bool(self._ascii)))
