"""The Execution and Validation Services over HTTP, with Othentic's API.

``POST /task/execute``, ``POST /task/validate`` and ``POST /p2p/message`` answer exactly as
Othentic's example services do, so its nodes can call ours and ours can call services written in
any language. ``GET /health`` and ``GET /openapi.json`` come on top. Every answer, errors included,
is the JSON envelope ``{"data", "error", "message"}``: a caller never has to parse an HTML page or
guess why a request failed.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from othentic_offchain import __version__, safejson
from othentic_offchain.avs.app import Avs, AvsError
from othentic_offchain.avs.models import (
    CustomMessage,
    ErrorResponse,
    ExecutionRequest,
    ExecutionResponse,
    HealthInfo,
    HealthResponse,
    MessageResponse,
    Task,
    ValidationResponse,
    describe_validation_error,
)
from othentic_offchain.avs.openapi import Operation, build_openapi
from othentic_offchain.avs.runner import ServiceRunner, ServiceThread, serve

__all__ = [
    "build_execution_app",
    "build_validation_app",
    "build_services_app",
    "ServiceRunner",
    "ServiceThread",
    "serve",
    "DEFAULT_MAX_BODY",
    "EXECUTION_PORT",
    "VALIDATION_PORT",
    "AVS_KEY",
]

#: Request bodies above this many bytes are refused with 413 (tasks are small; proofs live elsewhere).
DEFAULT_MAX_BODY = 1024 * 1024
#: The ports of Othentic's example services.
EXECUTION_PORT = 4003
VALIDATION_PORT = 4002

Service = Literal["execution", "validation"]
M = TypeVar("M", bound=BaseModel)

AVS_KEY = web.AppKey("avs", Avs)
_SERVICES_KEY = web.AppKey("services", tuple)
_LOGGER_KEY = web.AppKey("logger", logging.Logger)
_OPENAPI_KEY = web.AppKey("openapi", dict)
_ROUTES_KEY: web.AppKey[list[str]] = web.AppKey("routes", list)
_MAX_BODY_KEY = web.AppKey("max_body", int)
_REQUEST_ID_KEY = web.RequestKey("request_id", str)
_STARTED_KEY = web.RequestKey("started", float)

_REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")

_EXECUTE_ERRORS = {
    400: "the body is not JSON, or a field is missing or has a wrong type",
    413: "the body is larger than the service accepts",
    422: "no execute function for this task definition id",
    500: "the execute function raised or returned something other than an Execution",
    502: "the proof store failed",
    504: "the execute function or the proof store did not finish in time",
}
_VALIDATE_ERRORS = {
    400: "the body is not JSON, or a field is missing or has a wrong type",
    413: "the body is larger than the service accepts",
    422: "no validate function for this task definition id",
    500: "the validate function raised or returned something other than a bool",
    504: "the validate function did not finish in time",
}
_MESSAGE_ERRORS = {
    400: "the body is not JSON, or data is not 0x-hex",
    413: "the body is larger than the service accepts",
    500: "the message handler raised",
    504: "the message handler did not finish in time",
}


# -- app factories --------------------------------------------------------------------------------


def build_execution_app(
    avs: Avs, *, max_body: int = DEFAULT_MAX_BODY, logger: logging.Logger | None = None
) -> web.Application:
    """The Execution Service alone: what a performer's node calls to run a task (Othentic port 4003)."""
    return _build(avs, ("execution",), max_body, logger)


def build_validation_app(
    avs: Avs, *, max_body: int = DEFAULT_MAX_BODY, logger: logging.Logger | None = None
) -> web.Application:
    """The Validation Service alone: what an attester's node calls before it votes (Othentic port 4002)."""
    return _build(avs, ("validation",), max_body, logger)


def build_services_app(
    avs: Avs, *, max_body: int = DEFAULT_MAX_BODY, logger: logging.Logger | None = None
) -> web.Application:
    """Both services on one port: the simplest setup for an operator who both performs and attests."""
    return _build(avs, ("execution", "validation"), max_body, logger)


def _build(avs: Avs, services: tuple[Service, ...], max_body: int, logger: logging.Logger | None) -> web.Application:
    if not isinstance(avs, Avs):
        raise TypeError(f"expected an Avs, got {type(avs).__name__}")
    if max_body <= 0:
        raise ValueError(f"max_body must be a positive number of bytes, got {max_body}")
    app = web.Application(client_max_size=max_body, middlewares=[_envelope_middleware])
    app[AVS_KEY] = avs
    app[_SERVICES_KEY] = services
    app[_MAX_BODY_KEY] = max_body
    app[_LOGGER_KEY] = logger or logging.getLogger("othentic.avs.services")

    operations: list[Operation] = []
    routes: list[str] = []

    def add(operation: Operation, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> None:
        app.router.add_route(operation.method, operation.path, handler)
        operations.append(operation)
        routes.append(f"{operation.method} {operation.path}")

    if "execution" in services:
        add(_EXECUTE_OPERATION, _handle_execute)
    if "validation" in services:
        add(_VALIDATE_OPERATION, _handle_validate)
    add(_MESSAGE_OPERATION, _handle_message)
    add(_HEALTH_OPERATION, _handle_health)
    add(_OPENAPI_OPERATION, _handle_openapi)

    app[_ROUTES_KEY] = routes
    app[_OPENAPI_KEY] = build_openapi(
        title=f"{avs.name}: {' and '.join(s.capitalize() for s in services)} Service",
        version=__version__,
        description=(
            "Othentic-compatible AVS services. Every answer is the envelope "
            '{"data", "error", "message"}; errors have data null, error true and a message.'
        ),
        operations=operations,
    )
    return app


# -- handlers -------------------------------------------------------------------------------------


async def _handle_execute(request: web.Request) -> web.Response:
    body = await _read_json(request, empty_means={})
    execution = _parse(ExecutionRequest, body, "execution request")
    _log_step(
        request,
        "task.execute.start",
        task_definition_id=execution.task_definition_id,
        params=",".join(sorted(execution.params)) or "-",
    )
    result = await request.app[AVS_KEY].run_execute(execution.task_definition_id, execution.params)
    _log_step(
        request,
        "task.execute.done",
        task_definition_id=result.task_definition_id,
        proof_of_task=result.proof_of_task,
        data_bytes=len(result.data),
    )
    return _answer(ExecutionResponse(data=result))


async def _handle_validate(request: web.Request) -> web.Response:
    body = await _read_json(request, empty_means=None)
    task = _parse(Task, body, "task")
    _log_step(
        request,
        "task.validate.start",
        task_definition_id=task.task_definition_id,
        proof_of_task=task.proof_of_task,
        performer=task.performer,
    )
    approved = await request.app[AVS_KEY].run_validate(task)
    _log_step(
        request,
        "task.validate.done",
        task_definition_id=task.task_definition_id,
        proof_of_task=task.proof_of_task,
        vote="approve" if approved else "reject",
    )
    return _answer(ValidationResponse(data=approved))


async def _handle_message(request: web.Request) -> web.Response:
    body = await _read_json(request, empty_means=None)
    message = _parse(CustomMessage, body, "custom message")
    handled = await request.app[AVS_KEY].run_message(message.data)
    _log_step(request, "p2p.message.done", data_bytes=len(message.data), handled=handled)
    note = None if handled else "no on_message handler: message ignored"
    return _answer(MessageResponse(data=handled, message=note))


async def _handle_health(request: web.Request) -> web.Response:
    avs = request.app[AVS_KEY]
    services = request.app[_SERVICES_KEY]
    executes, validates = "execution" in services, "validation" in services
    info = HealthInfo(
        avs=avs.name,
        services=list(services),
        execute=avs.execute_ids if executes else [],
        validate_=avs.validate_ids if validates else [],
        execute_any=executes and avs.has_default_execute,
        validate_any=validates and avs.has_default_validate,
        on_message=avs.has_message_handler,
    )
    return _answer(HealthResponse(data=info))


async def _handle_openapi(request: web.Request) -> web.Response:
    return web.json_response(request.app[_OPENAPI_KEY])


# -- request plumbing -----------------------------------------------------------------------------


@web.middleware
async def _envelope_middleware(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Turn every failure into the JSON error envelope and log how each request ended.

    Handlers log their own steps (``task.validate.start`` / ``.done``); this adds the last line,
    ``request.answered`` or ``request.failed``, with the status and the time taken.
    """
    request_id = request.headers.get("X-Request-Id", "")
    if not _REQUEST_ID.fullmatch(request_id):
        request_id = uuid.uuid4().hex[:12]
    request[_REQUEST_ID_KEY] = request_id
    request[_STARTED_KEY] = time.perf_counter()
    failure: tuple[int, str] | None = None
    try:
        response = await handler(request)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        failure = exc.status, _http_error_message(request, exc)
    except AvsError as exc:
        failure = exc.status, exc.message
    except Exception as exc:  # a bug of ours: still an envelope, never aiohttp's HTML page
        request.app[_LOGGER_KEY].exception("request.crashed request_id=%s", request_id)
        failure = 500, f"internal error: {type(exc).__name__}: {exc}"
    if failure is not None:
        response = _answer(ErrorResponse(message=failure[1]), failure[0])
    response.headers["X-Request-Id"] = request_id
    elapsed_ms = (time.perf_counter() - request[_STARTED_KEY]) * 1000
    if failure is not None:
        _log_step(
            request,
            "request.failed",
            method=request.method,
            path=request.path,
            status=failure[0],
            ms=f"{elapsed_ms:.1f}",
            message=failure[1],
            level=logging.WARNING,
        )
    else:
        # Probes hit /health every few seconds: keep them out of the INFO log.
        quiet = request.method == "GET"
        _log_step(
            request,
            "request.answered",
            method=request.method,
            path=request.path,
            status=response.status,
            ms=f"{elapsed_ms:.1f}",
            level=logging.DEBUG if quiet else logging.INFO,
        )
    return response


def _http_error_message(request: web.Request, exc: web.HTTPException) -> str:
    if exc.status == 404:
        routes: list[str] = request.app[_ROUTES_KEY]
        return f"no route {request.method} {request.path}; this service answers: {', '.join(routes)}"
    if exc.status == 405:
        allowed = sorted(getattr(exc, "allowed_methods", ()) or ())
        return f"method {request.method} not allowed on {request.path}; use {' or '.join(allowed) or 'another method'}"
    if exc.status == 413:
        return f"request body too large: the limit is {request.app[_MAX_BODY_KEY]} bytes"
    return exc.text or exc.reason


async def _read_json(request: web.Request, *, empty_means: dict[str, Any] | None) -> dict[str, Any]:
    """The body as a JSON object, or a 400 that says what is wrong with it."""
    raw = await request.read()  # raises 413 past client_max_size
    if not raw.strip():
        if empty_means is not None:
            return dict(empty_means)
        raise _bad_request("request body is empty; expected a JSON object")
    try:
        body = safejson.loads(raw)
    except UnicodeDecodeError:
        raise _bad_request("request body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise _bad_request(f"malformed JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:
        raise _bad_request(f"malformed JSON: {exc}") from None
    if not isinstance(body, dict):
        raise _bad_request(f"expected a JSON object, got {_json_type(body)}")
    return body


def _parse(model: type[M], body: dict[str, Any], what: str) -> M:
    try:
        return model.model_validate(body)
    except ValidationError as exc:
        raise _bad_request(f"invalid {what}: {describe_validation_error(exc)}") from None


def _json_type(value: Any) -> str:
    return {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}.get(
        type(value), "null" if value is None else type(value).__name__
    )


def _bad_request(message: str) -> web.HTTPBadRequest:
    return web.HTTPBadRequest(text=message)


def _answer(model: BaseModel, status: int = 200) -> web.Response:
    return web.Response(
        status=status, body=model.model_dump_json(by_alias=True).encode(), content_type="application/json"
    )


def _log_step(request: web.Request, event: str, *, level: int = logging.INFO, **fields: Any) -> None:
    """One structured line per step.

    The message reads ``event key=value ...`` under any formatter; ``extra["fields"]`` holds the
    same line as a record (``ts``, ``node``, ``step``, ...), the shape the nodes' JSON log
    formatter (``othentic_offchain.nodes.common.observability``) writes out, so services and nodes log alike.
    """
    logger = request.app[_LOGGER_KEY]
    if not logger.isEnabledFor(level):
        return
    context = {"request_id": request.get(_REQUEST_ID_KEY, "-"), "avs": request.app[AVS_KEY].name}
    rendered = " ".join(f"{key}={_render(value)}" for key, value in {**context, **fields}.items())
    record = {"ts": round(time.time(), 3), "node": "avs-service", "step": event, **context, **fields}
    logger.log(level, "%s %s", event, rendered, extra={"event": event, "fields": record})


def _render(value: Any) -> str:
    text = str(value)
    return json.dumps(text) if (not text or any(c in text for c in ' "=\n')) else text


_EXECUTE_OPERATION = Operation(
    method="POST",
    path="/task/execute",
    operation_id="executeTask",
    summary="Run the execute function of a task definition",
    description=(
        "Body: taskDefinitionId (default 0) plus any parameters of the execute function; an empty body "
        "means definition 0 without parameters. Answers the proof of task and the data to send with sendTask."
    ),
    request=ExecutionRequest,
    request_required=False,
    response=ExecutionResponse,
    errors=_EXECUTE_ERRORS,
    tags=("execution",),
)
_VALIDATE_OPERATION = Operation(
    method="POST",
    path="/task/validate",
    operation_id="validateTask",
    summary="Validate a task: approve (true) or reject (false)",
    description="Runs the validate function of the task's definition; 'taskDefinitionID' is accepted too.",
    request=Task,
    response=ValidationResponse,
    errors=_VALIDATE_ERRORS,
    tags=("validation",),
)
_MESSAGE_OPERATION = Operation(
    method="POST",
    path="/p2p/message",
    operation_id="customMessage",
    summary="Take a custom message forwarded by the node (sendCustomMessage)",
    description="data is true when an on_message handler took the message, false when none is registered.",
    request=CustomMessage,
    response=MessageResponse,
    errors=_MESSAGE_ERRORS,
    tags=("p2p",),
)
_HEALTH_OPERATION = Operation(
    method="GET",
    path="/health",
    operation_id="health",
    summary="Liveness and what this service serves",
    description="The AVS name, the services on this port and the task definition ids with a function.",
    response=HealthResponse,
    tags=("meta",),
)
_OPENAPI_OPERATION = Operation(
    method="GET",
    path="/openapi.json",
    operation_id="openapi",
    summary="This document",
    description="The OpenAPI 3.1 document of the routes served on this port.",
    response=None,
    response_schema={"type": "object", "description": "An OpenAPI 3.1 document"},
    tags=("meta",),
)
