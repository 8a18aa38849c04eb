"""Serving the gateway with uvicorn: in the foreground (``faasflow serve``) or on a
background thread (``Flow(protocol='http')`` and tests), always on a socket bound before
the server starts, so that a busy port fails at once and port 0 gives a free one."""

from __future__ import annotations

import signal
import socket
import sys
import threading
import time
from typing import TYPE_CHECKING, Any

from faasflow.errors import FaasflowError

if TYPE_CHECKING:
    import uvicorn

    from faasflow.serve.backend import Backend

DEFAULT_HOST = "127.0.0.1"
STARTUP_TIMEOUT_S = 30.0
SHUTDOWN_TIMEOUT_S = 10.0


def bind_socket(host: str, port: int | None) -> socket.socket:
    """A listening TCP socket on ``host:port`` (``port`` None or 0: a free one)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port or 0))
    except OSError as exc:
        sock.close()
        raise FaasflowError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    sock.listen(2048)
    sock.set_inheritable(True)
    return sock


def _config(app: Any, sock: socket.socket, log_level: str, access_log: bool) -> uvicorn.Config:
    import uvicorn

    host, port = sock.getsockname()[:2]
    return uvicorn.Config(app, host=host, port=port, log_level=log_level, access_log=access_log, lifespan="off",
                          timeout_graceful_shutdown=int(SHUTDOWN_TIMEOUT_S), server_header=False)


def url_of(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class BackgroundServer:
    """A uvicorn server on a daemon thread; ``stop()`` ends it, ``wait()`` blocks until it ends."""

    def __init__(self, app: Any, sock: socket.socket, log_level: str = "warning", access_log: bool = False):
        import uvicorn

        self.app = app
        self.url = url_of(sock)
        self.host, self.port = sock.getsockname()[:2]
        self._socket = sock
        self._server = uvicorn.Server(_config(app, sock, log_level, access_log))
        self._thread = threading.Thread(target=self._serve, name=f"faasflow-http-{self.port}", daemon=True)
        self._failure: BaseException | None = None

    def _serve(self) -> None:
        try:
            self._server.run(sockets=[self._socket])
        except BaseException as exc:  # noqa: BLE001 - reported by start()
            self._failure = exc

    def start(self) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + STARTUP_TIMEOUT_S
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise FaasflowError(f"the HTTP server on {self.url} did not start: {self._failure!r}")
            time.sleep(0.005)
        return self

    def stop(self) -> None:
        """Finish the requests in flight, then close (at most SHUTDOWN_TIMEOUT_S)."""
        self._server.should_exit = True
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(SHUTDOWN_TIMEOUT_S + 1)
        self._socket.close()

    def wait(self) -> None:
        """Block until the server stops; Ctrl-C ends the wait (and ``with flow:`` the server)."""
        print(f"Flow serving on {self.url} (API docs: {self.url}/docs); Ctrl-C to stop", file=sys.stderr)
        while self._thread.is_alive():
            self._thread.join(0.5)

    def __enter__(self) -> BackgroundServer:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()


def serve_app_in_background(app: Any, host: str = DEFAULT_HOST, port: int | None = None,
                            log_level: str = "warning") -> BackgroundServer:
    """Serve any ASGI app on a background thread; returns once it accepts connections."""
    return BackgroundServer(app, bind_socket(host, port), log_level).start()


def start_background_server(backend: Backend, host: str = DEFAULT_HOST, port: int | None = None,
                            **app_options: Any) -> BackgroundServer:
    """Serve ``backend``'s gateway on a background thread (``Flow(protocol='http')``, tests)."""
    from faasflow.serve.app import create_app

    return serve_app_in_background(create_app(backend, **app_options), host or DEFAULT_HOST, port)


def run_server(app: Any, host: str = DEFAULT_HOST, port: int | None = 8080, log_level: str = "info",
               access_log: bool = False, announce: str | None = None) -> None:
    """Serve in the foreground until SIGINT or SIGTERM, then return normally.

    uvicorn finishes the requests in flight, then raises the signal again; SIGTERM is made
    to raise KeyboardInterrupt like SIGINT, so that the caller's ``with flow:`` still
    closes the executors (an index saves its shards) instead of the process dying.
    """
    import uvicorn

    sock = bind_socket(host, port)
    if announce:
        print(announce.format(url=url_of(sock)), file=sys.stderr, flush=True)
    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler) if main_thread else None
    try:
        uvicorn.Server(_config(app, sock, log_level, access_log)).run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        sock.close()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)
