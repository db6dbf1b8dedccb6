"""The JSON-RPC 2.0 server for aiohttp: a registry of methods with declared parameters.

Othentic's nodes speak JSON-RPC (``sendTask``, ``sendCustomMessage``), and every existing
performer is a JSON-RPC client, so the aggregator must follow the specification to the letter:
batches, notifications, the standard error codes. Declaring each method's parameters once lets
the server accept them by position (what Othentic's clients send) or by name, and answer a bad
call with ``-32602`` and a message that names the parameter and what is wrong with it, instead of
a stack trace.

    server = JsonRpcServer(max_request_bytes=1 << 20)

    @server.method("add", params=[Param("a", as_int), Param("b", as_int, default=0)])
    async def add(a: int, b: int) -> int:
        return a + b

    app.router.add_post("/", server.handle)

A handler raises :class:`~othentic_offchain.jsonrpc.errors.ApplicationError` (codes
-32000..-32099) for a refusal of its own; any other exception becomes ``-32603`` carrying its
reason. The ``as_*`` functions are ready-made parsers for :class:`Param`.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from othentic_offchain import safejson
from othentic_offchain.jsonrpc.errors import (
    INVALID_REQUEST,
    PARSE_ERROR,
    InternalError,
    InvalidParams,
    InvalidRequest,
    JsonRpcError,
    MethodNotFound,
    ParseError,
)
from othentic_offchain.jsonrpc.wire import VERSION, encode, error_response, result_response

__all__ = ["Handler", "JsonRpcServer", "Method", "Param", "as_hex_bytes", "as_int", "as_str"]

logger = logging.getLogger("othentic.jsonrpc")

_MISSING: Any = object()


# --- parameters ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Param:
    """One declared parameter: its name, a parser that turns the wire value into the Python value
    (raising ``ValueError``/``TypeError`` with a message saying what is wrong), a default (absent =
    required) and other names it is accepted under when passed by name."""

    name: str
    parse: Callable[[Any], Any] | None = None
    default: Any = _MISSING
    aliases: tuple[str, ...] = ()

    @property
    def required(self) -> bool:
        return self.default is _MISSING


Handler = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Method:
    name: str
    handler: Handler
    params: tuple[Param, ...]

    def bind(self, params: Any) -> dict[str, Any]:
        """Positional or named wire params -> keyword arguments of the handler, parsed."""
        values: dict[str, Any] = {}
        declared = self.params
        if params is None:
            params = []
        if isinstance(params, list):
            if len(params) > len(declared):
                names = ", ".join(p.name for p in declared) or "none"
                raise InvalidParams(
                    f"too many params: {self.name} takes at most {len(declared)} ({names}), got {len(params)}",
                    {"expected": [p.name for p in declared], "got": len(params)},
                )
            for param, value in zip(declared, params):
                values[param.name] = value
        else:  # a dict (checked by the caller)
            by_name = {p.name: p for p in declared}
            for param in declared:
                for alias in param.aliases:
                    by_name.setdefault(alias, param)
            for key, value in params.items():
                named = by_name.get(key)
                if named is None:
                    raise InvalidParams(
                        f"unknown param {key!r}: {self.name} takes {', '.join(p.name for p in declared) or 'none'}",
                        {"param": key},
                    )
                if named.name in values:
                    raise InvalidParams(f"param {named.name!r} given twice (as {key!r})", {"param": named.name})
                values[named.name] = value
        out: dict[str, Any] = {}
        for position, param in enumerate(declared):
            if param.name not in values or (values[param.name] is None and not param.required):
                if param.required:
                    raise InvalidParams(f"missing param {param.name!r} (position {position})", {"param": param.name})
                out[param.name] = param.default
                continue
            raw = values[param.name]
            if param.parse is None:
                out[param.name] = raw
                continue
            try:
                out[param.name] = param.parse(raw)
            except (ValueError, TypeError) as exc:
                raise InvalidParams(f"invalid param {param.name!r}: {exc}", {"param": param.name}) from None
        return out


# --- common parsers -----------------------------------------------------------------------------


def as_str(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {_kind(value)}")
    return value


def as_int(value: Any) -> int:
    """An integer; a decimal string of digits is accepted (JavaScript clients send ids as text)."""
    if isinstance(value, bool):
        raise TypeError("expected an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    if isinstance(value, str) and value.startswith(("0x", "0X")):
        try:
            return int(value, 16)
        except ValueError:
            pass
    raise TypeError(f"expected an integer, got {_kind(value)}")


def as_hex_bytes(value: Any) -> bytes:
    """0x-prefixed hex (even number of digits) -> bytes."""
    if not isinstance(value, str):
        raise TypeError(f"expected a 0x-prefixed hex string, got {_kind(value)}")
    if not value.startswith(("0x", "0X")):
        raise ValueError(f"expected a 0x-prefixed hex string, got {_show(value)}")
    body = value[2:]
    if len(body) % 2:
        raise ValueError(f"hex string has an odd number of digits ({len(body)})")
    try:
        return bytes.fromhex(body)
    except ValueError:
        raise ValueError("hex string holds characters other than 0-9, a-f, A-F") from None


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({_show(value)})"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def _show(text: str, limit: int = 24) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")


# --- server -------------------------------------------------------------------------------------


class JsonRpcServer:
    """A registry of methods and the aiohttp handler that serves them.

    ``max_request_bytes`` bounds a request body (answered with ``-32600`` and HTTP 413 beyond it),
    ``max_batch`` the number of calls in one batch. Calls of a batch run concurrently; answers keep
    the batch's order, notifications get none.
    """

    def __init__(self, *, max_request_bytes: int = 1 << 20, max_batch: int = 100, name: str = "jsonrpc"):
        self.max_request_bytes = max_request_bytes
        self.max_batch = max_batch
        self.name = name
        self.methods: dict[str, Method] = {}
        #: Called after each call with (method name or None, error code or None): metrics hooks.
        self.on_call: Callable[[str | None, int | None], None] | None = None

    def register(self, name: str, handler: Handler, params: Sequence[Param] = ()) -> None:
        """Add ``handler`` (an async function taking the params as keyword arguments)."""
        if name in self.methods:
            raise ValueError(f"method {name!r} is already registered")
        if not inspect.iscoroutinefunction(handler):
            raise TypeError(f"handler of {name!r} must be an async function")
        self.methods[name] = Method(name, handler, tuple(params))

    def method(self, name: str, params: Sequence[Param] = ()) -> Callable[[Handler], Handler]:
        """Decorator form of :meth:`register`."""

        def decorate(handler: Handler) -> Handler:
            self.register(name, handler, params)
            return handler

        return decorate

    async def handle(self, request: web.Request) -> web.Response:
        """The aiohttp handler for ``POST``: read (bounded), parse, dispatch, answer."""
        declared = request.content_length
        if declared is not None and declared > self.max_request_bytes:
            return self._too_large(declared)
        body = bytearray()
        async for chunk in request.content.iter_any():
            body += chunk
            if len(body) > self.max_request_bytes:
                return self._too_large(len(body))
        answer = await self.dispatch(bytes(body))
        if answer is None:
            return web.Response(status=204)
        return web.Response(body=encode(answer), content_type="application/json")

    def _too_large(self, size: int) -> web.Response:
        error = InvalidRequest(
            f"request too large: {size} bytes, the limit is {self.max_request_bytes}",
            {"limit": self.max_request_bytes},
        )
        return web.Response(status=413, body=encode(error_response(None, error)), content_type="application/json")

    async def dispatch(self, body: bytes | str) -> Any:
        """One HTTP body -> the answer (an object, a list, or None when nothing is to be answered)."""
        try:
            message = safejson.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            self._count(None, PARSE_ERROR)
            return error_response(None, ParseError(f"parse error: the body is not valid JSON ({exc})"))
        if isinstance(message, list):
            if not message:
                self._count(None, INVALID_REQUEST)
                return error_response(None, InvalidRequest("invalid request: empty batch"))
            if len(message) > self.max_batch:
                self._count(None, INVALID_REQUEST)
                return error_response(
                    None, InvalidRequest(f"batch too large: {len(message)} calls, the limit is {self.max_batch}")
                )
            answers = await asyncio.gather(*(self._one(item) for item in message))
            answers = [a for a in answers if a is not None]
            return answers or None
        return await self._one(message)

    async def _one(self, message: Any) -> dict[str, Any] | None:
        if not isinstance(message, dict):
            self._count(None, INVALID_REQUEST)
            return error_response(None, InvalidRequest(f"invalid request: expected an object, got {_kind(message)}"))
        has_id = "id" in message
        request_id = message.get("id")
        if has_id and not (
            request_id is None
            or isinstance(request_id, str)
            or (isinstance(request_id, (int, float)) and not isinstance(request_id, bool))
        ):
            self._count(None, INVALID_REQUEST)
            return error_response(
                None, InvalidRequest(f"invalid request: id must be a string, number or null, got {_kind(request_id)}")
            )
        if message.get("jsonrpc") != VERSION:
            self._count(None, INVALID_REQUEST)
            return error_response(request_id, InvalidRequest('invalid request: "jsonrpc" must be "2.0"'))
        name = message.get("method")
        if not isinstance(name, str):
            self._count(None, INVALID_REQUEST)
            return error_response(
                request_id, InvalidRequest(f"invalid request: method must be a string, got {_kind(name)}")
            )
        params = message.get("params")
        if "params" in message and not isinstance(params, (list, dict)):
            self._count(name, INVALID_REQUEST)
            return error_response(
                request_id,
                InvalidRequest(f"invalid request: params must be an array or an object, got {_kind(params)}"),
            )
        try:
            result = await self.call(name, params)
        except JsonRpcError as error:
            self._count(name, error.code)
            return error_response(request_id, error) if has_id else None
        self._count(name, None)
        if not has_id:
            return None
        return result_response(request_id, result)

    async def call(self, name: str, params: Any = None) -> Any:
        """Run one method in-process, with the same checks and errors as over the wire."""
        method = self.methods.get(name)
        if method is None:
            raise MethodNotFound(f"method not found: {name!r}", {"method": name})
        kwargs = method.bind(params)
        try:
            return await method.handler(**kwargs)
        except JsonRpcError:
            raise
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the reason travels, the traceback stays in the log
            logger.exception("%s: method %s failed", self.name, name)
            raise InternalError(f"internal error: {type(exc).__name__}: {exc}", {"method": name}) from exc

    def _count(self, name: str | None, code: int | None) -> None:
        if self.on_call is not None:
            try:
                self.on_call(name if name in self.methods else None, code)
            except Exception:  # metrics never break a call
                logger.exception("on_call hook failed")
