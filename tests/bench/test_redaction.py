"""``sluice bench load`` never prints or writes the credentials of a target URL, and still
sends them."""

from __future__ import annotations

import base64
import socket
import socketserver
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar

import pytest
from click.testing import CliRunner

from sluice.bench._targets import TargetSpec, check_url
from sluice.cli._app import cli
from tests.tcp import serving

SECRET = "sk-bench-url-secret-42"


def written(out: Path, output: str) -> str:
    """The console output and every file of the report (load.json, index.html, the plots)."""
    assert (out / "load.json").is_file()
    assert (out / "index.html").is_file()
    files = b"".join(path.read_bytes() for path in sorted(out.rglob("*")) if path.is_file())
    return output + files.decode("latin-1")


def test_a_spec_shows_its_url_without_credentials() -> None:
    spec = TargetSpec(f"http://me:{SECRET}@127.0.0.1:9/v1")
    assert spec.request_url == "http://127.0.0.1:9/v1/chat/completions"
    assert SECRET not in spec.describe()
    assert spec.send_url == f"http://me:{SECRET}@127.0.0.1:9/v1/chat/completions"
    assert spec.bearer_key is None  # the URL's credentials are the Authorization header
    assert TargetSpec("http://127.0.0.1:9/v1").bearer_key == "sk-bench"
    http = TargetSpec(f"http://me:{SECRET}@127.0.0.1:9/x", api="http")
    assert SECRET not in http.describe() + http.request_url
    for bad in (f"ftp://me:{SECRET}@host/", f"http://me:{SECRET}@/v1", f"http://me:{SECRET}@h:x/"):
        with pytest.raises(ValueError, match=r"URL|host|port") as caught:
            check_url(bad)
        assert SECRET not in str(caught.value)


@pytest.mark.realtime
def test_an_unreachable_target_with_credentials(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
        url = f"http://me:{SECRET}@127.0.0.1:{port}/v1"
        result = CliRunner().invoke(cli, ["bench", "load", url, "-c", "2", "-o", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "cannot connect to http://127.0.0.1:" in result.output
    assert SECRET not in written(tmp_path, result.output)


class _Recording(socketserver.BaseRequestHandler):
    seen: ClassVar[list[bytes]] = []

    def handle(self) -> None:
        while data := self.request.recv(65536):
            self.seen.append(data)
            self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello")


@pytest.fixture
def recording_server() -> Iterator[int]:
    with serving(_Recording) as port:
        yield port


@pytest.mark.realtime
def test_a_target_with_credentials_gets_them_and_the_report_shows_none(
    recording_server: int, tmp_path: Path
) -> None:
    url = f"http://me:{SECRET}@127.0.0.1:{recording_server}/"
    args = ["bench", "load", url, "--api", "http", "-c", "2", "-d", "0.4", "--warmup", "0.1"]
    result = CliRunner().invoke(cli, [*args, "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    shown = written(tmp_path, result.output)
    assert f"127.0.0.1:{recording_server}" in shown
    assert SECRET not in shown
    token = base64.b64encode(f"me:{SECRET}".encode())
    assert any(b"Authorization: Basic " + token in data for data in _Recording.seen)
