"""An OpenAI-compatible chat-completions server on 127.0.0.1 for the demo and the tests.

Stdlib only: an HTTP/1.1 server with one thread per connection, run from a background thread.

    emu = LlmEmulator(); emu.start()
    client = OpenAI(base_url=emu.base_url, api_key="test")
    emu.configure(rpm=60, tpm=10_000); emu.faults.add("429", retry_after_ms=300)
    emu.stop()

Endpoints: POST /v1/chat/completions (plain, response_format json_schema / json_object, SSE
streaming with stream_options.include_usage, n, seed, stop, max_tokens / max_completion_tokens),
GET /v1/models and /v1/models/{id}. Control: POST/GET/DELETE /_control/faults,
POST /_control/reset, POST /_control/config, GET /_control/stats.

Rate limits are token buckets (OpenAI-style): capacity = limit * rate_window_s / 60, refilled
continuously at limit / 60 per second. A request is charged 1 request and (prompt estimate +
max_tokens) tokens up front; when max_tokens is absent the completion tokens are charged after.
A request that does not fit gets 429 (type "requests" or "tokens", code "rate_limit_exceeded")
with retry-after-ms / retry-after; it is not charged.
"""

from __future__ import annotations

import json
import math
import re
import socket
import struct
import threading
import time
import uuid
from dataclasses import asdict, dataclass, field, replace
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import TYPE_CHECKING, Any

from core.sandbox.llm import engine as llm_engine
from core.sandbox.llm.faults import (
    CONTENT_KINDS,
    SERVER_QUIRKS,
    SERVER_VARIANTS,
    TRANSPORT_KINDS,
    FaultInjector,
    FaultRule,
    hostile,
    malformed,
    truncated,
)

if TYPE_CHECKING:
    from collections.abc import Callable

DEFAULT_MODELS: tuple[str, ...] = (
    "gpt-4o-mini",
    "gpt-4o",
    "meta-llama/Llama-3.3-70B-Instruct",
    "meta-llama/Llama-3.2-90B-Vision-Instruct",
    "meta-llama/Llama-3.1-8B-Instruct",
)


def go_duration(seconds: float) -> str:
    """A duration as Go prints it (the x-ratelimit-reset-* format): "0s", "120ms", "1s", "6m0s", "1h2m3.5s"."""
    ms = max(0, math.ceil(seconds * 1000 - 1e-9))
    if ms == 0:
        return "0s"
    if ms < 1000:
        return f"{ms}ms"
    hours, rest = divmod(ms, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs = f"{rest / 1000:.3f}".rstrip("0").rstrip(".")
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    if minutes:
        return f"{minutes}m{secs}s"
    return f"{secs}s"


# --------------------------------------------------------------------------- rate limiting


class _Bucket:
    def __init__(self, limit_per_min: float, window_s: float, now: float) -> None:
        self.limit = limit_per_min
        self.capacity = max(1.0, limit_per_min * window_s / 60.0)
        self.rate = limit_per_min / 60.0
        self.level = self.capacity
        self.stamp = now

    def refill(self, now: float) -> None:
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now

    def wait_for(self, amount: float) -> float:
        if amount > self.capacity:
            return math.inf
        return max(0.0, (amount - self.level) / self.rate)

    def reset_s(self) -> float:
        return max(0.0, (self.capacity - self.level) / self.rate)


@dataclass(frozen=True)
class Admission:
    ok: bool
    kind: str | None = None  # "requests" | "tokens" when refused
    retry_after_s: float | None = None  # None: waiting will not help (request larger than the bucket)
    headers: dict[str, str] = field(default_factory=dict)
    message: str = ""


class RateLimiter:
    """RPM and TPM token buckets; None disables an axis."""

    def __init__(
        self, rpm: float | None, tpm: float | None, window_s: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        now = clock()
        self._requests = _Bucket(rpm, window_s, now) if rpm else None
        self._tokens = _Bucket(tpm, window_s, now) if tpm else None

    def _headers(self) -> dict[str, str]:
        headers: dict[str, str] = {}
        for name, bucket in (("requests", self._requests), ("tokens", self._tokens)):
            if bucket is not None:
                headers[f"x-ratelimit-limit-{name}"] = str(int(bucket.limit))
                headers[f"x-ratelimit-remaining-{name}"] = str(max(0, math.floor(bucket.level)))
                headers[f"x-ratelimit-reset-{name}"] = go_duration(bucket.reset_s())
        return headers

    def admit(self, tokens: int, model: str = "model") -> Admission:
        with self._lock:
            now = self._clock()
            for bucket in (self._requests, self._tokens):
                if bucket is not None:
                    bucket.refill(now)
            for name, bucket, amount in (("requests", self._requests, 1), ("tokens", self._tokens, tokens)):
                if bucket is None:
                    continue
                wait = bucket.wait_for(amount)
                if wait > 0:
                    unit = "requests per min (RPM)" if name == "requests" else "tokens per min (TPM)"
                    used = math.ceil(bucket.capacity - max(0.0, bucket.level))
                    if math.isinf(wait):
                        message = (
                            f"Request too large for {model} on {unit}: Limit {int(bucket.limit)}, "
                            f"Requested {amount}. The input or output tokens must be reduced in order to run "
                            "successfully."
                        )
                        return Admission(False, name, None, self._headers(), message)
                    message = (
                        f"Rate limit reached for {model} on {unit}: Limit {int(bucket.limit)}, Used {used}, "
                        f"Requested {amount}. Please try again in {go_duration(wait)}."
                    )
                    return Admission(False, name, wait, self._headers(), message)
            if self._requests is not None:
                self._requests.level -= 1
            if self._tokens is not None:
                self._tokens.level -= tokens
            return Admission(True, headers=self._headers())

    def charge_tokens(self, tokens: int) -> None:
        """Charge tokens known only after the reply (completion tokens when max_tokens was absent)."""
        if self._tokens is None or tokens <= 0:
            return
        with self._lock:
            self._tokens.refill(self._clock())
            self._tokens.level -= tokens

    def headers(self) -> dict[str, str]:
        with self._lock:
            now = self._clock()
            for bucket in (self._requests, self._tokens):
                if bucket is not None:
                    bucket.refill(now)
            return self._headers()


# --------------------------------------------------------------------------- config and stats


@dataclass(frozen=True)
class EmulatorConfig:
    rpm: float | None = None
    """Requests per minute; None = unlimited (and no x-ratelimit-*-requests headers)."""
    tpm: float | None = None
    """Tokens per minute; None = unlimited (and no x-ratelimit-*-tokens headers)."""
    rate_window_s: float = 60.0
    """Bucket size in seconds of the limit: 60 lets a whole minute's budget burst; 1 is Azure-like."""
    latency_ms: float = 2.0
    """Time to the first token."""
    ms_per_token: float = 0.0
    """Time per completion token (streams spread it across the chunks)."""
    stall_s: float = 10.0
    """How long a "stall" fault holds a request when the fault names no time."""
    models: tuple[str, ...] = DEFAULT_MODELS
    quirks: tuple[str, ...] = ()
    """What this server lacks (faults.SERVER_QUIRKS), to emulate vLLM, llama.cpp, Ollama and others."""


@dataclass(frozen=True)
class EmulatorStats:
    requests: int = 0
    """Chat-completion requests received."""
    served: int = 0
    """Answered with 200."""
    rate_limited: int = 0
    """429s from the RPM/TPM limiter."""
    status_429: int = 0
    """All 429s sent (limiter and faults)."""
    errors: int = 0
    """Other error replies sent (4xx/5xx); resets and stalls are counted in `faults`."""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    faults: dict[str, int] = field(default_factory=dict)
    """Faults fired, by kind."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _Unset:
    pass


_UNSET: Any = _Unset()


class _RequestError(Exception):
    def __init__(
        self,
        status: int,
        message: str,
        *,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.type, self.param, self.code = status, message, type_, param, code


# --------------------------------------------------------------------------- the emulator


class LlmEmulator:
    """OpenAI-compatible emulator on 127.0.0.1. `start()` / `stop()`; usable as a context manager."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        rpm: float | None = None,
        tpm: float | None = None,
        rate_window_s: float = 60.0,
        latency_ms: float = 2.0,
        ms_per_token: float = 0.0,
        stall_s: float = 10.0,
        models: tuple[str, ...] = DEFAULT_MODELS,
        variant: str = "openai",
    ) -> None:
        if variant not in SERVER_VARIANTS:
            raise ValueError(f"unknown server variant {variant!r}; expected one of {', '.join(SERVER_VARIANTS)}")
        self._host, self._port = host, port
        self._initial = EmulatorConfig(
            rpm=rpm,
            tpm=tpm,
            rate_window_s=rate_window_s,
            latency_ms=latency_ms,
            ms_per_token=ms_per_token,
            stall_s=stall_s,
            models=tuple(models),
            quirks=SERVER_VARIANTS[variant],
        )
        self._config = self._initial
        self._lock = threading.Lock()
        self._limiter = RateLimiter(rpm, tpm, rate_window_s)
        self.faults = FaultInjector()
        self._counts = EmulatorStats()
        self._log: list[dict[str, Any]] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    # -- lifecycle
    def start(self) -> LlmEmulator:
        if self._server is not None:
            return self
        self._stopping.clear()
        server = _Server((self._host, self._port), _Handler, self)
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"llm-emulator:{server.server_address[1]}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, close every connection and join every thread; the port is released."""
        server, thread = self._server, self._thread
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)
        server.join_workers(timeout=5)
        self._server = self._thread = None

    def __enter__(self) -> LlmEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("LLM emulator is not running")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        """http://127.0.0.1:PORT/v1, for OpenAI(base_url=...) and OPENAI_BASE_URL."""
        return f"http://{self._host}:{self.port}/v1"

    @property
    def control_url(self) -> str:
        return f"http://{self._host}:{self.port}/_control"

    # -- settings
    @property
    def config(self) -> EmulatorConfig:
        return self._config

    def configure(
        self,
        *,
        rpm: float | None = _UNSET,
        tpm: float | None = _UNSET,
        rate_window_s: float = _UNSET,
        latency_ms: float = _UNSET,
        ms_per_token: float = _UNSET,
        stall_s: float = _UNSET,
        models: tuple[str, ...] = _UNSET,
        quirks: tuple[str, ...] = _UNSET,
    ) -> EmulatorConfig:
        """Change settings; arguments left out keep their value, rpm/tpm None means unlimited.
        Changing rpm, tpm or rate_window_s starts the limiter afresh with full buckets."""
        changes: dict[str, Any] = {
            k: v
            for k, v in dict(
                rpm=rpm,
                tpm=tpm,
                rate_window_s=rate_window_s,
                latency_ms=latency_ms,
                ms_per_token=ms_per_token,
                stall_s=stall_s,
                models=models,
                quirks=quirks,
            ).items()
            if v is not _UNSET
        }
        unknown = sorted(set(changes.get("quirks") or ()) - set(SERVER_QUIRKS))
        if unknown:
            raise ValueError(f"unknown quirk(s) {', '.join(unknown)}; expected some of {', '.join(SERVER_QUIRKS)}")
        for key in ("rpm", "tpm"):
            if changes.get(key) is not None and float(changes[key]) <= 0:
                raise ValueError(f"{key} must be positive or None, got {changes[key]!r}")
        for key in ("rate_window_s", "latency_ms", "ms_per_token", "stall_s"):
            if key in changes and (
                changes[key] is None or float(changes[key]) < 0 or (key == "rate_window_s" and float(changes[key]) == 0)
            ):
                raise ValueError(f"{key} must be a positive number, got {changes[key]!r}")
        for key in ("models", "quirks"):
            if key in changes:
                changes[key] = tuple(changes[key])
        with self._lock:
            self._config = replace(self._config, **changes)
            if {"rpm", "tpm", "rate_window_s"} & set(changes):
                self._limiter = RateLimiter(self._config.rpm, self._config.tpm, self._config.rate_window_s)
            return self._config

    def reset(self) -> None:
        """Back to the state right after start(): settings from the constructor, full buckets, no faults,
        zero stats, empty request log, unseeded sampling rewound."""
        with self._lock:
            self._config = self._initial
            self._limiter = RateLimiter(self._initial.rpm, self._initial.tpm, self._initial.rate_window_s)
            self._counts = EmulatorStats()
            self._log.clear()
        self.faults.reset()
        llm_engine.reset_sampling()

    @property
    def stats(self) -> EmulatorStats:
        with self._lock:
            return replace(self._counts, faults=self.faults.fired)

    @property
    def request_log(self) -> list[dict[str, Any]]:
        """The last 200 chat-completion request bodies (plus "_retry_count" from x-stainless-retry-count)."""
        with self._lock:
            return [dict(entry) for entry in self._log]

    # -- internals used by the handler
    def _count(self, **deltas: int) -> None:
        with self._lock:
            self._counts = replace(self._counts, **{k: getattr(self._counts, k) + v for k, v in deltas.items()})

    def _record(self, body: dict[str, Any], retry_count: str | None) -> None:
        with self._lock:
            self._log.append({**body, "_retry_count": retry_count})
            del self._log[:-200]

    def _sleep(self, seconds: float) -> bool:
        """Sleep unless stopping; False when the emulator is stopping."""
        if seconds <= 0:
            return not self._stopping.is_set()
        return not self._stopping.wait(seconds)


# --------------------------------------------------------------------------- HTTP plumbing


class _Server(HTTPServer):
    allow_reuse_address = True
    daemon_threads = True

    def __init__(self, address: tuple[str, int], handler: type, emulator: LlmEmulator) -> None:
        self.emulator = emulator
        self._workers: dict[threading.Thread, socket.socket] = {}
        self._workers_lock = threading.Lock()
        super().__init__(address, handler)

    def process_request(self, request: socket.socket, client_address: Any) -> None:  # type: ignore[override]
        worker = threading.Thread(
            target=self._serve_connection, args=(request, client_address), name="llm-emulator-conn", daemon=True
        )
        with self._workers_lock:
            self._workers[worker] = request
        worker.start()

    def _serve_connection(self, request: socket.socket, client_address: Any) -> None:
        try:
            self.finish_request(request, client_address)
        except (ConnectionError, TimeoutError, OSError):
            pass
        except Exception:  # pragma: no cover - a bug in the handler must not kill the server
            self.handle_error(request, client_address)
        finally:
            self.shutdown_request(request)
            with self._workers_lock:
                self._workers.pop(threading.current_thread(), None)

    def close_connections(self) -> None:
        with self._workers_lock:
            sockets = list(self._workers.values())
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def join_workers(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with self._workers_lock:
            workers = list(self._workers)
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))


def _error_body(message: str, type_: str, *, param: str | None = None, code: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def _message_text(messages: list[dict[str, Any]]) -> str:
    parts = []
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts += [str(p.get("text", "")) for p in content if isinstance(p, dict)]
    return "\n".join(parts)


_STREAM_PIECE = re.compile(r"\s*\S+\s*|\s+")


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tunedeck-llm-emulator/1"
    sys_version = ""
    timeout = 120  # idle keep-alive connections close after this
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
        return

    def setup(self) -> None:
        super().setup()
        try:  # headers and body go out in separate writes; without this Nagle adds ~40 ms per reply
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass

    @property
    def emu(self) -> LlmEmulator:
        return self.server.emulator

    # -- responses
    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    def _send_error(
        self,
        status: int,
        message: str,
        type_: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self._send_json(
            status,
            _error_body(message, type_, param=param, code=code),
            {"x-request-id": f"req_{uuid.uuid4().hex}", **(headers or {})},
        )

    def _read_json(self) -> Any:
        length = self.headers.get("Content-Length")
        if length is None:
            raise _RequestError(411, "Content-Length is required.")
        try:
            raw = self.rfile.read(int(length)) if int(length) > 0 else b""
        except ValueError:
            raise _RequestError(400, "Bad Content-Length.") from None
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise _RequestError(
                400,
                "We could not parse the JSON body of your request. (HINT: This likely means you "
                "aren't using your HTTP library correctly.)",
            ) from None

    # -- routing
    def do_GET(self) -> None:  # noqa: N802
        self._route("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._route("POST")

    def do_DELETE(self) -> None:  # noqa: N802
        self._route("DELETE")

    def _route(self, method: str) -> None:
        path = self.path.split("?", 1)[0].rstrip("/")
        try:
            if path.startswith("/_control/"):
                self._control(method, path[len("/_control/") :])
                return
            quirks = self.emu.config.quirks
            if path.startswith("/v1/") and "no_auth" not in quirks and not self._authorised():
                self._send_error(
                    401,
                    "You didn't provide an API key. You need to provide your API key in an "
                    "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
                    "invalid_request_error",
                    code="invalid_api_key",
                )
                return
            if method == "POST" and path == "/v1/chat/completions":
                self._chat()
            elif method == "GET" and path.startswith("/v1/models") and "no_models" in quirks:
                self._send_error(404, f"File Not Found ({method} {path})", "not_found_error")
            elif method == "GET" and path == "/v1/models":
                self._send_json(200, {"object": "list", "data": [self._model_card(m) for m in self.emu.config.models]})
            elif method == "GET" and path.startswith("/v1/models/"):
                model = path[len("/v1/models/") :]
                if model in self.emu.config.models:
                    self._send_json(200, self._model_card(model))
                else:
                    self._send_error(
                        404,
                        f"The model '{model}' does not exist",
                        "invalid_request_error",
                        param="model",
                        code="model_not_found",
                    )
            else:
                self._send_error(404, f"Invalid URL ({method} {path})", "invalid_request_error")
        except _RequestError as exc:
            self.emu._count(errors=1)
            self._send_error(exc.status, exc.message, exc.type, param=exc.param, code=exc.code)

    def _authorised(self) -> bool:
        auth = self.headers.get("Authorization", "")
        return auth.lower().startswith("bearer ") and bool(auth[7:].strip())

    @staticmethod
    def _model_card(model: str) -> dict[str, Any]:
        return {"id": model, "object": "model", "created": 1700000000, "owned_by": "tunedeck-emulator"}

    # -- control API
    def _control(self, method: str, name: str) -> None:
        emu = self.emu
        if name == "faults" and method == "POST":
            try:
                rules = emu.faults.add_from_json(self._read_json())
            except ValueError as exc:
                raise _RequestError(400, str(exc)) from None
            self._send_json(200, {"scheduled": [r.to_dict() for r in rules], "pending": emu.faults.pending()})
        elif name == "faults" and method == "GET":
            self._send_json(200, {"pending": emu.faults.pending(), "fired": emu.faults.fired})
        elif name == "faults" and method == "DELETE":
            emu.faults.clear()
            self._send_json(200, {"pending": []})
        elif name == "reset" and method == "POST":
            self._read_json()
            emu.reset()
            self._send_json(200, {"ok": True})
        elif name == "config" and method == "POST":
            body = self._read_json()
            if not isinstance(body, dict):
                raise _RequestError(400, "config must be a JSON object")
            try:
                config = emu.configure(**body)
            except (TypeError, ValueError) as exc:
                raise _RequestError(400, str(exc)) from None
            self._send_json(200, asdict(config))
        elif name == "config" and method == "GET":
            self._send_json(200, asdict(emu.config))
        elif name == "stats" and method == "GET":
            self._send_json(200, emu.stats.to_dict())
        else:
            raise _RequestError(404, f"Unknown control endpoint ({method} /_control/{name})")

    # -- chat completions
    def _chat(self) -> None:
        emu = self.emu
        body = self._read_json()
        emu._count(requests=1)
        request = _parse_chat(body)
        emu._record(body, self.headers.get("x-stainless-retry-count"))
        _apply_quirks(emu.config.quirks, body, request)
        if request["json_schema"] in (None, {"type": "object"}):  # follow a schema given in the prompt, as models do
            request["json_schema"] = schema_in_prompt(request["messages"]) or request["json_schema"]
        prompt_text = _message_text(request["messages"])

        fault = emu.faults.pick(
            request["model"], prompt_text, kinds=TRANSPORT_KINDS, json_requested=request["json_schema"] is not None
        )
        if fault is not None and self._transport_fault(fault, request):
            return

        prompt_tokens = llm_engine.count_prompt_tokens(request["messages"])
        reserve = prompt_tokens + (request["max_tokens"] or 0)
        with emu._lock:
            limiter = emu._limiter
            config = emu._config
        admission = limiter.admit(reserve, request["model"])
        if not admission.ok:
            headers = dict(admission.headers)
            if admission.retry_after_s is not None:
                headers["retry-after-ms"] = str(max(1, math.ceil(admission.retry_after_s * 1000)))
                headers["retry-after"] = str(max(1, math.ceil(admission.retry_after_s)))
            emu._count(rate_limited=1, status_429=1)
            self._send_error(
                429, admission.message, admission.kind or "requests", code="rate_limit_exceeded", headers=headers
            )
            return

        content_fault = emu.faults.pick(
            request["model"], prompt_text, kinds=CONTENT_KINDS, json_requested=request["json_schema"] is not None
        )
        started = time.monotonic()
        choices = []
        for index in range(request["n"]):
            seed = request["seed"] + index if request["seed"] is not None else None
            text = llm_engine.reply(
                request["messages"],
                temperature=request["temperature"],
                top_p=request["top_p"],
                seed=seed,
                json_schema=request["json_schema"],
            )
            text, cut = llm_engine.truncate_to_tokens(text, request["max_tokens"])
            finish = "length" if cut else "stop"
            for stop in request["stop"]:
                if stop and stop in text:
                    text, finish = text[: text.index(stop)], "stop"
            if content_fault is not None:
                text, finish = _apply_content_fault(content_fault, text, finish, request)
            choices.append((text, finish))
        completion_tokens = sum(llm_engine.count_tokens(text) for text, _ in choices)
        if request["max_tokens"] is None:
            limiter.charge_tokens(completion_tokens)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
            "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
            "completion_tokens_details": {
                "reasoning_tokens": 0,
                "audio_tokens": 0,
                "accepted_prediction_tokens": 0,
                "rejected_prediction_tokens": 0,
            },
        }
        completion_id = f"chatcmpl-{uuid.uuid4().hex[:24]}"
        created = int(time.time())
        headers = {**limiter.headers(), "x-request-id": f"req_{uuid.uuid4().hex}", "openai-model": request["model"]}
        emu._count(served=1, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
        if request["stream"]:
            self._stream(completion_id, created, request, choices, usage, headers, config, started)
            return
        if not emu._sleep(config.latency_ms / 1000 + config.ms_per_token * completion_tokens / 1000):
            return
        headers["openai-processing-ms"] = str(int((time.monotonic() - started) * 1000))
        self._send_json(
            200,
            {
                "id": completion_id,
                "object": "chat.completion",
                "created": created,
                "model": request["model"],
                "system_fingerprint": "fp_tunedeck_emulator",
                "service_tier": "default",
                "choices": [
                    {
                        "index": i,
                        "message": {"role": "assistant", "content": text, "refusal": None, "annotations": []},
                        "logprobs": None,
                        "finish_reason": finish,
                    }
                    for i, (text, finish) in enumerate(choices)
                ],
                "usage": usage,
            },
            headers,
        )

    def _transport_fault(self, fault: FaultRule, request: dict[str, Any]) -> bool:
        """Act out a transport fault; True when the request is finished (False: a stall that ended)."""
        emu = self.emu
        kind = fault.kind
        with emu._lock:
            limiter, config = emu._limiter, emu._config
        if kind == "401":  # as a careless OpenAI-compatible proxy words it: the whole key, echoed
            emu._count(errors=1)
            key = self.headers.get("Authorization", "")[7:].strip()
            self._send_error(
                401,
                f"Incorrect API key provided: {key}. You can find your API key at "
                "https://platform.openai.com/account/api-keys.",
                "invalid_request_error",
                code="invalid_api_key",
            )
        elif kind == "429":
            wait_ms = max(1, fault.retry_after_ms)
            emu._count(status_429=1)
            self._send_error(
                429,
                f"Rate limit reached for {request['model']} on requests per min (RPM): "
                f"Please try again in {go_duration(wait_ms / 1000)}.",
                "requests",
                code="rate_limit_exceeded",
                headers={
                    **limiter.headers(),
                    "retry-after-ms": str(wait_ms),
                    "retry-after": str(max(1, math.ceil(wait_ms / 1000))),
                },
            )
        elif kind == "429_quota":
            emu._count(status_429=1)
            self._send_error(
                429,
                "You exceeded your current quota, please check your plan and billing details. "
                "For more information on this error, read the docs: "
                "https://platform.openai.com/docs/guides/error-codes/api-errors.",
                "insufficient_quota",
                code="insufficient_quota",
            )
        elif kind == "500":
            emu._count(errors=1)
            self._send_error(
                500, "The server had an error while processing your request. Sorry about that!", "server_error"
            )
        elif kind == "503":
            emu._count(errors=1)
            self._send_error(
                503,
                "The engine is currently overloaded, please try again later.",
                "server_error",
                code="service_unavailable",
            )
        elif kind == "reset":
            self.close_connection = True
            try:
                self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                self.connection.close()
            except OSError:
                pass
        elif kind == "stall":
            self.close_connection = True
            if not emu._sleep(fault.stall_s if fault.stall_s is not None else config.stall_s):
                return True
            return False
        return True

    def _stream(
        self,
        completion_id: str,
        created: int,
        request: dict[str, Any],
        choices: list[tuple[str, str]],
        usage: dict[str, Any],
        headers: dict[str, str],
        config: EmulatorConfig,
        started: float,
    ) -> None:
        emu = self.emu
        include_usage = request["include_usage"]
        if not emu._sleep(config.latency_ms / 1000):
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        headers["openai-processing-ms"] = str(int((time.monotonic() - started) * 1000))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()

        def chunk(choices_payload: list[dict[str, Any]], usage_payload: Any = None) -> dict[str, Any]:
            data = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": request["model"],
                "system_fingerprint": "fp_tunedeck_emulator",
                "service_tier": "default",
                "choices": choices_payload,
            }
            if include_usage:
                data["usage"] = usage_payload
            return data

        def send(event: dict[str, Any] | str) -> None:
            data = event if isinstance(event, str) else json.dumps(event, ensure_ascii=False)
            payload = f"data: {data}\n\n".encode()
            self.wfile.write(f"{len(payload):X}\r\n".encode("ascii") + payload + b"\r\n")
            self.wfile.flush()

        try:
            for index, (text, finish) in enumerate(choices):
                send(
                    chunk(
                        [
                            {
                                "index": index,
                                "delta": {"role": "assistant", "content": "", "refusal": None},
                                "logprobs": None,
                                "finish_reason": None,
                            }
                        ]
                    )
                )
                for piece in _STREAM_PIECE.findall(text):
                    if not emu._sleep(config.ms_per_token * llm_engine.count_tokens(piece) / 1000):
                        return
                    send(
                        chunk([{"index": index, "delta": {"content": piece}, "logprobs": None, "finish_reason": None}])
                    )
                send(chunk([{"index": index, "delta": {}, "logprobs": None, "finish_reason": finish}]))
            if include_usage:
                send(chunk([], usage))
            send("[DONE]")
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def _apply_content_fault(fault: FaultRule, text: str, finish: str, request: dict[str, Any]) -> tuple[str, str]:
    json_mode = request["json_schema"] is not None
    if fault.kind == "malformed_json":
        return malformed(text), finish
    if fault.kind == "truncated":
        return truncated(text, request["max_tokens"]), "length"
    if fault.kind == "hostile":
        return hostile(text, json_mode=json_mode), finish
    return text, finish


_SCHEMA_MARKER = "JSON Schema exactly:\n"


def schema_in_prompt(messages: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The JSON Schema a client spelled out in the prompt (core.llm.json_reply.schema_instruction), if any."""
    for message in messages:
        content = message.get("content")
        if isinstance(content, str) and _SCHEMA_MARKER in content:
            try:
                schema, _end = json.JSONDecoder().raw_decode(content.split(_SCHEMA_MARKER, 1)[1])
            except ValueError:
                return None
            return schema if isinstance(schema, dict) else None
    return None


def _apply_quirks(quirks: tuple[str, ...], body: dict[str, Any], request: dict[str, Any]) -> None:
    """Refuse or ignore what this server variant lacks, the way such servers answer."""
    if "no_max_completion_tokens" in quirks and "max_completion_tokens" in body:
        raise _RequestError(
            400, "Unrecognized request argument supplied: max_completion_tokens", param="max_completion_tokens"
        )
    kind = (body.get("response_format") or {}).get("type") if isinstance(body.get("response_format"), dict) else None
    if "no_response_format" in quirks and kind not in (None, "text"):
        raise _RequestError(400, "response_format is not supported by this server", param="response_format")
    if "no_json_schema" in quirks and kind == "json_schema":
        raise _RequestError(
            400, "response_format type 'json_schema' is not supported; use 'json_object'", param="response_format"
        )
    if "no_stream_usage" in quirks:
        request["include_usage"] = False
    if "no_seed" in quirks:
        request["seed"] = None


def _parse_chat(body: Any) -> dict[str, Any]:
    """Validate a chat-completions body the way OpenAI does (the parts the emulator uses)."""
    if not isinstance(body, dict):
        raise _RequestError(400, "The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _RequestError(400, "you must provide a model parameter", param="model")
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _RequestError(400, "[] is too short - 'messages'", param="messages")
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in (
            "system",
            "developer",
            "user",
            "assistant",
            "tool",
            "function",
        ):
            raise _RequestError(400, f"Invalid value for 'messages[{i}].role'.", param=f"messages[{i}].role")
    temperature = body.get("temperature", 1.0)
    top_p = body.get("top_p", 1.0)
    temperature = 1.0 if temperature is None else temperature
    top_p = 1.0 if top_p is None else top_p
    if not isinstance(temperature, (int, float)) or not 0 <= temperature <= 2:
        raise _RequestError(
            400,
            f"Invalid 'temperature': decimal above maximum value. Expected a value <= 2, but got {temperature} instead."
            if isinstance(temperature, (int, float)) and temperature > 2
            else f"Invalid 'temperature': {temperature!r}.",
            param="temperature",
            code="decimal_above_max_value" if isinstance(temperature, (int, float)) else None,
        )
    if not isinstance(top_p, (int, float)) or not 0 <= top_p <= 1:
        raise _RequestError(400, f"Invalid 'top_p': expected a value between 0 and 1, got {top_p!r}.", param="top_p")
    max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
    if max_tokens is not None and (not isinstance(max_tokens, int) or max_tokens < 1):
        raise _RequestError(
            400,
            f"Invalid 'max_tokens': integer below minimum value. Expected a value >= 1, but got "
            f"{max_tokens!r} instead.",
            param="max_tokens",
        )
    n = body.get("n", 1) or 1
    if not isinstance(n, int) or not 1 <= n <= 8:
        raise _RequestError(400, f"Invalid 'n': expected 1..8, got {n!r}.", param="n")
    seed = body.get("seed")
    if seed is not None and not isinstance(seed, int):
        raise _RequestError(400, f"Invalid 'seed': expected an integer, got {seed!r}.", param="seed")
    stop = body.get("stop")
    stops = [stop] if isinstance(stop, str) else [s for s in (stop or []) if isinstance(s, str)]
    json_schema = None
    response_format = body.get("response_format")
    if isinstance(response_format, dict):
        kind = response_format.get("type")
        if kind == "json_schema":
            spec = response_format.get("json_schema")
            if not isinstance(spec, dict) or not isinstance(spec.get("schema"), dict):
                raise _RequestError(
                    400,
                    "Missing required parameter: 'response_format.json_schema.schema'.",
                    param="response_format.json_schema.schema",
                    code="missing_required_parameter",
                )
            name = spec.get("name", "")
            if name and not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", str(name)):
                raise _RequestError(
                    400,
                    "Invalid 'response_format.json_schema.name': string does not match pattern.",
                    param="response_format.json_schema.name",
                )
            json_schema = spec["schema"]
        elif kind == "json_object":
            json_schema = {"type": "object"}
        elif kind not in (None, "text"):
            raise _RequestError(
                400,
                f"Invalid value: '{kind}'. Supported values are: 'json_object', 'json_schema', and 'text'.",
                param="response_format.type",
            )
    stream_options = body.get("stream_options") or {}
    return {
        "model": model,
        "messages": messages,
        "temperature": float(temperature),
        "top_p": float(top_p),
        "max_tokens": max_tokens,
        "n": n,
        "seed": seed,
        "stop": stops,
        "json_schema": json_schema,
        "stream": bool(body.get("stream")),
        "include_usage": bool(isinstance(stream_options, dict) and stream_options.get("include_usage")),
    }
