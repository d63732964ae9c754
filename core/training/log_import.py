"""Import a training log or metrics file the user downloaded, for runs tunedeck cannot poll.

Formats (detected from the content, see tests/data/logs/README.md for the documentation each follows):

* ``cloudwatch-text``: the log stream as text, one event per line, optionally led by its timestamp;
  also text pasted from the console or a terminal.
* ``cloudwatch-csv``: CSV with a timestamp and a message column (``timestamp``/``message`` or the
  Logs Insights names ``@timestamp``/``@message``).
* ``cloudwatch-json``: a JSON array (or JSON Lines) of events with a timestamp and a message.
* ``filter-log-events`` / ``get-log-events``: the JSON the AWS CLI prints for those commands
  (``{"events": [{"timestamp", "message", ...}], ...}``).
* ``metrics-csv``: the training-metrics export, one row per (timestamp, metric name, value), as the
  SageMaker SDK's TrainingJobAnalytics dataframe has them.

Log lines go through the parser API polling uses (core.training.log_parse.LogParser, one per log
stream, only the first host's streams) and become the same metric points; metrics rows become
points of source "metrics" numbered by epoch, as GetMetricData's do. All points are stored in one
transaction, after the whole file has been read: an unreadable file imports nothing and its error
names the line and what was expected.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from core.store.jobs import EPOCH_LEVEL_STEP, Job, MetricPoint
from core.training.log_parse import DEFAULT_METRIC_DEFINITIONS, EpochPoint, LogParser, Point, StepPoint, metric_kind
from core.training.metrics import LOGS, METRICS, STEP_LOSS, JobCurves, job_curves

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from pathlib import Path

    from core.store import Store
    from core.training.overfit import OverfitAssessment

MAX_BYTES = 64 * 1024 * 1024
EXPECTED_LOG_LINES = (
    "JumpStart training log lines, such as 'Training Epoch: 1/3, step 0/10 completed (loss: 1.23)' "
    "or 'train_epoch_loss=1.23'"
)
_TIMESTAMP_KEYS = ("timestamp", "@timestamp", "time")
_MESSAGE_KEYS = ("message", "@message")
_METRIC_KEYS = ("metric_name", "metric name", "metricname", "metric", "name")
_VALUE_KEYS = ("value",)
_LEADING_TIME = re.compile(
    r"^\s*(\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:[.,]\d+)?(?:Z|[+-]\d{2}:?\d{2})?|\d{13})(?:\s+|\t)(.*)$"
)


class LogImportError(ValueError):
    """The file cannot be read; nothing was imported."""

    def __init__(self, line: int, expected: str, fmt: str | None = None) -> None:
        self.line, self.expected, self.format = line, expected, fmt
        where = f" ({fmt})" if fmt else ""
        super().__init__(f"line {line}{where}: expected {expected}")


@dataclass(frozen=True)
class LogEvent:
    timestamp_ms: int
    message: str
    stream: str = ""
    line: int = 0


@dataclass(frozen=True)
class ParsedFile:
    format: str
    points: tuple[MetricPoint, ...]
    events: int  # log events (or metric rows) read


@dataclass(frozen=True)
class ImportResult:
    format: str
    events: int
    new_points: int
    step_points: int
    epoch_points: int
    curves: JobCurves
    assessment: OverfitAssessment


# -- timestamps --------------------------------------------------------------------------------


def _parse_timestamp(value: Any, base_ms: int) -> int | None:
    """Epoch milliseconds from epoch ms/s, ISO 8601 (UTC when no offset) or seconds since the start."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        number = float(value)
    else:
        text = str(value).strip()
        try:
            number = float(text)
        except ValueError:
            try:
                moment = datetime.fromisoformat(text.replace(",", ".").replace("Z", "+00:00"))
            except ValueError:
                return None
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            return int(round(moment.timestamp() * 1000))
    if not math.isfinite(number) or number < 0:
        return None
    if number >= 1e11:  # epoch milliseconds
        return int(number)
    if number >= 1e9:  # epoch seconds
        return int(round(number * 1000))
    return base_ms + int(round(number * 1000))  # seconds since the start (TrainingJobAnalytics)


def _field(row: dict[str, Any], keys: Sequence[str]) -> Any:
    lowered = {str(k).strip().lower(): v for k, v in row.items()}
    for key in keys:
        if key in lowered:
            return lowered[key]
    return None


# -- readers -----------------------------------------------------------------------------------


def _text_events(text: str, base_ms: int) -> list[LogEvent]:
    events = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        match = _LEADING_TIME.match(line)
        ts = _parse_timestamp(match.group(1), base_ms) if match else None
        if match and ts is not None:
            events.append(LogEvent(ts, match.group(2), line=number))
        else:
            events.append(LogEvent(base_ms + number, line, line=number))
    return events


def _line_of(text: str, offset: int) -> int:
    return text.count("\n", 0, offset) + 1


def _json_elements(text: str) -> tuple[str, list[tuple[int, Any]]]:
    """(format, [(line, element)]) of the events in a JSON document or JSON Lines."""
    decoder = json.JSONDecoder()
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        elements: list[tuple[int, Any]] = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    elements.append((number, json.loads(line)))
                except json.JSONDecodeError:
                    line_of_error = exc.lineno if not elements else number
                    raise LogImportError(line_of_error, f"valid JSON ({exc.msg})", "json") from None
        return "cloudwatch-json", elements
    if isinstance(document, dict) and isinstance(document.get("events"), list):
        fmt = (
            "get-log-events"
            if "nextForwardToken" in document or "nextBackwardToken" in document
            else "filter-log-events"
        )
        start = text.index("[", text.index('"events"'))
    elif isinstance(document, list):
        fmt, start = "cloudwatch-json", text.index("[")
    else:
        raise LogImportError(1, 'a JSON array of log events, or {"events": [...]} as the AWS CLI prints it', "json")
    elements = []
    position = start + 1
    while True:
        while position < len(text) and text[position] in " \t\r\n,":
            position += 1
        if position >= len(text) or text[position] == "]":
            return fmt, elements
        element, end = decoder.raw_decode(text, position)
        elements.append((_line_of(text, position), element))
        position = end


def _json_events(text: str, base_ms: int) -> tuple[str, list[LogEvent]]:
    fmt, elements = _json_elements(text)
    events = []
    for line, element in elements:
        if not isinstance(element, dict):
            raise LogImportError(line, 'a log event object with "timestamp" and "message"', fmt)
        message = _field(element, _MESSAGE_KEYS)
        ts = _parse_timestamp(_field(element, _TIMESTAMP_KEYS), base_ms)
        if not isinstance(message, str) or ts is None:
            raise LogImportError(line, 'a log event with a "timestamp" (epoch ms or ISO 8601) and a "message"', fmt)
        events.append(LogEvent(ts, message, str(element.get("logStreamName") or ""), line))
    return fmt, events


def _csv_rows(text: str) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    reader = csv.reader(io.StringIO(text))
    rows = []
    header: list[str] = []
    for record in reader:
        if not any(cell.strip() for cell in record):
            continue
        if not header:
            header = [cell.strip() for cell in record]
            continue
        rows.append((reader.line_num, dict(zip(header, record, strict=False))))
    return header, rows


def _csv_log_events(rows: list[tuple[int, dict[str, str]]], base_ms: int) -> list[LogEvent]:
    events = []
    for line, row in rows:
        ts = _parse_timestamp(_field(row, _TIMESTAMP_KEYS), base_ms)
        message = _field(row, _MESSAGE_KEYS)
        if ts is None or message is None:
            raise LogImportError(line, "a timestamp (epoch ms or ISO 8601) and a message", "cloudwatch-csv")
        events.append(LogEvent(ts, message, str(_field(row, ("logstreamname", "@logstream")) or ""), line))
    return events


def _metric_rows(job_id: int, rows: list[tuple[int, dict[str, str]]], base_ms: int) -> list[MetricPoint]:
    by_metric: dict[str, list[tuple[int, float]]] = defaultdict(list)
    for line, row in rows:
        ts = _parse_timestamp(_field(row, _TIMESTAMP_KEYS), base_ms)
        name = str(_field(row, _METRIC_KEYS) or "").strip()
        try:
            value = float(str(_field(row, _VALUE_KEYS)).strip())
        except ValueError:
            value = math.nan
        if ts is None or not name or not math.isfinite(value):
            raise LogImportError(line, "a timestamp, a metric name and a numeric value", "metrics-csv")
        if metric_kind(name) is not None:
            by_metric[name].append((ts, value))
    points = []
    for name, values in by_metric.items():
        for epoch, (ts, value) in enumerate(sorted(values), 1):
            points.append(MetricPoint(job_id, name, METRICS, ts, value, epoch, EPOCH_LEVEL_STEP))
    return points


# -- turning log events into points -------------------------------------------------------------


def _primary_stream(stream: str) -> bool:
    """Only the first host's stream, as API polling reads (with FSDP the script prints on algo-1)."""
    _, _, host = stream.partition("/")
    return not host.startswith("algo-") or host.startswith("algo-1-") or host == "algo-1"


def metric_points_from_log(job_id: int, points: Iterable[Point]) -> list[MetricPoint]:
    """Parsed log points as API polling stores them: step losses by global step, epoch metrics by epoch."""
    out = []
    for point in points:
        if isinstance(point, StepPoint):
            out.append(
                MetricPoint(job_id, STEP_LOSS, LOGS, point.timestamp_ms, point.loss, point.epoch, point.global_step)
            )
        elif isinstance(point, EpochPoint):
            out.append(
                MetricPoint(
                    job_id, point.metric_name, LOGS, point.timestamp_ms, point.value, point.epoch, EPOCH_LEVEL_STEP
                )
            )
    return out


def _log_points(job: Job, events: list[LogEvent]) -> list[MetricPoint]:
    by_stream: dict[str, list[LogEvent]] = defaultdict(list)
    for event in events:
        if _primary_stream(event.stream):
            by_stream[event.stream].append(event)
    points: list[MetricPoint] = []
    for stream_events in by_stream.values():
        parser = LogParser(job.metric_definitions() or DEFAULT_METRIC_DEFINITIONS)
        stream_events.sort(key=lambda e: (e.timestamp_ms, e.line))
        for event in stream_events:
            points += metric_points_from_log(job.id, parser.feed(event.message, event.timestamp_ms))
    return points


# -- entry points --------------------------------------------------------------------------------


def detect_format(text: str) -> str:
    head = text.lstrip("\ufeff \t\r\n")
    if head.startswith(("{", "[")):
        return "json"
    first = head.splitlines()[0] if head else ""
    names = {cell.strip().lower() for cell in next(csv.reader([first]), [])} if "," in first else set()
    if names & set(_METRIC_KEYS) and names & set(_VALUE_KEYS) and names & set(_TIMESTAMP_KEYS):
        return "metrics-csv"
    if names & set(_MESSAGE_KEYS) and names & set(_TIMESTAMP_KEYS):
        return "cloudwatch-csv"
    return "cloudwatch-text"


def parse_log_file(text: str, job: Job, base_ms: int) -> ParsedFile:
    """Read a whole file into points for `job` (``base_ms``: the time given to lines without one).
    Raises LogImportError."""
    text = text.lstrip("\ufeff")
    fmt = detect_format(text)
    if fmt == "json":
        fmt, events = _json_events(text, base_ms)
        points = _log_points(job, events)
        count = len(events)
    elif fmt == "metrics-csv":
        _, rows = _csv_rows(text)
        points = _metric_rows(job.id, rows, base_ms)
        count = len(rows)
        if not points:
            raise LogImportError(2, "rows of the train-loss or eval-loss metric", fmt)
    else:
        events = (
            _csv_log_events(_csv_rows(text)[1], base_ms) if fmt == "cloudwatch-csv" else _text_events(text, base_ms)
        )
        points = _log_points(job, events)
        count = len(events)
    if not points:
        first = min((e.line for e in events), default=1) if fmt != "metrics-csv" else 1
        raise LogImportError(first, EXPECTED_LOG_LINES, fmt)
    return ParsedFile(fmt, tuple(points), count)


def import_log(store: Store, job_name: str, *, path: Path | None = None, text: str | None = None) -> ImportResult:
    """Import a downloaded file (`path`) or pasted text (`text`) into a run's curves.

    Blocking (file I/O and one store transaction): call from a worker. Refused for an API job that
    is still being polled (its curves arrive by themselves). Raises LogImportError or ValueError.
    """
    job = store.job(job_name)
    if job is None:
        raise ValueError(f"no run named {job_name!r} in this session")
    if job.arn is not None and not job.monitor_done:
        raise ValueError(f"{job_name} is being polled from AWS; its curves arrive without an import")
    if (path is None) == (text is None):
        raise ValueError("give a file or pasted text, not both")
    if path is not None:
        text = _read(path)
    assert text is not None
    base_ms = int(round((job.start_time or job.launched_at or job.created_at) * 1000))
    parsed = parse_log_file(text, job, base_ms)
    new = store.add_metric_points(parsed.points)
    curves = job_curves(store, job.id)
    return ImportResult(
        format=parsed.format,
        events=parsed.events,
        new_points=new,
        step_points=sum(1 for p in parsed.points if p.metric == STEP_LOSS),
        epoch_points=sum(1 for p in parsed.points if p.metric != STEP_LOSS),
        curves=curves,
        assessment=curves.assessment(),
    )


def _read(path: Path) -> str:
    try:
        if path.stat().st_size > MAX_BYTES:
            raise ValueError(f"{path}: larger than {MAX_BYTES // (1024 * 1024)} MiB")
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ValueError(f"{path}: cannot read ({exc.strerror})") from None
