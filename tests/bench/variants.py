"""Benchmark: LLM variants (Spanish) of 1,000 accepted pairs against a rate-limited LLM emulator
(600 RPM, 150,000 TPM, 300 ms latency), measured as in tests/bench/generation.py: throughput as a
fraction of the binding limit (requests or the tokens the limiter is charged, whichever binds),
counting the emulator's full starting bucket. Target: 0.9 or more.

Run: .venv/bin/python tests/bench/variants.py   (BENCH_VARIANT_PAIRS=N for fewer pairs)
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

RPM, TPM, LATENCY_MS = 600, 150_000, 300
PAIRS = int(os.environ.get("BENCH_VARIANT_PAIRS", "1000"))
MAX_TOKENS = 300
TARGET = 0.9


async def run_variants(store, config):
    from core.generation.variants import VariantSpec, make_variants
    from core.services import Services

    target = Services(store, config).chat_target("generator")
    try:
        start = time.monotonic()
        progress = await make_variants(
            store, target, VariantSpec("language", "Spanish"), concurrency=64, max_tokens=MAX_TOKENS
        )
        return progress, time.monotonic() - start
    finally:
        await target.aclose()


def main() -> int:
    os.environ["OPENAI_API_KEY"] = "bench"
    os.environ["TUNEDECK_SESSIONS_DIR"] = tempfile.mkdtemp(prefix="tunedeck-bench-")
    from core.config import load_config
    from core.sandbox.llm.server import LlmEmulator
    from core.sessions import open_session
    from core.store import NewPair

    llm = LlmEmulator(rpm=RPM, tpm=TPM, latency_ms=LATENCY_MS).start()
    try:
        config = load_config(include_user=False)
        profile = config.llm.generator
        profile.base_url, profile.rpm, profile.tpm, profile.max_concurrency = llm.base_url, RPM, TPM, 64
        store = open_session("bench")
        store.set_meta("domain_brief", "Household energy supply for UK customers.")
        store.add_pairs(
            NewPair(
                f"How do I read meter type {i} after a power cut?",
                f"Press the display button {i % 7 + 1} times and note the first five digits.",
                status="accepted",
            )
            for i in range(PAIRS)
        )
        sources = list(store.iter_pairs())
        progress, wall = asyncio.run(run_variants(store, config))
        stats = llm.stats
    finally:
        llm.stop()
    calls = stats.served
    from core.generation.variants import reply_budget

    asked = sum(min(MAX_TOKENS, reply_budget(p)) for p in sources)
    charged = (stats.prompt_tokens + asked) / max(1, calls)  # the prompt plus the reply tokens asked for
    request_fraction = calls / (RPM * (1 + wall / 60))
    token_fraction = calls * charged / (TPM * (1 + wall / 60))
    binding = max(request_fraction, token_fraction)
    print(f"variants: {PAIRS:,} accepted pairs -> {progress.done:,} Spanish variants ({progress.failed} failed)")
    print(f"  against {RPM} RPM / {TPM:,} TPM / {LATENCY_MS} ms; wall time {wall:.1f} s; {calls} calls served")
    print(f"  429s from the emulator {stats.status_429}")
    for error in progress.errors[:3]:
        print(f"  failed: {error}")
    print(
        f"  requests {request_fraction:.2f} of the limit, tokens charged {token_fraction:.2f}; "
        f"binding {binding:.2f} (target >= {TARGET}: {'met' if binding >= TARGET else 'MISSED'})"
    )
    return 0 if binding >= TARGET and progress.failed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
