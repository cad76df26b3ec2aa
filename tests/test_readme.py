"""The README's Python examples run as written."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_has_examples() -> None:
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_example_runs(code: str, tmp_path: Path) -> None:
    # Each block runs in a fresh interpreter, as a reader would paste it; a block of tests
    # runs under pytest, as a reader would put it in a test file.
    tests = re.findall(r"^(?:async )?def (test_\w+)", code, flags=re.MULTILINE)
    if tests:
        path = tmp_path / "test_from_readme.py"
        path.write_text(code)
        command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(path)]
    else:
        command = [sys.executable, "-c", code]
    completed = subprocess.run(
        command, capture_output=True, text=True, timeout=60, check=False, cwd=tmp_path
    )
    assert completed.returncode == 0, completed.stdout + completed.stderr
    if tests:
        assert f"{len(tests)} passed" in completed.stdout
