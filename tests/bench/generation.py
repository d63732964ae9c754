"""Generation throughput against a rate-limited LLM emulator (600 RPM, 150,000 TPM, 300 ms latency).

140 topics x 6 questions: 140 question calls + 840 answer calls. Reports throughput as a fraction of
the binding limit (requests or tokens, whichever the charged tokens make tighter), the speed-up over
a sequential baseline (one call at a time, measured in the same run on a sample), wall time, and a
second run with 5% injected faults: 0 lost, 0 duplicated.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

RPM, TPM, LATENCY_MS = 600, 150_000, 300
TOPICS, QUESTIONS = int(os.environ.get("BENCH_TOPICS", "140")), 6
SEQUENTIAL_SAMPLE = int(os.environ.get("BENCH_SEQUENTIAL_SAMPLE", "40"))


def configure(base_url: str):
    from core.config import load_config

    config = load_config(include_user=False)
    profile = config.llm.generator
    profile.base_url, profile.rpm, profile.tpm, profile.max_concurrency = base_url, RPM, TPM, 64
    return config


def settings():
    from core.generation.generate import GenerationSettings

    return GenerationSettings(
        questions_per_topic=QUESTIONS,
        refusal_share=0.0,
        answer_style="Answer concisely.",
        question_max_tokens=300,
        answer_max_tokens=350,
        max_concurrency=64,
    )


def seed_topics(store) -> None:
    store.set_meta("domain_brief", "Household energy supply for UK customers.")
    for c in range(14):
        parent = store.add_topic(f"Category {c}")
        for s in range(TOPICS // 14):
            store.add_topic(f"Energy subtopic {c}-{s}", parent)


async def run_generation(store, config):
    from core.generation.generate import PairGenerator
    from core.services import Services

    target = Services(store, config).chat_target("generator")
    try:
        start = time.monotonic()
        progress = await PairGenerator(store, target, settings()).run()
        return progress, time.monotonic() - start
    finally:
        await target.aclose()


async def sequential_rate(base_url: str, calls: int) -> float:
    """The hand-written script: one request at a time with the plain openai client."""
    from openai import AsyncOpenAI

    client = AsyncOpenAI(base_url=base_url, api_key="bench", max_retries=5)
    start = time.monotonic()
    for i in range(calls):
        await client.chat.completions.create(
            model="gpt-4o-mini",
            max_tokens=350,
            messages=[
                {"role": "system", "content": "Answer concisely."},
                {"role": "user", "content": f"How do I read my smart meter, case {i}?"},
            ],
        )
    await client.close()
    return calls / (time.monotonic() - start)


def check_exactly_once(store) -> tuple[int, int]:
    pairs = list(store.iter_pairs())
    duplicated = sum(n - 1 for n in Counter(p.task_key for p in pairs).values())
    done = {t.key for t in store.tasks("answer", "done")}
    lost = len(done - {p.task_key for p in pairs})
    return lost, duplicated


def main() -> None:
    os.environ["OPENAI_API_KEY"] = "bench"
    os.environ["TUNEDECK_SESSIONS_DIR"] = tempfile.mkdtemp(prefix="tunedeck-bench-")
    from core.sandbox.llm.server import LlmEmulator
    from core.sessions import open_session

    llm = LlmEmulator(rpm=RPM, tpm=TPM, latency_ms=LATENCY_MS).start()
    try:
        config = configure(llm.base_url)
        store = open_session("bench")
        seed_topics(store)
        progress, wall = asyncio.run(run_generation(store, config))
        stats = llm.stats
        calls = stats.served
        question_calls, answer_calls = len(store.tasks("questions")), len(store.tasks("answer"))
        # what the limiter is charged per call: the prompt plus max_tokens, reserved up front
        charged = (stats.prompt_tokens + question_calls * 300 + answer_calls * 350) / calls
        requests_per_min = calls / wall * 60
        # the emulator's buckets start full (one minute's allowance) and refill at the limit per minute,
        # so over `wall` seconds it allows limit * (1 + wall / 60) of each; the tighter axis binds
        request_fraction = calls / (RPM * (1 + wall / 60))
        token_fraction = calls * charged / (TPM * (1 + wall / 60))
        lost, duplicated = check_exactly_once(store)
        llm.reset()
        llm.configure(latency_ms=LATENCY_MS)
        sequential = asyncio.run(sequential_rate(llm.base_url, SEQUENTIAL_SAMPLE))

        llm.reset()
        llm.configure(rpm=RPM, tpm=TPM, latency_ms=LATENCY_MS)
        for kind in ("429", "500", "503", "reset", "malformed_json", "truncated"):
            llm.faults.add(kind, probability=0.05 / 6, seed=len(kind), retry_after_ms=500)
        store_f = open_session("bench-faults")
        seed_topics(store_f)
        progress_f, wall_f = asyncio.run(run_generation(store_f, config))
        asyncio.run(run_generation(store_f, config))  # the rerun picks up what failed
        lost_f, duplicated_f = check_exactly_once(store_f)
        faults = sum(llm.faults.fired.values())
        reasons = Counter((t.error or "")[:60] for t in store_f.tasks(status="failed"))
    finally:
        llm.stop()
    print(
        f"generation: {TOPICS} topics x {QUESTIONS} questions = {calls} calls "
        f"({progress.pairs_added} pairs) against {RPM} RPM / {TPM:,} TPM / {LATENCY_MS} ms"
    )
    print(f"  wall time                  {wall:7.1f} s")
    print(f"  throughput                 {requests_per_min:7.0f} requests/min")
    print(f"  tokens charged per call    {charged:7.0f}   (prompt + max_tokens, reserved up front)")
    print(f"  share of allowance used    requests {request_fraction:.2f}, tokens {token_fraction:.2f}")
    print(f"  fraction of the limit      {max(request_fraction, token_fraction):7.2f}   (binding axis; target >= 0.90)")
    print(f"  sequential baseline        {sequential * 60:7.0f} requests/min ({SEQUENTIAL_SAMPLE} calls one at a time)")
    print(f"  speed-up over sequential   {requests_per_min / (sequential * 60):7.1f}x")
    print(f"  lost / duplicated          {lost} / {duplicated}")
    print(f"  429s from the emulator     {stats.status_429}")
    print(
        f"with 5% injected faults ({faults} fired): first pass {wall_f:.1f} s, {progress_f.failed} tasks failed "
        f"and were retried by the rerun; pairs {store_f.count_pairs()}; lost / duplicated {lost_f} / {duplicated_f}"
    )
    if reasons:
        print("  after the rerun, still failed:", dict(reasons))


if __name__ == "__main__":
    main()
