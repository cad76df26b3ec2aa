"""How long a resumed ``sluice run`` takes to start when everything is already done.

Builds an input of N chat requests, a journal recording all N as done and an output the
journal fully covers (as a run leaves them: each done row with the digest of its input
line), then times ``sluice.batch.run`` on them: reading the journal, reading the input
once (each line's digest found among the done lines, so none is parsed) and finding nothing
to send. Also times the journal load on its own, and, as the same-run baseline, the
floor of any resume: reading the input once and hashing each line into a set.

    python benchmarks/bench_batch_resume.py            # N = 1,000,000
    python benchmarks/bench_batch_resume.py -n 100000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import sluice.batch
from _common import header
from sluice.batch._input import fingerprint, line_digest
from sluice.batch._journal import DONE, Journal, _connect


def build(folder: Path, count: int) -> tuple[Path, Path]:
    source, out = folder / "in.jsonl", folder / "out.jsonl"
    rows = []
    with open(source, "w") as file:
        for i in range(count):
            body = {"model": "m", "messages": [{"role": "user", "content": f"question {i}"}]}
            line = {"custom_id": f"q{i}", "method": "POST", "url": "/v1/chat/completions"}
            raw = json.dumps({**line, "body": body}) + "\n"
            file.write(raw)
            digest = fingerprint(line["url"], body)
            rows.append((f"q{i}", digest, DONE, 1, line_digest(raw.encode())))
    out.write_bytes(b"")
    connection = _connect(Path(f"{out}.journal.sqlite"))
    connection.execute("BEGIN")
    connection.executemany(
        "INSERT INTO requests (custom_id, fingerprint, state, attempts, line_digest) "
        "VALUES (?, ?, ?, ?, ?)",
        rows,
    )
    connection.execute("INSERT INTO meta (key, value) VALUES ('output_offset', 0)")
    connection.execute("COMMIT")
    connection.close()
    return source, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--count", type=int, default=1_000_000)
    args = parser.parse_args()
    header(
        f"resume start-up with {args.count:,} done ids",
        f"python benchmarks/bench_batch_resume.py -n {args.count}",
    )
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        source, out = build(Path(folder), args.count)
        print(f"   built the input and the journal in {time.perf_counter() - started:.1f} s")
        journal = Journal(Path(f"{out}.journal.sqlite"))
        started = time.perf_counter()
        state = journal.load()
        print(f"   journal load: {time.perf_counter() - started:.2f} s ({len(state.done):,} done)")
        del state
        started = time.perf_counter()
        result = sluice.batch.run_sync(source, out, base_url="http://127.0.0.1:9/v1")
        elapsed = time.perf_counter() - started
        assert result.sent == 0, result
        assert result.skipped_already_done == args.count, result
        print(f"   whole resume (nothing left to send): {elapsed:.2f} s")
        started = time.perf_counter()
        with open(source, "rb") as file:
            lines = {hash(line) for line in file}
        floor = time.perf_counter() - started
        del lines
        print(f"   baseline, the input read once into a set of line hashes: {floor:.2f} s")
        print(f"   resume / baseline: {elapsed / floor:.1f}x")


if __name__ == "__main__":
    main()
