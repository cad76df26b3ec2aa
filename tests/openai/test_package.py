"""The package boundary: the pinned public names, standard library only, no I/O modules."""

from __future__ import annotations

import ast
import inspect
import subprocess
import sys
from pathlib import Path

import sluice.openai

EXPECTED = {
    "DONE",
    "DONE_EVENT",
    "MAX_EVENT_SIZE",
    "TERMINAL_EVENTS",
    "FunctionCall",
    "ResponseEvent",
    "ResponseEventEncoder",
    "ResponseOutput",
    "ResponseUsage",
    "decode_response",
    "decode_response_event",
    "decode_response_usage",
    "encode_response",
    "function_call_item",
    "message_item",
    "response_object",
    "refusal_item",
    "response_usage",
    "MAX_VALUES",
    "ChatDelta",
    "Choice",
    "ChunkEncoder",
    "ErrorBody",
    "EventTooLarge",
    "Model",
    "RateLimits",
    "SSEDecoder",
    "SchemaError",
    "ServerSentEvent",
    "ShapeError",
    "ToolCall",
    "ToolCallDelta",
    "Usage",
    "basic_authorization",
    "compile_schema",
    "completion_object",
    "decode_chat",
    "decode_chunk",
    "decode_embedding_base64",
    "decode_embeddings",
    "decode_error",
    "decode_models",
    "decode_object",
    "decode_usage",
    "embeddings_object",
    "encode_completion",
    "encode_embedding_base64",
    "encode_embeddings",
    "encode_error",
    "encode_json",
    "encode_json_ascii",
    "encode_model",
    "encode_models",
    "encode_sse",
    "format_duration",
    "format_rate_limits",
    "format_retry_after",
    "parse_duration",
    "parse_rate_limits",
    "parse_request_id",
    "parse_retry_after",
    "public_url",
    "schema_instance",
    "split_credentials",
}


def run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )


def test_all_is_pinned() -> None:
    assert set(sluice.openai.__all__) == EXPECTED
    assert len(sluice.openai.__all__) == len(EXPECTED)  # no name twice


def test_all_lists_exactly_the_public_names() -> None:
    public = {name for name in vars(sluice.openai) if not name.startswith("_")}
    modules = {name for name in public if inspect.ismodule(getattr(sluice.openai, name))}
    assert public - modules - {"annotations"} == EXPECTED


def test_public_objects_show_the_public_module() -> None:
    for name in sluice.openai.__all__:
        obj = getattr(sluice.openai, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__module__ == "sluice.openai", name


def test_the_client_shares_the_protocol_types() -> None:
    import sluice.llm

    for name in ("ChatDelta", "Choice", "Model", "RateLimits", "ToolCall", "ToolCallDelta"):
        assert getattr(sluice.llm, name) is getattr(sluice.openai, name)
    assert sluice.llm.Usage is sluice.openai.Usage
    assert sluice.llm.parse_retry_after is sluice.openai.parse_retry_after


def test_imports_without_aiohttp_and_loads_no_third_party_module() -> None:
    code = (
        "import sys; sys.modules['aiohttp'] = None; import sluice.openai; "
        "bad = sorted(m for m, mod in sys.modules.items() if mod is not None and ("
        "m.split('.')[0] in "
        "{'aiohttp', 'click', 'uvicorn', 'uvloop', 'httptools', 'openai', 'httpx'} "
        "or m.startswith(('sluice.llm', 'sluice.sim', 'sluice.bench', 'sluice.cli')))); "
        "print(','.join(bad) or 'clean')"
    )
    result = run(code)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "clean"


ALLOWED = {"__future__", "array", "base64", "binascii", "collections", "dataclasses"}
ALLOWED |= {"email", "json", "math", "re", "struct", "sys", "time", "typing", "urllib"}


def test_the_package_imports_only_pure_standard_modules() -> None:
    """No sockets, no event loop, nothing of sluice's but its own modules."""
    folder = Path(sluice.openai.__file__).parent
    for path in sorted(folder.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] if node.level == 0 else []
                if node.level == 1:
                    assert (node.module or "").startswith("_"), (path.name, node.module)
                assert node.level <= 1, (path.name, node.module)
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            for name in names:
                assert name.split(".")[0] in ALLOWED, (path.name, name)
