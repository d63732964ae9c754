"""AdaptiveLimiter on a simulated clock: budgets, AIMD, global pause, retry policy, header parsing."""

from __future__ import annotations

import asyncio
import heapq
import itertools

import pytest

from core.llm.errors import FatalLLMError, RateLimited, TransientLLMError, error_for_status
from core.llm.throttle import AdaptiveLimiter, LimiterConfig, parse_go_duration, parse_retry_after


class FakeClock:
    """Virtual time: `sleep` parks the caller; `drive` advances to the next wake-up once all else is idle."""

    def __init__(self) -> None:
        self.now = 0.0
        self._timers: list[tuple[float, int, asyncio.Future]] = []
        self._seq = itertools.count()

    def __call__(self) -> float:
        return self.now

    async def sleep(self, delay: float) -> None:
        future = asyncio.get_running_loop().create_future()
        heapq.heappush(self._timers, (self.now + max(0.0, delay), next(self._seq), future))
        await future

    async def _settle(self) -> None:
        loop = asyncio.get_running_loop()
        quiet = 0
        for _ in range(100_000):
            await asyncio.sleep(0)
            quiet = quiet + 1 if not getattr(loop, "_ready", None) else 0
            if quiet >= 3:
                return

    async def drive(self, coro):
        task = asyncio.ensure_future(coro)
        while True:
            await self._settle()
            if task.done():
                return task.result()
            while self._timers and self._timers[0][2].done():
                heapq.heappop(self._timers)
            if not self._timers:
                raise AssertionError("deadlock: every task waits and no timer is set")
            when, _, future = heapq.heappop(self._timers)
            self.now = max(self.now, when)
            future.set_result(None)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def make(clock: FakeClock, **config) -> AdaptiveLimiter:
    return AdaptiveLimiter(
        LimiterConfig(**config), clock=clock, sleep=clock.sleep, rng=lambda: 0.5, wall_clock=lambda: 1_000_000.0
    )


def max_in_any_window(times: list[float], window: float = 60.0) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


async def test_rpm_cap_holds_in_every_minute_and_uses_the_budget(clock):
    limiter = make(clock, rpm=60, max_concurrency=50, burst_s=10)  # a 10-request burst is allowed
    dispatched: list[float] = []

    async def call(slot):
        dispatched.append(clock.now)
        await clock.sleep(0.5)

    async def main():
        await asyncio.gather(*(limiter.run(call) for _ in range(150)))

    await clock.drive(main())
    assert len(dispatched) == 150
    assert max_in_any_window(dispatched) <= 60
    assert max_in_any_window(dispatched) >= 58  # not needlessly slow either
    assert max(dispatched) < 150 * 1.05  # ~1 request per second, the whole budget


@pytest.mark.parametrize("usage, expected_in_first_minute", [(100, 7), (None, 2), (1000, 1)])
async def test_tpm_charges_estimate_then_corrects_from_usage(clock, usage, expected_in_first_minute):
    limiter = make(clock, tpm=1000, max_concurrency=1)
    dispatched: list[float] = []

    async def call(slot):
        dispatched.append(clock.now)
        await clock.sleep(1.0)
        slot.record(usage_tokens=usage)

    async def main():
        await asyncio.gather(*(limiter.run(call, estimate_tokens=400) for _ in range(10)))

    await clock.drive(main())
    assert sum(1 for t in dispatched if t < 60) == expected_in_first_minute


async def test_aimd_halves_once_per_episode_and_grows_after_a_run_of_successes(clock):
    limiter = make(clock, max_concurrency=8)

    async def rejected():
        async with limiter.slot():
            await clock.sleep(1)
            raise RateLimited("429", status=429)

    async def ok():
        async with limiter.slot():
            await clock.sleep(1)

    async def main():
        results = await asyncio.gather(*(rejected() for _ in range(8)), return_exceptions=True)
        assert all(isinstance(r, RateLimited) for r in results)
        assert limiter.concurrency_limit == 4  # eight 429s from one wave: one halving
        await clock.sleep(100)  # let the pause run out
        for _ in range(4):
            await ok()
        assert limiter.concurrency_limit == 5
        for _ in range(4):
            await ok()
        assert limiter.concurrency_limit == 5
        await ok()
        assert limiter.concurrency_limit == 6
        # a second episode halves again, down to the floor of 1 eventually
        for expected in (3, 1, 1):
            with pytest.raises(RateLimited):
                await rejected()
            assert limiter.concurrency_limit == expected

    await clock.drive(main())
    assert limiter.stats().rate_limited == 11


async def test_concurrency_limit_caps_requests_in_flight(clock):
    limiter = make(clock, max_concurrency=3)
    peak = 0

    async def call(slot):
        nonlocal peak
        peak = max(peak, limiter.stats().in_flight)
        await clock.sleep(1)

    async def main():
        await asyncio.gather(*(limiter.run(call) for _ in range(20)))

    await clock.drive(main())
    assert peak == 3
    assert clock.now == pytest.approx(7.0)  # ceil(20 / 3) rounds of 1 s


async def test_retry_after_ms_pauses_every_worker(clock):
    limiter = make(clock, max_concurrency=4)
    dispatched: list[tuple[int, float]] = []
    first = True

    def worker(n):
        async def call(slot):
            nonlocal first
            dispatched.append((n, clock.now))
            await clock.sleep(1)
            if n == 0 and first:
                first = False
                raise RateLimited("slow down", status=429, headers={"Retry-After-Ms": "2500"})

        return call

    async def main():
        async def loop(n):
            for _ in range(5):
                await limiter.run(worker(n))

        await asyncio.gather(*(loop(n) for n in range(4)))

    await clock.drive(main())
    times = [t for _, t in dispatched]
    assert not [t for t in times if 1.0 < t < 3.5]  # nobody went during the pause (429 at t=1, 2.5 s)
    assert 3.5 in times
    assert len(dispatched) == 21  # 20 successes + the rejected attempt
    stats = limiter.stats()
    assert stats.retries == 1 and stats.rate_limited == 1 and stats.paused_until == 3.5


async def test_rate_limit_without_header_pauses_with_backoff(clock):
    limiter = make(clock, max_concurrency=2)
    calls: list[float] = []

    async def call(slot):
        calls.append(clock.now)
        if len(calls) == 1:
            raise RateLimited("429", status=429)

    await clock.drive(limiter.run(call))
    assert calls[0] == 0.0 and calls[1] == pytest.approx(0.5 * 0.75)  # base 0.5 s, jitter factor 0.75


@pytest.mark.parametrize(
    "status, code, words",
    [
        (400, None, "rejected the request"),
        (401, None, "API key"),
        (403, None, "permission"),
        (404, None, "not found"),
        (429, "insufficient_quota", "quota exhausted"),
    ],
)
async def test_no_retry_on_client_errors_and_exhausted_quota(clock, status, code, words):
    limiter = make(clock, max_concurrency=2)
    attempts = 0

    async def call(slot):
        nonlocal attempts
        attempts += 1
        raise error_for_status(status, "server says no", code=code)

    with pytest.raises(FatalLLMError) as info:
        await clock.drive(limiter.run(call))
    assert attempts == 1
    assert words in str(info.value)
    assert info.value.stops_run == (status != 400)
    assert limiter.concurrency_limit == 2  # not treated as congestion


@pytest.mark.parametrize(
    "failure",
    [
        lambda: error_for_status(503, "busy"),
        lambda: error_for_status(408, "timeout"),
        lambda: TimeoutError(),
        lambda: ConnectionResetError("reset by peer"),
    ],
)
async def test_backoff_on_transient_failures_then_success(clock, failure):
    limiter = make(clock, max_concurrency=2)
    calls: list[float] = []

    async def call(slot):
        calls.append(clock.now)
        if len(calls) < 3:
            raise failure()
        return "ok"

    assert await clock.drive(limiter.run(call)) == "ok"
    # jittered exponential: 0.5 s * 2^(n-1) * 0.75 with rng 0.5
    assert calls == pytest.approx([0.0, 0.375, 0.375 + 0.75])
    assert limiter.stats().retries == 2


async def test_gives_up_after_max_attempts_with_the_reason(clock):
    limiter = make(clock, max_concurrency=2, max_attempts=3)
    attempts = 0

    async def call(slot):
        nonlocal attempts
        attempts += 1
        raise error_for_status(502, "bad gateway")

    with pytest.raises(TransientLLMError) as info:
        await clock.drive(limiter.run(call))
    assert attempts == 3
    assert "502" in str(info.value) and "after 3 attempts" in str(info.value)


async def test_too_long_retry_after_stops_the_run(clock):
    limiter = make(clock, max_concurrency=2, max_pause_s=120)

    async def call(slot):
        raise RateLimited("daily limit", status=429, headers={"retry-after": "3600"})

    with pytest.raises(FatalLLMError, match="3600 s"):
        await clock.drive(limiter.run(call))


async def test_resync_from_remaining_headers_holds_back_what_the_server_has_not_refilled(clock):
    # nothing left, whole again in 1.5 s: the server refills as it goes, so the first eighth of the
    # held-back budget is free again after 1.5 s / 8 (held back whole, it would wait the 1.5 s)
    limiter = make(clock, rpm=6000, tpm=10**9, max_concurrency=4, burst_s=60)
    dispatched: list[float] = []

    async def call(slot):
        dispatched.append(clock.now)
        await clock.sleep(0.1)
        if len(dispatched) == 1:
            slot.record(
                usage_tokens=10, headers={"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1.5s"}
            )

    async def main():
        await limiter.run(call)
        await limiter.run(call)

    await clock.drive(main())
    assert dispatched == pytest.approx([0.0, 0.1 + 1.5 / 8])


async def test_resync_counts_requests_sent_after_the_one_the_headers_describe(clock):
    # The server's figures are as of when it admitted request 0; requests 1 and 2 left after that
    # and already used up the 2 it reported, so request 3 waits for the server to refill some: the
    # first eighth of its 10 s to the reset.
    limiter = make(clock, rpm=6000, max_concurrency=10, burst_s=60)
    dispatched: list[float] = []

    async def call(slot):
        n = len(dispatched)
        dispatched.append(clock.now)
        await clock.sleep(0.1 if n == 0 else 0.2)
        if n == 0:
            slot.record(headers={"x-ratelimit-remaining-requests": "2", "x-ratelimit-reset-requests": "10s"})

    async def main():
        await asyncio.gather(*(limiter.run(call) for _ in range(3)))
        await limiter.run(call)

    await clock.drive(main())
    assert dispatched == pytest.approx([0.0, 0.0, 0.0, 0.1 + 10 / 8])


class BucketServer:
    """The far side as OpenAI (and the emulator) count it: a bucket of `burst_s` seconds' worth of
    `rpm`, refilled continuously, reported in every reply; a request past it would be a 429."""

    def __init__(self, clock: FakeClock, rpm: float, burst_s: float) -> None:
        self.clock, self.rate, self.capacity = clock, rpm / 60, rpm / 60 * burst_s
        self.level, self.stamp, self.rpm, self.refused = self.capacity, 0.0, rpm, 0

    def admit(self) -> dict[str, str]:
        now = self.clock.now
        self.level = min(self.capacity, self.level + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.level < 1 - 1e-9:
            self.refused += 1
        self.level -= 1
        return {
            "x-ratelimit-limit-requests": str(int(self.rpm)),
            "x-ratelimit-remaining-requests": str(max(0, int(self.level))),
            "x-ratelimit-reset-requests": f"{max(0.0, (self.capacity - self.level) / self.rate):.3f}s",
        }


@pytest.mark.parametrize("reports", [True, False])
async def test_a_server_that_reports_its_bucket_gets_its_burst_and_its_refill(clock, reports):
    """600 RPM in a minute-sized bucket that refills as it goes: 900 requests take its 600 at once
    and then 10 a second, about 30 s in all, and none is past the bucket. A server that says
    nothing gets the profile's own budget: a 1 s burst, and at most 600 in any minute."""
    limiter = make(clock, rpm=600, max_concurrency=64)
    server = BucketServer(clock, rpm=600, burst_s=60)
    dispatched: list[float] = []

    async def call(slot):
        headers = server.admit()
        dispatched.append(clock.now)
        await clock.sleep(0.3)
        slot.record(headers=headers if reports else None)

    async def main():
        await asyncio.gather(*(limiter.run(call) for _ in range(900)))

    await clock.drive(main())
    assert server.refused == 0
    if reports:
        assert max_in_any_window(dispatched, window=10.0) >= 500  # the server's bucket, at 64 in flight
        assert max(dispatched) < 40  # then the refill, not the minute the window would wait
    else:
        assert max_in_any_window(dispatched, window=60 - 1e-6) <= 600  # float slack
        assert max_in_any_window(dispatched, window=10.0) <= 110  # 10 a second and the 1 s burst
        assert max(dispatched) > 85


async def test_remaining_zero_pauses_an_unlimited_profile(clock):
    limiter = make(clock, max_concurrency=4)
    dispatched: list[float] = []

    async def call(slot):
        dispatched.append(clock.now)
        slot.record(headers={"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "2s"})

    async def main():
        await limiter.run(call)
        await limiter.run(call)

    await clock.drive(main())
    assert dispatched == [0.0, 2.0]


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("1s", 1.0),
        ("6m0s", 360.0),
        ("120ms", 0.12),
        ("1h2m3.5s", 3723.5),
        ("0s", 0.0),
        ("1.5", 1.5),
        ("250us", 0.00025),
        ("", None),
        ("soon", None),
        ("1x", None),
        ("5s3", None),
        (None, None),
    ],
)
def test_go_durations(text, seconds):
    result = parse_go_duration(text)
    assert result == (pytest.approx(seconds) if seconds is not None else None)


def test_retry_after_headers():
    assert parse_retry_after({"Retry-After-Ms": "300", "Retry-After": "9"}) == pytest.approx(0.3)
    assert parse_retry_after({"retry-after": "7"}) == 7.0
    assert parse_retry_after({"retry-after": "Thu, 01 Jan 1970 00:00:30 GMT"}, now_wall=lambda: 10.0) == 20.0
    assert parse_retry_after({"retry-after": "later"}) is None
    assert parse_retry_after({}) is None


def test_one_limiter_serves_successive_event_loops():
    limiter = AdaptiveLimiter(LimiterConfig(rpm=600, max_concurrency=2))

    async def use():
        await asyncio.gather(*(limiter.run(lambda slot: asyncio.sleep(0)) for _ in range(3)))

    asyncio.run(use())
    asyncio.run(use())  # asyncio primitives from the first loop would raise here
    assert limiter.stats().succeeded == 6
