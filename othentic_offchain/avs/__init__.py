"""Write an AVS in plain Python; serve it as Othentic-compatible Execution and Validation Services.

A guide for AVS builders
------------------------

Per task definition id, write an *execute* function (parameters -> proof of task and data) and a
*validate* function (task -> approve or reject)::

    from othentic_offchain.avs import Avs, Execution, Task

    avs = Avs("price-oracle", timeout=10.0)   # a function that runs longer answers 504

    @avs.execute(1)                           # several ids: @avs.execute(1, 2); any id: @avs.execute()
    async def observe(params: dict, ctx) -> Execution:
        price = await fetch_price(params.get("pair", "ETHUSDT"))
        # proof= hands the bytes to ctx.proofs, which stores them; its CID becomes the proof of task.
        return Execution(proof=json.dumps({"price": price}).encode(), data=str(price).encode())

    @avs.validate(1)
    async def check(task: Task, ctx) -> bool:
        stored = json.loads(await ctx.proofs.get(task.proof_of_task))
        return abs(stored["price"] - await reference_price()) <= 0.01 * stored["price"]

    @avs.validate(2)
    def check_echo(task: Task) -> bool:       # sync functions run in a worker thread; ctx is optional
        return task.data == b"hello"

    @avs.on_message                           # custom messages (sendCustomMessage), optional
    async def got(data: bytes, ctx) -> None:
        ctx.logger.info("message %s", data.hex())

``ctx`` (a ``Context``) carries ``avs`` (the name), ``proofs`` (the proof store client given as
``Avs(..., proofs=...)``, or None), ``config`` (the ``Avs(..., config=...)`` dict, read-only),
``logger`` and ``task_definition_id``. A function may also take its input alone, without ``ctx``.

A ``Task`` has ``proof_of_task`` (str), ``data`` (bytes), ``task_definition_id`` (int) and
``performer`` (checksummed address). Validate functions must return a real ``bool``.

Serving::

    from othentic_offchain.avs import build_services_app, serve
    asyncio.run(serve(build_services_app(avs), "0.0.0.0", 4003))

or ``load_avs("my_avs.app:avs")`` / ``load_avs("path/to/app.py:avs")`` from a command line.
The routes are Othentic's: ``POST /task/execute``, ``POST /task/validate``, ``POST /p2p/message``,
plus ``GET /health`` and ``GET /openapi.json``. Failures answer ``{"data": null, "error": true,
"message": ...}``: 400 malformed request, 413 body too large, 422 no function for the definition id,
500 the function raised or returned a wrong type, 502 the proof store failed, 504 too slow.

Nodes talk to any Othentic-style service with ``ValidationClient``, ``ExecutionClient`` and
``send_message``; they raise ``ServiceUnavailable`` (nothing answered) or ``ServiceError``
(the service answered with a failure).
"""

from othentic_offchain.avs.app import (
    DEFAULT_TIMEOUT,
    Avs,
    AvsError,
    BadHandlerResult,
    Context,
    Execution,
    HandlerFailed,
    HandlerTimeout,
    NoHandler,
    ProofStore,
    ProofStoreFailed,
)
from othentic_offchain.avs.clients import (
    ExecutionClient,
    MessageClient,
    ServiceClientError,
    ServiceError,
    ServiceUnavailable,
    ValidationClient,
    send_message,
)
from othentic_offchain.avs.loader import AvsLoadError, load_avs
from othentic_offchain.avs.models import (
    CustomMessage,
    ErrorResponse,
    ExecutionRequest,
    ExecutionResponse,
    ExecutionResult,
    HealthResponse,
    MessageResponse,
    Task,
    ValidationResponse,
)
from othentic_offchain.avs.runner import ServiceRunner, ServiceThread, serve
from othentic_offchain.avs.services import (
    DEFAULT_MAX_BODY,
    EXECUTION_PORT,
    VALIDATION_PORT,
    build_execution_app,
    build_services_app,
    build_validation_app,
)

__all__ = [
    # programming model
    "Avs",
    "Task",
    "Execution",
    "Context",
    "ProofStore",
    "DEFAULT_TIMEOUT",
    "AvsError",
    "NoHandler",
    "HandlerFailed",
    "HandlerTimeout",
    "BadHandlerResult",
    "ProofStoreFailed",
    "load_avs",
    "AvsLoadError",
    # services
    "build_execution_app",
    "build_validation_app",
    "build_services_app",
    "ServiceRunner",
    "ServiceThread",
    "serve",
    "DEFAULT_MAX_BODY",
    "EXECUTION_PORT",
    "VALIDATION_PORT",
    # clients
    "ValidationClient",
    "ExecutionClient",
    "MessageClient",
    "send_message",
    "ServiceClientError",
    "ServiceUnavailable",
    "ServiceError",
    # wire models
    "ExecutionRequest",
    "ExecutionResult",
    "ExecutionResponse",
    "ValidationResponse",
    "CustomMessage",
    "MessageResponse",
    "HealthResponse",
    "ErrorResponse",
]
