"""JSON-RPC 2.0 over HTTP: the server the aggregator answers with, and the one client everyone calls with.

* :mod:`.errors`: the error codes and exceptions, the same on both sides of the wire;
* :mod:`.wire`: the request and answer objects and their encoding;
* :mod:`.server`: :class:`JsonRpcServer` for aiohttp, its methods' parameters declared with :class:`Param`;
* :mod:`.client`: :class:`JsonRpcClient` (async, aiohttp) and :class:`BlockingJsonRpcClient`
  (synchronous, standard library), which share the request builder and the answer parser.

Everything public is importable from here: ``from othentic_offchain.jsonrpc import JsonRpcServer``.
"""

from othentic_offchain.jsonrpc.client import (
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_TIMEOUT,
    BlockingJsonRpcClient,
    JsonRpcClient,
)
from othentic_offchain.jsonrpc.errors import (
    APPLICATION_MAX,
    APPLICATION_MIN,
    INTERNAL_ERROR,
    INVALID_PARAMS,
    INVALID_REQUEST,
    METHOD_NOT_FOUND,
    PARSE_ERROR,
    ApplicationError,
    InternalError,
    InvalidParams,
    InvalidRequest,
    JsonRpcError,
    JsonRpcTransportError,
    MethodNotFound,
    ParseError,
)
from othentic_offchain.jsonrpc.server import Handler, JsonRpcServer, Method, Param, as_hex_bytes, as_int, as_str

__all__ = [
    "APPLICATION_MAX",
    "APPLICATION_MIN",
    "DEFAULT_MAX_RESPONSE_BYTES",
    "DEFAULT_TIMEOUT",
    "INTERNAL_ERROR",
    "INVALID_PARAMS",
    "INVALID_REQUEST",
    "METHOD_NOT_FOUND",
    "PARSE_ERROR",
    "ApplicationError",
    "BlockingJsonRpcClient",
    "Handler",
    "InternalError",
    "InvalidParams",
    "InvalidRequest",
    "JsonRpcClient",
    "JsonRpcError",
    "JsonRpcServer",
    "JsonRpcTransportError",
    "Method",
    "MethodNotFound",
    "Param",
    "ParseError",
    "as_hex_bytes",
    "as_int",
    "as_str",
]
