"""Long core operations (generation, evaluation, rehearsal) run on their own asyncio loop in a background
thread, so the UI loop never waits on them. When one ends, the widget that started it receives
`tui.messages.RunFinished`; a pane holds its one run at a time in a `RunSlot`."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any

from tui.keys import bound_keys
from tui.messages import RunFinished

if TYPE_CHECKING:
    from textual.message_pump import MessagePump

RunFactory = Callable[[], Coroutine[Any, Any, object]]


class BackgroundRun:
    """One coroutine on its own loop in a daemon thread, cancellable from the UI thread; `owner` receives
    RunFinished(label, result, error, cancelled) once it has ended, however it ended."""

    def __init__(self, owner: MessagePump, label: str, factory: RunFactory) -> None:
        self.owner = owner
        self.label = label
        self._factory = factory
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[object] | None = None
        self._ready = threading.Event()
        self.cancelled = False
        self.thread = threading.Thread(target=self._main, name=f"tunedeck-{label}", daemon=True)

    def start(self) -> BackgroundRun:
        self.thread.start()
        return self

    def _main(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        result: object = None
        error: BaseException | None = None
        try:
            self._task = loop.create_task(self._factory())
            self._ready.set()
            result = loop.run_until_complete(self._task)
        except BaseException as exc:  # reported to the owner, never raised into the thread's void
            error = exc
        finally:
            self._ready.set()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()
            cancelled = self.cancelled or isinstance(error, asyncio.CancelledError)
            self.owner.post_message(RunFinished(self.label, result, None if cancelled else error, cancelled))

    @property
    def running(self) -> bool:
        return self.thread.is_alive()

    def cancel(self) -> None:
        self.cancelled = True
        self._ready.wait(timeout=5)
        if self._loop is not None and self._task is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._task.cancel)
            except RuntimeError:  # the loop closed between the check and the call
                pass

    def join(self, timeout: float | None = None) -> None:
        self.thread.join(timeout)


class RunSlot:
    """A pane's long run, one at a time."""

    def __init__(self, owner: MessagePump, *, cancel_binding: str) -> None:
        self.owner = owner
        self.cancel_binding = cancel_binding  # the id of the owner's binding that cancels the run
        self.current: BackgroundRun | None = None

    @property
    def running(self) -> bool:
        return self.current is not None and self.current.running

    def start(self, label: str, factory: RunFactory) -> bool:
        """Start `factory` unless a run is going (then say so and return False)."""
        if self.running:
            keys = bound_keys(self.owner, self.cancel_binding)
            self.owner.app.notify(f"A run is already going; {keys} cancels it.", severity="warning")
            return False
        self.current = BackgroundRun(self.owner, label, factory).start()
        return True

    def cancel(self) -> bool:
        """Cancel the run that is going; False when none is."""
        if self.current is None or not self.current.running:
            return False
        self.current.cancel()
        return True
