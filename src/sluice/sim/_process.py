"""The simulator in a child process, so that a load generator and the simulated service do
not compete for one core (and one event loop).
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Collection, Sequence
from types import TracebackType
from typing import IO

from ._config import SimConfig
from ._metrics import SimMetrics

__all__ = ["SimProcess"]

_ANNOUNCE_RE = re.compile(rb"(http://\S+):(\d+)/v1")


class SimProcess:
    """``python -m sluice.sim`` as a child process; a context manager.

        with SimProcess(SimConfig(itl=0.02), cpus={0}) as sim:
            run_benchmark(sim.base_url)
            print(sim.metrics().lateness_p99)

    ``config`` is a `SimConfig` or a list of ``sluice sim`` flags. Entering waits (at most
    ``startup_timeout`` seconds) until the child answers ``/healthz``; leaving terminates it
    (SIGTERM, then SIGKILL after ``stop_timeout``) and reaps it. The child also watches its
    standard input, a pipe from this process, and stops when it closes: even if this process
    is killed outright, no simulator is left behind. ``cpus`` pins the child to those CPUs
    where the platform allows it. POSIX only.
    """

    def __init__(
        self,
        config: SimConfig | Sequence[str] | None = None,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        cpus: Collection[int] | None = None,
        startup_timeout: float = 15.0,
        stop_timeout: float = 10.0,
    ) -> None:
        if isinstance(config, SimConfig):
            self.args = config.to_args()
        elif isinstance(config, str):
            raise TypeError("SimProcess(config=...) takes a SimConfig or a list of flags")
        else:
            self.args = list(config or ())
        self.host = host
        self._requested_port = port
        self.cpus = set(cpus) if cpus is not None else None
        self.startup_timeout = startup_timeout
        self.stop_timeout = stop_timeout
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._url: str | None = None

    @property
    def command(self) -> list[str]:
        """The child's command line."""
        return [
            sys.executable,
            "-m",
            "sluice.sim",
            "--host",
            self.host,
            "--port",
            str(self._requested_port),
            "--watch-stdin",
            *self.args,
        ]

    @property
    def pid(self) -> int:
        if self._process is None:
            raise RuntimeError("SimProcess is not running")
        return self._process.pid

    @property
    def url(self) -> str:
        """The server root, e.g. ``http://127.0.0.1:8000``."""
        if self._url is None:
            raise RuntimeError("SimProcess is not running; use 'with SimProcess(...)'")
        return self._url

    @property
    def base_url(self) -> str:
        """The OpenAI base URL, e.g. ``http://127.0.0.1:8000/v1``."""
        return self.url + "/v1"

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1])

    def metrics(self, timeout: float = 5.0) -> SimMetrics:
        """Fetch and parse the child's ``/metrics``."""
        with urllib.request.urlopen(self.url + "/metrics", timeout=timeout) as response:
            return SimMetrics.from_prometheus(response.read().decode())

    def __enter__(self) -> SimProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start the child and wait until it serves; raise RuntimeError if it does not."""
        if self._process is not None:
            raise RuntimeError("SimProcess is already running")
        # Closed in stop(): the file outlives this method on purpose.
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115
        # The child stops when this pipe closes, which happens however this process ends.
        self._process = subprocess.Popen(
            self.command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr
        )
        try:
            if self.cpus and hasattr(os, "sched_setaffinity"):
                os.sched_setaffinity(self._process.pid, self.cpus)
            deadline = time.monotonic() + self.startup_timeout
            self._url = self._read_announcement(deadline)
            self._wait_healthy(deadline)
        except BaseException:
            self.stop()
            raise

    def _fail(self, reason: str) -> RuntimeError:
        process = self._process
        code = process.poll() if process is not None else None
        detail = ""
        if self._stderr is not None:
            self._stderr.seek(0)
            detail = self._stderr.read()[-2000:].decode(errors="replace").strip()
        status = f" (exit code {code})" if code is not None else ""
        return RuntimeError(f"sluice sim {reason}{status}" + (f":\n{detail}" if detail else ""))

    def _read_announcement(self, deadline: float) -> str:
        assert self._process is not None
        assert self._process.stdout is not None
        fd = self._process.stdout.fileno()
        buffer = b""
        while b"\n" not in buffer:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._fail(f"did not report its address within {self.startup_timeout} s")
            ready, _, _ = select.select([fd], [], [], remaining)
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    # Output closed: the child is exiting; give it a moment to report its code.
                    with contextlib.suppress(subprocess.TimeoutExpired):
                        self._process.wait(timeout=min(2.0, max(0.0, remaining)))
                    raise self._fail("exited before serving")
                buffer += chunk
        match = _ANNOUNCE_RE.search(buffer)
        if match is None:
            raise self._fail(f"announced no address: {buffer!r}")
        return f"{match.group(1).decode()}:{int(match.group(2))}"

    def _wait_healthy(self, deadline: float) -> None:
        assert self._process is not None
        while True:
            if self._process.poll() is not None:
                raise self._fail("exited before serving")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise self._fail(f"did not become healthy within {self.startup_timeout} s")
            try:
                with urllib.request.urlopen(
                    self.url + "/healthz", timeout=min(1.0, remaining)
                ) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, OSError):
                pass
            time.sleep(min(0.02, max(0.0, deadline - time.monotonic())))

    def stop(self) -> None:
        """Terminate and reap the child (idempotent)."""
        process, self._process = self._process, None
        self._url = None
        try:
            if process is not None:
                if process.stdin is not None:
                    process.stdin.close()
                if process.poll() is None:
                    process.terminate()
                    try:
                        process.wait(timeout=self.stop_timeout)
                    except subprocess.TimeoutExpired:
                        process.kill()
                        process.wait(timeout=self.stop_timeout)
                if process.stdout is not None:
                    process.stdout.close()
        finally:
            if self._stderr is not None:
                self._stderr.close()
                self._stderr = None
