"""A real ``redis-server`` for the tests: one per test session, on a random loopback port.

The server runs without persistence in a temporary directory, is started by the first test
that asks for it and stopped (only this process, by its PID) when the session ends. Tests
that need it are skipped when ``redis-server`` is not installed (``make test`` installs it
when it can).

    def test_something(redis_url: str) -> None:      # a fresh, empty database
        ...
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

_READY_WITHIN = 10.0  # seconds a fresh server may take to answer PING


@dataclass
class RedisServer:
    """One running ``redis-server`` started by the tests."""

    port: int
    process: subprocess.Popen[bytes]
    directory: str

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def command(self, *args: str) -> bytes:
        """Send one command and return the raw reply (no client library needed)."""
        parts = [f"${len(arg.encode())}\r\n{arg}\r\n" for arg in args]
        request = f"*{len(args)}\r\n{''.join(parts)}".encode()
        with socket.create_connection(("127.0.0.1", self.port), timeout=5.0) as conn:
            conn.sendall(request)
            return conn.recv(65536)

    def stop(self) -> None:
        """Stop this server (SIGKILL if it does not exit at once) and wait for it."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5.0)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5.0)

    def restart(self) -> None:
        """Start a new server on the same port (after `stop`): an empty one."""
        fresh = start(port=self.port, directory=self.directory)
        self.process = fresh.process


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(*, port: int | None = None, directory: str | None = None) -> RedisServer:
    """Start ``redis-server`` on 127.0.0.1 and wait until it answers."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise FileNotFoundError("redis-server is not installed")
    port = _free_port() if port is None else port
    directory = tempfile.mkdtemp(prefix="sluice-redis-") if directory is None else directory
    options = {
        "--bind": "127.0.0.1",
        "--port": str(port),
        "--save": "",
        "--appendonly": "no",
        "--dir": directory,
        "--protected-mode": "no",
    }
    process = subprocess.Popen(
        [binary, *(part for option in options.items() for part in option)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    server = RedisServer(port=port, process=process, directory=directory)
    deadline = time.monotonic() + _READY_WITHIN
    while True:
        with contextlib.suppress(OSError):
            if server.command("PING").startswith(b"+PONG"):
                return server
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            raise RuntimeError(f"redis-server did not start on port {port}")
        time.sleep(0.01)


@contextlib.contextmanager
def running() -> Iterator[RedisServer]:
    """A server for the length of the block."""
    server = start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(server.directory, ignore_errors=True)
