"""`tunedeck sandbox`: the emulated services in the foreground, with shell exports to eval."""

from __future__ import annotations

import shlex
import signal
import threading
from typing import TYPE_CHECKING

from core.cli.registry import command

if TYPE_CHECKING:
    import argparse

    from core.config import Config


@command("sandbox")
def _sandbox(args: argparse.Namespace, config: Config) -> int:
    from core.sandbox.demo import start_services

    if args.epoch_seconds:
        config.demo.epoch_seconds = args.epoch_seconds
    services = start_services(config)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        for name, value in services.exports().items():
            print(f"export {name}={shlex.quote(value)}", flush=True)
        print("# emulated AWS and LLM running; ctrl+c stops them", flush=True)
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        pass
    finally:
        services.stop()
    return 0
