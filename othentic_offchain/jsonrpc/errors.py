"""JSON-RPC 2.0 error codes and the exceptions that carry them, on both sides of the wire.

A server method raises one of these to answer with an error object; a client raises the same class
when the answer it got holds that error object (:meth:`JsonRpcError.from_wire`). A call that got no
JSON-RPC answer at all raises :class:`JsonRpcTransportError` instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = [
    "APPLICATION_MAX",
    "APPLICATION_MIN",
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "PARSE_ERROR",
    "ApplicationError",
    "InternalError",
    "InvalidParams",
    "InvalidRequest",
    "JsonRpcError",
    "JsonRpcTransportError",
    "MethodNotFound",
    "ParseError",
]

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
#: The range the specification leaves to applications ("server error" codes).
APPLICATION_MIN = -32099
APPLICATION_MAX = -32000


class JsonRpcError(Exception):
    """An error object of the protocol: ``{"code", "message", "data"?}``."""

    code: int = INTERNAL_ERROR

    def __init__(self, message: str, data: Any = None, *, code: int | None = None):
        super().__init__(message)
        if code is not None:
            self.code = code
        self.message = message
        self.data = data

    def to_wire(self) -> dict[str, Any]:
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            error["data"] = self.data
        return error

    @classmethod
    def from_wire(cls, error: Any) -> JsonRpcError:
        """The typed exception for an error object a server sent."""
        if not isinstance(error, Mapping):
            return InternalError(f"malformed error object: {error!r}")
        code = error.get("code")
        message = str(error.get("message", ""))
        data = error.get("data")
        kind = _BY_CODE.get(code) if isinstance(code, int) else None
        if kind is not None:
            return kind(message, data)
        if isinstance(code, int) and APPLICATION_MIN <= code <= APPLICATION_MAX:
            return ApplicationError(code, message, data)
        return JsonRpcError(message, data, code=code if isinstance(code, int) else INTERNAL_ERROR)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code}, message={self.message!r}, data={self.data!r})"


class ParseError(JsonRpcError):
    """The body is not JSON."""

    code = PARSE_ERROR


class InvalidRequest(JsonRpcError):
    """JSON, but not a request object (or a batch of them), or too large."""

    code = INVALID_REQUEST


class MethodNotFound(JsonRpcError):
    code = METHOD_NOT_FOUND


class InvalidParams(JsonRpcError):
    """A parameter is missing, unknown or malformed; the message names it."""

    code = INVALID_PARAMS


class InternalError(JsonRpcError):
    code = INTERNAL_ERROR


class ApplicationError(JsonRpcError):
    """A refusal a method decides itself (-32000..-32099), with machine-readable ``data``."""

    def __init__(self, code: int, message: str, data: Any = None):
        if not APPLICATION_MIN <= code <= APPLICATION_MAX:
            raise ValueError(f"application error codes are -32099..-32000, got {code}")
        super().__init__(message, data, code=code)


_BY_CODE: dict[int, type[JsonRpcError]] = {
    PARSE_ERROR: ParseError,
    INVALID_REQUEST: InvalidRequest,
    METHOD_NOT_FOUND: MethodNotFound,
    INVALID_PARAMS: InvalidParams,
    INTERNAL_ERROR: InternalError,
}


class JsonRpcTransportError(ConnectionError):
    """The call did not get a JSON-RPC answer. The request may or may not have been executed.

    ``status`` is the HTTP status when the server did answer, with something that is not a JSON-RPC
    answer (not JSON, too large, neither ``result`` nor ``error``); it is ``None`` when nothing
    answered (refused, reset, unresolvable, timed out: ``timed_out`` tells the last apart). ``url``
    is the endpoint called and ``reason`` what went wrong, without the URL (for callers that word
    their own message around it).
    """

    def __init__(
        self,
        message: str,
        status: int | None = None,
        *,
        url: str | None = None,
        reason: str | None = None,
        timed_out: bool = False,
    ):
        super().__init__(message)
        self.status = status
        self.url = url
        self.reason = reason if reason is not None else message
        self.timed_out = timed_out

    @property
    def answered(self) -> bool:
        """Whether an HTTP answer came back (a server is there, speaking something else)."""
        return self.status is not None
