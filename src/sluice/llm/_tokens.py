"""Estimating a request's tokens before it is sent, to reserve them on the gate's budget.

The estimate is prompt text / 4 characters per token (or the real count from tiktoken, when it
is installed and its encoding is already cached on disk), plus a small per-message overhead,
plus the completion the request allows (``max_completion_tokens`` or ``max_tokens``, times
``n``). Images, audio and other non-text parts count a flat amount each. Any shape of content
is accepted: strings, lists of parts, tool calls, None, numbers. The gate settles the estimate
with the real ``usage.total_tokens`` afterwards, so it only has to be roughly right.

    estimate_tokens({"messages": [{"role": "user", "content": "Hello there!"}], "max_tokens": 50})
    # 57: 12 characters / 4, plus 4 for the message, plus 50
"""

from __future__ import annotations

import hashlib
import importlib
import logging
import math
import os
import tempfile
import threading
from collections.abc import Callable, Mapping
from typing import Any, TypeAlias

__all__ = ["TokenEstimator", "estimate_tokens", "estimate_tokens_by_chars"]

logger = logging.getLogger("sluice.llm")

TokenEstimator: TypeAlias = Callable[[Mapping[str, Any]], float]
"""``(request body) -> tokens``: the body is the JSON object about to be sent."""

CHARS_PER_TOKEN = 4.0
MESSAGE_OVERHEAD = 4  # role and separators of each chat message
MEDIA_TOKENS = 765  # a high-detail 1024x1024 image; also used for audio and files
_MAX_DEPTH = 32  # deeper nesting than this is not a prompt; stop walking
_PROMPT_KEYS = frozenset({"prompt", "input", "tools", "functions", "response_format"})
_MESSAGE_EXTRAS = ("tool_calls", "function_call", "name")
_MEDIA_PREFIXES = ("image", "input_image", "input_audio", "audio", "file", "input_file")

_ENCODING = "o200k_base"
_ENCODING_URL = f"https://openaipublic.blob.core.windows.net/encodings/{_ENCODING}.tiktoken"

TextCounter: TypeAlias = Callable[[str], float]


def _chars(text: str) -> float:
    return len(text) / CHARS_PER_TOKEN


class _Walker:
    """Adds up the text of arbitrary JSON-like content with one counting function."""

    __slots__ = ("count",)

    def __init__(self, count: TextCounter) -> None:
        self.count = count

    def content(self, value: object, depth: int = 0) -> float:
        if isinstance(value, str):
            return self.count(value)
        if depth > _MAX_DEPTH or value is None or isinstance(value, bool | int | float):
            return 0.0
        if isinstance(value, Mapping):
            kind = value.get("type")
            if isinstance(kind, str) and kind.startswith(_MEDIA_PREFIXES):
                return float(MEDIA_TOKENS)  # base64 payloads say nothing about tokens
            return sum(self.content(item, depth + 1) for item in value.values())
        if isinstance(value, list | tuple):
            return sum(self.content(item, depth + 1) for item in value)
        return 0.0

    def body(self, body: Mapping[str, Any]) -> float:
        # One pass over the body's keys: most requests have three or four of them.
        tokens = 0.0
        count = self.count
        for key, value in body.items():
            if key == "messages":
                if type(value) is not list and not isinstance(value, tuple):
                    continue
                for message in value:
                    tokens += MESSAGE_OVERHEAD
                    if type(message) is not dict and not isinstance(message, Mapping):
                        continue
                    content = message.get("content")
                    tokens += count(content) if type(content) is str else self.content(content)
                    if len(message) > 2:  # more than a role and a content
                        for extra in _MESSAGE_EXTRAS:
                            if extra in message:
                                tokens += self.content(message[extra])
            elif key in _PROMPT_KEYS and value is not None:
                tokens += self._input(value) if key == "input" else self.content(value)
        return tokens

    def _input(self, value: object) -> float:
        # Embedding input may be token ids: a list of ints, or a list of such lists.
        if isinstance(value, list) and value and isinstance(value[0], int):
            return float(len(value))
        if isinstance(value, list) and value and isinstance(value[0], list):
            return sum(
                float(len(item)) if isinstance(item, list) else self.content(item) for item in value
            )
        return self.content(value)


def _completion(body: Mapping[str, Any]) -> float:
    limit = body.get("max_completion_tokens")
    if limit is None:
        limit = body.get("max_tokens")
    if (type(limit) is not int and type(limit) is not float) or limit < 0:
        return 0.0
    n = body.get("n", 1)
    if type(n) is not int or n < 1:
        n = 1
    return float(limit) * n


_BY_CHARS = _Walker(_chars)


def estimate_tokens_by_chars(body: Mapping[str, Any]) -> float:
    """The estimate with 4 characters per token, never tiktoken."""
    return math.ceil(_BY_CHARS.body(body)) + _completion(body)


def estimate_tokens(body: Mapping[str, Any]) -> float:
    """The default estimate: tiktoken's count when usable, else 4 characters per token."""
    count = _tiktoken.counter()
    if count is None:
        return estimate_tokens_by_chars(body)
    try:
        return math.ceil(_Walker(count).body(body)) + _completion(body)
    except Exception:  # a tokenizer failing on odd input must not fail the call
        return estimate_tokens_by_chars(body)


# ------------------------------------------------------------------ optional tiktoken
def _encoding_is_cached() -> bool:
    """Whether tiktoken can load its encoding without the network (where it caches files)."""
    directory = os.environ.get("TIKTOKEN_CACHE_DIR")
    if directory is None:
        directory = os.environ.get("DATA_GYM_CACHE_DIR")
    if directory is None:
        directory = os.path.join(tempfile.gettempdir(), "data-gym-cache")
    if not directory:
        return False
    name = hashlib.sha1(_ENCODING_URL.encode(), usedforsecurity=False).hexdigest()
    return os.path.isfile(os.path.join(directory, name))


def _load_tiktoken() -> TextCounter | None:
    tiktoken = importlib.import_module("tiktoken")  # optional; absent in most installs
    if not _encoding_is_cached():
        return None
    encoding = tiktoken.get_encoding(_ENCODING)
    encode = encoding.encode

    def count(text: str) -> float:
        return float(len(encode(text, disallowed_special=())))

    count("warm up")
    return count


class _TiktokenLoader:
    """Loads tiktoken at most once per process, on a background thread (building an encoding
    takes a noticeable fraction of a second, which must not stall an event loop). Until it is
    ready, or if it fails in any way, estimates use characters."""

    def __init__(self, load: Callable[[], TextCounter | None]) -> None:
        self._load = load
        self._lock = threading.Lock()
        self._started = False
        self._counter: TextCounter | None = None
        self.thread: threading.Thread | None = None

    def counter(self) -> TextCounter | None:
        if not self._started:
            self._start()
        return self._counter

    def _start(self) -> None:
        with self._lock:
            if self._started:
                return
            self._started = True
            self.thread = threading.Thread(target=self._run, name="sluice-tiktoken", daemon=True)
            self.thread.start()

    def _run(self) -> None:
        try:
            self._counter = self._load()
        except Exception as exc:  # ImportError, a broken install, a corrupt cache file...
            logger.debug("tiktoken is not usable (%s); estimating tokens from characters", exc)

    def reset(self, load: Callable[[], TextCounter | None] | None = None) -> None:
        """Forget what was loaded (tests)."""
        with self._lock:
            self._started = False
            self._counter = None
            self.thread = None
            if load is not None:
                self._load = load


_tiktoken = _TiktokenLoader(_load_tiktoken)
