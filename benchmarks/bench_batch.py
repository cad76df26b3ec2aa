"""Does ``sluice.batch.run`` send at the provider's limit? Against the simulator, one input
file through each client, side by side:

- ``sluice-pinned``: ``sluice.batch.run(..., rpm=, tpm=)`` with the simulator's limits;
- ``sluice-learned``: ``sluice.batch.run(...)`` with nothing pinned (limits learned from the
  ``x-ratelimit-*`` headers);
- ``baseline``: asyncio + a semaphore of 100 + aiohttp + tenacity (``wait_random_exponential
  (min=1, max=60)``, 6 attempts, retry on 429), as users write it: the same-run baseline;
- ``curator``: bespokelabs-curator's OpenAI backend with the limits given, when an
  interpreter that has it is passed with ``--curator-python`` (it is not installed here by
  default: its dependencies clash with the dev tools').

Each client runs in its own child process (pinned to CPU 1, the simulator to CPU 0) against a
fresh simulator with ``--rpm``/``--tpm`` and its latency model (prefill per token, inter-token
latency, lognormal jitter). A fresh key's buckets hold one second of the limits
(``--burst 1s``, as providers enforce a per-minute limit over short intervals): that first
second's allowance is counted as allowed, on top of the refill. "Of allowed" is the requests
admitted (the simulator's 200s plus those in service, polled every 0.1 s) over what the
limits allowed from the client's start to its last admission; "steady" is the same between
10 % and 90 % of the admissions, counting what the bucket can have held at the 10 % mark.

    python benchmarks/bench_batch.py                 # 2,000 requests at 6,000 rpm: ~2 min
    python benchmarks/bench_batch.py --quick         # smoke run: 60 requests
    python benchmarks/bench_batch.py --curator-python /path/to/venv/bin/python
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from _batch_clients import counters, write_input
from _common import header, table
from sluice.sim import SimConfig, SimProcess

HERE = Path(__file__).parent
SIM_CPU, CLIENT_CPU = 0, 1
POLL_SECONDS = 0.1
STEADY = (0.10, 0.90)  # the shares of the admissions between which the rate is steady
BURST = 1.0  # seconds of the limits a fresh key's buckets hold (the simulator's default)
ALL_CPUS: set[int] = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()


@dataclass(frozen=True)
class Row:
    client: str
    done: int  # answers the client reports written
    answers: int  # 200s the simulator sent it
    limited: int  # 429s the simulator sent it
    total: int  # every response the simulator sent it
    whole: float  # admitted / allowed, from the run's start to its last admission
    steady: float  # the same between 10 % and 90 % of the admissions
    steady_rate: float  # admissions per second between 10 % and 90 %
    allowed: float  # requests per second the limits allow at the measured token cost
    wall: float
    cpu: float

    @property
    def limited_share(self) -> float:
        return self.limited / self.total if self.total else 0.0

    @property
    def cpu_per_request(self) -> float:
        return self.cpu / self.done if self.done else float("nan")


def pin(cpu: int) -> list[str]:
    if shutil.which("taskset") and cpu in ALL_CPUS:
        return ["taskset", "-c", str(cpu)]
    return []


def sim_config(rpm: int, tpm: int) -> SimConfig:
    # ~110 prompt tokens x 2 ms + 16 tokens x 15 ms: about 0.45 s a request, jittered.
    return SimConfig(
        prefill_per_token=0.002,
        itl=0.015,
        jitter="lognormal",
        jitter_cv=0.5,
        rpm=rpm,
        tpm=tpm,
        burst=BURST,
        seed=7,
    )


def crossing(samples: list[tuple[float, int]], level: float) -> float:
    """When the count first reached ``level`` (linear between polls); NaN if it never did."""
    for (t0, n0), (t1, n1) in itertools.pairwise(samples):
        if n0 < level <= n1:
            return t0 + (t1 - t0) * (level - n0) / (n1 - n0)
    return float("nan")


def used_share(
    samples: list[tuple[float, int]], count: int, rate: float, credit: float
) -> tuple[float, float, float]:
    """(whole, steady, steady rate): admissions over what the limit allowed, from the start
    (``credit`` requests in the bucket then) to the last admission, and between 10 % and 90 %
    of them; and the admissions per second between those two marks.

    What the bucket allows over ``[a, b]`` is at most what it held at ``a`` plus
    ``rate * (b - a)``; what it held at the 10 % mark is at most the credit plus the refill
    minus the admissions so far, and at most a full bucket (``credit``).
    """
    start = samples[0][0]
    last = crossing(samples, count)
    whole = count / (credit + rate * (last - start))
    low, high = (share * count for share in STEADY)
    t_low, t_high = crossing(samples, low), crossing(samples, high)
    held = min(credit, max(0.0, credit + rate * (t_low - start) - low))
    steady = (high - low) / (held + rate * (t_high - t_low))
    return whole, steady, (high - low) / (t_high - t_low)


def run_client(
    client: str, python: str, args: argparse.Namespace, source: Path, workdir: Path
) -> tuple[Row, str]:
    folder = workdir / client
    folder.mkdir()
    with SimProcess(sim_config(args.rpm, args.tpm), cpus={SIM_CPU} & ALL_CPUS or None) as sim:
        command = [
            *pin(CLIENT_CPU),
            python,
            str(HERE / "_batch_clients.py"),
            client,
            *("--base-url", sim.base_url, "--input", str(source), "--workdir", str(folder)),
            *("--key", f"sk-{client}", "--rpm", str(args.rpm), "--tpm", str(args.tpm)),
        ]
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE.parent / "src"), str(HERE)])}
        env |= {"TELEMETRY_ENABLED": "false", "CURATOR_DISABLE_RICH_DISPLAY": "1"}
        bound = 60 + 10 * args.requests / (args.rpm / 60)
        samples: list[tuple[float, int]] = []
        with open(folder / "stderr.txt", "w") as errors:
            child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=errors, env=env)
            try:
                deadline = time.monotonic() + bound
                while child.poll() is None:
                    if time.monotonic() > deadline:
                        raise RuntimeError(f"{client} did not finish within {bound:.0f} s")
                    samples.append((time.monotonic(), counters(sim.base_url)["admitted"]))
                    time.sleep(POLL_SECONDS)
            finally:
                if child.poll() is None:
                    child.kill()
                out, _ = child.communicate(timeout=30)
        final = counters(sim.base_url)
        # The run's end as a last sample, should the polls have missed its last admissions.
        samples.append((time.monotonic(), final["admitted"]))
    if child.returncode != 0 or not out.strip():
        tail = (folder / "stderr.txt").read_text()[-1500:]
        raise RuntimeError(f"{client} failed (exit {child.returncode}):\n{tail}")
    report = json.loads(out.decode().strip().splitlines()[-1])
    base = report["base"]
    answers = final["ok"] - base["ok"]
    tokens_per_request = (final["tokens"] - base["tokens"]) / max(1, answers)
    allowed = args.rpm / 60
    if args.tpm:
        allowed = min(allowed, args.tpm / 60 / tokens_per_request)
    started = report["started"]
    series = [(started, 0)] + [(t, n - base["admitted"]) for t, n in samples if t > started]
    # The buckets start full: BURST seconds of the limit, allowed on top of the refill.
    credit = allowed * BURST
    whole, steady, steady_rate = used_share(series, answers, allowed, credit)
    row = Row(
        client=client,
        done=report["done"],
        answers=answers,
        limited=final["limited"] - base["limited"],
        total=final["total"] - base["total"],
        whole=whole,
        steady=steady,
        steady_rate=steady_rate,
        allowed=allowed,
        wall=report["ended"] - started,
        cpu=report["cpu"],
    )
    return row, shlex.join(command)


def ratio(value: float, baseline: float) -> str:
    return f"{value / baseline:.2f}x" if baseline and baseline == baseline else "-"


def report_rows(rows: list[Row]) -> None:
    base = next((r for r in rows if r.client == "baseline"), None)
    lines = []
    for r in rows:
        lines.append(
            [
                r.client,
                f"{r.done:,}",
                f"{r.whole:.1%}",
                f"{r.steady:.1%}",
                f"{r.steady_rate:.1f}",
                ratio(r.whole, base.whole) if base else "-",
                f"{r.limited_share:.2%}",
                f"{r.limited:,}/{r.total:,}",
                f"{r.wall:.1f}",
                f"{r.cpu_per_request * 1000:.2f}",
                ratio(r.cpu_per_request, base.cpu_per_request) if base else "-",
            ]
        )
    head = [
        "client",
        "done",
        "of allowed",
        "steady",
        "steady req/s",
        "vs baseline",
        "429 share",
        "429s/responses",
        "wall s",
        "CPU ms/req",
        "vs baseline",
    ]
    table(lines, head)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: 60 requests each")
    parser.add_argument("-n", "--requests", type=int, default=None)
    parser.add_argument("--rpm", type=int, default=None)
    parser.add_argument("--tpm", type=int, default=None, help="0: no token limit")
    parser.add_argument("--clients", default="sluice-pinned,sluice-learned,baseline,curator")
    parser.add_argument("--curator-python", default=os.environ.get("CURATOR_PYTHON"))
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    args.requests = args.requests or (60 if args.quick else 2000)
    args.rpm = args.rpm or 6000
    # Tokens allow ~15 % more than the request limit: both limits are in force, rpm binds.
    args.tpm = args.tpm if args.tpm is not None else args.rpm * 150
    command = shlex.join(["python", "benchmarks/bench_batch.py", *sys.argv[1:]])
    header(
        f"sluice.batch at the limit: {args.requests:,} chat requests, rpm {args.rpm:,}, "
        f"tpm {args.tpm:,}",
        command,
    )
    if CLIENT_CPU in ALL_CPUS:
        os.sched_setaffinity(0, {SIM_CPU})  # the poller beside the simulator, not the client
    rows: list[Row] = []
    commands: list[str] = []
    notes: list[str] = []
    with tempfile.TemporaryDirectory(prefix="bench-batch-") as folder:
        workdir = Path(folder)
        source = workdir / "in.jsonl"
        write_input(source, args.requests)
        for client in args.clients.split(","):
            python = sys.executable
            if client.startswith("curator"):
                if not args.curator_python:
                    notes.append(
                        "curator: not run (pass --curator-python, an interpreter with "
                        "bespokelabs-curator installed)"
                    )
                    continue
                python = args.curator_python
            row, child_command = run_client(client, python, args, source, workdir)
            rows.append(row)
            commands.append(child_command)
    print()
    report_rows(rows)
    print()
    print(
        f"   allowed: {rows[0].allowed:.1f} requests/s (rpm / 60, or tpm / 60 / tokens per "
        "request if lower), plus the first second's bucket.\n   'of allowed': admissions "
        "(200s + requests in service) over what the limits allowed from the start to the "
        "last admission;\n   'steady': the same between 10 % and 90 % of the admissions."
    )
    for note in notes:
        print(f"   {note}")
    print("   client commands (each against its own simulator; stderr kept in the workdir):")
    for child_command in commands:
        print(f"     {child_command}")
    if args.json:
        Path(args.json).write_text(json.dumps([r.__dict__ for r in rows], indent=1))


if __name__ == "__main__":
    main()
