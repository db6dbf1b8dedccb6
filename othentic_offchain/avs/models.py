"""Wire models of the Execution and Validation Services (Othentic's HTTP API).

Every body that crosses the wire between a node and an AVS service is one of these models, so the
rules about it (hex bytes, checksummed addresses, uint16 definition ids, the two spellings of
``taskDefinitionId``) live in one place and the OpenAPI document is generated from the same source.

Python code uses snake_case attributes (``task.proof_of_task``); the wire uses Othentic's camelCase
names. Every answer shares one envelope: ``{"data": ..., "error": bool, "message": str | null}``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from eth_utils import is_checksum_address, to_checksum_address
from pydantic import (
    AliasChoices,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    WithJsonSchema,
)

__all__ = [
    "HexBytes",
    "Address",
    "TaskDefinitionId",
    "MAX_TASK_DEFINITION_ID",
    "Task",
    "ValidationResponse",
    "ExecutionRequest",
    "ExecutionResult",
    "ExecutionResponse",
    "CustomMessage",
    "MessageResponse",
    "HealthInfo",
    "HealthResponse",
    "ErrorResponse",
    "to_hex",
    "describe_validation_error",
]

#: Definition ids are ``uint16`` on-chain (``TaskInfo.taskDefinitionId``).
MAX_TASK_DEFINITION_ID = 2**16 - 1

_HEX_BODY = re.compile(r"[0-9a-fA-F]*")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


def to_hex(value: bytes) -> str:
    """Bytes in the wire form every Othentic component uses: lowercase, ``0x``-prefixed."""
    return "0x" + bytes(value).hex()


def _parse_hex(value: Any) -> bytes:
    # Bytes given from Python pass through; from JSON only an unambiguous 0x-hex string is taken,
    # because a bare string could be text or hex and guessing would change what gets signed.
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    if not isinstance(value, str):
        raise ValueError(f"expected a 0x-prefixed hex string, got {type(value).__name__}")
    if not value.startswith(("0x", "0X")):
        shown = value if len(value) <= 20 else value[:20] + "..."
        raise ValueError(f"expected a 0x-prefixed hex string, got {shown!r}")
    body = value[2:]
    if not _HEX_BODY.fullmatch(body):
        raise ValueError("hex string holds characters other than 0-9, a-f, A-F")
    if len(body) % 2:
        raise ValueError(f"hex string has an odd number of digits ({len(body)}): bytes need two each")
    return bytes.fromhex(body)


def _parse_address(value: Any) -> str:
    if isinstance(value, (bytes, bytearray)) and len(value) == 20:
        return to_checksum_address(bytes(value))
    if not isinstance(value, str):
        raise ValueError(f"expected an EVM address (0x and 40 hex digits), got {type(value).__name__}")
    if not _ADDRESS.fullmatch(value):
        raise ValueError(f"expected an EVM address (0x and 40 hex digits), got {value!r}")
    body = value[2:]
    mixed_case = body != body.lower() and body != body.upper()
    # A mixed-case address claims an EIP-55 checksum; a wrong one is a typo, never silently fixed.
    if mixed_case and not is_checksum_address(value):
        raise ValueError(f"address {value} has a wrong EIP-55 checksum (mixed case)")
    return to_checksum_address(value)


#: ``bytes`` in Python, a ``0x``-hex string on the wire.
HexBytes = Annotated[
    bytes,
    BeforeValidator(_parse_hex),
    PlainSerializer(to_hex, return_type=str, when_used="json"),
    WithJsonSchema(
        {"type": "string", "pattern": "^0[xX]([0-9a-fA-F]{2})*$", "description": "bytes as 0x-prefixed hex"}
    ),
]

#: An EVM address, validated (EIP-55 checked when mixed case) and always held checksummed.
Address = Annotated[
    str,
    BeforeValidator(_parse_address),
    WithJsonSchema(
        {
            "type": "string",
            "pattern": "^0x[0-9a-fA-F]{40}$",
            "description": "EVM address (EIP-55 checksummed on output)",
        }
    ),
]


def _reject_bool(value: Any) -> Any:
    # JSON true would otherwise pass as definition 1: a sender bug worth a 400, not a silent vote.
    if isinstance(value, bool):
        raise ValueError("expected an integer, got a boolean")
    return value


#: A task definition id: ``uint16`` on-chain. Integral strings such as ``"3"`` are accepted.
TaskDefinitionId = Annotated[int, Field(ge=0, le=MAX_TASK_DEFINITION_ID), BeforeValidator(_reject_bool)]

_TASK_DEFINITION_ID_ALIASES = AliasChoices("taskDefinitionId", "taskDefinitionID", "task_definition_id")


class _WireModel(BaseModel):
    """camelCase on the wire, snake_case in Python; unknown fields ignored for forward compatibility."""

    model_config = ConfigDict(
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
        extra="ignore",
        frozen=True,
    )

    def to_wire(self) -> dict[str, Any]:
        """The JSON-ready dict a peer expects (camelCase names, hex bytes)."""
        return self.model_dump(mode="json", by_alias=True)


class Task(_WireModel):
    """A task as performers sign it and attesters validate it (``TaskInfo`` on-chain)."""

    proof_of_task: str = Field(alias="proofOfTask", description="Proof of task, usually the CID of the stored result")
    data: HexBytes = Field(description="Task data, bytes as 0x-hex")
    task_definition_id: TaskDefinitionId = Field(
        validation_alias=_TASK_DEFINITION_ID_ALIASES,
        serialization_alias="taskDefinitionId",
        description="Task definition id (uint16); 'taskDefinitionID' is accepted on input",
    )
    performer: Address = Field(description="Address of the operator who performed the task")


class ValidationResponse(_WireModel):
    """``200`` answer of ``POST /task/validate``: the vote, approve (true) or reject (false)."""

    data: bool
    error: Literal[False] = False
    message: str | None = None


class ExecutionRequest(_WireModel):
    """Body of ``POST /task/execute``: the definition id plus any parameters the builder defines.

    Othentic's examples send an empty body or just the id, so the id defaults to 0 and every other
    field is kept, untouched, as the builder's parameters.
    """

    model_config = ConfigDict(extra="allow")

    task_definition_id: TaskDefinitionId = Field(
        default=0,
        validation_alias=_TASK_DEFINITION_ID_ALIASES,
        serialization_alias="taskDefinitionId",
        description="Task definition id (uint16), 0 when absent; other fields are the execute function's parameters",
    )

    @property
    def params(self) -> dict[str, Any]:
        """The builder's parameters: every field of the body except the definition id."""
        return dict(self.model_extra or {})


class ExecutionResult(_WireModel):
    """What an execution produced: the proof of task and the data, ready for ``sendTask``."""

    proof_of_task: str = Field(alias="proofOfTask")
    data: HexBytes
    task_definition_id: TaskDefinitionId = Field(
        validation_alias=_TASK_DEFINITION_ID_ALIASES, serialization_alias="taskDefinitionId"
    )


class ExecutionResponse(_WireModel):
    """``200`` answer of ``POST /task/execute``."""

    data: ExecutionResult
    error: Literal[False] = False
    message: str = "Task executed successfully"


class CustomMessage(_WireModel):
    """Body of ``POST /p2p/message``: a custom message a node forwards from ``sendCustomMessage``."""

    data: HexBytes


class MessageResponse(_WireModel):
    """Answer of ``POST /p2p/message``: ``data`` says whether a handler took the message."""

    data: bool
    error: Literal[False] = False
    message: str | None = None


class HealthInfo(_WireModel):
    """What ``GET /health`` reports: which AVS, which services and which definition ids."""

    status: Literal["ok"] = "ok"
    avs: str
    services: list[Literal["execution", "validation"]]
    execute: list[int] = Field(description="Definition ids with an execute function")
    validate_: list[int] = Field(alias="validate", description="Definition ids with a validate function")
    execute_any: bool = Field(alias="executeAny", description="True when a default execute function takes any id")
    validate_any: bool = Field(alias="validateAny", description="True when a default validate function takes any id")
    on_message: bool = Field(alias="onMessage", description="True when custom messages have a handler")


class HealthResponse(_WireModel):
    """Answer of ``GET /health``."""

    data: HealthInfo
    error: Literal[False] = False
    message: str | None = None


class ErrorResponse(_WireModel):
    """Every non-2xx answer: ``data`` null, ``error`` true and a message saying what went wrong."""

    data: None = None
    error: Literal[True] = True
    message: str


def describe_validation_error(exc: ValidationError) -> str:
    """Pydantic's errors in one line, each naming its field: ``performer: expected an EVM address ...``."""
    parts = []
    for error in exc.errors(include_url=False):
        field = ".".join(str(p) for p in error["loc"]) or "body"
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "missing":
            message = "field required"
        parts.append(f"{field}: {message}")
    return "; ".join(parts)
