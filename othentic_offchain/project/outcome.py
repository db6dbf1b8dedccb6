"""What became of a task, for a builder: side, votes per operator, gas, on-chain data, dissent.

The aggregator knows the votes (``taskStatus``: which operator answered which side) and the
transaction; the chain knows the rest (the receipt's gas and block, the ``TaskSubmitted`` or
``TaskRejected`` event with the proof of task and the data that landed). :func:`wait_outcome`
follows a task until it landed or failed and puts both together; the operators whose validation
answered against the outcome are listed, so a builder sees who rejected a task and why it did not
pass.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from web3.logs import DISCARD

from othentic_offchain.chain.client import AvsContracts
from othentic_offchain.jsonrpc import BlockingJsonRpcClient, JsonRpcError, JsonRpcTransportError
from othentic_offchain.nodes.aggregator.config import UNKNOWN_TASK

__all__ = ["TaskOutcome", "wait_outcome"]


@dataclass
class TaskOutcome:
    task_hash: str
    status: str  # landed, failed, or the last status seen when the wait ended
    definition: str | None = None  # its name, when known
    definition_id: int | None = None
    side: str | None = None  # approve or reject, once decided
    votes: dict[int, str] = field(default_factory=dict)  # operator id -> approve / reject
    disagreed: dict[int, str] = field(default_factory=dict)  # the votes against the outcome
    non_signers: list[int] = field(default_factory=list)  # members that did not sign (offline, late)
    tx_hash: str | None = None
    gas: int | None = None
    block: int | None = None
    task_number: int | None = None
    performer: str | None = None
    proof_of_task: str | None = None
    data: str | None = None  # 0x-hex, as it landed
    error: str | None = None

    @property
    def landed(self) -> bool:
        return self.status == "landed"

    @property
    def approved(self) -> bool:
        return self.landed and self.side == "approve"

    @property
    def data_bytes(self) -> bytes:
        return bytes.fromhex(self.data[2:]) if self.data else b""

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)


def _ask(aggregator: BlockingJsonRpcClient, task_hash: str) -> dict[str, Any] | None:
    """taskStatus, or None while the aggregator does not know the task yet or does not answer."""
    try:
        return aggregator.call("taskStatus", [task_hash])
    except JsonRpcTransportError:
        return None
    except JsonRpcError as exc:
        if exc.code == UNKNOWN_TASK:
            return None
        raise


def wait_outcome(
    aggregator_url: str,
    task_hash: str,
    *,
    avs: AvsContracts | None = None,
    names: dict[int, str] | None = None,
    timeout: float = 120.0,
) -> TaskOutcome:
    """Follow ``task_hash`` until it landed or failed (or ``timeout`` seconds), then read what
    landed from the chain (with ``avs``); ``names`` gives the definitions' names by id."""
    aggregator = BlockingJsonRpcClient(aggregator_url, timeout=30.0)
    deadline = time.monotonic() + timeout
    status: dict[str, Any] | None = None
    while True:
        status = _ask(aggregator, task_hash) or status
        if status is not None and status.get("status") in ("landed", "failed"):
            break
        if time.monotonic() > deadline:
            seen = status.get("status") if status else "unknown to the aggregator"
            outcome = TaskOutcome(task_hash, status=seen or "pending")
            outcome.error = f"not landed within {timeout:g} s (last status: {seen})"
            return outcome
        time.sleep(0.1)
    return _outcome(status, task_hash, avs, names or {})


def _outcome(status: dict[str, Any], task_hash: str, avs: AvsContracts | None, names: dict[int, str]) -> TaskOutcome:
    definition_id = status.get("taskDefinitionId")
    side = status.get("side")
    votes = {int(v["operatorId"]): str(v["side"]) for v in status.get("votes") or [] if v.get("valid", True)}
    outcome = TaskOutcome(
        task_hash=task_hash,
        status=str(status.get("status")),
        definition_id=definition_id,
        definition=names.get(definition_id) if definition_id is not None else None,
        side=side,
        votes=votes,
        disagreed={i: v for i, v in votes.items() if side is not None and v != side},
        non_signers=list(status.get("nonSigners") or []),
        tx_hash=status.get("txHash"),
        task_number=status.get("taskNumber"),
        performer=status.get("performer"),
        proof_of_task=status.get("proofOfTask"),
        error=status.get("error"),
    )
    if avs is not None and outcome.tx_hash:
        receipt = avs.w3.eth.get_transaction_receipt(outcome.tx_hash)
        outcome.gas, outcome.block = int(receipt["gasUsed"]), int(receipt["blockNumber"])
        wanted = bytes.fromhex(task_hash.removeprefix("0x"))
        for event_name in ("TaskSubmitted", "TaskRejected"):
            for event in getattr(avs.center.events, event_name)().process_receipt(receipt, errors=DISCARD):
                if bytes(event["args"]["taskHash"]) == wanted:
                    outcome.data = "0x" + bytes(event["args"]["data"]).hex()
                    outcome.proof_of_task = event["args"]["proofOfTask"]
    return outcome
