"""Console recipe cards: for each job of a sweep plan, exactly what to enter in the SageMaker
JumpStart fine-tuning form when the event's account can only be used through the console.

A card lists the model, the dataset location (its S3 URIs, or the local export folder to upload and
its files), the instance type, every hyperparameter the API request of that job would send with
those that differ from the JumpStart default marked, the EULA to accept, and a suggested job name
carrying the dataset hash, so that logs and scores recorded later link back to the dataset.

Defaults come from the model's JumpStart spec as tunedeck can read it without the event account's
credentials: the spec cached in the session, a local spec mirror, or the bundled offline specs
(derived specs, core/data/jumpstart/README.md). The card names its source, and says when its
defaults are assumed rather than read from the production spec.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.dataset.jumpstart import CHANNEL_DIRS, content_hash
from core.training.jobs import JobsService, SweepPlan, SweepSpec, format_duration, session_prefix
from core.training.recipe import BUNDLED_SPEC_ROOT, KNOWN_MODELS, Recipe

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from core.config import Config
    from core.store import Store
    from core.store.datasets import DatasetVersionRow

HASH_IN_NAME = 8
"""Characters of the dataset hash a suggested job name carries."""
_CONTAINER_PREFIX = "sagemaker_"


@dataclass(frozen=True)
class DefaultsSource:
    description: str
    assumed: bool  # True: not read from the production spec


@dataclass(frozen=True)
class CardParam:
    name: str
    value: str
    default: str | None  # None: the spec has no default for it

    @property
    def changed(self) -> bool:
        return self.value != self.default


@dataclass(frozen=True)
class DatasetLocation:
    training_uri: str | None = None
    validation_uri: str | None = None
    folder: str | None = None
    files: tuple[tuple[str, int], ...] = ()  # (path relative to the folder, bytes)
    folder_matches: bool | None = None  # the folder's content hash equals the dataset version's
    missing: str | None = None  # what to do when the dataset is neither uploaded nor exported

    def lines(self) -> list[str]:
        if self.training_uri:
            out = [f"training data: {self.training_uri}"]
            if self.validation_uri:
                out.append(f"validation data: {self.validation_uri}")
            return out
        if self.folder:
            out = [f"upload the folder {self.folder} to S3 and give its train/ prefix as the training data:"]
            out += [f"  {name}  ({size:,} bytes)" for name, size in self.files]
            if self.folder_matches is False:
                out.append("  warning: this folder does not hold the dataset version of this plan")
            return out
        return [f"dataset: {self.missing}"]


@dataclass(frozen=True)
class RecipeCard:
    number: int
    job_name: str
    model_id: str
    model_label: str
    model_version: str
    instance_type: str
    dataset_hash: str
    dataset_format: str
    location: DatasetLocation
    hyperparameters: tuple[CardParam, ...]
    eula_required: bool
    eula_uri: str | None
    defaults: DefaultsSource
    estimated_seconds: float
    notes: tuple[str, ...] = field(default_factory=tuple)

    def values(self) -> dict[str, str]:
        return {p.name: p.value for p in self.hyperparameters}

    def as_dict(self) -> dict[str, Any]:
        return {
            "number": self.number,
            "job_name": self.job_name,
            "model_id": self.model_id,
            "model_version": self.model_version,
            "instance_type": self.instance_type,
            "dataset": self.dataset_hash,
            "dataset_format": self.dataset_format,
            "training_uri": self.location.training_uri,
            "validation_uri": self.location.validation_uri,
            "folder": self.location.folder,
            "files": [name for name, _ in self.location.files],
            "hyperparameters": self.values(),
            "changed": [p.name for p in self.hyperparameters if p.changed],
            "eula_required": self.eula_required,
            "eula_uri": self.eula_uri,
            "defaults_source": self.defaults.description,
            "defaults_assumed": self.defaults.assumed,
            "estimated_seconds": round(self.estimated_seconds, 1),
        }


@dataclass(frozen=True)
class ConsolePlan:
    plan: SweepPlan
    cards: tuple[RecipeCard, ...]


def form_hyperparameters(recipe: Recipe, instance_type: str, chosen: Mapping[str, str]) -> dict[str, str]:
    """What the API request of the job would send as hyperparameters, less the container's launch
    settings (sagemaker_*), which the console form does not show. Spec order, then the rest."""
    merged = dict(chosen)
    for name, value in recipe.defaults_for(instance_type).items():
        merged.setdefault(name, value)
    order = [h.name for h in recipe.hyperparameters]
    names = [n for n in order if n in merged] + sorted(set(merged) - set(order))
    return {n: merged[n] for n in names if not _is_container_setting(recipe, n)}


def _is_container_setting(recipe: Recipe, name: str) -> bool:
    spec = recipe.hyperparameter(name)
    return name.startswith(_CONTAINER_PREFIX) or (spec is not None and not spec.user_settable)


def suggested_job_names(store: Store, dataset_hash: str, count: int) -> list[str]:
    """Names no job of the session has: the session prefix, the dataset hash, a serial."""
    stem = f"{session_prefix(store)}{dataset_hash[:HASH_IN_NAME]}-"
    taken = store.job_names()
    serial = max((int(n[len(stem) :]) for n in taken if n.startswith(stem) and n[len(stem) :].isdigit()), default=0)
    return [f"{stem}{serial + i:02d}" for i in range(1, count + 1)]


def dataset_in_name(store: Store, name: str) -> DatasetVersionRow | None:
    """The session's dataset version whose hash a job name carries (as the suggested names do)."""
    tokens = set(re.split(r"[^0-9a-f]+", name.lower()))
    for token in tokens:
        if len(token) >= HASH_IN_NAME:
            found: DatasetVersionRow | None = store.dataset_version(token)
            if found is not None:
                return found
    return None


def export_folder_location(folder: Path, dataset: DatasetVersionRow) -> DatasetLocation:
    """The files of a local export folder (its channel folders) and whether they are this version."""
    contents: dict[str, bytes] = {}
    for channel_dir in CHANNEL_DIRS.values():
        base = folder / channel_dir
        if base.is_dir():
            for path in sorted(base.rglob("*")):
                if path.is_file() and not path.name.startswith("."):
                    contents[path.relative_to(folder).as_posix()] = path.read_bytes()
    if not contents:
        return DatasetLocation(folder=str(folder), missing=f"{folder} holds no train/ or validation/ files")
    return DatasetLocation(
        folder=str(folder),
        files=tuple((name, len(data)) for name, data in sorted(contents.items())),
        folder_matches=content_hash(contents) == dataset.hash,
    )


def dataset_location(dataset: DatasetVersionRow, export_folder: Path | None) -> DatasetLocation:
    if dataset.train_s3_uri:
        return DatasetLocation(training_uri=dataset.train_s3_uri, validation_uri=dataset.validation_s3_uri)
    if export_folder is not None:
        return export_folder_location(export_folder, dataset)
    return DatasetLocation(
        missing=f"version {dataset.hash} is neither uploaded nor exported: export it to a folder first"
    )


def defaults_source(config: Config, spec_root: Path | None, cached: bool) -> DefaultsSource:
    """Where the recipe's defaults come from (spec_root: the directory the offline specs were read from)."""
    if cached and not config.emulated:
        return DefaultsSource("the model's JumpStart spec, read earlier and cached in this session", False)
    if spec_root is None or Path(spec_root).resolve() == BUNDLED_SPEC_ROOT.resolve():
        return DefaultsSource(
            "tunedeck's bundled offline spec (derived from the public Llama 3.1 70B spec and the JumpStart "
            "notebooks, not the production spec): check each default in the console form",
            True,
        )
    return DefaultsSource(f"the local JumpStart spec mirror in {spec_root}", False)


def build_cards(
    plan: SweepPlan,
    recipe: Recipe,
    *,
    job_names: Sequence[str],
    defaults: DefaultsSource,
    export_folder: Path | None = None,
) -> list[RecipeCard]:
    if len(job_names) != len(plan.jobs):
        raise ValueError(f"{len(plan.jobs)} jobs but {len(job_names)} names")
    location = dataset_location(plan.dataset, export_folder)
    spec_defaults = recipe.defaults_for(plan.instance_type)
    label = next((m.label for m in KNOWN_MODELS if m.model_id == plan.model_id), plan.model_id)
    notes = []
    if plan.eula_required:
        where = f" ({plan.eula_uri})" if plan.eula_uri else ""
        notes.append(f"{plan.model_id} is gated: read and accept its EULA{where} in the form")
    cards = []
    for number, (job, name) in enumerate(zip(plan.jobs, job_names, strict=False), 1):
        values = form_hyperparameters(recipe, plan.instance_type, job.hyperparameters)
        cards.append(
            RecipeCard(
                number=number,
                job_name=name,
                model_id=plan.model_id,
                model_label=label,
                model_version=plan.model_version,
                instance_type=plan.instance_type,
                dataset_hash=plan.dataset.hash,
                dataset_format=plan.dataset.format,
                location=location,
                hyperparameters=tuple(CardParam(n, v, spec_defaults.get(n)) for n, v in values.items()),
                eula_required=plan.eula_required,
                eula_uri=plan.eula_uri,
                defaults=defaults,
                estimated_seconds=job.estimated_seconds,
                notes=tuple(notes),
            )
        )
    return cards


def plan_console_sweep(
    store: Store,
    config: Config,
    spec: SweepSpec,
    *,
    export_folder: Path | None = None,
    spec_root: Path | None = None,
) -> ConsolePlan:
    """Plan a sweep and its cards without any AWS call (quotas from [jumpstart.quotas], the spec from
    the session cache, a local mirror or the bundled specs). Raises SweepError or JobsError."""
    from core.league.mode import no_aws_client

    root = spec_root or BUNDLED_SPEC_ROOT
    service = JobsService(store, config, client_factory=no_aws_client, spec_root=root)
    model_id = spec.model_id or config.jumpstart.model_id
    version = spec.model_version or config.jumpstart.model_version or "*"
    cached = store.cached_recipe(model_id, version, config.aws.region) is not None
    plan = service.plan_sweep(spec, require_upload=False)
    recipe = service.recipe(plan.model_id, plan.model_version)
    cards = build_cards(
        plan,
        recipe,
        job_names=suggested_job_names(store, plan.dataset.hash, len(plan.jobs)),
        defaults=defaults_source(config, root, cached),
        export_folder=export_folder,
    )
    return ConsolePlan(plan, tuple(cards))


# -- rendering ---------------------------------------------------------------------------------


def _mark(param: CardParam) -> str:
    if not param.changed:
        return ""
    return "  * changed (default: none)" if param.default is None else f"  * changed (default: {param.default})"


def _eula(card: RecipeCard) -> str:
    if not card.eula_required:
        return "none"
    return "accept it" + (f" ({card.eula_uri})" if card.eula_uri else "")


def render_text(cards: Sequence[RecipeCard]) -> str:
    """Plain text a terminal can copy: one block per card."""
    blocks = []
    for card in cards:
        width = max((len(p.name) for p in card.hyperparameters), default=0)
        lines = [
            f"Card {card.number}: {card.job_name}",
            f"  job name:      {card.job_name}",
            f"  model:         {card.model_label} ({card.model_id}, version {card.model_version})",
            f"  instance type: {card.instance_type}",
            *(f"  {line}" for line in card.location.lines()),
            f"  hyperparameters (* = differs from the JumpStart default; ~{format_duration(card.estimated_seconds)}):",
            *(f"    {p.name.ljust(width)} = {p.value}{_mark(p)}" for p in card.hyperparameters),
            f"  EULA: {_eula(card)}",
            f"  defaults from {card.defaults.description}",
        ]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"


def _md(text: str) -> str:
    return text.replace("|", "\\|")


def render_markdown(cards: Sequence[RecipeCard]) -> str:
    parts = []
    for card in cards:
        eula = _eula(card)
        parts += [
            f"## Card {card.number}: `{card.job_name}`",
            "",
            f"- **Job name:** `{card.job_name}`",
            f"- **Model:** {_md(card.model_label)} (`{card.model_id}`, version {card.model_version})",
            f"- **Instance type:** `{card.instance_type}`",
            *(f"- {_md(line.strip())}" for line in card.location.lines()),
            f"- **EULA:** {_md(eula)}",
            f"- **Defaults from:** {_md(card.defaults.description)}",
            "",
            "| hyperparameter | value | JumpStart default | changed |",
            "|---|---|---|---|",
            *(
                f"| {p.name} | `{_md(p.value)}` | {'' if p.default is None else f'`{_md(p.default)}`'} | "
                f"{'yes' if p.changed else ''} |"
                for p in card.hyperparameters
            ),
            "",
        ]
    return "\n".join(parts)


CSV_COLUMNS = (
    "card",
    "job_name",
    "model_id",
    "instance_type",
    "dataset",
    "hyperparameter",
    "value",
    "default",
    "changed",
)


def render_csv(cards: Sequence[RecipeCard]) -> str:
    """One row per hyperparameter of each card (a spreadsheet can filter the changed ones)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for card in cards:
        for p in card.hyperparameters:
            writer.writerow(
                [
                    card.number,
                    card.job_name,
                    card.model_id,
                    card.instance_type,
                    card.dataset_hash,
                    p.name,
                    p.value,
                    "" if p.default is None else p.default,
                    "yes" if p.changed else "",
                ]
            )
    return out.getvalue()
