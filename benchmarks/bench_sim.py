"""How fast is the simulator itself? (So benchmarks measure the system under test, not it.)

1. Non-streamed answers at zero latency, driven by wrk (one thread, 50 connections), with the
   simulator in a child process pinned to CPU 0 and wrk pinned to CPU 1, a row per endpoint
   and feature: plain chat, chat with two tools (answered with two generated parallel calls),
   chat with a strict json_schema response format, the Responses API (text, the same tools,
   the same schema as text.format) and the Messages API (text, the same tools), each as a
   ratio of simulator CPU to plain chat's in the same run (plain chat measured first and
   again last, the baseline their mean), beside what each row's requests and answers weigh
   (bytes, output tokens): the rows differ in load, not only in feature.
2. Streaming capacity: N concurrent streams at 20 ms inter-token latency, driven by an aiohttp
   client in this process (pinned to CPU 1). Reports the simulator's own emission lateness
   (from its /metrics), the inter-token gaps the client observed, and the simulator's CPU use.

Run:  .venv/bin/python benchmarks/bench_sim.py [--quick]
Traffic goes to 127.0.0.1 only; every phase is time-bounded; the whole run takes ~30 s.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import aiohttp

from sluice.sim import SimConfig, SimProcess

SIM_CPU = 0
CLIENT_CPU = 1
WRK_SECONDS = 5
STREAM_SECONDS = 5.0
STREAM_ITL = 0.02
STREAM_TOKENS = 100

CHAT_BODY: dict[str, object] = {
    "model": "sim-model",
    "max_tokens": 16,
    "messages": [{"role": "user", "content": "Say hello."}],
}
# A tool with a schema as pydantic writes it (a $ref, an enum, bounds, an array), and a
# second one: the simulator answers with two parallel calls generated from the schemas.
FORECAST_SCHEMA = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 2},
        "unit": {"enum": ["c", "f"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 7},
        "points": {"type": "array", "items": {"$ref": "#/$defs/Point"}, "maxItems": 3},
    },
    "required": ["city", "unit", "days", "points"],
    "additionalProperties": False,
    "$defs": {
        "Point": {
            "type": "object",
            "properties": {"lat": {"type": "number", "minimum": -90, "maximum": 90}},
            "required": ["lat"],
            "additionalProperties": False,
        }
    },
}
TOOLS_BODY = {
    **CHAT_BODY,
    "max_tokens": 64,
    "tools": [
        {
            "type": "function",
            "function": {"name": "forecast", "parameters": FORECAST_SCHEMA, "strict": True},
        },
        {
            "type": "function",
            "function": {
                "name": "search",
                "parameters": {
                    "type": "object",
                    "properties": {"q": {"type": "string"}},
                    "required": ["q"],
                },
            },
        },
    ],
}
SCHEMA_BODY = {
    **CHAT_BODY,
    "max_tokens": 64,
    "response_format": {
        "type": "json_schema",
        "json_schema": {"name": "forecast", "schema": FORECAST_SCHEMA, "strict": True},
    },
}


def responses_tool(tool: dict[str, object]) -> dict[str, object]:
    """A chat tool in the Responses API's shape."""
    function = tool["function"]
    assert isinstance(function, dict)
    return {"type": "function", **function}


def messages_tool(tool: dict[str, object]) -> dict[str, object]:
    """A chat tool in the Messages API's shape."""
    function = tool["function"]
    assert isinstance(function, dict)
    return {"name": function["name"], "input_schema": function["parameters"]}


CHAT_TOOLS = TOOLS_BODY["tools"]
assert isinstance(CHAT_TOOLS, list)
RESPONSES_BODY: dict[str, object] = {
    "model": "sim-model",
    "max_output_tokens": 16,
    "input": "Say hello.",
}
RESPONSES_TOOLS_BODY = {
    **RESPONSES_BODY,
    "max_output_tokens": 64,
    "tools": [responses_tool(tool) for tool in CHAT_TOOLS],
}
RESPONSES_SCHEMA_BODY = {
    **RESPONSES_BODY,
    "max_output_tokens": 64,
    "text": {
        "format": {
            "type": "json_schema",
            "name": "forecast",
            "schema": FORECAST_SCHEMA,
            "strict": True,
        }
    },
}
MESSAGES_BODY: dict[str, object] = {
    "model": "sim-model",
    "max_tokens": 16,
    "messages": [{"role": "user", "content": "Say hello."}],
}
MESSAGES_TOOLS_BODY = {
    **MESSAGES_BODY,
    "max_tokens": 64,
    "tools": [messages_tool(tool) for tool in CHAT_TOOLS],
}
CHAT_PATH = "/v1/chat/completions"
# (row, simulator settings, path, body): plain chat first, the baseline of the ratios.
WRK_ROWS: list[tuple[str, SimConfig, str, dict[str, object]]] = [
    ("chat", SimConfig(), CHAT_PATH, CHAT_BODY),
    ("chat + rpm/tpm headers", SimConfig(rpm=10**9, tpm=10**12), CHAT_PATH, CHAT_BODY),
    ("chat + 2 tools (2 parallel calls)", SimConfig(), CHAT_PATH, TOOLS_BODY),
    ("chat + json_schema (strict)", SimConfig(), CHAT_PATH, SCHEMA_BODY),
    ("responses", SimConfig(), "/v1/responses", RESPONSES_BODY),
    ("responses + 2 tools (2 parallel calls)", SimConfig(), "/v1/responses", RESPONSES_TOOLS_BODY),
    ("responses + json_schema (strict)", SimConfig(), "/v1/responses", RESPONSES_SCHEMA_BODY),
    ("messages", SimConfig(), "/v1/messages", MESSAGES_BODY),
    ("messages + 2 tools (2 parallel calls)", SimConfig(), "/v1/messages", MESSAGES_TOOLS_BODY),
]


def lua_script(body: dict[str, object]) -> str:
    """A wrk script POSTing ``body`` (JSON) with a bearer key."""
    text = json.dumps(body, separators=(",", ":")).replace("\\", "\\\\").replace("'", "\\'")
    return (
        'wrk.method = "POST"\n'
        f"wrk.body = '{text}'\n"
        'wrk.headers["Content-Type"] = "application/json"\n'
        'wrk.headers["Authorization"] = "Bearer sk-bench"\n'
    )


STREAM_BODY = {
    "model": "sim-model",
    "messages": [{"role": "user", "content": "Tell me a long story."}],
    "stream": True,
    "stream_options": {"include_usage": True},
}


# Read once, before this process pins itself to the client CPU.
ALL_CPUS: set[int] = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set()


def pin(cpu: int) -> list[str]:
    """A ``taskset`` prefix pinning a command to ``cpu``, when that is possible here."""
    if shutil.which("taskset") and cpu in ALL_CPUS:
        return ["taskset", "-c", str(cpu)]
    return []


def process_cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc (Linux); 0 elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def percentile(ordered: list[float], q: float) -> float:
    """Nearest-rank percentile of a sorted list."""
    if not ordered:
        return float("nan")
    return ordered[max(0, min(len(ordered) - 1, round(q * len(ordered) + 0.5) - 1))]


def start_sim(config: SimConfig) -> SimProcess:
    cpus = {SIM_CPU} if SIM_CPU in ALL_CPUS else None
    return SimProcess(config, cpus=cpus)


def sim_command(sim: SimProcess) -> str:
    prefix = f"taskset -c {SIM_CPU} " if sim.cpus else ""
    return prefix + shlex.join(sim.command)


# ---------------------------------------------------------------- part 1: wrk


@dataclass
class WrkResult:
    requests: int
    requests_per_second: float
    p50: str
    p99: str
    non_2xx: int
    command: str


@dataclass
class Sample:
    """One answer of a row, taken before its wrk run: what a request and its answer weigh."""

    request_bytes: int
    answer_bytes: int
    completion_tokens: int


def sample(url: str, body: dict[str, object]) -> Sample:
    """One request of the row (the body wrk sends), its answer's size and output tokens."""
    data = json.dumps(body, separators=(",", ":")).encode()
    request = urllib.request.Request(
        url,
        data,
        {"Content-Type": "application/json", "Authorization": "Bearer sk-bench"},
    )
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only
    with direct.open(request, timeout=10) as response:
        answer = response.read()
    usage = json.loads(answer)["usage"]
    tokens = usage.get("completion_tokens", usage.get("output_tokens", 0))
    return Sample(len(data), len(answer), int(tokens))


def run_wrk(url: str, script: Path) -> WrkResult:
    command = [
        *pin(CLIENT_CPU),
        "wrk",
        "-t1",
        "-c50",
        f"-d{WRK_SECONDS}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    out = subprocess.run(
        command, capture_output=True, text=True, timeout=WRK_SECONDS + 20, check=True
    ).stdout
    total = re.search(r"(\d+) requests in", out)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", out)
    p50 = re.search(r"^\s+50%\s+(\S+)", out, re.M)
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M)
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if rps is None or total is None:
        raise RuntimeError(f"could not parse wrk output:\n{out}")
    return WrkResult(
        int(total.group(1)),
        float(rps.group(1)),
        p50.group(1) if p50 else "?",
        p99.group(1) if p99 else "?",
        int(non_2xx.group(1)) if non_2xx else 0,
        shlex.join(command),
    )


def bench_wrk(workdir: Path) -> None:
    print(f"## Non-streamed answers by endpoint (wrk -t1 -c50 -d{WRK_SECONDS}s)\n")
    print(
        "requests/s depends on how much of its CPU the simulator gets on a shared machine; "
        "requests per CPU-second of the simulator does not, and its ratio to plain chat is "
        "the throughput ratio when the simulator is saturated (target: <= 1.5x). Plain chat "
        "runs first and again last; the ratios are to the mean of the two.\n"
    )
    print(
        "The rows do not carry the same load: a tool or schema row's request holds the "
        "definitions (several times plain chat's bytes, and prompt tokens), and its answer "
        "(generated calls or JSON, within its max_tokens of 64 against plain chat's 16) "
        "differs in bytes and output tokens. The last three columns show what each row "
        "carries (one answer, sampled before the run); the ratio is per request as sent.\n"
    )
    print(
        "| setup | requests/s | sim CPU | requests per sim CPU-s | vs plain chat "
        "| p50 | p99 | non-2xx | request bytes | answer bytes | output tokens |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    commands: list[str] = []
    measured: list[tuple[str, WrkResult, float, float, Sample]] = []
    # Plain chat is measured first and again last: the baseline is the mean of the two, so
    # that the machine drifting during the run moves the baseline as it moves the rows.
    rows = [*WRK_ROWS, (f"{WRK_ROWS[0][0]} (again, last)", *WRK_ROWS[0][1:])]
    for index, (name, config, path, body) in enumerate(rows):
        script = workdir / f"row{index}.lua"
        script.write_text(lua_script(body))
        with start_sim(config) as sim:
            url = sim.base_url.removesuffix("/v1") + path
            weight = sample(url, body)
            before = process_cpu_seconds(sim.pid)
            started = time.monotonic()
            result = run_wrk(url, script)
            cpu_seconds = process_cpu_seconds(sim.pid) - before
            cpu = cpu_seconds / (time.monotonic() - started)
            commands += [sim_command(sim), result.command]
        per_cpu = result.requests / cpu_seconds if cpu_seconds > 0 else float("nan")
        measured.append((name, result, cpu, per_cpu, weight))
    baseline = (measured[0][3] + measured[-1][3]) / 2
    for name, result, cpu, per_cpu, weight in measured:
        # How many times the CPU plain chat takes (1.00x: as cheap).
        print(
            f"| {name} | {result.requests_per_second:,.0f} | {cpu:.0%} | {per_cpu:,.0f} "
            f"| {baseline / per_cpu:.2f}x | {result.p50} | {result.p99} | {result.non_2xx} "
            f"| {weight.request_bytes:,} | {weight.answer_bytes:,} | {weight.completion_tokens} |"
        )
    print("\ncommands:")
    for command in dict.fromkeys(commands):
        print(f"    {command}")
    print(
        "    (wrk scripts rowN.lua: POST of the row's body, WRK_ROWS in benchmarks/bench_sim.py)\n"
    )


# ---------------------------------------------------------------- part 2: streams


async def stream_worker(
    session: aiohttp.ClientSession,
    url: str,
    delay: float,
    until: float,
    gaps: list[float],
    counts: list[int],
) -> None:
    await asyncio.sleep(delay)
    # perf_counter, not loop.time(): uvloop's clock only moves in whole milliseconds.
    clock = time.perf_counter
    while clock() < until:
        async with session.post(url, json=STREAM_BODY) as response:
            response.raise_for_status()
            last: float | None = None
            async for data in response.content.iter_any():
                now = clock()
                events = data.count(b'"content":"')
                if not events:
                    continue
                if last is not None:
                    gaps.append(now - last)
                gaps.extend([0.0] * (events - 1))  # events that arrived in the same read
                counts[0] += events
                last = now


async def drive_streams(
    base_url: str, streams: int, stagger: bool
) -> tuple[list[float], int, float]:
    gaps: list[float] = []
    counts = [0]
    connector = aiohttp.TCPConnector(limit=streams)
    timeout = aiohttp.ClientTimeout(total=STREAM_SECONDS + 30)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        started = time.perf_counter()
        until = started + STREAM_SECONDS
        url = base_url + "/chat/completions"
        async with asyncio.timeout(STREAM_SECONDS + 30), asyncio.TaskGroup() as group:
            for i in range(streams):
                # Starts spread over one inter-token interval: streams that all start in the
                # same instant stay phase-locked on an absolute schedule, and then every
                # token of every stream is due in the same millisecond.
                delay = STREAM_ITL * i / streams if stagger else 0.0
                group.create_task(stream_worker(session, url, delay, until, gaps, counts))
        elapsed = time.perf_counter() - started
    return sorted(gaps), counts[0], elapsed


def bench_streams(levels: list[int], stagger: bool) -> None:
    config = SimConfig(itl=STREAM_ITL, output_tokens=STREAM_TOKENS)
    print(
        f"## Streaming capacity ({STREAM_TOKENS}-token streams, ITL {STREAM_ITL * 1000:.0f} ms,"
        f" {STREAM_SECONDS:.0f} s per level, aiohttp client in this process,"
        f" starts {'spread over one ITL' if stagger else 'all at once'})\n"
    )
    print(
        "| streams | tokens/s | sim CPU | sim lateness p50 | sim lateness p99 "
        "| client ITL p50 | client ITL p99 |"
    )
    print("|---|---|---|---|---|---|---|")
    command = ""
    for streams in levels:
        with start_sim(config) as sim:
            command = sim_command(sim)
            before = process_cpu_seconds(sim.pid)
            wall = time.monotonic()
            gaps, tokens, elapsed = run_client(drive_streams(sim.base_url, streams, stagger))
            cpu = (process_cpu_seconds(sim.pid) - before) / (time.monotonic() - wall)
            metrics = sim.metrics()
        nonzero = [g for g in gaps if g > 0]  # gaps between reads, not within one read
        itl_p50, itl_p99 = percentile(nonzero, 0.5) * 1000, percentile(nonzero, 0.99) * 1000
        print(
            f"| {streams} | {tokens / elapsed:,.0f} | {cpu:.0%} "
            f"| {metrics.lateness_p50 * 1000:.2f} ms | {metrics.lateness_p99 * 1000:.2f} ms "
            f"| {itl_p50:.2f} ms | {itl_p99:.2f} ms |"
        )
    print(f"\ncommand: {command}\n")


def run_client(main: object) -> tuple[list[float], int, float]:
    """Run the client on uvloop when available (less client overhead in the ITL figures)."""
    try:
        import uvloop

        factory = uvloop.new_event_loop
    except ImportError:  # pragma: no cover - platform without uvloop
        factory = asyncio.new_event_loop
    with asyncio.Runner(loop_factory=factory) as runner:
        return runner.run(main)  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one streaming level only")
    parser.add_argument("--skip-wrk", action="store_true", help="streaming part only")
    parser.add_argument("--wrk-only", action="store_true", help="request-rate part only")
    parser.add_argument(
        "--phase-locked", action="store_true", help="start all streams in the same instant"
    )
    args = parser.parse_args()
    if CLIENT_CPU in ALL_CPUS and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {CLIENT_CPU})
    print(f"# sluice sim benchmark ({os.cpu_count()} CPUs, Python {sys.version.split()[0]})\n")
    print(f"run: {shlex.join([sys.executable, *sys.argv])}\n")
    with tempfile.TemporaryDirectory(prefix="bench-sim-") as workdir:
        if not args.skip_wrk:
            if shutil.which("wrk") is None:
                print("wrk not found: skipping the request-rate part\n")
            else:
                bench_wrk(Path(workdir))
    if not args.wrk_only:
        bench_streams([200] if args.quick else [200, 400], stagger=not args.phase_locked)


if __name__ == "__main__":
    main()
