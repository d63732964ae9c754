"""Hyperparameter and job-name validation for JumpStart fine-tuning, before any AWS call.

Rules come from the recipe (names, types, ranges, options) plus the JumpStart Llama notes:
boolean hyperparameters are the strings "True"/"False"; instruction_tuned and chat_dataset are not
both "True"; on g5 exactly one of int8_quantization and enable_fsdp is "True"; target_modules is a
comma list of projection names without spaces. Every problem is a :class:`FieldError`.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from core.training.recipe import instance_family

if TYPE_CHECKING:
    from collections.abc import Mapping

    from core.training.recipe import HyperparameterSpec, Recipe

TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
DATASET_FORMATS = {"instruction": "instruction_tuned", "chat": "chat_dataset"}
JOB_NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
JOB_NAME_MAX = 63
HYPERPARAMETER_VALUE_MAX = 2500  # CreateTrainingJob limit per value
_INT = re.compile(r"^[+-]?\d+$")


@dataclass(frozen=True)
class FieldError:
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.field}: {self.reason}"


def validate_job_name(name: str) -> list[FieldError]:
    if not isinstance(name, str) or not name:
        return [FieldError("job_name", "is empty")]
    if len(name) > JOB_NAME_MAX:
        return [FieldError("job_name", f"is {len(name)} characters long; at most {JOB_NAME_MAX}")]
    if not JOB_NAME_PATTERN.match(name):
        return [
            FieldError(
                "job_name",
                "may contain only letters, digits and hyphens, and must start and end with a letter or digit",
            )
        ]
    return []


def validate_hyperparameters(
    recipe: Recipe,
    params: Mapping[str, str],
    instance_type: str,
    dataset_format: str | None,
) -> list[FieldError]:
    """Check the user's hyperparameters (strings) for this recipe, instance type and dataset.

    Cross-field rules look at the values the job would run with: the spec's defaults for the
    instance type, updated with ``params``. Returns an empty list when all is well.
    """
    errors: list[FieldError] = []
    for name, value in params.items():
        spec = recipe.hyperparameter(name)
        if spec is None:
            errors.append(FieldError(name, _unknown_name_reason(recipe, name)))
        elif not spec.user_settable:
            errors.append(FieldError(name, "is set by tunedeck for the training container, not by the user"))
        else:
            reason = _value_problem(spec, value)
            if reason:
                errors.append(FieldError(name, reason))
    bad = {e.field for e in errors}

    instance_ok = instance_type in recipe.supported_training_instance_types
    if not instance_ok:
        errors.append(
            FieldError(
                "instance_type",
                f"{instance_type!r} is not supported for training {recipe.model_id}; "
                f"supported: {', '.join(recipe.supported_training_instance_types)}",
            )
        )
    elif recipe.eula_required and recipe.gated_artifact_for(instance_type) is None:
        errors.append(
            FieldError(
                "instance_type",
                f"the JumpStart spec of {recipe.model_id} has no training artifact for the "
                f"{instance_family(instance_type)} family",
            )
        )

    merged = recipe.defaults_for(instance_type if instance_ok else None)
    merged.update({k: v for k, v in params.items() if k not in bad and isinstance(v, str)})
    errors += _cross_field_problems(recipe, params, merged, instance_type, dataset_format)
    return errors


def _unknown_name_reason(recipe: Recipe, name: str) -> str:
    reason = f"is not a hyperparameter of {recipe.model_id}"
    settable = [h.name for h in recipe.hyperparameters if h.user_settable]
    close = difflib.get_close_matches(name, settable, n=1)
    return f"{reason} (did you mean {close[0]!r}?)" if close else reason


def _value_problem(spec: HyperparameterSpec, value: object) -> str | None:
    if not isinstance(value, str):
        return f"must be a string, got {type(value).__name__} {value!r}"
    if len(value) > HYPERPARAMETER_VALUE_MAX:
        return f"is {len(value)} characters long; at most {HYPERPARAMETER_VALUE_MAX}"
    if spec.is_boolean:
        if value not in ("True", "False"):
            return f'must be the string "True" or "False", got {value!r}'
        return None
    if spec.options is not None and value not in spec.options:
        return f"must be one of {', '.join(spec.options)}; got {value!r}"
    number: float
    if spec.type == "int":
        if not _INT.match(value):
            return f"must be a whole number, got {value!r}"
        number = int(value)
    elif spec.type == "float":
        try:
            number = float(value)
        except ValueError:
            return f"must be a number, got {value!r}"
        if not math.isfinite(number):
            return f"must be a finite number, got {value!r}"
    else:
        return _target_modules_problem(value) if spec.name == "target_modules" else None
    if spec.min is not None and number < spec.min:
        return f"must be at least {_fmt(spec.min)}, got {value}"
    if spec.max is not None and number > spec.max:
        return f"must be at most {_fmt(spec.max)}, got {value}"
    return None


def _target_modules_problem(value: str) -> str | None:
    allowed = ", ".join(TARGET_MODULES)
    if not value:
        return f"is empty; give a comma list from {allowed}"
    if any(ch.isspace() for ch in value):
        return f"must not contain spaces: a comma list from {allowed}, e.g. q_proj,v_proj"
    modules = value.split(",")
    unknown = [m for m in modules if m not in TARGET_MODULES]
    if unknown:
        return f"unknown module {unknown[0]!r}; allowed: {allowed}"
    repeated = sorted({m for m in modules if modules.count(m) > 1})
    if repeated:
        return f"lists {repeated[0]} more than once"
    return None


def _cross_field_problems(
    recipe: Recipe,
    params: Mapping[str, str],
    merged: Mapping[str, str],
    instance_type: str,
    dataset_format: str | None,
) -> list[FieldError]:
    errors: list[FieldError] = []

    def blame(*names: str) -> str:
        """The field the user set, or the first name when both come from the defaults."""
        return next((n for n in names if n in params), names[0])

    instruction = merged.get("instruction_tuned") == "True"
    chat = merged.get("chat_dataset") == "True"
    if instruction and chat:
        errors.append(
            FieldError(
                blame("chat_dataset", "instruction_tuned"),
                'instruction_tuned and chat_dataset cannot both be "True"',
            )
        )

    if instance_family(instance_type) == "g5" and "int8_quantization" in merged and "enable_fsdp" in merged:
        flags = (merged["int8_quantization"] == "True", merged["enable_fsdp"] == "True")
        if flags[0] == flags[1]:
            state = "both are" if flags[0] else "neither is"
            errors.append(
                FieldError(
                    blame("int8_quantization", "enable_fsdp"),
                    f'on g5 instances exactly one of int8_quantization and enable_fsdp must be "True" ({state})',
                )
            )

    if dataset_format is not None:
        flag = DATASET_FORMATS.get(dataset_format)
        if flag is None:
            errors.append(
                FieldError(
                    "dataset_format",
                    f"unknown dataset format {dataset_format!r}; expected {' or '.join(DATASET_FORMATS)}",
                )
            )
        elif flag in merged and merged.get(flag) != "True":
            errors.append(
                FieldError(
                    flag, f'must be "True" for a dataset in {dataset_format} format (it is {merged.get(flag)!r})'
                )
            )
    return errors


def _fmt(number: int | float) -> str:
    return str(int(number)) if float(number).is_integer() else repr(number)
