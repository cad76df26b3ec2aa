"""A Redis for a measurement: the one the user named, or a private ``redis-server`` started
for the run on a random loopback port and stopped after it.

The private server keeps nothing on disk (no RDB, no AOF, a temporary directory) and only
this process's own child is ever stopped, by its PID. Where neither a URL nor a
``redis-server`` binary is at hand, `RedisUnavailable` says how to get one.

    with bench_redis(None) as url:         # starts redis-server, or raises RedisUnavailable
        run_shared_measurement(url)
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator

__all__ = ["ENABLE_HINT", "RedisUnavailable", "bench_redis", "ping", "private_redis"]

ENABLE_HINT = "install redis-server or pass --redis URL"
_READY_WITHIN = 10.0  # seconds a fresh server may take to answer PING


class RedisUnavailable(RuntimeError):
    """No Redis to measure against; the message says how to provide one."""


def ping(port: int, host: str = "127.0.0.1", timeout: float = 1.0) -> bool:
    """Whether a Redis answers PING at ``host:port`` (no client library needed)."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as conn:
            conn.sendall(b"*1\r\n$4\r\nPING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(5.0)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5.0)


@contextlib.contextmanager
def private_redis(binary: str | None = None) -> Iterator[str]:
    """``redis-server`` on 127.0.0.1 and a free port, without persistence, for the block;
    yields its URL. Raises `RedisUnavailable` when it is not installed or does not start."""
    binary = binary or shutil.which("redis-server")
    if binary is None:
        raise RedisUnavailable(f"redis-server is not installed ({ENABLE_HINT})")
    directory = tempfile.mkdtemp(prefix="sluice-bench-redis-")
    try:
        # The free port may be taken between the probe and the bind: one more try then.
        for _ in range(2):
            port = _free_port()
            argv = [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", ""]
            argv += ["--appendonly", "no", "--dir", directory, "--protected-mode", "no"]
            process = subprocess.Popen(
                argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL
            )
            try:
                deadline = time.monotonic() + _READY_WITHIN
                while process.poll() is None and time.monotonic() < deadline:
                    if ping(port):
                        yield f"redis://127.0.0.1:{port}/0"
                        return
                    time.sleep(0.01)
            finally:
                _stop(process)
        raise RedisUnavailable(f"redis-server did not start ({binary})")
    finally:
        shutil.rmtree(directory, ignore_errors=True)


@contextlib.contextmanager
def bench_redis(url: str | None) -> Iterator[str]:
    """``url`` when given (checked to answer), else a `private_redis` for the block."""
    try:
        import redis
    except ImportError:
        raise RedisUnavailable(
            "the redis client is not installed (pip install 'aiosluice[redis]')"
        ) from None
    if url is None:
        with private_redis() as started:
            yield started
        return
    from ..stores._redis_connect import redacted

    try:
        with redis.Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0) as client:
            client.ping()
    except Exception as exc:  # any failure means the same here: nothing to measure against
        raise RedisUnavailable(f"{redacted(url)} does not answer PING: {exc}") from None
    yield url
