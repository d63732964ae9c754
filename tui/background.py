"""Run an asyncio coroutine on its own loop in a background thread, cancellable from the UI thread."""

from __future__ import annotations

import asyncio
import threading
from typing import Any, Awaitable, Callable


class BackgroundRun:
    """Long core operations (generation, evaluation) run here so the UI loop never waits on them."""

    def __init__(
        self, factory: Callable[[], Awaitable[Any]], *, on_done: Callable[[Any, BaseException | None], None], name: str
    ) -> None:
        self._factory = factory
        self._on_done = on_done
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task | None = None
        self._ready = threading.Event()
        self.cancelled = False
        self.thread = threading.Thread(target=self._main, name=name, daemon=True)

    def start(self) -> "BackgroundRun":
        self.thread.start()
        return self

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        result: Any = None
        error: BaseException | None = None
        try:
            self._task = loop.create_task(self._factory())  # type: ignore[arg-type]
            self._ready.set()
            result = loop.run_until_complete(self._task)
        except asyncio.CancelledError as exc:
            error = exc
        except BaseException as exc:  # reported to the UI, never raised into the thread's void
            error = exc
        finally:
            self._ready.set()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            self._on_done(result, error)

    @property
    def running(self) -> bool:
        return self.thread.is_alive()

    def cancel(self) -> None:
        self.cancelled = True
        self._ready.wait(timeout=5)
        if self._loop is not None and self._task is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._task.cancel)
            except RuntimeError:
                pass

    def join(self, timeout: float | None = None) -> None:
        self.thread.join(timeout)
