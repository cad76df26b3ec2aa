"""The package boundary: the extra's install hint, a core free of aiohttp, the public names."""

from __future__ import annotations

import subprocess
import sys

import sluice.llm


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_missing_aiohttp_says_how_to_install_it() -> None:
    result = run("import sys; sys.modules['aiohttp'] = None; import sluice.llm")
    assert result.returncode != 0
    assert "ImportError" in result.stderr
    assert "pip install 'aiosluice[http]'" in result.stderr


def test_the_core_does_not_import_aiohttp() -> None:
    result = run("import sys, sluice; print('aiohttp' in sys.modules)")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False"


def test_public_names() -> None:
    assert sorted(sluice.llm.__all__) == sluice.llm.__all__
    for name in sluice.llm.__all__:
        assert getattr(sluice.llm, name) is not None
    assert sluice.llm.Client.__module__ == "sluice.llm"
    assert issubclass(sluice.llm.LLMError, sluice.SluiceError)
