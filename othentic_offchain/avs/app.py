"""The AVS programming model: plain Python functions per task definition id.

An AVS builder registers, per definition id, an *execute* function (parameters -> proof of task and
data) and a *validate* function (task -> approve or reject), plus optionally a handler for custom
messages. ``Avs`` keeps them and runs them with the guarantees a node needs from its service: every
call finishes (timeouts), every failure comes back as a typed error with a message a person can act
on, and sync code never blocks the event loop. HTTP lives elsewhere (``services.py``): this module
knows nothing about the wire beyond the ``Task`` and ``ExecutionResult`` models.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import types
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar, overload, runtime_checkable

from othentic_offchain.avs.models import MAX_TASK_DEFINITION_ID, ExecutionResult, Task

__all__ = [
    "Avs",
    "Task",
    "Context",
    "Execution",
    "ProofStore",
    "AvsError",
    "NoHandler",
    "HandlerFailed",
    "HandlerTimeout",
    "BadHandlerResult",
    "ProofStoreFailed",
    "DEFAULT_TIMEOUT",
]

#: Seconds a builder function may run before its caller gets a 504 instead of a hung request.
DEFAULT_TIMEOUT = 10.0

F = TypeVar("F", bound=Callable[..., Any])


@runtime_checkable
class ProofStore(Protocol):
    """Where proofs of task are kept: content in, CID out (``othentic_offchain.proofs`` or any twin)."""

    async def put(self, content: bytes) -> str: ...

    async def get(self, cid: str) -> bytes: ...


@dataclass(frozen=True)
class Context:
    """What a builder function may need besides its input, passed as its second argument.

    ``task_definition_id`` is the id of the call at hand, so that a default handler (registered for
    any id) knows which definition it serves.
    """

    avs: str
    proofs: ProofStore | None
    config: Mapping[str, Any]
    logger: logging.Logger
    task_definition_id: int | None = None
    task_definition_name: str | None = None  # the name bound to the id (Avs.bind), if any


@dataclass(frozen=True, kw_only=True)
class Execution:
    """What an execute function returns.

    Give ``proof_of_task`` when the function stored its result itself (a CID, a URL, ...), or
    ``proof`` (the bytes of the result) to have the service store it in ``ctx.proofs`` and use the
    CID it returns as the proof of task. ``data`` goes on-chain with the task.
    """

    data: bytes = b""
    proof_of_task: str | None = None
    proof: bytes | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.data, (bytes, bytearray)):
            raise TypeError(
                f"Execution.data must be bytes, got {type(self.data).__name__} "
                "(encode text with .encode() or hex with bytes.fromhex())"
            )
        if (self.proof_of_task is None) == (self.proof is None):
            raise ValueError("Execution needs exactly one of proof_of_task (already stored) or proof (bytes to store)")
        if self.proof_of_task is not None and not isinstance(self.proof_of_task, str):
            raise TypeError(f"Execution.proof_of_task must be a str, got {type(self.proof_of_task).__name__}")
        if self.proof is not None and not isinstance(self.proof, (bytes, bytearray)):
            raise TypeError(f"Execution.proof must be bytes, got {type(self.proof).__name__}")
        object.__setattr__(self, "data", bytes(self.data))


class AvsError(Exception):
    """A call into the AVS that could not give an answer; ``status`` is the HTTP status to report."""

    status: int = 500

    def __init__(self, message: str, *, status: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status is not None:
            self.status = status


class NoHandler(AvsError):
    """No function is registered for the definition id: the request cannot be served here."""

    status = 422


class HandlerFailed(AvsError):
    """The builder function raised: the message carries the exception's type and text."""

    status = 500


class HandlerTimeout(AvsError):
    """The builder function did not finish within its timeout."""

    status = 504


class BadHandlerResult(AvsError):
    """The builder function returned something the protocol cannot use (a non-bool vote, ...)."""

    status = 500


class ProofStoreFailed(AvsError):
    """Storing ``Execution.proof`` failed (502) or took longer than the timeout (504)."""

    status = 502


@dataclass(frozen=True)
class _Handler:
    kind: str
    fn: Callable[..., Any]
    name: str
    takes_context: bool
    is_async: bool
    timeout: float | None


@dataclass
class _Registry:
    """The functions of one kind (execute or validate): per id, plus an optional default."""

    kind: str
    by_id: dict[int, _Handler] = field(default_factory=dict)
    by_name: dict[str, _Handler] = field(default_factory=dict)
    default: _Handler | None = None

    def add(self, keys: tuple[int | str, ...], handler: _Handler) -> None:
        if not keys:
            if self.default is not None:
                raise ValueError(f"a default {self.kind} function is already registered ({self.default.name})")
            self.default = handler
            return
        for key in keys:
            table: dict[Any, _Handler] = self.by_name if isinstance(key, str) else self.by_id
            if key in table:
                what = f"{key!r}" if isinstance(key, str) else str(key)
                raise ValueError(f"task definition {what} already has a {self.kind} function ({table[key].name})")
        for key in keys:
            if isinstance(key, str):
                self.by_name[key] = handler
            else:
                self.by_id[key] = handler

    def find(self, task_definition_id: int, names: Mapping[int, str]) -> _Handler | None:
        """The function of an id: registered for the id, else for the name bound to it, else the default."""
        found = self.by_id.get(task_definition_id)
        if found is None and task_definition_id in names:
            found = self.by_name.get(names[task_definition_id])
        return found if found is not None else self.default


def _check_ids(ids: tuple[Any, ...], decorator: str) -> tuple[int | str, ...]:
    for value in ids:
        if isinstance(value, str):
            _check_name(value)
            continue
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"@{decorator}(...) takes task definition ids (int) or names (str), got {value!r}")
        if not 0 <= value <= MAX_TASK_DEFINITION_ID:
            raise ValueError(f"task definition id must be in [0, {MAX_TASK_DEFINITION_ID}] (uint16), got {value}")
    if len(set(ids)) != len(ids):
        raise ValueError(f"@{decorator}(...) got a task definition id twice: {ids}")
    return tuple(ids)


def _check_name(name: str) -> str:
    """A task definition's name as the chain keeps it: 1 to 64 bytes of UTF-8."""
    if not name.strip() or len(name.encode()) > 64:
        raise ValueError(f"a task definition name is 1 to 64 bytes, got {name!r}")
    if name.isdigit():
        raise ValueError(f"a task definition name cannot be only digits (it would read as an id), got {name!r}")
    return name


def _takes_context(fn: Callable[..., Any], what: str) -> bool:
    """Whether to pass ``ctx``: functions may take ``(input, ctx)`` or just ``(input)``."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):  # some builtins and C callables hide their signature
        return True
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    if any(p.kind is p.VAR_POSITIONAL for p in params):
        return True
    required = [p for p in positional if p.default is p.empty]
    if len(required) > 2 or not positional:
        raise TypeError(f"{what} function {_name(fn)} must take (input, ctx) or (input), not {inspect.signature(fn)}")
    return len(positional) >= 2


def _is_async(fn: Callable[..., Any]) -> bool:
    return inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None))  # noqa: B004


def _name(fn: Callable[..., Any]) -> str:
    return getattr(fn, "__name__", None) or type(fn).__name__


class Avs:
    """One AVS: its name, its functions per task definition id, and what they share.

    ``proofs`` is a proof store client (any object with async ``put(bytes) -> cid`` and
    ``get(cid) -> bytes``), ``config`` a free-form dict handed to every function as ``ctx.config``,
    ``timeout`` the default time limit of every function in seconds.
    """

    def __init__(
        self,
        name: str,
        *,
        proofs: ProofStore | None = None,
        config: Mapping[str, Any] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        logger: logging.Logger | None = None,
    ) -> None:
        if not name or not isinstance(name, str):
            raise ValueError("an Avs needs a non-empty name")
        self.name = name
        self.proofs = proofs
        self.config: dict[str, Any] = dict(config or {})
        self.timeout = timeout
        self.logger = logger or logging.getLogger(f"othentic.avs.{name}")
        self._execute = _Registry("execute")
        self._validate = _Registry("validate")
        self._on_message: _Handler | None = None
        self._names: dict[int, str] = {}  # definition id -> name, from bind()

    def __repr__(self) -> str:
        return (
            f"Avs({self.name!r}, execute={self.execute_ids}{'+default' if self.has_default_execute else ''}, "
            f"validate={self.validate_ids}{'+default' if self.has_default_validate else ''})"
        )

    # -- settings ---------------------------------------------------------------------------------

    @property
    def proofs(self) -> ProofStore | None:
        """The proof store client functions reach as ``ctx.proofs`` (None: not configured)."""
        return self._proofs

    @proofs.setter
    def proofs(self, store: ProofStore | None) -> None:
        # Checked here, not at first use, so a misconfigured service fails at start, not mid-task.
        if store is not None:
            for method in ("put", "get"):
                bound = getattr(store, method, None)
                if bound is None or not _is_async(bound):
                    raise TypeError(
                        f"proof store {type(store).__name__} needs an async {method}() method "
                        "(put(bytes) -> cid, get(cid) -> bytes)"
                    )
        self._proofs = store

    @property
    def timeout(self) -> float:
        """Default time limit of every builder function, in seconds."""
        return self._timeout

    @timeout.setter
    def timeout(self, seconds: float) -> None:
        self._timeout = _check_timeout(seconds)

    # -- registration -----------------------------------------------------------------------------

    @overload
    def execute(self, fn: F, /) -> F: ...

    @overload
    def execute(self, *ids: int | str, timeout: float | None = None) -> Callable[[F], F]: ...

    def execute(self, *ids: Any, timeout: float | None = None) -> Any:
        """Register an execute function ``(params: dict, ctx) -> Execution`` for these definition ids.

        ``@avs.execute(1, 2)`` serves ids 1 and 2; ``@avs.execute("uppercase")`` serves the id the
        name is bound to (:meth:`bind`: a project's ``othentic.toml`` declares definitions by name);
        ``@avs.execute()`` or bare ``@avs.execute`` serves every id without a function of its own.
        """
        return self._decorator(self._execute, ids, timeout)

    @overload
    def validate(self, fn: F, /) -> F: ...

    @overload
    def validate(self, *ids: int | str, timeout: float | None = None) -> Callable[[F], F]: ...

    def validate(self, *ids: Any, timeout: float | None = None) -> Any:
        """Register a validate function ``(task: Task, ctx) -> bool`` (True approves) for these ids.

        ``@avs.validate()`` or bare ``@avs.validate`` serves every id without a function of its own.
        """
        return self._decorator(self._validate, ids, timeout)

    @overload
    def on_message(self, fn: F, /) -> F: ...

    @overload
    def on_message(self, *, timeout: float | None = None) -> Callable[[F], F]: ...

    # Not positional-only here, unlike the first overload: mypy 1.18 wrongly rejects a positional-only
    # implementation against the keyword-only second overload.
    def on_message(self, fn: Any = None, *, timeout: float | None = None) -> Any:
        """Register the handler ``(data: bytes, ctx) -> None`` of custom messages (``sendCustomMessage``)."""

        def register(handler_fn: F) -> F:
            if self._on_message is not None:
                raise ValueError(f"a message handler is already registered ({self._on_message.name})")
            self._on_message = self._handler(handler_fn, "on_message", timeout)
            return handler_fn

        return register(fn) if fn is not None else register

    def _decorator(self, registry: _Registry, ids: tuple[Any, ...], timeout: float | None) -> Any:
        if len(ids) == 1 and callable(ids[0]) and not isinstance(ids[0], int):  # bare @avs.execute
            fn = ids[0]
            registry.add((), self._handler(fn, registry.kind, timeout))
            return fn
        checked = _check_ids(ids, f"avs.{registry.kind}")

        def register(fn: F) -> F:
            registry.add(checked, self._handler(fn, registry.kind, timeout))
            return fn

        return register

    @staticmethod
    def _handler(fn: Callable[..., Any], kind: str, timeout: float | None) -> _Handler:
        if not callable(fn):
            raise TypeError(f"{kind} handler must be callable, got {fn!r}")
        return _Handler(
            kind=kind,
            fn=fn,
            name=_name(fn),
            takes_context=_takes_context(fn, kind),
            is_async=_is_async(fn),
            timeout=None if timeout is None else _check_timeout(timeout),
        )

    # -- names ------------------------------------------------------------------------------------

    def bind(self, definitions: Mapping[str, int]) -> None:
        """Say which id each definition name has on this network (``{"uppercase": 3}``), so that
        functions registered by name (``@avs.execute("uppercase")``) serve that id. A new call
        replaces the previous binding; a name registered here but absent from ``definitions`` is an
        error (its functions would never run)."""
        missing = sorted((set(self._execute.by_name) | set(self._validate.by_name)) - set(definitions))
        if missing:
            raise ValueError(
                f"AVS {self.name!r} has functions for the task definition(s) {', '.join(map(repr, missing))}, "
                f"which the network does not have (it has {', '.join(map(repr, sorted(definitions))) or 'none'})"
            )
        names: dict[int, str] = {}
        for name, task_definition_id in definitions.items():
            _check_name(name)
            (checked,) = _check_ids((task_definition_id,), "Avs.bind")
            assert isinstance(checked, int)
            if checked in names:
                raise ValueError(f"task definition {checked} bound to both {names[checked]!r} and {name!r}")
            names[checked] = name
        self._names = names

    def definition_id(self, name: str) -> int:
        """The id bound to a definition name (:meth:`bind`)."""
        for task_definition_id, bound in self._names.items():
            if bound == name:
                return task_definition_id
        raise NoHandler(
            f"task definition {name!r} has no id on this network"
            + (f" (known: {', '.join(map(repr, sorted(self._names.values())))})" if self._names else " (none bound)")
        )

    @property
    def definition_names(self) -> list[str]:
        """Definition names with an execute or a validate function of their own."""
        return sorted(set(self._execute.by_name) | set(self._validate.by_name))

    # -- what is registered -----------------------------------------------------------------------

    def _ids(self, registry: _Registry) -> list[int]:
        bound = {i for i, name in self._names.items() if name in registry.by_name}
        return sorted(set(registry.by_id) | bound)

    @property
    def execute_ids(self) -> list[int]:
        """Definition ids with an execute function of their own (by id, or by a name bound to it)."""
        return self._ids(self._execute)

    @property
    def validate_ids(self) -> list[int]:
        """Definition ids with a validate function of their own (by id, or by a name bound to it)."""
        return self._ids(self._validate)

    @property
    def has_default_execute(self) -> bool:
        return self._execute.default is not None

    @property
    def has_default_validate(self) -> bool:
        return self._validate.default is not None

    @property
    def has_message_handler(self) -> bool:
        return self._on_message is not None

    def context(self, task_definition_id: int | None = None) -> Context:
        """The ``ctx`` functions receive; read-only config so one call cannot change the next."""
        return Context(
            avs=self.name,
            proofs=self.proofs,
            config=types.MappingProxyType(self.config),
            logger=self.logger,
            task_definition_id=task_definition_id,
            task_definition_name=self._names.get(task_definition_id) if task_definition_id is not None else None,
        )

    # -- running ----------------------------------------------------------------------------------

    async def run_execute(
        self, task_definition_id: int | str, params: Mapping[str, Any] | None = None
    ) -> ExecutionResult:
        """Run the execute function of a definition (its id, or its name once bound) and store its
        proof if it handed over bytes."""
        if isinstance(task_definition_id, str):
            task_definition_id = self.definition_id(task_definition_id)
        handler = self._execute.find(task_definition_id, self._names)
        if handler is None:
            raise NoHandler(f"no execution logic for task definition {task_definition_id}")
        ctx = self.context(task_definition_id)
        result = await self._call(handler, dict(params or {}), ctx)
        if not isinstance(result, Execution):
            raise BadHandlerResult(
                f"execute function {handler.name} for task definition {task_definition_id} returned "
                f"{type(result).__name__}, expected Execution"
            )
        proof_of_task = result.proof_of_task
        if result.proof is not None:
            proof_of_task = await self._store_proof(result.proof, handler, ctx)
        assert proof_of_task is not None  # Execution guarantees one of the two
        return ExecutionResult(proof_of_task=proof_of_task, data=result.data, task_definition_id=task_definition_id)

    async def run_validate(self, task: Task) -> bool:
        """Run the validate function of the task's definition: True approves, False rejects."""
        handler = self._validate.find(task.task_definition_id, self._names)
        if handler is None:
            raise NoHandler(f"no validation logic for task definition {task.task_definition_id}")
        result = await self._call(handler, task, self.context(task.task_definition_id))
        if not isinstance(result, bool):
            raise BadHandlerResult(
                f"validate function {handler.name} for task definition {task.task_definition_id} returned "
                f"{type(result).__name__} ({result!r:.60}), expected bool (True approves, False rejects)"
            )
        return result

    async def run_message(self, data: bytes) -> bool:
        """Hand a custom message to the message handler; False when there is none to take it."""
        if self._on_message is None:
            return False
        await self._call(self._on_message, bytes(data), self.context())
        return True

    async def _call(self, handler: _Handler, argument: Any, ctx: Context) -> Any:
        args = (argument, ctx) if handler.takes_context else (argument,)
        seconds = handler.timeout if handler.timeout is not None else self.timeout
        what = f"{handler.kind} function {handler.name}" + (
            f" for task definition {ctx.task_definition_id}" if ctx.task_definition_id is not None else ""
        )
        deadline = asyncio.timeout(seconds)
        try:
            async with deadline:
                if handler.is_async:
                    return await handler.fn(*args)
                # Sync code runs in a worker thread so the loop keeps serving; past the deadline the
                # thread cannot be killed, it runs on and its result is dropped.
                result = await asyncio.to_thread(handler.fn, *args)
                if inspect.isawaitable(result):
                    result = await result
                return result
        except TimeoutError as exc:
            if deadline.expired():
                raise HandlerTimeout(f"{what} did not finish within {seconds:g} s") from exc
            raise HandlerFailed(f"{what} raised {_describe(exc)}") from exc
        except AvsError:
            raise
        except Exception as exc:
            self.logger.warning("%s raised %s", what, _describe(exc), exc_info=exc)
            raise HandlerFailed(f"{what} raised {_describe(exc)}") from exc

    async def _store_proof(self, proof: bytes, handler: _Handler, ctx: Context) -> str:
        if ctx.proofs is None:
            raise BadHandlerResult(
                f"execute function {handler.name} returned Execution.proof but no proof store is configured "
                "(Avs(..., proofs=ProofStoreClient(url)), or return proof_of_task instead)"
            )
        seconds = handler.timeout if handler.timeout is not None else self.timeout
        deadline = asyncio.timeout(seconds)
        try:
            async with deadline:
                cid = await ctx.proofs.put(bytes(proof))
        except TimeoutError as exc:
            if deadline.expired():
                raise ProofStoreFailed(f"proof store did not store the proof within {seconds:g} s", status=504) from exc
            raise ProofStoreFailed(f"proof store failed: {_describe(exc)}") from exc
        except Exception as exc:
            raise ProofStoreFailed(f"proof store failed: {_describe(exc)}") from exc
        if not cid:
            raise ProofStoreFailed("proof store returned an empty CID")
        return str(cid)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _check_timeout(seconds: float) -> float:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or not seconds > 0:
        raise ValueError(f"timeout must be a positive number of seconds, got {seconds!r}")
    return float(seconds)
