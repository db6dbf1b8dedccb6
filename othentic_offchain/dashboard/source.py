"""What the dashboard shows, gathered into one JSON document: the aggregator's tasks and the chain.

:class:`DashboardSource` asks the aggregator's JSON-RPC (``listTasks``, ``health``,
``operatorActivity``: read-only, bounded) and reads the chain through one cached
:class:`~othentic_offchain.chain.view.ChainView` (operators, definitions, members; re-read only
after an event that changes them) plus what the view does not hold: claimable rewards (read once
per block), the receipts of landed tasks (gas; kept, they never change) and the center's events,
scanned forward a few chunks of blocks per refresh from the deployment's block on. The events give
the recent-event list (bounded) and running totals per operator (signatures on landed tasks,
slashes) and per definition (approved, rejected).

A snapshot is rebuilt at most every ``refresh_interval`` seconds, however many pages poll: every
browser shares it. Each part fails on its own (an aggregator down leaves the chain's parts) and
says so in ``errors``. Everything in it came from the network and is data for the page to escape,
never markup.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from eth_utils import to_checksum_address
from web3.exceptions import MismatchedABI

from othentic_offchain.chain.abi import event_topic
from othentic_offchain.chain.artifacts import load_artifact
from othentic_offchain.chain.deploy import DeploymentRecord
from othentic_offchain.chain.rpc import RpcConnection
from othentic_offchain.chain.view import ChainView, UnknownDefinition
from othentic_offchain.jsonrpc import JsonRpcClient, JsonRpcError

_CENTER = "IAttestationCenter"
#: At most this many operators and definitions are shown (ids from the first).
MAX_OPERATORS = 200
MAX_DEFINITIONS = 64
#: Long strings from the chain are cut to this many characters, bytes to this many.
MAX_TEXT = 200
MAX_BYTES = 32
#: Events whose arguments are BLS keys: the keys are left out (they say nothing to a reader).
_KEY_ARGUMENTS = ("pkG1", "pkG2")


@dataclass
class DashboardOptions:
    refresh_interval: float = 1.0  # seconds between two snapshots
    tasks: int = 50  # newest tasks asked of the aggregator (open ones are asked on top)
    events: int = 100  # recent on-chain events kept
    log_chunk: int = 2_000  # blocks per eth_getLogs
    chunks_per_refresh: int = 5  # how far one refresh scans (catching up on a long history)
    lookback_blocks: int = 10_000  # where the scan starts when the deployment's block is unknown
    receipts_kept: int = 2_000
    aggregator_timeout: float = 5.0


@dataclass
class _Totals:
    """Running totals from the scanned events."""

    signed: dict[int, int] = field(default_factory=dict)  # operator id -> tasks it signed
    slashed: dict[int, int] = field(default_factory=dict)  # operator id -> amount
    slashes: dict[int, int] = field(default_factory=dict)  # operator id -> how many times
    approved: dict[int, int] = field(default_factory=dict)  # definition id -> tasks
    rejected: dict[int, int] = field(default_factory=dict)
    landed: dict[str, tuple[str, int]] = field(default_factory=dict)  # task hash -> (tx hash, block), bounded


class DashboardSource:
    """The dashboard's data for one deployment and one aggregator (``start`` before ``snapshot``)."""

    def __init__(
        self,
        aggregator_url: str,
        record: DeploymentRecord,
        rpc_url: str,
        options: DashboardOptions | None = None,
    ):
        self.aggregator_url = aggregator_url.rstrip("/")
        self.record = record
        self.rpc_url = rpc_url
        self.options = options or DashboardOptions()
        self.view: ChainView | None = None
        self._rpc: RpcConnection | None = None
        self._aggregator: JsonRpcClient | None = None
        self._snapshot: dict[str, Any] | None = None
        self._built_at = 0.0
        self._building: asyncio.Task | None = None
        self._next_block = int(record.block_number)
        self._events: deque[dict[str, Any]] = deque(maxlen=self.options.events)
        self._totals = _Totals()
        self._gas: OrderedDict[str, int] = OrderedDict()
        self._rewards: tuple[int, dict[str, int]] = (-1, {})
        self._decoders: dict[bytes, Any] = {}

    async def start(self) -> None:
        self._rpc = RpcConnection(self.rpc_url)
        w3 = await self._rpc.open(expect_chain_id=int(self.record.chain_id))
        self.view = ChainView(w3, self.record, refresh_interval=self.options.refresh_interval)
        self._aggregator = JsonRpcClient(self.aggregator_url, timeout=self.options.aggregator_timeout)
        if not self._next_block:  # no deployment block known (a center given by address): recent history only
            self._next_block = max(0, int(await w3.eth.block_number) - self.options.lookback_blocks)
        for item in load_artifact(_CENTER).abi:
            if item.get("type") == "event":
                self._decoders[event_topic(_CENTER, item["name"])] = getattr(self.view.center.events, item["name"])()

    async def close(self) -> None:
        if self._building is not None:
            self._building.cancel()
            await asyncio.gather(self._building, return_exceptions=True)
        if self._aggregator is not None:
            await self._aggregator.close()
        if self._rpc is not None:
            await self._rpc.close()

    async def snapshot(self) -> dict[str, Any]:
        """The latest snapshot, rebuilt when older than ``refresh_interval`` (one build at a time)."""
        if self._snapshot is not None and time.monotonic() - self._built_at < self.options.refresh_interval:
            return self._snapshot
        if self._building is None or self._building.done():
            self._building = asyncio.ensure_future(self._build())
        return await asyncio.shield(self._building)

    # --- one snapshot -------------------------------------------------------------------------------

    async def _build(self) -> dict[str, Any]:
        view = self._require_view()
        errors: list[str] = []
        block: int | None = None
        try:
            await view.refresh()
            block = view.block_number
        except Exception as exc:
            errors.append(f"chain unreachable: {_why(exc)}")
        aggregator = await self._aggregator_part(errors)
        if block is not None:
            await self._scan_events(block, errors)
        operators = await self._operators(block, aggregator.get("activity"), errors) if block is not None else []
        definitions = await self._definitions(errors) if block is not None else []
        tasks = await self._tasks(aggregator.get("tasks", []), errors)
        snapshot = {
            "generatedAt": time.time(),
            "chainId": int(self.record.chain_id),
            "block": block,
            "attestationCenter": to_checksum_address(self.record.attestation_center),
            "rpc": _public_url(self.rpc_url),
            "aggregator": {"url": self.aggregator_url, "health": aggregator.get("health")},
            "tasks": tasks,
            "operators": operators,
            "definitions": definitions,
            "events": list(reversed(self._events)),
            "scannedTo": self._next_block - 1,
            "scannedFrom": int(self.record.block_number),
            "errors": errors,
        }
        self._snapshot, self._built_at = snapshot, time.monotonic()
        return snapshot

    async def _aggregator_part(self, errors: list[str]) -> dict[str, Any]:
        client = self._aggregator
        assert client is not None
        try:
            listed, health, activity = await client.batch(
                [("listTasks", {"limit": self.options.tasks}), ("health", None), ("operatorActivity", None)]
            )
            opened = await client.call("listTasks", {"limit": self.options.tasks, "status": "open"})
        except Exception as exc:
            errors.append(f"aggregator {self.aggregator_url} unreachable: {_why(exc)}")
            return {}
        part: dict[str, Any] = {}
        for name, answer in (("listTasks", listed), ("health", health), ("operatorActivity", activity)):
            if isinstance(answer, JsonRpcError):
                errors.append(f"aggregator's {name} failed: {answer.message}")
        tasks: dict[str, dict[str, Any]] = {}
        for page in (opened, listed):
            if isinstance(page, dict):
                for task in page.get("tasks", []):
                    tasks[task["taskHash"]] = task
        part["tasks"] = sorted(tasks.values(), key=lambda t: t["createdAt"], reverse=True)
        part["health"] = None if isinstance(health, JsonRpcError) else health
        part["activity"] = None if isinstance(activity, JsonRpcError) else activity
        return part

    async def _tasks(self, tasks: list[dict[str, Any]], errors: list[str]) -> list[dict[str, Any]]:
        """The aggregator's tasks with their latency and, once landed, the gas of their transaction."""
        landed = self._totals.landed
        wanted: dict[str, str] = {}
        for task in tasks:
            if task["status"] == "landed":
                tx = landed.get(task["taskHash"], (task.get("txHash"), 0))[0]
                if tx:
                    task["txHash"] = tx
                    if tx not in self._gas:
                        wanted[tx] = tx
            finished = task.get("finishedAt")
            task["latency"] = round(finished - task["createdAt"], 3) if finished is not None else None
        if wanted:
            try:
                await self._read_gas(list(wanted))
            except Exception as exc:
                errors.append(f"could not read receipts: {_why(exc)}")
        for task in tasks:
            task["gasUsed"] = self._gas.get(task.get("txHash") or "") if task["status"] == "landed" else None
        return tasks

    async def _read_gas(self, hashes: list[str]) -> None:
        view = self._require_view()
        slots = asyncio.Semaphore(8)

        async def one(tx: str) -> None:
            async with slots:
                receipt = await view.w3.eth.get_transaction_receipt(tx)
            self._gas[tx] = int(receipt["gasUsed"])

        await asyncio.gather(*(one(tx) for tx in hashes))
        while len(self._gas) > self.options.receipts_kept:
            self._gas.popitem(last=False)

    async def _scan_events(self, block: int, errors: list[str]) -> None:
        """The center's events from where the last scan stopped, a few chunks at most."""
        view = self._require_view()
        options = self.options
        try:
            for _ in range(options.chunks_per_refresh):
                if self._next_block > block:
                    return
                end = min(block, self._next_block + options.log_chunk - 1)
                logs = await view.w3.eth.get_logs(
                    {"address": view.address, "fromBlock": self._next_block, "toBlock": end}
                )
                for log in logs:
                    await self._take(log)
                self._next_block = end + 1
        except Exception as exc:
            errors.append(f"could not read the center's events: {_why(exc)}")

    async def _take(self, log: Any) -> None:
        topics = log.get("topics") or []
        decoder = self._decoders.get(bytes(topics[0])) if topics else None
        if decoder is None:
            return
        try:
            event = decoder.process_log(log)
        except (MismatchedABI, ValueError):
            return
        name, args = event["event"], dict(event["args"])
        totals = self._totals
        if name in ("TaskSubmitted", "TaskRejected"):
            definition = int(args["taskDefinitionId"])
            side = totals.approved if name == "TaskSubmitted" else totals.rejected
            side[definition] = side.get(definition, 0) + 1
            tx = "0x" + bytes(log["transactionHash"]).hex()
            totals.landed["0x" + bytes(args["taskHash"]).hex()] = (tx, int(log["blockNumber"]))
            while len(totals.landed) > self.options.receipts_kept:
                totals.landed.pop(next(iter(totals.landed)))
            try:  # the members now: a set changed since makes this an estimate, said so in the docs
                members = (await self._require_view().definition(definition)).members
            except Exception:
                members = {}
            for operator_id in set(members) - {int(i) for i in args["nonSignerIds"]}:
                totals.signed[operator_id] = totals.signed.get(operator_id, 0) + 1
        elif name == "OperatorSlashed":
            operator_id = int(args["operatorId"])
            totals.slashed[operator_id] = totals.slashed.get(operator_id, 0) + int(args["amount"])
            totals.slashes[operator_id] = totals.slashes.get(operator_id, 0) + 1
        self._events.append(
            {
                "event": name,
                "block": int(log["blockNumber"]),
                "txHash": "0x" + bytes(log["transactionHash"]).hex(),
                "logIndex": int(log["logIndex"]),
                "args": {k: _plain(v) for k, v in args.items() if k not in _KEY_ARGUMENTS},
            }
        )

    async def _operators(self, block: int, activity: dict[str, Any] | None, errors: list[str]) -> list[dict[str, Any]]:
        view = self._require_view()
        try:
            registered, _active = await view.center.functions.operatorCount().call()
            ids = list(range(1, min(int(registered), MAX_OPERATORS) + 1))
            found = await view.operators(ids)
            rewards = await self._claimable(block, [found[i].account for i in ids])
        except Exception as exc:
            errors.append(f"could not read the operators: {_why(exc)}")
            return []
        seen = {int(a["operatorId"]): a for a in (activity or {}).get("operators", [])}
        active_stake = sum(op.stake for op in found.values() if op.active)
        totals = self._totals
        out = []
        for operator_id in ids:
            op = found[operator_id]
            power = op.stake if op.active else 0
            record = seen.get(operator_id, {})
            out.append(
                {
                    "id": operator_id,
                    "account": op.account,
                    "active": op.active,
                    "stake": str(op.stake),
                    "votingPower": str(power),
                    "powerShare": (power / active_stake) if active_stake else 0.0,
                    "endpoint": op.endpoint[:MAX_TEXT],
                    "online": record.get("online"),
                    "lastAnswerAt": record.get("lastAnswerAt"),
                    "lastFailure": record.get("lastFailure"),
                    "votesReceived": record.get("votes", 0),
                    "signedOnChain": totals.signed.get(operator_id, 0),
                    "claimableRewards": str(rewards.get(op.account, 0)),
                    "slashed": str(totals.slashed.get(operator_id, 0)),
                    "slashes": totals.slashes.get(operator_id, 0),
                }
            )
        return out

    async def _claimable(self, block: int, accounts: list[str]) -> dict[str, int]:
        """Each account's claimable rewards, read once per block."""
        if self._rewards[0] == block:
            return self._rewards[1]
        center = self._require_view().center
        amounts = await asyncio.gather(*(center.functions.claimableRewards(a).call() for a in accounts))
        self._rewards = (block, {a: int(v) for a, v in zip(accounts, amounts)})
        return self._rewards[1]

    async def _definitions(self, errors: list[str]) -> list[dict[str, Any]]:
        view = self._require_view()
        try:
            count = int(await view.center.functions.taskDefinitionCount().call())
            out = []
            for definition_id in range(min(count, MAX_DEFINITIONS)):
                try:
                    definition = await view.definition(definition_id)
                except UnknownDefinition:
                    continue
                params = definition.params
                out.append(
                    {
                        "id": definition_id,
                        "name": params.name[:MAX_TEXT],
                        "operatorSetId": definition.set_id,
                        "members": len(definition.members),
                        "totalPower": str(definition.total_power),
                        "blockExpiry": params.block_expiry,
                        "attesterReward": str(params.attester_reward),
                        "performerReward": str(params.performer_reward),
                        "aggregatorReward": str(params.aggregator_reward),
                        "disputePeriodBlocks": params.dispute_period_blocks,
                        "minimumVotingPower": str(params.minimum_voting_power),
                        "maximumNumberOfAttesters": params.maximum_number_of_attesters,
                        "restrictedAttesterIds": list(params.restricted_attester_ids)[:MAX_OPERATORS],
                        "penalties": {
                            "doubleAttestation": params.penalties.double_attestation,
                            "incorrectAttestation": params.penalties.incorrect_attestation,
                            "rejectedTask": params.penalties.rejected_task,
                            "slashBps": params.penalties.slash_bps,
                            "reporterBps": params.penalties.reporter_bps,
                        },
                        "approved": self._totals.approved.get(definition_id, 0),
                        "rejected": self._totals.rejected.get(definition_id, 0),
                    }
                )
            return out
        except Exception as exc:
            errors.append(f"could not read the task definitions: {_why(exc)}")
            return []

    def _require_view(self) -> ChainView:
        if self.view is None:
            raise RuntimeError("the dashboard's source is not started")
        return self.view


def _plain(value: Any) -> Any:
    """An event argument as JSON: bytes as (cut) hex, large integers as text, strings cut."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < 2**53 else str(value)
    if isinstance(value, (bytes, bytearray)):
        raw = bytes(value)
        return "0x" + raw[:MAX_BYTES].hex() + ("…" if len(raw) > MAX_BYTES else "")
    if isinstance(value, str):
        return value[:MAX_TEXT]
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in list(value)[:MAX_OPERATORS]]
    if isinstance(value, Mapping):  # a struct: web3's AttributeDict
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)[:MAX_TEXT]


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc)[:300]}"


def _public_url(url: str) -> str:
    """An RPC URL without what may be a key in it (user info, path and query)."""
    from urllib.parse import urlsplit

    first = url.split(",")[0].strip()
    parts = urlsplit(first)
    host = parts.hostname or ""
    return f"{parts.scheme}://{host}" + (f":{parts.port}" if parts.port else "")
