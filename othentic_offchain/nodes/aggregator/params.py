"""The parameters of the aggregator's JSON-RPC methods, declared with :class:`othentic_offchain.jsonrpc.Param`.

Each parser turns a wire value into the Python value or raises ``ValueError`` saying what is
wrong; the JSON-RPC server answers that with ``-32602`` naming the parameter. Nothing is stored for
a call refused here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from eth_utils import is_checksum_address, to_checksum_address

from othentic_offchain.crypto.ecdsa import check_low_s
from othentic_offchain.jsonrpc import Param, as_hex_bytes, as_int, as_str
from othentic_offchain.nodes.common.protocol import MAX_TASK_DATA_BYTES

UINT16_MAX = 2**16 - 1
SIGNATURE_LENGTH = 65  # r, s, v
TASK_HASH_LENGTH = 32


def parse_proof_of_task(limit: int) -> Callable[[Any], str]:
    """A parser of ``proofOfTask``: a string of at most ``limit`` characters."""

    def parse(value: Any) -> str:
        text = as_str(value)
        if len(text) > limit:
            raise ValueError(f"{len(text)} characters, the limit is {limit}")
        return text

    return parse


def parse_definition_id(value: Any) -> int:
    number = as_int(value)
    if not 0 <= number <= UINT16_MAX:
        raise ValueError(f"must be a uint16 (0..{UINT16_MAX}), got {number}")
    return number


def parse_address(value: Any) -> str:
    """An address, 0x and 40 hex digits; mixed case must be a valid EIP-55 checksum."""
    text = as_str(value)
    if len(text) != 42 or not text.startswith(("0x", "0X")):
        raise ValueError(f"expected an address (0x and 40 hex digits), got {text!r}")
    try:
        bytes.fromhex(text[2:])
    except ValueError:
        raise ValueError(f"expected an address (0x and 40 hex digits), got {text!r}") from None
    body = text[2:]
    if body != body.lower() and body != body.upper() and not is_checksum_address(text):
        raise ValueError(f"address {text} has a wrong EIP-55 checksum (mixed case)")
    return to_checksum_address(text)


def parse_signature(value: Any) -> bytes:
    raw = as_hex_bytes(value)
    if len(raw) != SIGNATURE_LENGTH:
        raise ValueError(f"expected {SIGNATURE_LENGTH} bytes (r, s, v), got {len(raw)}")
    check_low_s(raw)  # a high s: refused here, as the contract would refuse it
    return raw


def parse_task_data(value: Any) -> bytes:
    """``data``: hex bytes, small enough that the whole ``submitTask`` transaction stays under the
    128 KB common mempools accept."""
    raw = as_hex_bytes(value)
    if len(raw) > MAX_TASK_DATA_BYTES:
        raise ValueError(
            f"{len(raw)} bytes, the limit is {MAX_TASK_DATA_BYTES}: the submitTask transaction must stay "
            "under the 128 KB nodes relay; store large results in the proof store and send their CID"
        )
    return raw


def parse_signature_type(value: Any) -> str:
    text = as_str(value).strip().lower()
    if text not in ("ecdsa", "bls"):
        raise ValueError(f'expected "ecdsa" (or "bls", which is not supported), got {value!r}')
    return text


def parse_task_hash(value: Any) -> bytes:
    raw = as_hex_bytes(value)
    if len(raw) != TASK_HASH_LENGTH:
        raise ValueError(f"expected {TASK_HASH_LENGTH} bytes, got {len(raw)}")
    return raw


def send_task_params(max_proof_length: int) -> list[Param]:
    """``sendTask``: Othentic's positional order; the aliases are names other clients use."""
    return [
        Param("proofOfTask", parse_proof_of_task(max_proof_length)),
        Param("data", parse_task_data),
        Param("taskDefinitionId", parse_definition_id, aliases=("taskDefinitionID",)),
        Param("performerAddress", parse_address, aliases=("performer",)),
        Param("signature", parse_signature),
        Param("signatureType", parse_signature_type, default="ecdsa"),
        Param("targetChainId", as_int, default=None),
    ]


def parse_timestamp(value: Any) -> int:
    number = as_int(value)
    if not 0 < number < 2**63:
        raise ValueError(f"expected unix seconds, got {number}")
    return number


#: ``sendCustomMessage``: Othentic's ``(data, taskDefinitionId)``, then the optional signature of an
#: active operator (``signer``, ``signature``, ``timestamp``: see
#: :mod:`othentic_offchain.nodes.aggregator.messages`).
SEND_CUSTOM_MESSAGE_PARAMS = [
    Param("data", as_hex_bytes),
    Param("taskDefinitionId", parse_definition_id, default=None, aliases=("taskDefinitionID",)),
    Param("signer", parse_address, default=None),
    Param("signature", parse_signature, default=None),
    Param("timestamp", parse_timestamp, default=None),
]
TASK_STATUS_PARAMS = [Param("taskHash", parse_task_hash)]

#: ``listTasks`` answers at most this many tasks per call.
MAX_LIST_LIMIT = 100
#: What ``listTasks``'s ``status`` accepts: one status, or "open" (accepted, collecting or submitting).
LIST_STATUSES = ("open", "accepted", "collecting", "submitting", "landed", "failed")


def parse_list_limit(value: Any) -> int:
    number = as_int(value)
    if not 1 <= number <= MAX_LIST_LIMIT:
        raise ValueError(f"must be 1..{MAX_LIST_LIMIT}, got {number}")
    return number


def parse_list_cursor(value: Any) -> tuple[float, bytes]:
    """The ``next`` of an earlier ``listTasks`` answer: ``"<createdAt>:<taskHash>"``."""
    text = as_str(value)
    stamp, sep, task_hash = text.partition(":")
    try:
        created_at = float(stamp)
        if not sep or created_at != created_at or created_at in (float("inf"), float("-inf")):
            raise ValueError
        raw = parse_task_hash(task_hash)
    except ValueError:
        raise ValueError(
            f"expected the `next` of an earlier answer (<createdAt>:<taskHash>), got {text[:100]!r}"
        ) from None
    return created_at, raw


def parse_list_status(value: Any) -> str:
    text = as_str(value).strip().lower()
    if text not in LIST_STATUSES:
        raise ValueError(f"expected one of {', '.join(LIST_STATUSES)}, got {value!r}")
    return text


#: ``listTasks([limit, cursor, status])``: the newest tasks first, a page at a time.
LIST_TASKS_PARAMS = [
    Param("limit", parse_list_limit, default=50),
    Param("cursor", parse_list_cursor, default=None),
    Param("status", parse_list_status, default=None),
]
