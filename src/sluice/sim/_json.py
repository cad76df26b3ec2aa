"""JSON on the simulator's hot path: orjson (a dependency of the ``sim`` extra), with the
standard library wherever the two would disagree.

With tools or a schema, a request carries several times plain chat's JSON and its answer
repeats much of it; the standard codec was then the largest cost of a request. Through
orjson, such a request is read twice as fast and its answer written 8 to 11 times as fast
(``benchmarks/bench_sim_json.py``; ``benchmarks/bench_sim.py`` measures whole requests).

- `loads` takes orjson's value only where it is exactly the standard library's: a body
  orjson refuses (NaN, a byte-order mark, nesting past 1,024 levels, a lone surrogate, bytes
  that are not UTF-8) is left to the standard path (`_body.decode_json`), which words each
  refusal precisely or reads what orjson stops short of (nesting past 1,024 levels); so is a
  body holding a run of 19 digits or more, since orjson reads integers past 64 bits as
  floats.
- `dumps` writes what orjson can (UTF-8, compact: `encode_json`'s bytes, floats aside:
  ``1e-07`` is written ``1e-7``, an equal number) and leaves the rest (integers past 64
  bits) to `encode_json`.

    loads(b'{"model": "m"}')      # {"model": "m"}
    loads(b'{"x": NaN}')          # None: for the standard path to refuse
    dumps({"a": [1, 2.5]})        # b'{"a":[1,2.5]}'
"""

from __future__ import annotations

from typing import Any

import orjson

from ..openai import encode_json

__all__ = ["dumps", "holds_long_number", "loads"]

# A digit becomes "9", anything else a space: 19 nines in a row mark a number orjson may not
# read exactly. One translation and one search: a fraction of what a regular expression
# costs (benchmarks/bench_sim_json.py).
_DIGITS_ONLY = bytes(0x39 if 0x30 <= c <= 0x39 else 0x20 for c in range(256))
_LONG_NUMBER = b"9" * 19


def holds_long_number(raw: bytes) -> bool:
    """Whether ``raw`` holds a run of 19 digits or more (a number orjson may not read
    exactly)."""
    return _LONG_NUMBER in raw.translate(_DIGITS_ONLY)


def loads(raw: bytes) -> Any:
    """The JSON value in ``raw`` as orjson reads it, or None when the standard library must
    read it (see the module docstring); a body that is JSON ``null`` gives None too."""
    if holds_long_number(raw):
        return None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None


def dumps(value: object) -> bytes:
    """``value`` as compact UTF-8 JSON. Raises as `encode_json` does for what JSON cannot
    hold."""
    try:
        return orjson.dumps(value)
    except TypeError:  # orjson.JSONEncodeError: an integer past 64 bits, a non-str key...
        return encode_json(value)
