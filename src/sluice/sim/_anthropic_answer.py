"""What a Messages API request is answered with: content blocks, their one-token pieces (the
units the latency model times), the stop reason and the output tokens.

Text comes from the corpus like every answer: ``output_tokens`` tokens (the config's), fewer
when ``max_tokens`` is lower (``max_tokens``), cut before the first stop sequence it contains
(``stop_sequence``), else ``end_turn``. Tool calls are chosen and their inputs made as on
chat (`_tool_calls`): a ``tool_use`` block each, costing one token (its id and name) and its
input's JSON, which streams a token at a time (``tool_use``); when the calls need more tokens
than ``max_tokens`` allows, the answer is text (``max_tokens``).

    answer = plan_answer(request, corpus, output_tokens=16, tool_id="toolu_sim1", seed=0)
    answer.stop_reason, answer.output_tokens   # "end_turn", 16
"""

from __future__ import annotations

from dataclasses import dataclass

from ..openai._fast import builder
from ._answer import call_tokens, token_pieces
from ._anthropic_request import MessagesRequest
from ._content import Corpus, count_tokens
from ._json import dumps
from ._tool_calls import call_seed, choose_calls

__all__ = ["Answer", "Block", "plan_answer"]


@dataclass(frozen=True, slots=True)
class Block:
    """One content block: as a whole message holds it, and as its stream opens and grows."""

    whole: dict[str, object] | bytes  # bytes: the block's JSON, made already
    opening: dict[str, object]
    pieces: list[str]
    json: bool  # pieces are input_json_delta (else text_delta); the first, empty, is the head


@dataclass(frozen=True, slots=True)
class Answer:
    blocks: list[Block]
    stop_reason: str
    stop_sequence: str | None
    output_tokens: int

    @property
    def pieces(self) -> int:
        """Pieces to emit, over all blocks (the latency model's tokens)."""
        return sum(len(block.pieces) for block in self.blocks)


# One answer and a block or two per request: frozen values at the cost of mutable ones.
_block = builder(Block)
_answer = builder(Answer)


def _text_block(pieces: list[str]) -> Block:
    text = "".join(pieces)
    return _block({"type": "text", "text": text}, {"type": "text", "text": ""}, pieces, False)


def _cut(pieces: list[str], stops: tuple[str, ...]) -> tuple[list[str], str | None]:
    """The pieces before the first stop sequence in their text, and that sequence."""
    text = "".join(pieces)
    found = [(at, stop) for stop in stops if (at := text.find(stop)) >= 0]
    if not found:
        return pieces, None
    at, stop = min(found, key=lambda hit: hit[0])
    kept: list[str] = []
    length = 0
    for piece in pieces:
        if length + len(piece) > at:
            if at > length:
                kept.append(piece[: at - length])
            break
        kept.append(piece)
        length += len(piece)
    return kept, stop


def _text(request: MessagesRequest, corpus: Corpus, output_tokens: int) -> Answer:
    count = min(output_tokens, request.max_tokens)
    offset = corpus.offset(request.model, request.prompt_key)
    pieces, stop = _cut(corpus.pieces(offset, count), request.stop_sequences)
    if stop is not None:
        tokens = count_tokens("".join(pieces))
        reason = "stop_sequence"
    else:
        tokens = count
        reason = "max_tokens" if count < output_tokens else "end_turn"
    blocks = [_text_block(pieces)] if pieces else []
    return _answer(blocks, reason, stop, tokens)


def _tool_use(head: dict[str, object], arguments: str) -> bytes:
    """A whole ``tool_use`` block: ``head`` with the input whose JSON is ``arguments`` (as
    the message's encoder wrote it)."""
    return dumps(head)[:-1] + b',"input":' + arguments.encode() + b"}"


def plan_answer(
    request: MessagesRequest,
    corpus: Corpus,
    *,
    output_tokens: int,
    tool_id: str,
    seed: int,
) -> Answer:
    """The answer to ``request`` (see the module docstring); ``seed``: the simulator's."""
    spec = request.structured
    if spec is None:
        return _text(request, corpus, output_tokens)
    request_seed = call_seed(seed, request.model, request.prompt_key)
    calls = choose_calls(spec.tools, spec.choice, spec.parallel, spec.after_tool, request_seed)
    if not calls:
        return _text(request, corpus, output_tokens)
    tokens = call_tokens(calls)
    if tokens > request.max_tokens:
        # The calls would not fit: the model is cut off while still writing (max_tokens).
        return _text(request, corpus, request.max_tokens + 1)
    blocks = []
    for index, call in enumerate(calls):
        # Streamed, a call's input goes a token at a time after its head (id and name);
        # whole, only its token count matters.
        pieces = ["", *token_pieces(call.arguments)] if request.stream else []
        head: dict[str, object] = {
            "type": "tool_use",
            "id": f"{tool_id}_{index}",
            "name": call.name,
        }
        blocks.append(_block(_tool_use(head, call.arguments), {**head, "input": {}}, pieces, True))
    return _answer(blocks, "tool_use", None, tokens)
