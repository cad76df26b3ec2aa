"""Deterministic content: the tokenizer, completion text and embedding vectors.

Tokenizer (simple by design, and documented so clients can predict usage): a token is a run of
letters, digits or underscores, or a single other non-space character; whitespace is free.
``count_tokens("Hello, world!") == 4``. A chat prompt costs 3 tokens per message plus its text
(+1 for a ``name``), plus 3 to prime the reply; an image part costs 85 tokens.

Completions are slices of a fixed pseudo-text generated from the seed: the slice starts at an
offset hashed from (seed, model, prompt), so the same request always gets the same answer and
different prompts get different ones. Every emitted piece is exactly one token, so
``count_tokens(content) == completion_tokens``.

    corpus = Corpus(seed=0)
    pieces = corpus.pieces(corpus.offset("sim-model", b"user\\x00hi"), 5)
    assert count_tokens("".join(pieces)) == 5
"""

from __future__ import annotations

import hashlib
import itertools
import math
import random
import re

__all__ = [
    "MEDIA_TOKENS",
    "MESSAGE_OVERHEAD",
    "REPLY_PRIMING",
    "Corpus",
    "TokenBudget",
    "count_tokens",
    "embedding",
]

_TOKEN_RE = re.compile(r"\w+|[^\w\s]")

# fmt: off
_WORDS = (
    "river", "stone", "light", "window", "garden", "signal", "quiet", "harbor", "paper", "engine",
    "morning", "silver", "market", "forest", "bridge", "ladder", "circle", "pattern", "orbit",
    "velvet", "candle", "meadow", "thunder", "echo", "lantern", "compass", "anchor", "feather",
    "marble", "canyon", "glacier", "island", "valley", "summit", "shadow", "crystal", "ember",
    "willow", "falcon", "copper", "timber", "harvest", "breeze", "puzzle", "mirror", "rocket",
    "needle", "blanket", "cotton", "saddle", "violet", "scarlet", "amber", "cobalt", "olive",
    "ivory", "coral", "the", "a", "of", "and", "to", "in", "on", "with", "for", "from", "under",
    "over", "between", "across", "near", "beyond", "moves", "holds", "finds", "keeps", "turns",
    "builds", "carries", "draws", "follows", "opens", "shapes", "gathers", "slowly", "gently",
    "quickly", "often", "rarely", "always", "clearly", "softly", "brightly", "nearly", "small",
    "bright", "distant", "hidden", "open", "narrow", "steady", "golden", "wooden", "ancient",
    "silent", "every", "some", "many", "few", "each", "other", "first", "last", "next", "early",
    "late", "whole", "simple",
)
# fmt: on

_CORPUS_TOKENS = 4096  # long enough that answers rarely overlap, small enough to build at once


def count_tokens(text: str, limit: int | None = None) -> int:
    """Tokens in ``text`` under the simulator's tokenizer (see the module docstring).

    With ``limit``, counting stops past it: the answer is exact up to ``limit``, and
    ``limit + 1`` for any longer text, at a cost bounded by ``limit`` whatever the text.

        count_tokens("a b c d", limit=2)   # 3: more than 2
    """
    # A token is at least one character, so a text no longer than the limit is counted whole.
    if limit is None or len(text) <= limit:
        return len(_TOKEN_RE.findall(text))
    return sum(1 for _ in itertools.islice(_TOKEN_RE.finditer(text), limit + 1))


# What a prompt costs beside its text, on every endpoint (see the module docstring).
MESSAGE_OVERHEAD = 3
REPLY_PRIMING = 3
MEDIA_TOKENS = 85  # an image, a file or a document


class TokenBudget:
    """Tokens of one prompt, counted while they stay within ``limit`` (None: no limit)."""

    __slots__ = ("limit", "total")

    def __init__(self, limit: int | None) -> None:
        self.limit = limit
        self.total = 0

    def add_text(self, text: str) -> None:
        if self.limit is None:
            self.total += count_tokens(text)
        elif self.total <= self.limit:  # past the limit, more counting changes nothing
            self.total += count_tokens(text, self.limit - self.total)


class Corpus:
    """A seeded pseudo-text, stored as one-token pieces plus their JSON-encoded form."""

    __slots__ = ("_json_pieces", "_pieces", "_seed_prefix")

    def __init__(self, seed: int) -> None:
        rng = random.Random(seed)
        pieces: list[str] = []
        capitalize = True
        while len(pieces) < _CORPUS_TOKENS:
            word = rng.choice(_WORDS)
            pieces.append(" " + (word.capitalize() if capitalize else word))
            capitalize = False
            roll = rng.random()
            if roll < 0.08:
                pieces.append(".")
                capitalize = True
            elif roll < 0.14:
                pieces.append(",")
        del pieces[_CORPUS_TOKENS:]
        self._pieces = tuple(pieces)
        # The text of a stream chunk goes into a JSON template; encoding each piece once
        # here keeps per-chunk work to a few byte concatenations.
        self._json_pieces = tuple(_json_string(p) for p in pieces)
        self._seed_prefix = f"{seed}\x00".encode()

    def offset(self, model: str, prompt_key: bytes) -> int:
        """Where in the corpus the answer to this prompt starts."""
        digest = hashlib.blake2b(
            self._seed_prefix + model.encode() + b"\x00" + prompt_key, digest_size=8
        ).digest()
        return int.from_bytes(digest, "little") % _CORPUS_TOKENS

    def indices(self, offset: int, count: int) -> list[int]:
        """Corpus positions of ``count`` tokens starting at ``offset``, wrapping around."""
        return [(offset + i) % _CORPUS_TOKENS for i in range(count)]

    def pieces(self, offset: int, count: int) -> list[str]:
        """The ``count`` pieces of the answer; the first loses its leading space."""
        out = [self._pieces[i] for i in self.indices(offset, count)]
        if out:
            out[0] = out[0].lstrip()
        return out

    def text(self, offset: int, count: int) -> str:
        return "".join(self.pieces(offset, count))

    def json_piece(self, index: int, first: bool) -> bytes:
        """The JSON string for the piece at corpus position ``index``."""
        if first:
            return _json_string(self._pieces[index].lstrip())
        return self._json_pieces[index]


def _json_string(text: str) -> bytes:
    # Pieces are plain ASCII words and punctuation: quoting needs no escaping.
    return b'"' + text.encode() + b'"'


def embedding(seed: int, model: str, text_key: bytes, dimensions: int) -> list[float]:
    """A deterministic unit vector for one input: same input, same vector."""
    raw = hashlib.shake_128(f"{seed}\x00{model}\x00".encode() + text_key).digest(dimensions)
    values = [(b - 127.5) / 127.5 for b in raw]
    norm = math.sqrt(math.fsum(v * v for v in values)) or 1.0
    return [v / norm for v in values]
