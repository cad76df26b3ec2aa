"""Request bodies for a plain HTTP target: read once from a file, sent in turn.

Two sources, both checked in full before any load starts (an error names the file and the
line):

* ``--bodies FILE.jsonl``: one JSON value per line, sent as is.
* ``--body-template FILE.json`` with ``--vars FILE.jsonl``: a JSON template whose strings hold
  ``{name}`` slots, and one JSON object of variables per line. A string that is exactly one
  slot (``"{question}"``) takes the variable's JSON value, whatever its type; a slot inside a
  longer string takes the value as text. Substitution works on the parsed JSON, so a value
  with quotes or newlines stays valid JSON. Each line of variables makes one body.

Blank lines are skipped. The bodies are kept as one bytes block plus an offset per body, so
memory is about the size of the bodies; every generator process holds one copy. At most
`MAX_BYTES` of bodies and `MAX_BODIES` bodies are accepted.

    bodies = read_bodies(Path("questions.jsonl"))
    bodies[7 % len(bodies)]   # the 8th body, as bytes
"""

from __future__ import annotations

import json
import re
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import Any

__all__ = ["MAX_BODIES", "MAX_BYTES", "BodiesError", "BodySet", "read_bodies", "render_bodies"]

MAX_BYTES = 64 * 2**20
MAX_BODIES = 1_000_000
_SLOT = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


class BodiesError(ValueError):
    """A bodies, template or variables file that cannot be used (the message says where)."""


class BodySet:
    """Request bodies in file order: one bytes block and the offset where each body ends."""

    __slots__ = ("_blob", "_ends", "source")

    def __init__(self, bodies: list[bytes] | tuple[bytes, ...], source: str = "") -> None:
        self._blob = b"".join(bodies)
        self._ends = array("Q")
        end = 0
        for body in bodies:
            end += len(body)
            self._ends.append(end)
        self.source = source

    def __len__(self) -> int:
        return len(self._ends)

    def __getitem__(self, index: int) -> bytes:
        start = self._ends[index - 1] if index > 0 else 0
        return self._blob[start : self._ends[index]]

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, BodySet):
            return NotImplemented
        return (self._blob, self._ends) == (other._blob, other._ends)

    def __hash__(self) -> int:
        return hash((self._blob, len(self._ends)))

    def __repr__(self) -> str:
        return f"BodySet({len(self)} bodies, {len(self._blob)} bytes, from {self.source!r})"

    @property
    def size(self) -> int:
        """Total bytes of all bodies."""
        return len(self._blob)

    def __getstate__(self) -> tuple[bytes, bytes, str]:
        return self._blob, self._ends.tobytes(), self.source

    def __setstate__(self, state: tuple[bytes, bytes, str]) -> None:
        self._blob, ends, self.source = state
        self._ends = array("Q")
        self._ends.frombytes(ends)


def _json_lines(path: Path, what: str) -> Iterator[tuple[int, Any, bytes]]:
    """(line number, parsed value, stripped line) for each non-blank line of ``path``."""
    total = count = 0
    try:
        with path.open("rb") as file:
            for number, raw in enumerate(file, 1):
                line = raw.strip()
                if not line:
                    continue
                total += len(line)
                count += 1
                if total > MAX_BYTES or count > MAX_BODIES:
                    raise BodiesError(
                        f"{path}: more than {MAX_BYTES // 2**20} MiB or {MAX_BODIES} lines of "
                        f"{what} (at line {number}); use a sample of the file"
                    )
                try:
                    value = json.loads(line)
                except (ValueError, UnicodeDecodeError) as exc:
                    raise BodiesError(f"{path} line {number}: not valid JSON ({exc})") from None
                yield number, value, line
    except OSError as exc:
        raise BodiesError(f"cannot read {path}: {exc.strerror or exc}") from None


def read_bodies(path: Path) -> BodySet:
    """The bodies of a JSON Lines file, one JSON value per non-blank line, each checked."""
    bodies = [line for _, _, line in _json_lines(path, "bodies")]
    if not bodies:
        raise BodiesError(f"{path}: no body in it (one JSON value per line expected)")
    return BodySet(bodies, source=str(path))


def _fill(node: Any, values: dict[str, Any], where: str) -> Any:
    if isinstance(node, dict):
        return {key: _fill(value, values, where) for key, value in node.items()}
    if isinstance(node, list):
        return [_fill(item, values, where) for item in node]
    if not isinstance(node, str):
        return node

    def lookup(name: str) -> Any:
        if name not in values:
            raise BodiesError(f"{where}: no variable {name!r} for the template's {{{name}}} slot")
        return values[name]

    whole = _SLOT.fullmatch(node)
    if whole is not None:
        return lookup(whole.group(1))

    def text(match: re.Match[str]) -> str:
        value = lookup(match.group(1))
        return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)

    return _SLOT.sub(text, node)


def render_bodies(template_path: Path, vars_path: Path) -> BodySet:
    """One body per line of ``vars_path`` (a JSON object), filled into the template."""
    try:
        template = json.loads(template_path.read_bytes())
    except OSError as exc:
        raise BodiesError(f"cannot read {template_path}: {exc.strerror or exc}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise BodiesError(f"{template_path}: not valid JSON ({exc})") from None
    bodies = []
    total = 0
    for number, values, _ in _json_lines(vars_path, "variables"):
        where = f"{vars_path} line {number}"
        if not isinstance(values, dict):
            raise BodiesError(f"{where}: expected a JSON object of variables, got {values!r:.60}")
        filled = _fill(template, values, where)
        body = json.dumps(filled, ensure_ascii=False, separators=(",", ":")).encode()
        total += len(body)
        if total > MAX_BYTES:
            raise BodiesError(
                f"{where}: the bodies made so far exceed {MAX_BYTES // 2**20} MiB; "
                "use fewer lines of variables"
            )
        bodies.append(body)
    if not bodies:
        raise BodiesError(f"{vars_path}: no variables in it (one JSON object per line expected)")
    return BodySet(bodies, source=f"{template_path} with {vars_path}")
