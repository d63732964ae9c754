"""One rate budget across processes: limiters on the same session file split it through the store.

Two Store objects on one session file (separate SQLite connections, as two processes have) each
feed a limiter of its own; the test counts the dispatch times of both together.
"""

from __future__ import annotations

import asyncio
import time

import pytest

from core.llm.targets import StoreShare, limiter_key
from core.llm.throttle import AdaptiveLimiter, LimiterConfig
from core.store.rate_leases import RateLeases

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")

RPM, WINDOW_S = 20, 0.5  # 20 requests in any 0.5 s window, for both processes together


@pytest.fixture
def two_stores():
    from core.sessions import open_session
    from core.store import Store

    first = open_session("rate-share")
    second = Store(first.path)  # the same session file, another connection: the other process
    yield first, second
    second.close()
    first.close()


def limiter(store=None) -> AdaptiveLimiter:
    made = AdaptiveLimiter(LimiterConfig(rpm=RPM, window_s=WINDOW_S, burst_s=600, max_concurrency=4))
    if store is not None:  # a lease long past the window: only settling gives an idle share back soon
        made.share_through(StoreShare(store, "acct|model", ttl_s=30.0), refresh_s=0.1)
        made.settle_after_s = 0.1
    return made


async def dispatch_for(limiters: list[AdaptiveLimiter], seconds: float) -> list[list[float]]:
    """Each limiter dispatches as fast as it is let for `seconds`; the dispatch times of each."""
    times: list[list[float]] = [[] for _ in limiters]
    stop = time.monotonic() + seconds

    async def worker(index: int, one: AdaptiveLimiter) -> None:
        while True:
            try:
                async with asyncio.timeout(stop - time.monotonic()):
                    slot = await one.acquire()
            except TimeoutError:
                return
            times[index].append(slot.dispatched_at)
            one.release(slot)

    await asyncio.gather(*(worker(i, one) for i, one in enumerate(limiters) for _ in range(2)))
    return times


def most_in_a_window(times: list[float]) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= WINDOW_S:
            start += 1
        best = max(best, end - start + 1)
    return best


async def test_two_processes_on_one_session_never_pass_the_rpm_together(two_stores):
    first, second = two_stores
    shared = [limiter(first), limiter(second)]
    times = await dispatch_for(shared, 2.0)
    together = times[0] + times[1]
    assert most_in_a_window(together) <= RPM
    assert len(together) >= 2 * RPM  # the budget is used, not just held back
    assert min(len(t) for t in times) >= RPM // 2  # and both get their part
    assert {s.share for s in (one.stats() for one in shared)} == {0.5}
    assert all(one.stats().sharing_with == 1 for one in shared)
    assert len(RateLeases(first.db).holders("acct|model")) == 2

    # the same two on limiters of their own (as before): together they pass the RPM
    alone = await dispatch_for([limiter(), limiter()], 0.6)
    assert most_in_a_window(alone[0] + alone[1]) > RPM

    # one of them stops: idle, it settles to what it still has in the window, its lease expires
    # once that has left the window (a second or so here, not after its 30 s), and the other gets it all
    gone_by = time.monotonic() + 10.0  # a loaded machine delays the settle timer, never by 30 s
    while shared[1].share_source.holder in RateLeases(first.db).holders("acct|model"):
        assert time.monotonic() < gone_by, "the idle limiter's lease outlived its window by 10 s"
        await asyncio.sleep(0.05)
    times = await dispatch_for(shared[:1], 0.3)
    assert shared[0].stats().share == 1.0 and len(times[0]) == RPM
    assert list(RateLeases(first.db).holders("acct|model")) == [shared[0].share_source.holder]


async def test_session_targets_hold_a_lease_in_their_store(llm, monkeypatch):
    """Services builds every target on the account's limiter, leased in the session's store."""
    from core.config import Config
    from core.services import Services
    from core.sessions import open_session

    monkeypatch.setenv("TD_KEY", "k")
    config = Config()
    config.llm.generator.base_url, config.llm.generator.api_key_env = llm.base_url, "TD_KEY"
    config.llm.generator.rpm = 600
    store = open_session("rate-lease")
    try:
        target = Services(store, config).chat_target("generator")
        await target.complete([{"role": "user", "content": "Hello?"}], max_tokens=5)
        key = "|".join(map(str, limiter_key(config.llm.generator.target_profile())))
        assert RateLeases(store.db).holders(key) == {target.limiter.share_source.holder: 1.0}
        await target.aclose()
    finally:
        store.close()


def test_a_killed_process_leaves_its_part_at_once(two_stores):
    """A process killed mid-run cannot give its part back; a rerun on this machine sees it is gone and
    takes the whole budget, instead of waiting for the lease to expire."""
    import socket
    import subprocess
    import sys

    first, second = two_stores
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead = StoreShare(first, "acct|model", ttl_s=600.0, holder=f"{socket.gethostname()}/{gone.stdout.strip()}/x")
    alive = StoreShare(first, "acct|model", ttl_s=600.0)  # this process: still here
    for share in (dead, alive):
        share.beat(used=0.5, share_for=lambda others: 0.5)
    rerun = StoreShare(second, "acct|model")
    _, holders = rerun.beat(used=0.0, share_for=lambda others: 1.0 - sum(s for _, s in others))
    assert holders == 2  # the rerun and the live holder; the dead one's lease is gone
    assert set(RateLeases(second.db).holders("acct|model")) == {alive.holder, rerun.holder}
