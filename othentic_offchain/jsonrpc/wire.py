"""The JSON-RPC 2.0 message objects, built and encoded one way for the server and the clients.

A request is ``{"jsonrpc": "2.0", "method", "params"?, "id"?}`` (no ``id``: a notification, which
gets no answer); an answer is ``{"jsonrpc": "2.0", "result" | "error", "id"}``. Bodies are compact
UTF-8 JSON.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from othentic_offchain.jsonrpc.errors import JsonRpcError

__all__ = ["VERSION", "Params", "encode", "error_response", "request", "result_response"]

VERSION = "2.0"

#: What a call's params may be: positional (a sequence), named (a mapping) or absent.
Params = Sequence[Any] | Mapping[str, Any] | None


def encode(value: Any) -> bytes:
    """A message as the HTTP body that carries it."""
    return json.dumps(value, separators=(",", ":")).encode()


def request(method: str, params: Params, request_id: int | str | None) -> dict[str, Any]:
    """A request object; ``request_id=None`` makes it a notification. A tuple of params is sent as
    an array; ``params=None`` leaves the member out."""
    message: dict[str, Any] = {"jsonrpc": VERSION, "method": method}
    if params is not None:
        message["params"] = list(params) if isinstance(params, tuple) else params
    if request_id is not None:
        message["id"] = request_id
    return message


def result_response(request_id: Any, result: Any) -> dict[str, Any]:
    return {"jsonrpc": VERSION, "result": result, "id": request_id}


def error_response(request_id: Any, error: JsonRpcError) -> dict[str, Any]:
    return {"jsonrpc": VERSION, "error": error.to_wire(), "id": request_id}
