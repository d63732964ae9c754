"""Training instance slots: Service Quotas "<type> for training job usage", looked up by name.

Quota codes are not documented (shared/reference/jumpstart-aws.md section 7.1), so the lookup lists
the SageMaker quotas once and indexes them by name. Values are cached in memory and in the session
(for `ttl_seconds`); `[jumpstart.quotas]` in the config overrides them per instance type. When the
lookup fails or the quota is not listed, the slot count is unknown and the queue assumes one slot:
SageMaker's own ResourceLimitExceeded then requeues the job with backoff.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from core.store import Store

TRAINING_SUFFIX = "for training job usage"
ENDPOINT_SUFFIX = "for endpoint usage"
META_KEY = "quotas.sagemaker"
DEFAULT_TTL_SECONDS = 6 * 3600.0
RETRY_AFTER_FAILURE_SECONDS = 300.0
UNKNOWN_SLOTS = 1


def training_quota_name(instance_type: str) -> str:
    return f"{instance_type} {TRAINING_SUFFIX}"


def endpoint_quota_name(instance_type: str) -> str:
    return f"{instance_type} {ENDPOINT_SUFFIX}"


@dataclass(frozen=True)
class Slots:
    instance_type: str
    slots: int
    source: str  # "config", "service-quotas" or "unknown"
    quota_name: str

    def describe(self) -> str:
        if self.source == "unknown":
            return f"{self.quota_name}: unknown (assuming {self.slots})"
        return f"{self.quota_name}: {self.slots} ({self.source})"


class QuotaLookup:
    """`slots(instance_type)` for training jobs. Thread-safe enough: a race only repeats a lookup."""

    def __init__(
        self,
        overrides: Mapping[str, int] | None,
        client_factory: Callable[[], Any] | None,
        *,
        store: Store | None = None,
        ttl_seconds: float = DEFAULT_TTL_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.overrides = {k: int(v) for k, v in (overrides or {}).items()}
        self._client_factory = client_factory
        self._store = store
        self._ttl = ttl_seconds
        self._clock = clock
        self._values: dict[str, float] | None = None
        self._fetched_at = 0.0
        self._failed_at: float | None = None
        self.last_error: str | None = None

    def slots(self, instance_type: str) -> Slots:
        name = training_quota_name(instance_type)
        if instance_type in self.overrides:
            return Slots(instance_type, max(0, self.overrides[instance_type]), "config", name)
        values = self._quota_values()
        if values is not None and name in values:
            return Slots(instance_type, max(0, int(values[name])), "service-quotas", name)
        return Slots(instance_type, UNKNOWN_SLOTS, "unknown", name)

    def refresh(self) -> None:
        """Forget cached values; the next `slots` call looks them up again."""
        self._values = None
        self._fetched_at = 0.0
        self._failed_at = None
        if self._store is not None:
            self._store.set_meta(META_KEY, None)

    def _quota_values(self) -> dict[str, float] | None:
        now = self._clock()
        if self._values is not None and now - self._fetched_at < self._ttl:
            return self._values
        if self._store is not None and self._values is None:
            cached = self._store.get_meta(META_KEY)
            if isinstance(cached, dict) and now - float(cached.get("fetched_at", 0)) < self._ttl:
                self._values = {str(k): float(v) for k, v in cached.get("values", {}).items()}
                self._fetched_at = float(cached["fetched_at"])
                return self._values
        if self._client_factory is None:
            return self._values
        if self._failed_at is not None and now - self._failed_at < RETRY_AFTER_FAILURE_SECONDS:
            return self._values
        try:
            values = self._list_training_quotas(self._client_factory())
        except Exception as exc:  # noqa: BLE001 - no permission, no network, not modelled: all mean "unknown"
            self._failed_at = now
            self.last_error = f"{type(exc).__name__}: {exc}"
            return self._values
        self._values, self._fetched_at, self._failed_at, self.last_error = values, now, None, None
        if self._store is not None:
            self._store.set_meta(META_KEY, {"fetched_at": now, "values": values})
        return values

    @staticmethod
    def _list_training_quotas(client: Any) -> dict[str, float]:
        values: dict[str, float] = {}
        kwargs: dict[str, Any] = {"ServiceCode": "sagemaker", "MaxResults": 100}
        while True:
            page = client.list_service_quotas(**kwargs)
            for quota in page.get("Quotas", []):
                name = quota.get("QuotaName", "")
                if name.endswith(TRAINING_SUFFIX) and quota.get("Value") is not None:
                    values[name] = float(quota["Value"])
            token = page.get("NextToken")
            if not token:
                return values
            kwargs["NextToken"] = token


# -- increase requests ------------------------------------------------------------------------------

OPEN_REQUEST_STATUSES = ("PENDING", "CASE_OPENED")


@dataclass(frozen=True)
class QuotaRequest:
    """A Service Quotas increase request for a SageMaker quota, as the service reports it."""

    request_id: str
    quota_name: str
    desired: float
    status: str  # PENDING, CASE_OPENED, APPROVED, DENIED, CASE_CLOSED, NOT_APPROVED, INVALID_REQUEST
    created: float | None

    @property
    def open(self) -> bool:
        return self.status in OPEN_REQUEST_STATUSES

    def describe(self) -> str:
        return f"{self.quota_name} -> {self.desired:g}: {self.status}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.request_id,
            "quota_name": self.quota_name,
            "desired": self.desired,
            "status": self.status,
            "created": self.created,
        }


class QuotaRequestError(Exception):
    """An increase request cannot be made; the message says why."""


def _request(item: Mapping[str, Any]) -> QuotaRequest:
    created: Any = item.get("Created")
    stamp = None
    if isinstance(created, datetime):
        stamp = created.timestamp()
    elif isinstance(created, (int, float)):
        stamp = float(created)
    return QuotaRequest(
        str(item.get("Id", "")),
        str(item.get("QuotaName", "")),
        float(item.get("DesiredValue") or 0),
        str(item.get("Status", "")),
        stamp,
    )


def _quota_code(client: Any, name: str) -> tuple[str, float]:
    kwargs: dict[str, Any] = {"ServiceCode": "sagemaker", "MaxResults": 100}
    while True:
        page = client.list_service_quotas(**kwargs)
        for quota in page.get("Quotas", []):
            if quota.get("QuotaName") == name:
                return str(quota["QuotaCode"]), float(quota.get("Value") or 0)
        token = page.get("NextToken")
        if not token:
            raise QuotaRequestError(f"Service Quotas lists no quota named '{name}' in this region")
        kwargs["NextToken"] = token


def request_increase(client: Any, instance_type: str, value: int) -> QuotaRequest:
    """Ask Service Quotas to raise '<instance_type> for training job usage' to `value` (the quota's
    code is looked up by its name). Needs servicequotas:RequestServiceQuotaIncrease. Raises
    QuotaRequestError with the reason."""
    from botocore.exceptions import BotoCoreError, ClientError

    if value < 1:
        raise QuotaRequestError(f"ask for at least 1 {instance_type} instance, not {value}")
    name = training_quota_name(instance_type)
    try:
        code, current = _quota_code(client, name)
        if value <= current:
            raise QuotaRequestError(f"'{name}' is already {current:g}; ask for more than that")
        reply = client.request_service_quota_increase(
            ServiceCode="sagemaker", QuotaCode=code, DesiredValue=float(value)
        )
    except ClientError as exc:
        error = exc.response.get("Error", {})
        raise QuotaRequestError(f"'{name}': {error.get('Code', '')}: {error.get('Message', exc)}") from None
    except BotoCoreError as exc:
        raise QuotaRequestError(f"'{name}': {exc}") from None
    return _request(reply.get("RequestedQuota") or {})


def training_requests(client: Any) -> list[QuotaRequest]:
    """Increase requests for SageMaker training-instance quotas, newest first."""
    found: list[QuotaRequest] = []
    kwargs: dict[str, Any] = {"ServiceCode": "sagemaker", "MaxResults": 100}
    while True:
        page = client.list_requested_service_quota_change_history(**kwargs)
        found += [
            _request(r)
            for r in page.get("RequestedQuotas", [])
            if str(r.get("QuotaName", "")).endswith(TRAINING_SUFFIX)
        ]
        token = page.get("NextToken")
        if not token:
            return sorted(found, key=lambda r: -(r.created or 0.0))
        kwargs["NextToken"] = token


# -- the pool's quotas, for the Jobs pane's quota dialog ----------------------------------------------


@dataclass(frozen=True)
class PoolQuota:
    """One instance type of the pool: its Service Quotas value (not the config's override), the
    `[jumpstart.quotas]` value, the newest open increase request, and the value to ask for."""

    instance_type: str
    service: Slots
    configured: int | None
    pending: QuotaRequest | None
    latest: QuotaRequest | None  # the newest request of any status

    @property
    def quota_name(self) -> str:
        return self.service.quota_name

    @property
    def no_slot(self) -> bool:
        return self.service.source == "service-quotas" and self.service.slots == 0

    @property
    def suggested(self) -> int:
        """What to ask for: the configured pool size when Service Quotas has less, else one more."""
        current = self.service.slots if self.service.source == "service-quotas" else 0
        return max(1, current + 1, self.configured or 0)

    @property
    def requestable(self) -> bool:
        return self.service.source == "service-quotas" and self.pending is None

    def state(self) -> str:
        if self.pending is not None:
            return f"requested {self.pending.desired:g}: {self.pending.status}"
        if self.latest is not None:
            return f"last request {self.latest.desired:g}: {self.latest.status}"
        if self.no_slot:
            return f"no slot: ask for {self.suggested}"
        return ""


@dataclass(frozen=True)
class QuotaOverview:
    rows: tuple[PoolQuota, ...]
    requests: tuple[QuotaRequest, ...]
    problems: tuple[str, ...]  # lookups that failed (no permission, no network), said as they were


def pool_overview(client: Any, instance_types: list[str], configured: Mapping[str, int]) -> QuotaOverview:
    """Each type's training quota as Service Quotas has it, with its increase requests (blocking)."""
    lookup = QuotaLookup({}, lambda: client)
    problems: list[str] = []
    try:
        requests = training_requests(client)
    except Exception as exc:  # noqa: BLE001 - no permission for the history: the quotas still show
        requests = []
        problems.append(f"could not list the increase requests: {type(exc).__name__}: {exc}")
    rows = []
    for kind in dict.fromkeys(instance_types):
        slots = lookup.slots(kind)
        mine = [r for r in requests if r.quota_name == slots.quota_name]
        pending = next((r for r in mine if r.open), None)
        rows.append(PoolQuota(kind, slots, configured.get(kind), pending, mine[0] if mine else None))
    if lookup.last_error:
        problems.insert(0, f"could not look up the quotas: {lookup.last_error}")
    return QuotaOverview(tuple(rows), tuple(requests), tuple(problems))
