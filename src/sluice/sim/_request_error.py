"""`RequestError`: a request the simulator refuses, answered in OpenAI's error shape.

error = RequestError(400, "messages must be a non-empty list", param="messages")
error.status, error.body()   # 400, b'{"error": {"message": "messages must ...", ...}}'
"""

from __future__ import annotations

from ..openai import encode_error

__all__ = ["RequestError", "invalid"]


class RequestError(Exception):
    """A request the simulator refuses: the HTTP status and the error body's fields.

    ``close`` asks the server to drop the connection after answering, for a request whose
    remaining bytes cannot be trusted to end soon (a body too large or too slow).
    """

    def __init__(
        self,
        status: int,
        message: str,
        type_: str = "invalid_request_error",
        param: str | None = None,
        code: str | None = None,
        *,
        close: bool = False,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type_
        self.param = param
        self.code = code
        self.close = close

    def body(self) -> bytes:
        return encode_error(self.message, self.type, param=self.param, code=self.code)

    def headers(self) -> list[tuple[bytes, bytes]]:
        """Headers this refusal adds to the answer."""
        return [(b"connection", b"close")] if self.close else []


def invalid(message: str, param: str | None = None, code: str | None = None) -> RequestError:
    """A 400 ``invalid_request_error`` naming the request's ``param``."""
    return RequestError(400, message, param=param, code=code)
