"""Run every benchmark script in turn (each in its own interpreter), as `make bench` does.

python benchmarks/run_all.py [name-fragment ...]
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).parent


def main() -> int:
    wanted = sys.argv[1:]
    failures = 0
    for script in sorted(HERE.glob("bench_*.py")):
        if wanted and not any(fragment in script.stem for fragment in wanted):
            continue
        print(flush=True)
        completed = subprocess.run([sys.executable, str(script)], cwd=HERE.parent, check=False)
        failures += completed.returncode != 0
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
