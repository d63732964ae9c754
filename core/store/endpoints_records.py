"""Records of endpoints and of jobs ready to deploy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class EndpointRow:
    id: int
    name: str
    job_id: int | None
    kind: str  # "finetuned" | "base"
    model_name: str | None
    config_name: str | None
    instance_type: str
    prompt_format: str
    status: str
    price_per_hour: float | None
    created_at: float
    in_service_at: float | None
    last_invoked_at: float | None
    deleted_at: float | None
    model_id: str | None
    instruction_template: str | None
    failure_reason: str | None
    job_name: str | None = None

    @property
    def live(self) -> bool:
        return self.deleted_at is None


@dataclass(frozen=True)
class JobForDeploy:
    """What the store knows about a training job that deployment needs."""

    id: int
    name: str
    model_id: str
    model_version: str
    status: str
    hyperparameters: dict[str, Any]
    dataset_format: str | None
    dataset_template: str | None
