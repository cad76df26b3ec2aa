"""benchmarks/bench_batch.py runs end to end (``--quick``) and reports every client."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CLIENTS = ("sluice-pinned", "sluice-learned", "baseline")

pytestmark = pytest.mark.realtime


def test_quick_run_reports_every_client(tmp_path: Path) -> None:
    rows_file = tmp_path / "rows.json"
    paths = [str(ROOT / "src"), str(ROOT / "benchmarks"), os.environ.get("PYTHONPATH", "")]
    completed = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench_batch.py"),
            "--quick",
            "--clients",
            ",".join(CLIENTS),
            "--json",
            str(rows_file),
        ],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in paths if p)},
        capture_output=True,
        text=True,
        timeout=50,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    rows = {row["client"]: row for row in json.loads(rows_file.read_text())}
    assert tuple(rows) == CLIENTS
    for client, row in rows.items():
        # Every request answered once: what the client wrote is what the simulator sent it.
        assert row["done"] == row["answers"] == 60, client
        assert row["total"] == row["answers"] + row["limited"], client
        assert row["cpu"] > 0
        assert row["allowed"] == pytest.approx(100.0, rel=0.2)  # rpm 6000 binds
        assert row["whole"] > 0
        assert row["steady"] > 0
    table = completed.stdout
    assert all(f"   {client} " in table for client in CLIENTS)
    assert "curator" not in table or "not run" in table
