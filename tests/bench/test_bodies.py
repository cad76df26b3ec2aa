"""Request bodies from files: checked up front, kept compactly, sent in turn."""

from __future__ import annotations

import json
import pickle
from pathlib import Path

import pytest

from sluice.bench import _bodies
from sluice.bench._bodies import BodiesError, BodySet, read_bodies, render_bodies
from sluice.bench._targets import TargetSpec
from sluice.bench._workers import part_spec


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_bodies_are_read_line_by_line_blank_lines_skipped(tmp_path: Path) -> None:
    path = _write(tmp_path / "b.jsonl", '{"question": "a"}\n\n  {"question": "b"}  \n[1, 2]\n')
    bodies = read_bodies(path)
    assert len(bodies) == 3
    assert [bodies[i] for i in range(3)] == [b'{"question": "a"}', b'{"question": "b"}', b"[1, 2]"]
    assert bodies.size == sum(len(bodies[i]) for i in range(3))
    assert pickle.loads(pickle.dumps(bodies)) == bodies


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": 1}\n{"a": \n', "line 2: not valid JSON"),
        ("\n\n", "no body in it"),
        (b"\xff\n".decode("latin-1"), "line 1: not valid JSON"),
    ],
)
def test_a_bad_bodies_file_names_the_line(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(BodiesError, match=message):
        read_bodies(_write(tmp_path / "b.jsonl", text))


def test_a_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(BodiesError, match="cannot read"):
        read_bodies(tmp_path / "absent.jsonl")


def test_too_large_a_file_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_bodies, "MAX_BODIES", 2)
    path = _write(tmp_path / "b.jsonl", "1\n2\n3\n")
    with pytest.raises(BodiesError, match="at line 3"):
        read_bodies(path)


def test_a_template_is_filled_structurally(tmp_path: Path) -> None:
    template = _write(
        tmp_path / "t.json",
        '{"question": "{question}", "k": "{k}", "note": "top {k} for {question}", "x": 1}',
    )
    variables = _write(
        tmp_path / "v.jsonl",
        '{"question": "say \\"hi\\"\\nnow", "k": 3}\n{"question": "b", "k": [1], "extra": 0}\n',
    )
    bodies = render_bodies(template, variables)
    first, second = (json.loads(bodies[i]) for i in range(2))
    assert first == {"question": 'say "hi"\nnow', "k": 3, "note": 'top 3 for say "hi"\nnow', "x": 1}
    assert second == {"question": "b", "k": [1], "note": "top [1] for b", "x": 1}


@pytest.mark.parametrize(
    ("template", "variables", "message"),
    [
        (
            '{"q": "{question}"}',
            '{"question": "a"}\n{"other": 1}\n',
            "line 2: no variable 'question'",
        ),
        ('{"q": "{question}"}', '["a"]\n', "line 1: expected a JSON object"),
        ('{"q": ', '{"question": "a"}\n', "t.json: not valid JSON"),
        ('{"q": "{question}"}', "", "no variables in it"),
    ],
)
def test_a_bad_template_or_variables_file_says_where(
    tmp_path: Path, template: str, variables: str, message: str
) -> None:
    with pytest.raises(BodiesError, match=message):
        render_bodies(
            _write(tmp_path / "t.json", template), _write(tmp_path / "v.jsonl", variables)
        )


def test_processes_take_the_bodies_in_turn() -> None:
    bodies = BodySet([b"0", b"1", b"2", b"3", b"4"], source="five")
    spec = TargetSpec("http://127.0.0.1:9/ask", api="http", method="POST", bodies=bodies)
    assert [spec.next_body(k) for k in range(7)] == [b"0", b"1", b"2", b"3", b"4", b"0", b"1"]
    parts = [part_spec(spec, i, 2) for i in range(2)]
    sent = [part.next_body(k) for k in range(3) for part in parts]  # the two interleaved
    assert sent == [b"0", b"1", b"2", b"3", b"4", b"0"]
    assert "5 bodies from five, sent in turn" in spec.describe()


def test_bodies_need_the_http_api_and_no_single_body() -> None:
    bodies = BodySet([b"{}"])
    with pytest.raises(ValueError, match="plain HTTP API"):
        TargetSpec("http://127.0.0.1:9/v1", bodies=bodies)
    with pytest.raises(ValueError, match="plain HTTP API"):
        TargetSpec("http://127.0.0.1:9/a", api="http", body="{}", bodies=bodies)
