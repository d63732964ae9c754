"""Training metrics of a session's jobs: CloudWatch metrics and per-step loss from CloudWatch Logs.

Each poll costs a constant number of calls however many jobs run (plus pages when there is a lot
of new data, and one more in a poll where log streams appear for the first time):

* one `GetMetricData` call carries every monitored job's metric definitions (up to 500 queries
  per call, split beyond). Windows are aligned to the period and end `metric_settle_seconds` in
  the past, so a period is fetched once, when it is complete.
* one `FilterLogEvents` call over the session's job-name prefix (log streams are named
  "<job>/algo-<n>-<epoch>"; it finds streams as soon as a container writes, no DescribeLogStreams).
  The window is [cursor - overlap, now - settle). An event reaches CloudWatch some time after its
  timestamp (the ingestion lag), so the window ends `settle` in the past, and the settle adapts: it is
  at least `log_settle_seconds` (0.5 s) and at least 1.25 x the largest ingestion lag
  (ingestionTime - timestamp) seen lately, kept in the session. Until a session has seen its first
  event the lag is unknown and the settle is a cautious `initial_log_settle_seconds` (5 s). A lag can
  jump (a loaded machine, a log agent that stalls) before the settle has learned it, so each window
  also re-reads the last `log_overlap_seconds` (5 s) of the one before: an event up to settle +
  overlap late is still read. Events read again are recognised by their eventId (each stream keeps the
  ids of its events inside the overlap) and dropped, so nothing is counted twice. A small settle keeps
  a step's loss on screen within the poll interval plus a fraction of a second of reaching
  CloudWatch. A stream's first lines are a
  backlog rather than a lag (the log agent starts after the container): they do not teach the lag.
  Instead, in the poll where streams first appear, one more FilterLogEvents names them and reads
  them from their jobs' launch up to the window, so lines written before it are not lost. Events are parsed per
  job with the job's own MetricDefinitions regexes plus the llama-recipes step line
  (core.training.log_parse.LogParser).

Per-job cursors, parser state (with the recent event ids) and points are stored in one transaction,
so a restarted app continues where the last poll stopped and nothing is counted twice. A window starts at the
smallest cursor of the jobs in it; jobs whose cursor is later drop the events before it (that only
happens when a job joins late, e.g. one adopted from another machine).

The JumpStart metric regexes fire once per epoch (shared/reference/jumpstart-aws.md section 3):
per-epoch losses come from the log lines first and from CloudWatch metrics where the logs miss one.
"""

from __future__ import annotations

import math
import time
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from core.store.jobs import EPOCH_LEVEL_STEP, FINAL_STATUSES, Job, LogCursor, MetricPoint
from core.training.log_parse import DEFAULT_METRIC_DEFINITIONS, EpochPoint, LogParser, StepPoint, metric_kind
from core.training.overfit import OverfitAssessment, assess, eta_seconds

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Mapping, Sequence

    from core.store import Store

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
NAMESPACE = "/aws/sagemaker/TrainingJobs"
STEP_LOSS = "step-loss"
"""Metric name of per-step training loss points (source "logs")."""
LOGS, METRICS = "logs", "metrics"
MAX_QUERIES_PER_CALL = 500
MAX_STREAMS_PER_CALL = 100  # logStreamNames of one FilterLogEvents call
END_SLACK_MS = 1000
RECENT_EVENTS_KEY = "recent_events"
"""Key, in a stream's stored parser state, of {"since": ms, "ids": [...]}: the ids of the stream's events
read with timestamp >= since; an event before `since` was read already."""
LAG_META_KEY = "jobs.log_ingestion_lag_ms"
MAX_LOG_SETTLE_SECONDS = 120.0
LAG_MARGIN, LAG_SLACK_MS, LAG_DECAY = 1.25, 150, 0.8
"""settle >= LAG_MARGIN x the largest recent ingestion lag + LAG_SLACK_MS; the remembered lag decays by
(1 - LAG_DECAY) a poll when smaller lags follow."""
THROTTLING_CODES = frozenset(
    {
        "ThrottlingException",
        "Throttling",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "ProvisionedThroughputExceededException",
        "LimitExceededException",
        "SlowDown",
    }
)


def error_code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", ""))
    return ""


def is_throttling(exc: BaseException) -> bool:
    return error_code(exc) in THROTTLING_CODES


@dataclass
class MetricsRound:
    """What one poll did."""

    points: int = 0
    log_events: int = 0
    datapoints: int = 0
    calls: int = 0
    throttled: bool = False
    errors: list[str] = field(default_factory=list)
    updated_jobs: set[str] = field(default_factory=set)
    done_jobs: list[str] = field(default_factory=list)


def _ms(ts: datetime | float) -> int:
    if isinstance(ts, datetime):
        return int(round(ts.timestamp() * 1000))
    return int(round(ts * 1000))


def _primary_stream(stream: str) -> bool:
    """Only the first host's stream: with FSDP the script prints on rank 0 (algo-1)."""
    _, _, host = stream.partition("/")
    return not host.startswith("algo-") or host.startswith("algo-1-") or host == "algo-1"


def _event_id(event: Mapping[str, Any]) -> str:
    return str(event.get("eventId") or f"{event.get('timestamp', 0)}:{zlib.crc32(str(event.get('message')).encode())}")


@dataclass
class RecentEvents:
    """The events of one log stream read at or after `since` (timestamp, eventId): an overlapping window
    reads them again, and they are recognised and dropped. An event before `since` was read already."""

    since: int | None = None
    events: list[tuple[int, str]] = field(default_factory=list)
    _ids: set[str] = field(default_factory=set, repr=False)

    @classmethod
    def restore(cls, state: Mapping[str, Any] | None, last_timestamp_ms: int | None) -> RecentEvents:
        kept = (state or {}).get(RECENT_EVENTS_KEY)
        if kept is None:  # stored before ids were kept (or never read): everything up to its last event was read
            return cls(None if last_timestamp_ms is None else last_timestamp_ms + 1)
        events = [(int(ts), str(event_id)) for ts, event_id in kept.get("events", ())]
        return cls(kept.get("since"), events, {event_id for _, event_id in events})

    def read_before(self, event: Mapping[str, Any]) -> bool:
        if self.since is not None and int(event.get("timestamp", 0)) < self.since:
            return True
        return _event_id(event) in self._ids

    def after(self, read: Iterable[Mapping[str, Any]], *, since: int) -> RecentEvents:
        """These events plus the ones just read, keeping those at or after `since` (never moved back)."""
        since = max(since, self.since) if self.since is not None else since
        events = self.events + [(int(e.get("timestamp", 0)), _event_id(e)) for e in read]
        kept = sorted({(ts, event_id) for ts, event_id in events if ts >= since})
        return RecentEvents(since, kept, {event_id for _, event_id in kept})

    def snapshot(self) -> dict[str, Any]:
        return {"since": self.since, "events": [list(e) for e in self.events]}


class MetricsPoller:
    """Polls CloudWatch for the session's monitored jobs and stores what is new."""

    def __init__(
        self,
        store: Store,
        client: Callable[[str], Any],
        *,
        name_prefix: str,
        period: int = 60,
        metric_settle_seconds: float = 60.0,
        log_settle_seconds: float = 0.5,
        initial_log_settle_seconds: float = 5.0,
        log_overlap_seconds: float = 5.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if period < 1:
            raise ValueError("period must be at least 1 second")
        self.store = store
        self._client = client
        self.prefix = name_prefix
        self.period = int(period)
        self.metric_settle = float(metric_settle_seconds)
        self.log_settle = float(log_settle_seconds)
        self.initial_log_settle = max(self.log_settle, float(initial_log_settle_seconds))
        self.log_overlap_ms = max(0, int(log_overlap_seconds * 1000))
        self.clock = clock

    def monitored_jobs(self) -> list[Job]:
        """Launched jobs whose logs or metrics may still hold something not fetched."""
        return [
            j
            for j in self.store.jobs()
            if not j.monitor_done and j.arn is not None and (j.is_running or j.status in FINAL_STATUSES)
        ]

    def poll(self, jobs: Sequence[Job] | None = None) -> MetricsRound:
        rnd = MetricsRound()
        jobs = list(self.monitored_jobs() if jobs is None else jobs)
        if not jobs:
            return rnd
        metrics = self._poll_metrics(jobs, self.clock(), rnd)
        logs = self._poll_logs(jobs, self.clock(), rnd)  # its window ends as late as possible: fresher steps
        points: list[MetricPoint] = []
        updates: dict[int, dict[str, Any]] = defaultdict(dict)
        if logs is not None:
            log_points, cursors, progress, logs_end = logs
            points += log_points
            for job in jobs:
                updates[job.id]["logs_cursor_ms"] = max(logs_end, job.logs_cursor_ms or 0)
            for job_id, value in progress.items():
                updates[job_id]["progress"] = value
        if metrics is not None:
            metric_points, metrics_end = metrics
            points += metric_points
            for job in jobs:
                updates[job.id]["metrics_cursor_ms"] = max(metrics_end, job.metrics_cursor_ms or 0)
        for job in jobs:
            if self._finished_fetching(job, updates.get(job.id, {})):
                updates[job.id]["monitor_done"] = 1
                rnd.done_jobs.append(job.name)
        with self.store.jobs_batch():
            rnd.points = self.store.add_metric_points(points)
            if logs is not None:
                for job_id, stream, last_ts, state in logs[1]:
                    self.store.save_log_cursor(job_id, stream, last_timestamp_ms=last_ts, parser_state=state)
            for job_id, fields in updates.items():
                if fields:
                    self.store.update_job(job_id, **fields)
        by_id = {j.id: j.name for j in jobs}
        rnd.updated_jobs = {by_id[p.job_id] for p in points}
        return rnd

    # -- logs ------------------------------------------------------------------------------------

    def _initial_ms(self, job: Job) -> int:
        return _ms(job.launched_at or job.start_time or job.created_at)

    def log_settle_ms(self) -> int:
        """Current settle time of the log window: configured, or more when ingestion lags."""
        learned = self.store.get_meta(LAG_META_KEY)
        if learned is None:
            return int(self.initial_log_settle * 1000)
        return int(
            max(self.log_settle * 1000, min(MAX_LOG_SETTLE_SECONDS * 1000, LAG_MARGIN * float(learned) + LAG_SLACK_MS))
        )

    def _learn_lag(self, observed_ms: int | None) -> None:
        """Remember the largest recent ingestion lag; it decays by 10% a poll when smaller ones follow."""
        if observed_ms is None:
            return
        stored = self.store.get_meta(LAG_META_KEY)
        previous = float(stored or 0)
        updated = max(float(observed_ms), previous * LAG_DECAY)
        if stored is None or abs(updated - previous) >= 50:
            self.store.set_meta(LAG_META_KEY, int(updated))

    def _filter_events(
        self, client: Any, rnd: MetricsRound, start: int, end: int, *, prefix: str = "", streams: Sequence[str] = ()
    ) -> list[dict[str, Any]]:
        """Every event with start <= timestamp < end of the streams under `prefix`, or of the named
        `streams` (all pages)."""
        kwargs: dict[str, Any] = {"logGroupName": LOG_GROUP, "startTime": start, "endTime": end - 1}
        if streams:
            kwargs["logStreamNames"] = list(streams)
        else:
            kwargs["logStreamNamePrefix"] = prefix
        found: list[dict[str, Any]] = []
        while True:
            page = client.filter_log_events(**kwargs)
            rnd.calls += 1
            found += page.get("events", [])
            token = page.get("nextToken")
            if not token or token == kwargs.get("nextToken"):
                return found
            kwargs["nextToken"] = token

    def _poll_logs(self, jobs: Sequence[Job], now: float, rnd: MetricsRound) -> tuple | None:
        end = _ms(now) - self.log_settle_ms()  # exclusive
        cursors = {j.id: (j.logs_cursor_ms if j.logs_cursor_ms is not None else self._initial_ms(j)) for j in jobs}
        if end <= min(cursors.values()):
            return None
        overlap = self.log_overlap_ms
        firsts = {  # each job's window starts `overlap` before its cursor, never before its launch
            j.id: cursors[j.id] if j.logs_cursor_ms is None else max(self._initial_ms(j), cursors[j.id] - overlap)
            for j in jobs
        }
        start = min(firsts.values())
        by_name = {j.name: j for j in jobs}
        jobs_by_id = {j.id: j for j in jobs}
        saved: dict[int, dict[str, LogCursor]] = {}  # job id -> {stream: cursor} of the streams read before

        def known_streams(job_id: int) -> dict[str, LogCursor]:
            if job_id not in saved:
                saved[job_id] = {c.stream: c for c in self.store.log_cursors(job_id)}
            return saved[job_id]

        events: dict[tuple[int, str], list[dict[str, Any]]] = defaultdict(list)
        new_streams: set[tuple[int, str]] = set()
        recent: dict[tuple[int, str], RecentEvents] = {}

        def recent_events(job_id: int, stream: str) -> RecentEvents:
            if (job_id, stream) not in recent:
                cursor = known_streams(job_id).get(stream)
                recent[(job_id, stream)] = (
                    RecentEvents()
                    if cursor is None
                    else RecentEvents.restore(cursor.parser_state, cursor.last_timestamp_ms)
                )
            return recent[(job_id, stream)]

        client = self._client("logs")
        lag: int | None = None
        try:
            for event in self._filter_events(client, rnd, start, end, prefix=self.prefix):
                stream = event.get("logStreamName", "")
                job = by_name.get(stream.split("/", 1)[0])
                ts = int(event.get("timestamp", 0))
                if job is None or ts >= end or not _primary_stream(stream):
                    continue
                is_new = stream not in known_streams(job.id)
                if is_new:
                    new_streams.add((job.id, stream))
                elif event.get("ingestionTime"):  # a container's first lines are a backlog, not a lag
                    lag = max(lag or 0, int(event["ingestionTime"]) - ts)
                if not is_new and (ts < firsts[job.id] or recent_events(job.id, stream).read_before(event)):
                    continue
                events[(job.id, stream)].append(event)
                rnd.log_events += 1
            # A stream seen for the first time may hold lines from before the window (written before
            # its container's log agent caught up): read those once, from the job's launch, in one
            # call naming the new streams (at most 100 names a call).
            late = sorted(
                (self._initial_ms(jobs_by_id[job_id]), stream, job_id)
                for job_id, stream in new_streams
                if self._initial_ms(jobs_by_id[job_id]) < start
            )
            for offset in range(0, len(late), MAX_STREAMS_PER_CALL):
                chunk = late[offset : offset + MAX_STREAMS_PER_CALL]
                owner = {stream: (job_id, initial) for initial, stream, job_id in chunk}
                for event in self._filter_events(client, rnd, chunk[0][0], start, streams=list(owner)):
                    job_id, initial = owner.get(event.get("logStreamName", ""), (None, 0))
                    if job_id is not None and int(event.get("timestamp", 0)) >= initial:
                        events[(job_id, event["logStreamName"])].append(event)
                        rnd.log_events += 1
        except Exception as exc:  # noqa: BLE001 - botocore errors; anything else is a bug and is reported too
            if error_code(exc) == "ResourceNotFoundException":  # no container has written yet
                events.clear()
            else:
                rnd.throttled |= is_throttling(exc)
                rnd.errors.append(f"logs: {type(exc).__name__}: {exc}")
                return None
        self._learn_lag(lag)

        points: list[MetricPoint] = []
        cursors_out: list[tuple[int, str, int, dict[str, Any]]] = []
        progress: dict[int, dict[str, Any]] = {}
        for (job_id, stream), stream_events in events.items():
            job = jobs_by_id[job_id]
            cursor = known_streams(job_id).get(stream)
            parser = LogParser(
                job.metric_definitions() or DEFAULT_METRIC_DEFINITIONS, state=cursor.parser_state if cursor else None
            )
            stream_events.sort(key=lambda e: int(e.get("timestamp", 0)))
            latest: StepPoint | None = None
            first: StepPoint | None = None
            for point in parser.feed_events(stream_events):
                if isinstance(point, StepPoint):
                    points.append(
                        MetricPoint(
                            job_id, STEP_LOSS, LOGS, point.timestamp_ms, point.loss, point.epoch, point.global_step
                        )
                    )
                    first = first or point
                    if latest is None or point.fraction_done >= latest.fraction_done:
                        latest = point
                elif isinstance(point, EpochPoint):
                    points.append(
                        MetricPoint(
                            job_id,
                            point.metric_name,
                            LOGS,
                            point.timestamp_ms,
                            point.value,
                            point.epoch,
                            EPOCH_LEVEL_STEP,
                        )
                    )
            kept = recent_events(job_id, stream).after(stream_events, since=end - self.log_overlap_ms)
            last_ts = max(int(e.get("timestamp", 0)) for e in stream_events)
            cursors_out.append((job_id, stream, last_ts, parser.snapshot() | {RECENT_EVENTS_KEY: kept.snapshot()}))
            if latest is not None:
                progress[job_id] = _progress(job.progress, first, latest)
        return points, cursors_out, progress, end

    # -- CloudWatch metrics ----------------------------------------------------------------------

    def _poll_metrics(self, jobs: Sequence[Job], now: float, rnd: MetricsRound) -> tuple | None:
        period = self.period
        end_s = math.floor((now - self.metric_settle) / period) * period
        cursors = {}
        for job in jobs:
            if job.metrics_cursor_ms is not None:
                cursors[job.id] = job.metrics_cursor_ms // 1000
            else:
                cursors[job.id] = math.floor(self._initial_ms(job) / 1000 / period) * period
        start_s = min(cursors.values())
        if end_s <= start_s:
            return None
        queries: list[dict[str, Any]] = []
        index: dict[str, tuple[Job, str]] = {}
        for job in jobs:
            for k, definition in enumerate(job.metric_definitions()):
                query_id = f"j{job.id}m{k}"
                index[query_id] = (job, definition["Name"])
                queries.append(
                    {
                        "Id": query_id,
                        "ReturnData": True,
                        "MetricStat": {
                            "Metric": {
                                "Namespace": NAMESPACE,
                                "MetricName": definition["Name"],
                                "Dimensions": [{"Name": "TrainingJobName", "Value": job.name}],
                            },
                            "Period": period,
                            "Stat": "Average",
                        },
                    }
                )
        found: dict[str, list[tuple[int, float]]] = defaultdict(list)
        if queries:
            client = self._client("cloudwatch")
            start = datetime.fromtimestamp(start_s, tz=UTC)
            end = datetime.fromtimestamp(end_s, tz=UTC)
            try:
                for offset in range(0, len(queries), MAX_QUERIES_PER_CALL):
                    kwargs: dict[str, Any] = {
                        "MetricDataQueries": queries[offset : offset + MAX_QUERIES_PER_CALL],
                        "StartTime": start,
                        "EndTime": end,
                        "ScanBy": "TimestampAscending",
                    }
                    while True:
                        page = client.get_metric_data(**kwargs)
                        rnd.calls += 1
                        for result in page.get("MetricDataResults", []):
                            for ts, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=False):
                                found[result["Id"]].append((_ms(ts), float(value)))
                        token = page.get("NextToken")
                        if not token:
                            break
                        kwargs["NextToken"] = token
            except Exception as exc:  # noqa: BLE001
                rnd.throttled |= is_throttling(exc)
                rnd.errors.append(f"cloudwatch: {type(exc).__name__}: {exc}")
                return None
        points: list[MetricPoint] = []
        for query_id, values in found.items():
            job, metric = index[query_id]
            since = cursors[job.id] * 1000
            fresh = sorted((ts, v) for ts, v in values if since <= ts < end_s * 1000 and math.isfinite(v))
            rnd.datapoints += len(fresh)
            known = self.store.metric_point_count(job.id, metric, METRICS) if fresh else 0
            for i, (ts, value) in enumerate(fresh):
                points.append(MetricPoint(job.id, metric, METRICS, ts, value, known + i + 1, EPOCH_LEVEL_STEP))
        return points, end_s * 1000

    def _finished_fetching(self, job: Job, updates: dict[str, Any]) -> bool:
        if job.status not in FINAL_STATUSES:
            return False
        end = job.end_time or job.last_modified or job.described_at
        if end is None:
            return False
        end_ms = _ms(end)
        logs_cursor = updates.get("logs_cursor_ms", job.logs_cursor_ms) or 0
        metrics_cursor = updates.get("metrics_cursor_ms", job.metrics_cursor_ms) or 0
        period_ms = self.period * 1000
        metrics_done = not job.metric_definitions() or metrics_cursor >= (end_ms // period_ms + 1) * period_ms
        return logs_cursor > end_ms + END_SLACK_MS and metrics_done


def _progress(previous: dict[str, Any] | None, first: StepPoint | None, latest: StepPoint) -> dict[str, Any]:
    progress = dict(previous or {})
    if first is not None and "first_at_ms" not in progress:
        progress["first_at_ms"] = first.timestamp_ms
        progress["first_fraction"] = first.fraction_done
        progress["first_epoch"], progress["first_step"] = first.epoch, first.step
    if latest.fraction_done >= progress.get("fraction", -1.0):
        progress.update(
            epoch=latest.epoch,
            total_epochs=latest.total_epochs,
            step=latest.step,
            steps_per_epoch=latest.steps_per_epoch,
            fraction=latest.fraction_done,
            at_ms=latest.timestamp_ms,
        )
    return progress


# -- reading curves back ------------------------------------------------------------------------


@dataclass(frozen=True)
class JobCurves:
    steps: tuple[int, ...]  # global step (0-based) of each step loss
    step_losses: tuple[float, ...]
    train_epoch_losses: tuple[float, ...]  # index i = epoch i + 1
    eval_epoch_losses: tuple[float, ...]

    @property
    def best_eval_epoch(self) -> int | None:
        finite = [(v, i) for i, v in enumerate(self.eval_epoch_losses) if math.isfinite(v)]
        return min(finite)[1] + 1 if finite else None

    def assessment(self, **thresholds: float) -> OverfitAssessment:
        return assess(self.train_epoch_losses, self.eval_epoch_losses, **thresholds)


def _by_epoch(points: Iterable[MetricPoint], kind: str) -> dict[int, float]:
    values: dict[int, float] = {}
    for source in (LOGS, METRICS):  # logs name the epoch; metrics fill what the logs miss
        for p in points:
            if p.source == source and p.epoch is not None and metric_kind(p.metric) == kind:
                values.setdefault(p.epoch, p.value)
    return values


def _contiguous(values: dict[int, float]) -> tuple[float, ...]:
    out = []
    epoch = 1
    while epoch in values:
        out.append(values[epoch])
        epoch += 1
    return tuple(out)


def job_curves(store: Store, job_id: int) -> JobCurves:
    steps = store.step_series(job_id, STEP_LOSS, LOGS)
    epoch_points = store.metric_points_except(job_id, STEP_LOSS)
    return JobCurves(
        steps=tuple(s for s, _ in steps),
        step_losses=tuple(v for _, v in steps),
        train_epoch_losses=_contiguous(_by_epoch(epoch_points, "train_loss")),
        eval_epoch_losses=_contiguous(_by_epoch(epoch_points, "eval_loss")),
    )


def job_eta_seconds(job: Job, now: float) -> float | None:
    """Training time left, from the job's progress (first and latest step lines)."""
    progress = job.progress or {}
    if job.is_final:
        return 0.0 if job.status == "Completed" else None
    try:
        spe, total = int(progress["steps_per_epoch"]), int(progress["total_epochs"])
        first = StepPoint(
            int(progress["first_epoch"]), int(progress["first_step"]), spe, total, 0.0, int(progress["first_at_ms"])
        )
        last = StepPoint(int(progress["epoch"]), int(progress["step"]), spe, total, 0.0, int(progress["at_ms"]))
    except (KeyError, TypeError, ValueError):
        return None
    return eta_seconds([first, last], _ms(now))
