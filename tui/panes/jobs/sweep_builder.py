"""The sweep builder: a keyboard-only form that plans a hyperparameter sweep and shows its cost first.

Dataset version, base model, instance type, grid or list, and values for each sweepable
hyperparameter (comma-separated; target_modules alternatives separated by "|" with the presets
"q,v" and "all linear"; lora_alpha also as "2xr", alpha = 2 x lora_r). Every change re-plans in a
thread (core.training.jobs.JobsService.plan_sweep: validation, job count, duration, dollars), so the number
of jobs, the estimated duration and the cost are on screen before ctrl+j. A gated model's EULA
must be accepted explicitly with the checkbox. Errors name the field, and the field turns red.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import work
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import ModalScreen
from textual.widgets import Checkbox, Input, Label, Select, Static

from core.training.jobs import JobsError, SweepSpec, format_duration
from core.training.sweep import SWEEPABLE, SweepError, parse_values
from tui.keys import bound_keys, hint
from tui.screens.ask import Confirm
from tui.text import safe

if TYPE_CHECKING:
    from textual.app import ComposeResult
    from textual.timer import Timer

PLAN_DEBOUNCE_SECONDS = 0.3
FIELD_HELP: dict[str, str] = {
    "epoch": "e.g. 3 or 2,3,5",
    "learning_rate": "e.g. 0.0001,0.0002",
    "lora_r": "e.g. 8,16",
    "lora_alpha": "e.g. 32 or 2xr (alpha = k x r)",
    "lora_dropout": "e.g. 0.05",
    "target_modules": "q,v | all linear",
    "per_device_train_batch_size": "e.g. 4",
    "max_input_length": "e.g. 1024",
}


@dataclass(frozen=True)
class SweepLaunch:
    """What the builder returns: the plan the user saw, and whether they accepted the EULA."""

    plan: Any  # core.training.jobs.SweepPlan
    accept_eula: bool


@dataclass
class PlanComputed(Message):
    generation: int
    plan: Any
    errors: list[str]


@dataclass
class RecipeLoaded(Message):
    model_id: str
    instance_types: tuple[str, ...]
    default_instance: str
    defaults: dict[str, str]


def limit_problems(store: Any, config: Any, plan: Any) -> tuple[str, ...]:
    """What the limits say about a plan: more training hours than the `[league]` leaves, no time to finish
    before the close (core.league.ledger.check_plan), or past a `[budget]` (core.limits.budget_check);
    empty when it fits."""
    from core.league.ledger import check_plan, limits
    from core.limits import budget_check

    current = limits(store, config)
    league = check_plan(current, instance_seconds=plan.instance_seconds, wall_seconds=plan.wall_seconds)
    return league.problems + budget_check(store, config, usd=plan.total_cost or 0.0).problems


def spot_spec(max_wait: str, checkpoint: str) -> dict[str, Any]:
    """The SweepSpec options of the form's spot fields: empty max wait = on demand, "on" = spot with the
    default wait, a duration (48h, 90m) = spot waiting that long. Raises SweepError naming the field."""
    from core.league.runs import RunError, parse_duration

    text = max_wait.strip().lower()
    if not text:
        if checkpoint.strip():
            raise SweepError(["spot: a checkpoint location needs managed spot (set the max wait, or 'on')"])
        return {}
    options: dict[str, Any] = {"spot": True, "checkpoint_s3_uri": checkpoint.strip()}
    if text not in ("on", "yes", "spot"):
        try:
            options["spot_max_wait_seconds"] = int(parse_duration(text))
        except RunError as exc:
            raise SweepError([f"spot: max wait {exc}"]) from None
    return options


def field_of(error: str) -> str:
    """The field an error names ("lora_r: must be ..." -> "lora_r")."""
    head, sep, _ = error.partition(":")
    return head.strip().removeprefix("--param ").strip("'\"") if sep else ""


class SweepBuilder(ModalScreen[SweepLaunch | None]):
    DEFAULT_CSS = """
    SweepBuilder { align: center middle; background: $background 60%; }
    SweepBuilder > #sweep-body { width: 110; max-width: 98%; height: auto; max-height: 95%;
        border: round $primary; background: $surface; padding: 0 1; }
    SweepBuilder #sweep-form { height: auto; max-height: 16; }
    SweepBuilder .sweep-field { height: 1; margin: 0 0 0 0; }
    SweepBuilder .sweep-field Label { width: 30; color: $text-muted; }
    SweepBuilder .sweep-field Input, SweepBuilder .sweep-field Select { width: 1fr; }
    SweepBuilder .sweep-field Input.-invalid { background: $error 30%; }
    SweepBuilder #sweep-eula { margin: 1 0 0 0; }
    SweepBuilder #sweep-plan { height: auto; max-height: 14; margin: 1 0 0 0; border-top: solid $panel; }
    SweepBuilder #sweep-errors { height: auto; color: $text-error; }
    SweepBuilder .hint { color: $text-muted; }
    """
    BINDINGS = [
        Binding(
            "ctrl+j",
            "launch",
            "Launch",
            id="sweep.launch",
            tooltip="Queue the planned jobs (asks for confirmation with the cost)",
        ),
        Binding("escape", "cancel", "Cancel", id="sweep.cancel"),
    ]

    def __init__(
        self,
        service: Any,
        *,
        datasets: list[Any],
        model_id: str,
        instance_type: str,
        models: list[tuple[str, str]],
        values: dict[str, str] | None = None,
        mode: str = "grid",
    ) -> None:
        super().__init__()
        self.service = service
        self.datasets = datasets
        self.models = models
        self.model_id = model_id
        self.instance_type = instance_type
        self.values = dict(values or {})
        self.mode = mode
        self.plan: Any = None
        self.errors: list[str] = []
        self._generation = 0
        self._planned_generation = -1
        self._debounce: Timer | None = None
        self._recipe_model: str | None = None
        self.limit_problems: tuple[str, ...] = ()  # the plan against the [league] limits and the [budget]

    # -- layout ----------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Vertical(id="sweep-body"):
            yield Static(Text("New sweep", style="bold"))
            with VerticalScroll(id="sweep-form"):
                yield self._row(
                    "dataset version",
                    Select(
                        [
                            (Text(f"{d.hash}  {d.format}  {d.counts.get('train', '?')} train"), d.hash)
                            for d in self.datasets
                        ],
                        value=self.datasets[0].hash if self.datasets else Select.NULL,
                        allow_blank=not self.datasets,
                        compact=True,
                        id="sweep-dataset",
                    ),
                )
                known = [m for _, m in self.models]
                models = self.models + ([] if self.model_id in known else [(self.model_id, self.model_id)])
                yield self._row(
                    "base model",
                    Select(
                        [(Text(label), mid) for label, mid in models],
                        value=self.model_id,
                        allow_blank=False,
                        compact=True,
                        id="sweep-model",
                    ),
                )
                yield self._row(
                    "instance type",
                    Select(
                        [(Text(self.instance_type), self.instance_type)],
                        value=self.instance_type,
                        allow_blank=False,
                        compact=True,
                        id="sweep-instance",
                    ),
                )
                others = [t for t in self.service.config.jumpstart.quotas if t != self.instance_type]
                yield self._row(
                    "also on (mixed pool)",
                    Input(
                        "",
                        placeholder=f"more types, e.g. {', '.join(others) or 'ml.g5.12xlarge'}; jobs go where they fit",
                        compact=True,
                        id="sweep-pool",
                    ),
                )
                yield self._row(
                    "combine values as",
                    Select(
                        [(Text("grid: every combination"), "grid"), (Text("list: i-th values together"), "list")],
                        value=self.mode,
                        allow_blank=False,
                        compact=True,
                        id="sweep-mode",
                    ),
                )
                for name in SWEEPABLE:
                    yield self._row(
                        name,
                        Input(
                            self.values.get(name, ""),
                            placeholder=FIELD_HELP.get(name, ""),
                            compact=True,
                            id=f"hp-{name}",
                        ),
                    )
                discount = float(getattr(self.service.config.jumpstart, "spot_discount", 0.7))
                yield self._row(
                    "managed spot: max wait",
                    Input(
                        "",
                        placeholder=f"empty = on demand; 48h or 'on': estimated {discount:.0%} off, may be interrupted",
                        compact=True,
                        id="sweep-spot",
                    ),
                )
                yield self._row(
                    "spot checkpoints",
                    Input(
                        "",
                        placeholder="s3://... (default: the session's prefix, checkpoints/)",
                        compact=True,
                        id="sweep-checkpoint",
                    ),
                )
            yield Checkbox(safe("I accept the model's EULA"), id="sweep-eula", compact=True)
            yield Static("", id="sweep-errors")
            yield Static(safe("planning…"), id="sweep-plan")
            yield Static(
                hint(
                    self,
                    "tab: next field",
                    ("sweep.launch", "launch (asks first)"),
                    ("sweep.cancel", "cancel"),
                    "empty field = the model's default",
                ),
                classes="hint",
            )

    @staticmethod
    def _row(label: str, widget: Any) -> Horizontal:
        return Horizontal(Label(label), widget, classes="sweep-field")

    def on_mount(self) -> None:
        self.query_one("#sweep-eula", Checkbox).display = False
        first = self.query_one("#hp-epoch", Input)
        first.focus()
        self._changed()

    # -- reacting to edits -----------------------------------------------------------------------

    def on_input_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._changed()

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        self._changed()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.focus_next()

    def _changed(self) -> None:
        self._generation += 1
        self.query_one("#sweep-plan", Static).update(safe("planning…"))
        if self._debounce is not None:
            self._debounce.stop()
        self._debounce = self.set_timer(PLAN_DEBOUNCE_SECONDS, self._start_plan)

    def _field_values(self) -> dict[str, str]:
        return {name: self.query_one(f"#hp-{name}", Input).value.strip() for name in SWEEPABLE}

    def _pool_types(self) -> tuple[str, ...]:
        text = self.query_one("#sweep-pool", Input).value
        return tuple(dict.fromkeys(t.strip() for t in text.replace(" ", ",").split(",") if t.strip()))

    def _select(self, widget_id: str) -> Any:
        value = self.query_one(widget_id, Select).value
        return None if value == Select.NULL else value

    def _start_plan(self) -> None:
        self._debounce = None
        self._plan_worker(
            self._generation,
            self._select("#sweep-dataset"),
            self._select("#sweep-model"),
            self._select("#sweep-instance"),
            self._select("#sweep-mode") or "grid",
            self._field_values(),
            self._pool_types(),
            self.query_one("#sweep-spot", Input).value.strip(),
            self.query_one("#sweep-checkpoint", Input).value.strip(),
        )

    @work(thread=True, exclusive=True, group="sweep-plan", exit_on_error=False)
    def _plan_worker(
        self,
        generation: int,
        dataset: str | None,
        model_id: str | None,
        instance: str | None,
        mode: str,
        fields: dict[str, str],
        pool: tuple[str, ...] = (),
        spot: str = "",
        checkpoint: str = "",
    ) -> None:
        plan, errors = None, []
        try:
            if model_id and model_id != self._recipe_model:
                recipe = self.service.recipe(model_id)
                self._recipe_model = model_id
                self.post_message(
                    RecipeLoaded(
                        model_id,
                        tuple(recipe.supported_training_instance_types),
                        recipe.default_training_instance_type,
                        dict(recipe.defaults_for(instance)),
                    )
                )
            if not instance:
                raise JobsError("instance type: choose one")
            params = []
            for name, text in fields.items():
                if text:
                    values = parse_values(name, text)
                    if not values:
                        raise SweepError([f"{name}: no values in {text!r}"])
                    params.append((name, values))
            others = tuple(t for t in pool if t != instance)
            spot_options = spot_spec(spot, checkpoint)
            spec = SweepSpec(
                instance_type=instance,
                params=tuple(params),
                mode=mode,
                dataset=dataset or "latest",
                model_id=model_id,
                instance_types=(instance, *others) if others else (),
                **spot_options,
            )
            plan = self.make_plan(spec)
        except SweepError as exc:
            errors = list(exc.errors)
        except JobsError as exc:
            errors = [str(exc)]
        except Exception as exc:  # noqa: BLE001 - shown in the form, the user can fix and retry
            errors = [f"{type(exc).__name__}: {exc}"]
        self.post_message(PlanComputed(generation, plan, errors))

    def on_recipe_loaded(self, message: RecipeLoaded) -> None:
        select = self.query_one("#sweep-instance", Select)
        current = self._select("#sweep-instance")
        types = list(message.instance_types) or [current or message.default_instance]
        if current and current not in types:
            types.append(current)
        keep = current if current in types else message.default_instance
        with select.prevent(Select.Changed):
            select.set_options([(Text(t), t) for t in types])
            select.value = keep
        for name in SWEEPABLE:
            default = message.defaults.get(name)
            if default is not None:
                hint = FIELD_HELP.get(name, "")
                self.query_one(f"#hp-{name}", Input).placeholder = f"default {default}" + (f"; {hint}" if hint else "")
        if keep != current:
            self._changed()

    def on_plan_computed(self, message: PlanComputed) -> None:
        if message.generation != self._generation:
            return  # the form changed since; a newer plan is on its way
        self._planned_generation = message.generation
        self.plan = message.plan
        self.errors = message.errors
        invalid = {field_of(e) for e in message.errors}
        for name in SWEEPABLE:
            self.query_one(f"#hp-{name}", Input).set_class(name in invalid, "-invalid")
        self.query_one("#sweep-spot", Input).set_class("spot" in invalid, "-invalid")
        errors = self.query_one("#sweep-errors", Static)
        errors.update(safe("\n".join(message.errors)) if message.errors else "")
        plan_view = self.query_one("#sweep-plan", Static)
        eula = self.query_one("#sweep-eula", Checkbox)
        if message.plan is None:
            plan_view.update(safe("fix the fields above to see the plan and its cost"))
            eula.display = False
            return
        plan = message.plan
        needs_eula = bool(plan.eula_required and not plan.eula_accepted)
        if needs_eula:
            where = f" ({plan.eula_uri})" if plan.eula_uri else ""
            eula.label = safe(f"I accept the EULA of {plan.model_id}{where}")
        eula.display = needs_eula
        plan_view.update(self._plan_text(plan))

    @staticmethod
    def _plan_text(plan: Any) -> Text:
        cost = "cost unknown" if plan.total_cost is None else f"${plan.total_cost:,.2f}"
        text = Text(
            f"{len(plan.jobs)} job(s) · ~{format_duration(plan.wall_seconds)} wall clock · estimated {cost}\n",
            style="bold",
        )
        text.append("\n".join(plan.summary_lines()[1:]), style="")
        return text

    def make_plan(self, spec: SweepSpec) -> Any:
        """The plan of the form's spec, and what the event's limits say of it (blocking: the plan worker calls it)."""
        plan = self.service.plan_sweep(spec)
        self.limit_problems = limit_problems(self.service.store, self.service.config, plan)
        return plan

    # -- launch ----------------------------------------------------------------------------------

    def _refuse(self, why: str) -> None:
        self.app.bell()
        self.query_one("#sweep-errors", Static).update(safe(why))

    def action_launch(self) -> None:
        if self._planned_generation != self._generation or self._debounce is not None:
            self._refuse(
                f"still planning: wait for the cost to show, then press {bound_keys(self, 'sweep.launch')} again"
            )
            return
        plan = self.plan
        if plan is None:
            self._refuse("nothing to launch: " + ("; ".join(self.errors) or "fix the fields first"))
            return
        accept = self.query_one("#sweep-eula", Checkbox).value
        if plan.eula_required and not plan.eula_accepted and not accept:
            self._refuse(f"{plan.model_id} is gated: tick 'I accept the EULA' (space) before launching")
            return
        cost = "an unknown cost" if plan.total_cost is None else f"about ${plan.total_cost:,.2f}"

        where = " + ".join(f"{n} x {t}" for t, n in plan.pool) if plan.pool else plan.instance_type
        question = (
            f"Launch {len(plan.jobs)} training job(s) of {plan.model_id} on {where}?\n"
            f"Estimated {format_duration(plan.wall_seconds)} wall clock, "
            f"{format_duration(plan.instance_seconds)} of instance time, {cost}.\n"
            f"Slots: {plan.slots.describe()}. This spends money."
        )
        if plan.spot:
            question += (
                f"\nManaged spot: {plan.spot['discount']:.0%} below on-demand assumed; SageMaker may interrupt the "
                f"jobs (they resume from checkpoints) and waits up to {format_duration(plan.spot['max_wait_seconds'])}."
            )
        question += "".join(f"\nwarning: {problem}" for problem in self.limit_problems)

        def answered(yes: bool | None) -> None:
            if yes:
                self.dismiss(SweepLaunch(plan, bool(accept)))

        self.app.push_screen(Confirm(question), answered)

    def action_cancel(self) -> None:
        self.dismiss(None)
