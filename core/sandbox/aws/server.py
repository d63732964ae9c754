"""moto's ThreadedMotoServer, quiet, wrapped by the emulator's gateway, leaving no socket or thread behind."""

from __future__ import annotations

import logging
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import ThreadedWSGIServer

if TYPE_CHECKING:
    from collections.abc import Callable

LOG = logging.getLogger("tunedeck.sandbox.aws")


class _QuietHandler(MotoRequestHandler):
    """No request lines on stderr (they would tear a TUI); errors go to the module logger."""

    def log_request(self, code: Any = "-", size: Any = "-") -> None:
        pass

    def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        if type == "error":
            LOG.debug("emulator request error: " + message, *args)


class _TrackingServer(ThreadedWSGIServer):
    """Remembers open connections so that stopping can cut in-flight (streaming) requests."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(*args, **kwargs)

    def log(self, type: str, message: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        LOG.debug(message, *args)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def cut_connections(self, timeout: float = 5.0) -> None:
        with self.connections_lock:
            open_now = list(self.connections)
        for conn in open_now:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.connections_lock:
                if not self.connections:
                    return
            time.sleep(0.01)


class EmulatorServer(ThreadedMotoServer):
    """ThreadedMotoServer whose WSGI app is `wrap(moto_app)`."""

    def __init__(self, host: str, port: int, wrap: Callable[[Any], Any]) -> None:
        super().__init__(ip_address=host, port=port, verbose=False)
        self._wrap = wrap
        self._start_error: BaseException | None = None

    def _server_entry(self) -> None:
        try:
            app = self._wrap(DomainDispatcherApplication(create_backend_app))
            self._server = _TrackingServer(self._ip_address, self._port, app, handler=_QuietHandler)
        except BaseException as exc:  # noqa: BLE001 - reported by start()
            self._start_error = exc
            self._server_ready_event.set()
            return
        self._server_ready_event.set()
        self._server.serve_forever(poll_interval=0.05)

    def start(self) -> None:
        super().start()
        if self._start_error is not None:
            if self._thread is not None:
                self._thread.join(timeout=5)
            raise RuntimeError(
                f"the AWS emulator could not listen on {self._ip_address}:{self._port}: {self._start_error!r}"
            )

    def stop(self) -> None:
        server = self._server
        if isinstance(server, _TrackingServer):
            server.shutdown()
            server.cut_connections()
            server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=10)
        self._server = None
