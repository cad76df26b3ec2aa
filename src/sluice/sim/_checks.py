"""What a parsed request may ask of the simulated model: prompts within its context length,
and embeddings answers within the simulator's size limit.

    check_request(inference, config)   # RequestError(400, ...) when it asks too much
"""

from __future__ import annotations

from ._config import SimConfig
from ._protocol import Inference
from ._request_error import RequestError

__all__ = ["check_request"]


def check_request(inference: Inference, config: SimConfig) -> None:
    """Raise `RequestError` (400) for a request the model cannot or will not answer."""
    if inference.kind == "embedding":
        _check_inputs(inference, config.context_length)
        _check_embedding_size(inference, config)
    else:
        _check_prompt(inference, config.context_length)


def _check_inputs(inference: Inference, limit: int) -> None:
    longest = max(tokens for _, tokens in inference.inputs)
    if longest > limit:
        raise RequestError(
            400,
            # Counting stopped just past the limit (see parse_request): the excess is unknown.
            f"This model's maximum context length is {limit} tokens, however you requested "
            f"more than {limit} tokens in an input. Please reduce your input.",
            param="input",
            code="context_length_exceeded",
        )


def _check_prompt(inference: Inference, limit: int) -> None:
    prompt, completion = inference.prompt_tokens, inference.max_tokens or 0
    if prompt > limit:
        raise RequestError(
            400,
            f"This model's maximum context length is {limit} tokens. However, your messages "
            f"resulted in more than {limit} tokens. Please reduce the length of the messages.",
            param="messages",
            code="context_length_exceeded",
        )
    if prompt + completion > limit:
        raise RequestError(
            400,
            f"This model's maximum context length is {limit} tokens. However, you requested "
            f"{prompt + completion} tokens ({prompt} in the messages, {completion} in the "
            "completion). Please reduce the length of the messages or completion.",
            param="messages",
            code="context_length_exceeded",
        )


def _check_embedding_size(inference: Inference, config: SimConfig) -> None:
    count = len(inference.inputs)
    dimensions = inference.dimensions or config.embedding_dim
    limit = config.max_embedding_values
    if count * dimensions > limit:
        raise RequestError(
            400,
            f"This request asks for {count} embeddings of {dimensions} dimensions "
            f"({count * dimensions} numbers); the simulator answers at most {limit} per "
            "request (its max_embedding_values setting). Send fewer inputs per request"
            + (" or ask for fewer dimensions." if inference.dimensions else "."),
            param="dimensions" if inference.dimensions else "input",
            code="embedding_too_large",
        )
