"""Serve the RAG example, or measure it at 50 to 500 users.

    python -m examples.rag_service.run serve [--port 8080] [--workers 2]
    python -m examples.rag_service.run table [--levels 50,100,200,300,500] [--seconds 10]
                                             [--workers 2] [--load-workers 2] [--wrk 100]

``serve`` starts the simulator (the model: 50 ms to the first token, 5 ms a token) and the
service under uvicorn, and runs until interrupted. ``table`` does the same on free loopback
ports, then runs ``sluice bench load`` against ``POST /ask`` with the questions of
questions.jsonl (every request bypasses the answer cache, so each one runs the whole
pipeline), prints the table (users, average and P95 latency, RPS, success %), and, with
``--wrk N``, measures the level N again with ``wrk`` as a cross-check. Every process it
starts is stopped when it ends.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from sluice.sim import SimConfig, SimProcess

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
QUESTIONS = HERE / "questions.jsonl"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def running_service(port: int, workers: int) -> Iterator[str]:
    """The simulator and the service on ``port``; yields the service's URL."""
    with SimProcess(SimConfig(ttft=0.05, itl=0.005, output_tokens=16)) as sim:
        env = {**os.environ, "RAG_LLM_URL": sim.base_url, "PYTHONPATH": str(ROOT)}
        command = [
            sys.executable, "-m", "uvicorn", "examples.rag_service.app:from_env", "--factory",
            "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
            "--log-level", "warning", "--no-access-log",
        ]  # fmt: skip
        service = subprocess.Popen(command, env=env, cwd=ROOT)
        url = f"http://127.0.0.1:{port}"
        try:
            _wait_healthy(url, service)
            yield url
        finally:
            service.terminate()
            try:
                service.wait(15)
            except subprocess.TimeoutExpired:
                service.kill()
                service.wait(5)


def _wait_healthy(url: str, service: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if service.poll() is not None:
            raise SystemExit(f"the service exited with {service.returncode}")
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(url + "/healthz", timeout=1) as reply,
        ):
            if reply.status == 200:
                return
        time.sleep(0.1)
    raise SystemExit("the service did not answer /healthz within 30 s")


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # a SIGTERM stops the service as Ctrl-C does, cleanly


def serve(args: argparse.Namespace) -> None:
    signal.signal(signal.SIGTERM, _interrupted)
    with running_service(args.port, args.workers) as url:
        print(f"RAG service at {url}/ask  (POST {{'question': ...}}); Ctrl-C stops it", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(3600)


def table(args: argparse.Namespace) -> None:
    port = _free_port()
    with running_service(port, args.workers) as url, tempfile.TemporaryDirectory() as out:
        command = [
            _sluice(), "bench", "load", f"{url}/ask", "--api", "http", "--method", "POST",
            "-H", "content-type: application/json", "-H", "x-cache: bypass",
            "--bodies", str(QUESTIONS), "-c", args.levels, "-d", str(args.seconds),
            "--warmup", "2", "--timeout", "30", "--workers", str(args.load_workers),
            "-o", out,
        ]  # fmt: skip
        print("$", " ".join(command), flush=True)
        subprocess.run(command, check=True)
        if args.wrk:
            _wrk(url, args.wrk, args.seconds)


def _sluice() -> str:
    """The ``sluice`` command of this interpreter's environment (a venv need not be active)."""
    beside = Path(sys.executable).parent / "sluice"
    found = str(beside) if beside.exists() else shutil.which("sluice")
    if found is None:
        raise SystemExit("the sluice command is not installed: pip install 'aiosluice[all]'")
    return found


def _wrk(url: str, users: int, seconds: float) -> None:
    """The level ``users`` again, measured by wrk: the same questions in turn, cache bypassed."""
    if shutil.which("wrk") is None:
        print("wrk is not installed (apt-get install wrk): no cross-check", flush=True)
        return
    bodies = [line for line in QUESTIONS.read_text().splitlines() if line.strip()]
    # A JSON string of ASCII text is a valid Lua string literal too.
    listed = ",\n".join(json.dumps(body, ensure_ascii=True) for body in bodies)
    script = (
        f"local bodies = {{\n{listed}\n}}\n"
        "local headers = {['content-type'] = 'application/json', ['x-cache'] = 'bypass'}\n"
        "local turn = 0\n"
        "request = function()\n"
        "  turn = turn % #bodies + 1\n"
        "  return wrk.format('POST', nil, headers, bodies[turn])\n"
        "end\n"
    )
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as file:
        file.write(script)
    try:
        command = [
            "wrk", "-t2", f"-c{users}", f"-d{int(seconds)}s", "--latency", "-s", file.name,
            f"{url}/ask",
        ]  # fmt: skip
        print("$", " ".join(command), flush=True)
        subprocess.run(command, check=True, timeout=seconds + 60)
    finally:
        os.unlink(file.name)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m examples.rag_service.run")
    commands = parser.add_subparsers(dest="command", required=True)
    serving = commands.add_parser("serve", help="serve until interrupted")
    serving.add_argument("--port", type=int, default=8080)
    serving.add_argument("--workers", type=int, default=2)
    measuring = commands.add_parser("table", help="measure at several numbers of users")
    measuring.add_argument("--levels", default="50,100,200,300,500")
    measuring.add_argument("--seconds", type=float, default=10.0)
    measuring.add_argument("--workers", type=int, default=2, help="service processes")
    measuring.add_argument("--load-workers", type=int, default=2, help="generator processes")
    measuring.add_argument("--wrk", type=int, default=0, help="cross-check this level with wrk")
    args = parser.parse_args()
    if args.command == "serve":
        serve(args)
    else:
        table(args)


if __name__ == "__main__":
    main()
