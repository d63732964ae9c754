"""Adaptive limiter for one LLM endpoint profile: shared by every worker that calls it.

What it enforces, before each request is dispatched:
- concurrency: an AIMD cap on requests in flight (starts at `max_concurrency`, halves on a 429
  once per congestion episode, +1 after a run of successes, never below 1);
- RPM and TPM budgets over a sliding 60 s window (each request is charged 1 request and its
  estimate `prompt_est + max_tokens`; the token charge is corrected to the real usage when the
  response arrives), so no 60 s window ever holds more than the limit. A server that reports its
  limit (`x-ratelimit-limit-*`) counts a bucket that refills continuously; from its first such
  reply that axis is budgeted as that bucket, which allows everything the window does and more;
- a request bucket that spreads dispatch over the minute (`burst_s` worth of requests at most),
  unless the server reports a larger bucket of its own (`x-ratelimit-limit-requests` with the
  remaining and reset figures, as OpenAI and the emulator send): then it holds as many seconds'
  worth as the server's (at most the window's), never more than the server says is left, and
  still refills at the profile's RPM;
- a global pause: `retry-after-ms` / `retry-after` on a 429 (or any retryable reply) stops *all*
  dispatch until that time;
- the server's view: `x-ratelimit-remaining-{requests,tokens}` with `x-ratelimit-reset-*` lowers
  the local budget when the server says less is left (less what we sent after the request the
  figures describe), until the reset; fresher figures replace older ones. This also covers
  servers that keep charging `max_tokens` where we refunded down to the real usage.

Across processes (`share_through`): a headless run and the TUI on one session split the RPM and
TPM budgets through the session store (core.store.rate_leases). Every few seconds while it
dispatches, each process's limiter renews its lease and takes `split()` of the budget: an equal
part, less what the others still hold in the window; a newcomer waits until the others have made
room. A limiter that has gone idle for a moment gives back what it did not use (its lease then
holds only its requests still in the window, until they leave it). Nothing is written per request
in a busy run: one renewal per few seconds, one settle per idle moment.

Retries (`run()` or `backoff()`): no retry for errors whose `retryable` is false (400, 401, 403,
404, 429 `insufficient_quota` ...); jittered exponential backoff for the rest up to `max_attempts`.

Typical use, thousands of times concurrently:

    result = await limiter.run(lambda slot: call(slot), estimate_tokens=est)

where `call` does the request and reports `slot.record(usage_tokens, headers)`. For streams use
`async with limiter.slot(est) as slot:` and `await limiter.backoff(exc, attempt)` yourself.
"""

from __future__ import annotations

import asyncio
import bisect
import concurrent.futures
import email.utils
import math
import random
import re
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from core.llm.errors import FatalLLMError, LLMError, RateLimited, as_llm_error, lower_headers

T = TypeVar("T")

_GO_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")
_GO_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_go_duration(text: str | None) -> float | None:
    """Seconds in a Go duration ("1s", "6m0s", "120ms", "1h2m3.5s"); a bare number is seconds.

    Returns None for anything it cannot read (the headers are optional and sometimes odd).
    """
    if text is None:
        return None
    value = text.strip()
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    position, total = 0, 0.0
    for match in _GO_DURATION_PART.finditer(value):
        if match.start() != position:
            return None
        total += float(match.group(1)) * _GO_UNITS[match.group(2)]
        position = match.end()
    return total if position == len(value) and position > 0 else None


def parse_retry_after(headers: Mapping[str, str] | None, *, now_wall: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from `retry-after-ms`, else `retry-after` (seconds or an HTTP date)."""
    h = lower_headers(headers)
    raw_ms = h.get("retry-after-ms")
    if raw_ms is not None:
        try:
            ms = float(raw_ms)
            if math.isfinite(ms) and ms >= 0:
                return ms / 1000.0
        except ValueError:
            pass
    raw = h.get("retry-after")
    if raw is None:
        return None
    try:
        seconds = float(raw)
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None:
        return None
    return max(0.0, when.timestamp() - now_wall())


def server_figures(headers: Mapping[str, str], kind: str) -> tuple[float, float, float | None] | None:
    """(remaining, reset seconds, limit or None) from a reply's `x-ratelimit-*-{kind}` headers
    ("requests" or "tokens"); None without a readable remaining and reset."""
    reset_s = parse_go_duration(headers.get(f"x-ratelimit-reset-{kind}"))
    try:
        remaining = float(headers.get(f"x-ratelimit-remaining-{kind}", ""))
    except ValueError:
        return None
    if reset_s is None or not math.isfinite(remaining):
        return None
    try:
        limit: float | None = float(headers.get(f"x-ratelimit-limit-{kind}", ""))
    except ValueError:
        limit = None
    if limit is not None and not (math.isfinite(limit) and limit > 0):
        limit = None
    return max(0.0, remaining), reset_s, limit


@dataclass
class LimiterConfig:
    rpm: float | None = None  # requests per minute; None = no request budget
    tpm: float | None = None  # tokens per minute; None = no token budget
    max_concurrency: int = 16
    grow_after: int | None = None  # successes in a row before +1; None = the current limit
    burst_s: float = 1.0  # request bucket holds this many seconds' worth of RPM
    window_s: float = 60.0
    max_attempts: int = 6
    backoff_base_s: float = 0.5
    backoff_max_s: float = 30.0
    max_pause_s: float = 120.0  # a server asking for a longer wait stops the run

    def __post_init__(self) -> None:
        if self.max_concurrency < 1:
            raise ValueError("max_concurrency must be at least 1")
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        for name in ("rpm", "tpm"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise ValueError(f"{name} must be greater than 0 or None")


@dataclass(frozen=True)
class LimiterStats:
    """A snapshot for a progress bar."""

    name: str
    in_flight: int
    waiting: int
    concurrency_limit: int
    max_concurrency: int
    paused_until: float  # on the limiter's clock; 0 when never paused
    pause_remaining_s: float
    rate_limited: int  # 429s seen
    retries: int
    succeeded: int  # attempts that returned normally
    failed: int  # attempts that raised
    requests_in_window: float
    tokens_in_window: float
    share: float = 1.0  # the part of the RPM/TPM budget this process allows itself (1.0 alone)
    sharing_with: int = 0  # other processes on the same session and account


class ShareSource(Protocol):
    """Where the processes sharing one budget meet (core.llm.targets.StoreShare: the session store)."""

    def beat(
        self, used: float, share_for: Callable[[list[tuple[float, float]]], float], ttl_s: float | None = None
    ) -> tuple[float, int]:
        """Report the part of the budget used in the window and take the share `share_for` gives
        from the others' (used, share), for `ttl_s` (None: the source's own); returns (share, live holders)."""
        ...

    def release(self) -> None: ...


_lease_writer: concurrent.futures.ThreadPoolExecutor | None = None
_lease_writer_lock = threading.Lock()


def _lease_thread() -> concurrent.futures.ThreadPoolExecutor:
    """One thread writes every lease of the process, so a settle and the renewal after it land in order."""
    global _lease_writer
    with _lease_writer_lock:
        if _lease_writer is None:
            _lease_writer = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="rate-lease")
        return _lease_writer


class _Entry:
    __slots__ = ("expires_at", "amount", "charged", "order", "live")

    def __init__(self, expires_at: float, amount: float, order: int) -> None:
        self.expires_at = expires_at
        self.amount = amount
        self.charged = amount  # what the server was sent as an estimate; kept after corrections
        self.order = order  # dispatch order of the request it charges
        self.live = True


class _WindowBudget:
    """At most `limit` units charged in any `window_s` seconds; charges can be corrected later.

    Once `refills` is set (the server reported its limit: it counts a bucket that refills as it
    goes, as OpenAI and the emulator do), the same entries track the bucket's debt instead: each
    charge is paid back at limit/window_s per second after the ones before it, so `used` is never
    less than what the server's bucket is still missing. After a burst the budget then comes back
    at the server's pace, not all at once a window later."""

    def __init__(self, limit: float, window_s: float) -> None:
        self.limit = float(limit)
        self.window_s = window_s
        self.refills = False
        self._paid_back_at = 0.0  # refills: when the newest charge will have been paid back
        self._entries: list[_Entry] = []  # sorted by expires_at
        self.used = 0.0
        self._held_back: list[_Entry] = []  # from the freshest server figures
        self._held_as_of = -1

    def _expire(self, now: float) -> None:
        cut = bisect.bisect_right(self._entries, now, key=lambda e: e.expires_at)
        if cut:
            for entry in self._entries[:cut]:
                self.used -= entry.amount
                entry.live = False
            del self._entries[:cut]
            if not self._entries:
                self.used = 0.0  # shed float drift

    def in_window(self, now: float) -> float:
        self._expire(now)
        return self.used

    def wait_time(self, now: float, amount: float) -> float:
        self._expire(now)
        amount = min(amount, self.limit)  # larger than the whole budget: goes alone when empty
        excess = self.used + amount - self.limit
        if excess <= 1e-9:
            return 0.0
        freed = 0.0
        for entry in self._entries:
            freed += entry.amount
            if freed >= excess - 1e-9:
                return max(0.0, entry.expires_at - now)
        return self.window_s

    def _insert(self, entry: _Entry) -> None:
        bisect.insort_right(self._entries, entry, key=lambda e: e.expires_at)
        self.used += entry.amount

    def start_refilling(self, now: float) -> None:
        """Budget as the server's bucket from now on. What was charged before is debt too: it is
        paid back first, in the order it was sent (left to expire a window later, it would come
        free all at once while the server had long counted it)."""
        if self.refills:
            return
        self.refills = True
        self._expire(now)
        paid_back_at = now
        for entry in sorted(self._entries, key=lambda e: e.order):
            paid_back_at += entry.amount * self.window_s / self.limit if self.limit > 0 else 0.0
            entry.expires_at = paid_back_at
        self._entries.sort(key=lambda e: e.expires_at)
        self._paid_back_at = paid_back_at

    def charge(self, now: float, amount: float, order: int) -> _Entry:
        if self.refills and self.limit > 0:
            self._paid_back_at = max(now, self._paid_back_at) + amount * self.window_s / self.limit
            entry = _Entry(self._paid_back_at, float(amount), order)
        else:
            entry = _Entry(now + self.window_s, float(amount), order)
        self._insert(entry)
        return entry

    def correct(self, entry: _Entry, amount: float) -> None:
        if entry.live:
            self.used += amount - entry.amount
            entry.amount = float(amount)

    HELD_BACK_SLICES = 8

    def cap_remaining(
        self, now: float, remaining: float, reset_s: float, as_of: int, refill_per_s: float | None = None
    ) -> None:
        """The server said only `remaining` was left when it admitted our request number `as_of`,
        and that its budget is whole again `reset_s` from now: hold back the difference. Requests
        sent after that one are not in the server's figure yet, so they come off it too.

        A server's budget refills as it goes (a token bucket), so what is held back comes free in
        slices over the time the server takes to refill it: `refill_per_s` when the server said its
        limit, else spread over `reset_s`. Held back whole until the reset, a run that had drained the
        server's bucket would sit idle for up to a minute while the server was admitting again."""
        if as_of < self._held_as_of:
            return  # older news than what we already applied
        self._held_as_of = as_of
        self._expire(now)
        for old in self._held_back:  # superseded by fresher figures
            if old.live:
                self._entries.remove(old)
                self.used -= old.amount
                old.live = False
        self._held_back = []
        sent_since = sum(e.charged for e in self._entries if e.order > as_of)
        remaining_now = max(0.0, remaining - sent_since)
        available = self.limit - self.used
        deficit = available - remaining_now
        if deficit <= 1e-9:
            return
        refill_s = reset_s if not refill_per_s else min(reset_s, deficit / refill_per_s)
        slices = self.HELD_BACK_SLICES
        for index in range(1, slices + 1):
            held_back = _Entry(now + refill_s * index / slices, deficit / slices, as_of)
            held_back.charged = 0.0  # not a request the server saw
            self._insert(held_back)
            self._held_back.append(held_back)


class _RequestBucket:
    """Token bucket of requests: refills at rpm/60 per second, holds `burst_s` seconds' worth."""

    def __init__(self, rpm: float, burst_s: float, now: float) -> None:
        self.rate = rpm / 60.0
        self.capacity = max(1.0, self.rate * burst_s)
        self.level = self.capacity
        self.stamp = now

    def _refill(self, now: float) -> None:
        if now > self.stamp:
            self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
            self.stamp = now

    def wait_time(self, now: float) -> float:
        self._refill(now)
        return 0.0 if self.level >= 1.0 - 1e-9 else (1.0 - self.level) / self.rate

    def set_rate(self, rpm: float, burst_s: float, now: float) -> None:
        self._refill(now)
        self.rate = rpm / 60.0
        self.capacity = max(1.0, self.rate * burst_s)
        self.level = min(self.level, self.capacity)

    def take(self, now: float) -> None:
        self._refill(now)
        self.level -= 1.0

    def widen(self, burst_s: float, now: float) -> None:
        """Hold `burst_s` seconds' worth from now on; the room added is there at once, as if the
        bucket had been that size all along (the server's bucket says it was)."""
        self._refill(now)
        capacity = max(1.0, self.rate * burst_s)
        if capacity > self.capacity:
            self.level += capacity - self.capacity
            self.capacity = capacity

    def lower_to(self, level: float, now: float) -> None:
        self._refill(now)
        self.level = min(self.level, level)


class Slot:
    """One dispatched attempt. Call `record()` with the real usage and the response headers."""

    __slots__ = (
        "estimate_tokens",
        "dispatched_at",
        "order",
        "epoch",
        "_limiter",
        "_request_entry",
        "_token_entry",
        "usage_tokens",
        "headers",
    )

    def __init__(self, limiter: AdaptiveLimiter, estimate_tokens: int, now: float, order: int, epoch: int) -> None:
        self._limiter = limiter
        self.estimate_tokens = estimate_tokens
        self.dispatched_at = now
        self.order = order
        self.epoch = epoch
        self._request_entry: _Entry | None = None
        self._token_entry: _Entry | None = None
        self.usage_tokens: int | None = None
        self.headers: dict[str, str] = {}

    def record(self, usage_tokens: int | None = None, headers: Mapping[str, str] | None = None) -> None:
        """Correct the token charge from real usage and resync from rate-limit headers."""
        if usage_tokens is not None:
            self.usage_tokens = int(usage_tokens)
        if headers:
            self.headers = lower_headers(headers)
        self._limiter._on_record(self)


_ClockFn = Callable[[], float]
_SleepFn = Callable[[float], Awaitable[object]]


class AdaptiveLimiter:
    """One per endpoint profile; see the module docstring."""

    def __init__(
        self,
        config: LimiterConfig | None = None,
        *,
        name: str = "",
        clock: _ClockFn = time.monotonic,
        sleep: _SleepFn = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        wall_clock: _ClockFn = time.time,
    ) -> None:
        self.config = config or LimiterConfig()
        self.name = name
        self._clock = clock
        self._sleep = sleep
        self._rng = rng
        self._wall = wall_clock
        cfg = self.config
        now = clock()
        self._requests = _WindowBudget(cfg.rpm, cfg.window_s) if cfg.rpm else None
        self._tokens = _WindowBudget(cfg.tpm, cfg.window_s) if cfg.tpm else None
        self._bucket = _RequestBucket(cfg.rpm, cfg.burst_s, now) if cfg.rpm else None
        self._burst_s = cfg.burst_s  # widened to the server's bucket when it reports one
        self._burst_as_of = -1
        self._limit = cfg.max_concurrency
        self._in_flight = 0
        self._dispatched = 0
        self._waiting = 0
        self._streak = 0
        self._epoch = 0
        self._paused_until = 0.0
        self._consecutive_429 = 0
        self._counts = {"rate_limited": 0, "retries": 0, "succeeded": 0, "failed": 0}
        self._gate: asyncio.Lock | None = None
        self._changed: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._share_source: ShareSource | None = None
        self._share = 1.0
        self._share_holders = 1
        self._share_refresh_s = 3.0
        self._share_next = -math.inf
        self._share_lock = threading.Lock()  # between the loop and the settle, which runs in the lease thread
        self._renewals = 0
        self.settle_after_s = 1.0  # idle this long: give back the unused part of the share

    @classmethod
    def unlimited(cls, *, max_concurrency: int = 64, **kwargs: Any) -> AdaptiveLimiter:
        return cls(LimiterConfig(max_concurrency=max_concurrency), **kwargs)

    # ---- observation -------------------------------------------------------------------------

    def stats(self) -> LimiterStats:
        now = self._clock()
        return LimiterStats(
            name=self.name,
            in_flight=self._in_flight,
            waiting=self._waiting,
            concurrency_limit=self._limit,
            max_concurrency=self.config.max_concurrency,
            paused_until=self._paused_until,
            pause_remaining_s=max(0.0, self._paused_until - now),
            rate_limited=self._counts["rate_limited"],
            retries=self._counts["retries"],
            succeeded=self._counts["succeeded"],
            failed=self._counts["failed"],
            requests_in_window=self._requests.in_window(now) if self._requests else 0.0,
            tokens_in_window=self._tokens.in_window(now) if self._tokens else 0.0,
            share=self._share,
            sharing_with=self._share_holders - 1,
        )

    @property
    def concurrency_limit(self) -> int:
        return self._limit

    # ---- sharing the budget with other processes ----------------------------------------------

    @property
    def share_source(self) -> ShareSource | None:
        return self._share_source

    def share_through(self, source: ShareSource | None, *, refresh_s: float = 3.0, release: bool = True) -> None:
        """Split the RPM/TPM budget with the other holders of `source` (None: this process alone).
        The share is renewed before a dispatch once `refresh_s` has passed since the last renewal.
        The lease of the source it had is given back unless `release` is false."""
        old = self._share_source
        if release and old is not None and old is not source:
            try:
                old.release()
            except Exception:  # a closed session: its lease expires by itself
                pass
        self._share_source = source
        self._share_refresh_s = refresh_s
        self._share_next = -math.inf
        self._share_holders = 1
        if source is None:
            self._apply_share(1.0, self._clock())

    @staticmethod
    def split(others: list[tuple[float, float]]) -> float:
        """This holder's part of the budget, given the others' (used, share): an equal part, but
        never more than what the others leave, each counted at the larger of what it used in the
        window and what it allows itself (it may dispatch up to that before it renews)."""
        reserved = sum(max(used, share) for used, share in others)
        return max(0.0, min(1.0 / (len(others) + 1), 1.0 - reserved))

    def _used_fraction(self, now: float) -> float:
        parts = []
        if self._requests and self.config.rpm:
            parts.append(self._requests.in_window(now) / self.config.rpm)
        if self._tokens and self.config.tpm:
            parts.append(self._tokens.in_window(now) / self.config.tpm)
        return min(1.0, max(parts, default=0.0))

    async def _renew_share(self, source: ShareSource) -> None:
        now = self._clock()
        try:
            renewal = _lease_thread().submit(source.beat, self._used_fraction(now), self.split)
            share, holders = await asyncio.wrap_future(renewal)
        except Exception:  # the store is busy or closed: keep the last share, try again later
            share, holders = self._share, self._share_holders
        self._share_holders = holders
        now = self._clock()
        self._apply_share(share, now)
        self._share_next = now + self._share_refresh_s

    def _apply_share(self, share: float, now: float) -> None:
        cfg = self.config
        self._share = share
        if self._requests and cfg.rpm:
            self._requests.limit = cfg.rpm * share
        if self._tokens and cfg.tpm:
            self._tokens.limit = cfg.tpm * share
        if self._bucket and cfg.rpm and share > 0:
            self._bucket.set_rate(cfg.rpm * share, self._burst_s, now)

    def _settle_soon(self) -> None:
        """Idle now: unless a request comes within `settle_after_s`, report what is still in the
        window as all this process holds, until it leaves the window; it renews before it dispatches again."""
        seen = (self._dispatched, self._renewals)

        def settle() -> None:
            _lease_thread().submit(self._settle, seen)

        timer = threading.Timer(self.settle_after_s, settle)
        timer.daemon = True
        timer.start()

    def _settle(self, seen: tuple[int, int]) -> None:  # in the lease thread
        source = self._share_source
        with self._share_lock:
            if source is None or seen != (self._dispatched, self._renewals) or self._in_flight or self._waiting:
                return
            now = self._clock()
            used = self._used_fraction(now)
            if self._share <= used + 1e-9:
                return  # nothing unused to give back
            left = [b._entries[-1].expires_at - now for b in (self._requests, self._tokens) if b and b._entries]
            self._share_next = -math.inf  # the next dispatch renews first
        try:
            if used <= 0 or not left:
                source.release()
            else:
                source.beat(used, lambda _others: used, max(left) + 0.5)
        except Exception:  # the store is busy or closed: the lease runs out by itself
            pass

    def _starved(self) -> bool:
        """Shared, and this process's part is less than one request (or no tokens) for now."""
        if self._share_source is None:
            return False
        if self._share <= 0:
            return True
        return bool(self._requests and self._requests.limit < 1.0)

    def pause_until(self, when: float) -> None:
        """Stop all dispatch until `when` (the limiter's clock)."""
        if when > self._paused_until:
            self._paused_until = when
            self._notify()

    # ---- dispatch ----------------------------------------------------------------------------

    def _primitives(self) -> tuple[asyncio.Lock, asyncio.Event]:
        # A limiter outlives event loops (the TUI runs each background job on its own loop), and
        # asyncio primitives belong to one loop: make fresh ones when the loop changes.
        loop = asyncio.get_running_loop()
        if self._gate is None or self._changed is None or self._loop is not loop:
            self._loop = loop
            self._gate = asyncio.Lock()
            self._changed = asyncio.Event()
        return self._gate, self._changed

    def _notify(self) -> None:
        if self._changed is not None:
            self._changed.set()

    def _dispatch_delay(self, now: float, estimate: int) -> float:
        if self._in_flight >= self._limit:
            return math.inf
        if self._starved():
            return max(1e-3, self._share_next - now, self._paused_until - now)
        delay = self._paused_until - now
        if self._requests:
            delay = max(delay, self._requests.wait_time(now, 1))
        if self._bucket:
            delay = max(delay, self._bucket.wait_time(now))
        if self._tokens:
            delay = max(delay, self._tokens.wait_time(now, estimate))
        return max(0.0, delay)

    async def _wait_for_change(self, changed: asyncio.Event, delay: float) -> None:
        if delay == math.inf:
            await changed.wait()
            return
        sleeper = asyncio.ensure_future(self._sleep(delay))
        waiter = asyncio.ensure_future(changed.wait())
        try:
            await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waiter.cancel()

    async def acquire(self, estimate_tokens: int = 0) -> Slot:
        """Wait (first come, first served) until the request may go, then charge it."""
        gate, changed = self._primitives()
        estimate = max(0, int(estimate_tokens))
        self._waiting += 1
        try:
            async with gate:
                while True:
                    changed.clear()
                    now = self._clock()
                    source = self._share_source
                    if source is not None:
                        with self._share_lock:
                            renew = now >= self._share_next
                            if renew:
                                self._renewals += 1
                        if renew:
                            await self._renew_share(source)
                            now = self._clock()
                    delay = self._dispatch_delay(now, estimate)
                    if delay <= 0:
                        break
                    await self._wait_for_change(changed, delay)
                now = self._clock()
                self._dispatched += 1
                slot = Slot(self, estimate, now, self._dispatched, self._epoch)
                if self._requests:
                    slot._request_entry = self._requests.charge(now, 1, slot.order)
                if self._bucket:
                    self._bucket.take(now)
                if self._tokens:
                    slot._token_entry = self._tokens.charge(now, min(estimate, self._tokens.limit), slot.order)
                self._in_flight += 1
                return slot
        finally:
            self._waiting -= 1
            if self._share_source is not None and self._waiting == 0 and self._in_flight == 0:
                self._settle_soon()  # given up waiting (cancelled), and nothing else is under way

    def release(self, slot: Slot, error: BaseException | None = None) -> None:
        """End an attempt: adjust AIMD, pauses and budgets from its outcome."""
        self._in_flight -= 1
        now = self._clock()
        if error is None:
            self._counts["succeeded"] += 1
            self._consecutive_429 = 0
            self._streak += 1
            if self._streak >= (self.config.grow_after or self._limit):
                self._streak = 0
                self._limit = min(self.config.max_concurrency, self._limit + 1)
        elif not isinstance(error, (asyncio.CancelledError, GeneratorExit)):
            self._counts["failed"] += 1
            llm_error = as_llm_error(error)
            if llm_error is not None:
                self._absorb_error(slot, llm_error, now)
        if self._share_source is not None and self._in_flight == 0 and self._waiting == 0:
            self._settle_soon()
        self._notify()

    def _absorb_error(self, slot: Slot, error: LLMError, now: float) -> None:
        if error.headers:
            slot.headers = error.headers
            self._resync(slot.headers, now, slot.order)
        if isinstance(error, RateLimited):
            self._counts["rate_limited"] += 1
            self._streak = 0
            if slot.epoch == self._epoch:  # halve once per episode, not once per in-flight 429
                self._epoch += 1
                self._consecutive_429 += 1
                self._limit = max(1, self._limit // 2)
            if slot._token_entry is not None and self._tokens:
                self._tokens.correct(slot._token_entry, 0)  # a rejected request consumed no tokens
        if not error.retryable:
            return
        wait = error.retry_after_s
        if wait is None:
            wait = parse_retry_after(error.headers, now_wall=self._wall)
        if wait is not None:
            error.retry_after_s = wait
            if wait <= self.config.max_pause_s:
                self.pause_until(now + wait)
        elif isinstance(error, RateLimited):
            self.pause_until(now + self._backoff_delay(max(1, self._consecutive_429)))

    def _on_record(self, slot: Slot) -> None:
        now = self._clock()
        if slot.usage_tokens is not None and slot._token_entry is not None and self._tokens:
            self._tokens.correct(slot._token_entry, slot.usage_tokens)
        if slot.headers:
            self._resync(slot.headers, now, slot.order)
        self._notify()

    def _resync(self, headers: Mapping[str, str], now: float, as_of: int) -> None:
        for kind, budget in (("requests", self._requests), ("tokens", self._tokens)):
            figures = server_figures(headers, kind)
            if figures is None:
                continue
            remaining, reset_s, limit = figures
            if budget is None:
                if remaining <= 0:
                    self.pause_until(now + reset_s)
                continue
            refill_per_s = None if limit is None else limit / 60.0 * self._share
            if refill_per_s is not None:
                budget.start_refilling(now)
            budget.cap_remaining(now, remaining, reset_s, as_of, refill_per_s)
            if kind == "requests" and limit is not None:
                self._follow_server_bucket(limit, remaining, reset_s, now, as_of)

    def _follow_server_bucket(self, limit: float, remaining: float, reset_s: float, now: float, as_of: int) -> None:
        """Let the request bucket hold as many seconds' worth as the server's, and no more than what
        the server says is left. The server's bucket holds remaining + reset * rate requests (reset
        is the time until it is full again); of what is left, this process counts its share, less
        the requests sent after the one the figures describe."""
        bucket = self._bucket
        if bucket is None or as_of < self._burst_as_of:
            return
        self._burst_as_of = as_of
        server_burst_s = (remaining + reset_s * limit / 60.0) / (limit / 60.0)
        burst_s = min(self.config.window_s, server_burst_s)
        if burst_s > self._burst_s:  # only ever wider: the rounded figures wobble from reply to reply
            self._burst_s = burst_s
            bucket.widen(burst_s, now)
        bucket.lower_to(remaining * self._share - (self._dispatched - as_of), now)

    @asynccontextmanager
    async def slot(self, estimate_tokens: int = 0) -> AsyncIterator[Slot]:
        """`async with limiter.slot(est) as slot:` one attempt; an exception inside counts as its outcome."""
        slot = await self.acquire(estimate_tokens)
        try:
            yield slot
        except BaseException as exc:
            self.release(slot, exc)
            raise
        else:
            self.release(slot)

    # ---- retries -----------------------------------------------------------------------------

    def _backoff_delay(self, attempt: int) -> float:
        cap = min(self.config.backoff_max_s, self.config.backoff_base_s * 2.0 ** max(0, attempt - 1))
        return cap * (0.5 + 0.5 * self._rng())

    async def backoff(self, error: BaseException, attempt: int) -> LLMError:
        """After failed attempt number `attempt`: sleep before the next one, or raise why not.

        Returns the typed error that is being retried.

        Raises the typed error itself when it is not retryable or attempts are used up, a
        FatalLLMError when the server asks for a pause longer than `max_pause_s`, and any
        exception that is not an LLM failure unchanged.
        """
        llm_error = as_llm_error(error)
        if llm_error is None:
            raise error
        if llm_error is not error:
            llm_error.__cause__ = error
        llm_error.attempts = attempt
        if llm_error.retry_after_s is None and llm_error.headers:
            llm_error.retry_after_s = parse_retry_after(llm_error.headers, now_wall=self._wall)
        if not llm_error.retryable:
            raise llm_error
        if llm_error.retry_after_s is not None and llm_error.retry_after_s > self.config.max_pause_s:
            raise FatalLLMError(
                f"server asks to wait {llm_error.retry_after_s:.0f} s, longer than max_pause_s="
                f"{self.config.max_pause_s:.0f}; stopping the run. {llm_error.message}",
                status=llm_error.status,
                code=llm_error.code,
                headers=llm_error.headers,
            ) from llm_error
        if attempt >= self.config.max_attempts:
            llm_error.exhausted = True
            raise llm_error
        self._counts["retries"] += 1
        pausing = self._paused_until > self._clock()
        if pausing and (llm_error.retry_after_s is not None or isinstance(llm_error, RateLimited)):
            delay = 0.0  # the global pause set in release() already holds every worker back
        elif llm_error.retry_after_s is not None:
            delay = llm_error.retry_after_s
        else:
            delay = self._backoff_delay(attempt)
        if delay > 0:
            await self._sleep(delay)
        return llm_error

    async def run(
        self,
        call: Callable[[Slot], Awaitable[T]],
        *,
        estimate_tokens: int = 0,
        on_retry: Callable[[int, LLMError], None] | None = None,
    ) -> T:
        """Call `call(slot)` under the limiter, retrying as the policy says; returns its result."""
        attempt = 0
        while True:
            attempt += 1
            try:
                async with self.slot(estimate_tokens) as slot:
                    return await call(slot)
            except Exception as exc:
                retried = await self.backoff(exc, attempt)
                if on_retry is not None:
                    on_retry(attempt, retried)
