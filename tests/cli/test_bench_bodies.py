"""``sluice bench load`` with request bodies from files, against a recording HTTP server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from click.testing import CliRunner

from sluice.cli._app import cli

SMALL = ["-d", "0.4", "--warmup", "0.1"]


def _bench(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["bench", "load", *args])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


class _Recorder(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    seen: list[tuple[str, str, str, bytes]]

    def _answer(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        content_type = self.headers.get("Content-Type") or ""
        self.seen.append((self.command, content_type, self.headers.get("X-Run") or "", body))
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")

    do_GET = do_POST = do_PUT = _answer

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def recorder() -> Iterator[tuple[str, list[tuple[str, str, str, bytes]]]]:
    seen: list[tuple[str, str, str, bytes]] = []
    handler = type("Handler", (_Recorder,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/ask", seen
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--bodies", "{bad}"], "line 2: not valid JSON"),
        (["--bodies", "{ok}", "--body", "x"], "not --body and --bodies"),
        (["--body-template", "{tpl}"], "--body-template and --vars go together"),
        (["--vars", "{ok}"], "--body-template and --vars go together"),
        (["--bodies", "{ok}", "--api", "chat"], "add --api http"),
        (["--bodies", "{ok}", "--method", "P OST"], "is not an HTTP method"),
        (["--bodies", "{absent}"], "cannot read"),
    ],
)
def test_bad_bodies_options_are_usage_errors(tmp_path: Path, args: list[str], message: str) -> None:
    files = {
        "ok": '{"question": "a"}\n',
        "bad": '{"question": "a"}\n{"question": \n',
        "tpl": '{"question": "{question}"}',
    }
    for name, text in files.items():
        (tmp_path / name).write_text(text)
    args = [a.format(**{n: str(tmp_path / n) for n in [*files, "absent"]}) for a in args]
    code, output = _bench("http://127.0.0.1:9/ask", *args, "-o", str(tmp_path / "out"))
    assert code == 2, output
    assert message in output


@pytest.mark.realtime
def test_bodies_are_posted_in_turn(
    recorder: tuple[str, list[tuple[str, str, str, bytes]]], tmp_path: Path
) -> None:
    url, seen = recorder
    lines = [json.dumps({"question": f"q{i}"}) for i in range(5)]
    (tmp_path / "q.jsonl").write_text("\n".join(lines) + "\n")
    out = tmp_path / "out"
    code, output = _bench(
        url, "--bodies", str(tmp_path / "q.jsonl"), "-c", "2", "-H", "X-Run: 7", *SMALL,
        "-o", str(out),
    )  # fmt: skip
    assert code == 0, output
    assert "POST" in output
    assert "5 bodies from" in output
    methods = {(method, kind, run) for method, kind, run, _ in seen}
    assert methods == {("POST", "application/json", "7")}
    # The preflight sends the first body; the level's sender starts again at the first.
    bodies = [body.decode() for *_, body in seen[1:]]
    assert set(bodies) == set(lines)
    counts = [bodies.count(line) for line in lines]
    assert max(counts) - min(counts) <= 1
    report = json.loads((out / "load.json").read_text())
    assert report["target"]["bodies"]["count"] == 5


@pytest.mark.realtime
def test_a_template_with_variables_and_a_method(
    recorder: tuple[str, list[tuple[str, str, str, bytes]]], tmp_path: Path
) -> None:
    url, seen = recorder
    (tmp_path / "t.json").write_text('{"question": "{question}", "top_k": "{k}"}')
    (tmp_path / "v.jsonl").write_text('{"question": "a", "k": 1}\n{"question": "b", "k": 2}\n')
    code, output = _bench(
        url, "--body-template", str(tmp_path / "t.json"), "--vars", str(tmp_path / "v.jsonl"),
        "--method", "put", "-H", "Content-Type: text/plain", "-n", "4", "-c", "1",
        "--warmup", "0", "-o", str(tmp_path / "out"),
    )  # fmt: skip
    assert code == 0, output
    assert {(m, kind) for m, kind, _, _ in seen} == {("PUT", "text/plain")}
    sent = [json.loads(body) for *_, body in seen[1:]]
    assert sent[:4] == [
        {"question": "a", "top_k": 1},
        {"question": "b", "top_k": 2},
        {"question": "a", "top_k": 1},
        {"question": "b", "top_k": 2},
    ]
