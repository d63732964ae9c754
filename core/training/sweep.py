"""Hyperparameter sweeps: parse `NAME=V1,V2,...` values and expand them into one set of
hyperparameters (strings) per job, as a grid (every combination) or a list (the i-th value of
each parameter together).

Two conveniences:
* target_modules presets: "q,v" -> "q_proj,v_proj", "all linear" -> all seven projections, short
  names ("q,k,v,o,gate,up,down"). Alternatives are separated by "|" (commas belong to a module list):
  `target_modules=q,v|all linear`.
* lora_alpha as a multiple of the rank: "2xr" (or "2*r", "2 x r") gives alpha = 2 x lora_r per job.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

SWEEPABLE = (
    "epoch",
    "learning_rate",
    "lora_r",
    "lora_alpha",
    "lora_dropout",
    "target_modules",
    "per_device_train_batch_size",
    "max_input_length",
)
ALL_TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
TARGET_MODULE_PRESETS: Mapping[str, str] = {
    "q,v": "q_proj,v_proj",
    "all linear": ",".join(ALL_TARGET_MODULES),
    "all-linear": ",".join(ALL_TARGET_MODULES),
    "all": ",".join(ALL_TARGET_MODULES),
}
_SHORT_MODULES = {m.removesuffix("_proj"): m for m in ALL_TARGET_MODULES}
_ALPHA_RATIO = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*[x*\u00d7]\s*r\s*$", re.IGNORECASE)
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_JOBS = 100


class SweepError(ValueError):
    """The sweep cannot be built; `errors` lists each problem (field and reason)."""

    def __init__(self, errors: Sequence[str]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(self.errors))


@dataclass(frozen=True)
class AlphaRatio:
    """lora_alpha = k x lora_r, resolved per job."""

    k: float

    def resolve(self, lora_r: int) -> str:
        return str(int(round(self.k * lora_r)))

    def __str__(self) -> str:
        return f"{self.k:g}xr"


Value = str | AlphaRatio


def normalize_target_modules(value: str) -> str:
    """Presets and short names to the comma list JumpStart wants; anything unknown is left for the
    validator to report."""
    text = value.strip()
    preset = TARGET_MODULE_PRESETS.get(re.sub(r"\s+", " ", text.lower()).replace(" ,", ",").replace(", ", ","))
    if preset:
        return preset
    parts = [p.strip() for p in text.split(",") if p.strip()]
    return ",".join(_SHORT_MODULES.get(p.lower(), p) for p in parts)


def parse_values(name: str, text: str) -> tuple[Value, ...]:
    """The alternatives of one parameter, normalized (strings, or AlphaRatio for lora_alpha)."""
    if name == "target_modules":
        raw = [v for v in re.split(r"[|;]", text) if v.strip()]
        return tuple(normalize_target_modules(v) for v in raw)
    raw = [v.strip() for v in text.split(",") if v.strip()]
    values: list[Value] = []
    for v in raw:
        ratio = _ALPHA_RATIO.match(v) if name == "lora_alpha" else None
        values.append(AlphaRatio(float(ratio.group(1))) if ratio else v)
    return tuple(values)


def parse_param(text: str) -> tuple[str, tuple[Value, ...]]:
    """`NAME=V1,V2,...` -> (name, values). Raises SweepError."""
    name, sep, rest = text.partition("=")
    name = name.strip()
    if not sep or not _NAME.match(name):
        raise SweepError([f"--param {text!r}: expected NAME=V1,V2,..."])
    values = parse_values(name, rest)
    if not values:
        raise SweepError([f"{name}: no values given"])
    return name, values


def expand(
    params: Sequence[tuple[str, Sequence[Value]]],
    *,
    mode: str = "grid",
    fixed: Mapping[str, str] | None = None,
    defaults: Mapping[str, str] | None = None,
) -> tuple[list[dict[str, str]], list[str]]:
    """One hyperparameter dict per job, and warnings (duplicates dropped).

    `fixed` values apply to every job (a swept name overrides them); `defaults` resolve
    "alpha = k x r" when lora_r is neither swept nor fixed.
    """
    errors: list[str] = []
    names = [n for n, _ in params]
    repeated = sorted({n for n in names if names.count(n) > 1})
    if repeated:
        errors.append(f"{repeated[0]}: given more than once; list all its values in one --param")
    if mode not in ("grid", "list"):
        errors.append(f"mode: must be 'grid' or 'list', not {mode!r}")
    if errors:
        raise SweepError(errors)
    fixed = dict(fixed or {})
    if not params:
        combos: list[tuple[Value, ...]] = [()]
    elif mode == "grid":
        count = 1
        for _, values in params:
            count *= len(values)
        if count > MAX_JOBS:
            raise SweepError([f"sweep: {count} jobs; at most {MAX_JOBS} per sweep"])
        combos = list(itertools.product(*(values for _, values in params)))
    else:
        lengths = {len(v) for _, v in params if len(v) != 1}
        if len(lengths) > 1:
            detail = ", ".join(f"{n} has {len(v)}" for n, v in params)
            raise SweepError([f"list sweep: every parameter needs the same number of values ({detail})"])
        count = lengths.pop() if lengths else 1
        if count > MAX_JOBS:
            raise SweepError([f"sweep: {count} jobs; at most {MAX_JOBS} per sweep"])
        combos = [tuple(v[i] if len(v) > 1 else v[0] for _, v in params) for i in range(count)]

    jobs: list[dict[str, str]] = []
    seen: set[tuple[tuple[str, str], ...]] = set()
    warnings: list[str] = []
    for combo in combos:
        job = dict(fixed)
        job.update({n: v for n, v in zip(names, combo, strict=False) if isinstance(v, str)})
        for n, v in zip(names, combo, strict=False):
            if isinstance(v, AlphaRatio):
                r_text = job.get("lora_r") or (defaults or {}).get("lora_r")
                try:
                    job[n] = v.resolve(int(str(r_text)))
                except (TypeError, ValueError):
                    raise SweepError([f"lora_alpha: {v} needs a whole-number lora_r (got {r_text!r})"]) from None
        key = tuple(sorted(job.items()))
        if key in seen:
            warnings.append("dropped a duplicate job: " + ", ".join(f"{k}={v}" for k, v in key if k in names))
            continue
        seen.add(key)
        jobs.append(job)
    return jobs, warnings


def summarize(hyperparameters: Mapping[str, str], names: Sequence[str] = SWEEPABLE) -> str:
    """A short "lr=1e-4 r=8 a=32 ep=3" summary of the sweepable values present."""
    short = {
        "epoch": "ep",
        "learning_rate": "lr",
        "lora_r": "r",
        "lora_alpha": "a",
        "lora_dropout": "drop",
        "target_modules": "mods",
        "per_device_train_batch_size": "bs",
        "max_input_length": "len",
    }
    parts = []
    for name in names:
        if name in hyperparameters:
            value = hyperparameters[name]
            if name == "target_modules":
                value = (
                    "all"
                    if value == TARGET_MODULE_PRESETS["all"]
                    else ",".join(m.removesuffix("_proj") for m in value.split(","))
                )
            parts.append(f"{short.get(name, name)}={value}")
    return " ".join(parts)
