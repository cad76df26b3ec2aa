"""Running the simulator: inside the current event loop (`SimServer`), or as the blocking
main program of ``sluice sim`` (`serve_forever`). Both serve through uvicorn with httptools,
guarded against slow and oversized request headers (`guarded_protocol`).
"""

from __future__ import annotations

import asyncio
import os
import socket
import sys
from collections.abc import Callable
from types import TracebackType

import uvicorn

from ._app import SimApp
from ._config import SimConfig
from ._http import guarded_protocol
from ._metrics import SimMetrics

__all__ = ["SimServer", "bind_socket", "serve_forever"]


def bind_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to ``host:port`` (port 0: the OS picks), not yet listening.

    Raises OSError for any address that cannot be bound, malformed ones included.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
    except (OverflowError, TypeError, ValueError) as exc:  # out-of-range port, NUL, bad name
        sock.close()
        raise OSError(f"invalid address: {exc}") from exc
    except BaseException:
        sock.close()
        raise
    return sock


def _client_host(host: str) -> str:
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


def _url(host: str, port: int) -> str:
    host = _client_host(host)
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


class _Server(uvicorn.Server):
    """uvicorn's server, telling the app to wind down first when it shuts down, so that
    hangs, stalls and long streams end at once instead of holding the shutdown.

    With ``watch_stdin`` it also stops when its standard input reaches end of file: a parent
    holding the other end of a pipe can die in any way (even SIGKILL) and the server follows.
    """

    def __init__(self, config: uvicorn.Config, app: SimApp, *, watch_stdin: bool = False) -> None:
        super().__init__(config)
        self._sim_app = app
        self._stdin_fd = sys.stdin.fileno() if watch_stdin else None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self._stdin_fd is not None:
            asyncio.get_running_loop().add_reader(self._stdin_fd, self._read_stdin)

    def _read_stdin(self) -> None:
        assert self._stdin_fd is not None
        try:
            data = os.read(self._stdin_fd, 4096)
        except OSError:
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self._stdin_fd)
            self.should_exit = True

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self._stdin_fd is not None:
            asyncio.get_running_loop().remove_reader(self._stdin_fd)
        self._sim_app.close()
        await super().shutdown(sockets)


def _uvicorn_config(
    app: SimApp, *, embedded: bool, log_level: str | None, access_log: bool
) -> uvicorn.Config:
    extra: dict[str, object] = {}
    if embedded:
        # Inside someone else's program: leave its event loop and logging set-up alone.
        extra = {"loop": "none", "log_config": None}
    else:
        extra = {"loop": "asyncio" if sys.platform == "win32" else "uvloop"}
    protocol = guarded_protocol(
        header_timeout=app.config.header_timeout, max_header_bytes=app.config.max_header_bytes
    )
    return uvicorn.Config(
        app,
        http=protocol,
        ws="none",  # no WebSocket endpoint: upgrade requests are plain HTTP requests
        lifespan="off",
        log_level=log_level,
        access_log=access_log,
        server_header=False,
        timeout_graceful_shutdown=5,
        **extra,  # type: ignore[arg-type]
    )


class SimServer:
    """The simulator, served from the running event loop; an async context manager.

        async with SimServer(SimConfig(itl=0.01)) as sim:
            client = openai.AsyncOpenAI(base_url=sim.base_url, api_key="sk-test")
            print(sim.metrics().total_requests)

    ``port=0`` picks a free port; `port` and `base_url` tell which. On exit, requests still
    running are ended (streams cut short, hangs answered 503) and the server stops.
    """

    def __init__(
        self, config: SimConfig | None = None, host: str = "127.0.0.1", port: int = 0
    ) -> None:
        self.config = config if config is not None else SimConfig()
        self.host = host
        self._requested_port = port
        self._port: int | None = None
        self._app: SimApp | None = None
        self._server: _Server | None = None
        self._socket: socket.socket | None = None
        self._ticker: asyncio.Task[None] | None = None

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("SimServer is not running; use 'async with SimServer(...)'")
        return self._port

    @property
    def url(self) -> str:
        """The server root, e.g. ``http://127.0.0.1:8000`` (``/healthz``, ``/metrics``)."""
        return _url(self.host, self.port)

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, e.g. ``http://127.0.0.1:8000/v1``."""
        return self.url + "/v1"

    @property
    def app(self) -> SimApp:
        if self._app is None:
            raise RuntimeError("SimServer is not running; use 'async with SimServer(...)'")
        return self._app

    def metrics(self) -> SimMetrics:
        """A snapshot of the simulator's metrics."""
        return self.app.snapshot()

    async def __aenter__(self) -> SimServer:
        if self._server is not None:
            raise RuntimeError("SimServer is already running")
        app = SimApp(self.config)
        sock = bind_socket(self.host, self._requested_port)
        config = _uvicorn_config(app, embedded=True, log_level=None, access_log=False)
        server = _Server(config, app)
        try:
            config.load()
            server.lifespan = config.lifespan_class(config)
            await server.startup(sockets=[sock])
        except BaseException:
            sock.close()
            raise
        self._app, self._server, self._socket = app, server, sock
        self._port = sock.getsockname()[1]
        # uvicorn's tick refreshes the Date header once a second; nothing else depends on it.
        self._ticker = asyncio.get_running_loop().create_task(server.main_loop())
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        server, sock, ticker = self._server, self._socket, self._ticker
        if server is None or sock is None or ticker is None:
            return
        self._server = self._socket = self._ticker = None
        try:
            server.should_exit = True
            ticker.cancel()
            await asyncio.wait((ticker,))
            await server.shutdown(sockets=[sock])
        finally:
            sock.close()
            self._port = None


def serve_forever(
    config: SimConfig,
    host: str,
    port: int,
    *,
    log_level: str = "warning",
    access_log: bool = False,
    watch_stdin: bool = False,
    announce: Callable[[str], None] = print,
) -> None:
    """Serve until SIGINT or SIGTERM (the ``sluice sim`` command).

    The first line ``announce`` receives names the bound URL, port included, before the server
    accepts connections; a parent process reads it to learn the port when it asked for 0.
    """
    sock = bind_socket(host, port)
    try:
        app = SimApp(config)
        config_ = _uvicorn_config(app, embedded=False, log_level=log_level, access_log=access_log)
        server = _Server(config_, app, watch_stdin=watch_stdin)
        announce(f"sluice sim: serving {_url(host, sock.getsockname()[1])}/v1")
        server.run(sockets=[sock])
    finally:
        sock.close()
