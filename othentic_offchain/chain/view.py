"""A cached view of what nodes read from the contracts, kept fresh by the contracts' own events.

Nodes ask the same questions for every task: the definition's parameters and operator set, the
members' stakes and keys, who is active. :class:`ChainView` answers from memory and re-reads only
after the center emitted an event that can change the answers (registration, stake, key, exit,
slash, set membership, definition changes): it polls the center's logs at most every
``refresh_interval`` seconds, so a stale answer is at most that old, and a submission that fails
on-chain because the set changed is simply retried after a refresh.

The aggregator schedule (:meth:`ChainView.schedule`) is kept apart: it is read again after any
aggregator event (opt-in, opt-out, endpoint, config), and at the latest every ``schedule_ttl``
seconds. :meth:`ChainView.chain_time` estimates the timestamp the next block will carry.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from othentic_offchain.chain.abi import error_selector, event_topic, selector
from othentic_offchain.chain.artifacts import load_artifact
from othentic_offchain.chain.deploy import DeploymentRecord
from othentic_offchain.chain.schedule import Aggregator, AggregatorSchedule
from othentic_offchain.chain.types import TaskDefinitionParams, g1_from_abi, g2_from_abi
from othentic_offchain.crypto.bls import PublicKey
from othentic_offchain.crypto.bn254 import G2Point

_CENTER = "IAttestationCenter"


@cache
def _harmless_topics() -> frozenset[bytes]:
    """Topics of the center events that never change the definitions and operators the view caches
    (the aggregator events change only the schedule: :func:`_schedule_topics`)."""
    harmless = ("TaskSubmitted", "TaskRejected", "RewardsClaimed", "AggregatorRewardForfeited")
    return frozenset(event_topic(_CENTER, event) for event in harmless) | _schedule_topics()


@cache
def _schedule_topics() -> frozenset[bytes]:
    """Topics of the center events that change the aggregator schedule (an exit or an ejection that
    takes an aggregator off the list emits ``AggregatorOptedOut`` too)."""
    events = ("AggregatorOptedIn", "AggregatorOptedOut", "AggregatorEndpointUpdated", "AggregatorConfigUpdated")
    return frozenset(event_topic(_CENTER, event) for event in events)


class UnknownDefinition(LookupError):
    """No task definition with that id on-chain."""


@dataclass(frozen=True)
class Operator:
    id: int
    account: str
    active: bool
    stake: int
    public: PublicKey
    endpoint: str


@dataclass
class DefinitionView:
    """A task definition and its current attesters."""

    id: int
    set_id: int
    params: TaskDefinitionParams
    members: dict[int, int]  # operator id -> stake (voting power), increasing ids
    block: int
    _full_apk_g2: G2Point | None = field(default=None, repr=False)

    @property
    def total_power(self) -> int:
        return sum(self.members.values())

    def expired_at(self, block: int) -> bool:
        return self.params.block_expiry != 0 and block > self.params.block_expiry

    def reached(self, signed_power: int, is_approved: bool) -> bool:
        """The contract's quorum: approve > 2/3 of the power, reject >= 1/3."""
        total = self.total_power
        if signed_power <= 0:
            return False
        return signed_power * 3 > total * 2 if is_approved else signed_power * 3 >= total


class ChainView:
    """Cached reads of one deployment through an ``AsyncWeb3``."""

    def __init__(self, w3, record: DeploymentRecord, *, refresh_interval: float = 0.5, schedule_ttl: float = 5.0):
        self.w3 = w3
        self.record = record
        self.refresh_interval = refresh_interval
        self.schedule_ttl = schedule_ttl
        abi = load_artifact(_CENTER).abi
        self.center = w3.eth.contract(address=w3.to_checksum_address(record.attestation_center), abi=abi)
        self.address = self.center.address
        self.chain_id = record.chain_id
        self._definitions: dict[int, DefinitionView] = {}
        self._operators: dict[int, Operator] = {}
        self._ids: dict[str, int] = {}
        self._active_ids: list[int] | None = None
        self._active_accounts: dict[str, int] | None = None
        self._last_block: int | None = None
        self._last_refresh = 0.0
        self._lock = asyncio.Lock()
        self.block_number = 0
        self._schedule: AggregatorSchedule | None = None
        self._schedule_read = 0.0  # time.monotonic() of the read
        self._schedule_generation = 0  # counts the drops: a read that a drop overtook is not kept
        self._head: tuple[int, int, float] | None = None  # (number, timestamp, monotonic time first seen)

    async def refresh(self, force: bool = False) -> None:
        """Drop cached answers if the center emitted a relevant event since the last look."""
        if not force and time.monotonic() - self._last_refresh < self.refresh_interval:
            return
        async with self._lock:
            if not force and time.monotonic() - self._last_refresh < self.refresh_interval:
                return
            latest = int(await self.w3.eth.block_number)
            if self._last_block is None or force:
                self._clear()
            elif latest > self._last_block:
                logs = await self.w3.eth.get_logs(
                    {"address": self.address, "fromBlock": self._last_block + 1, "toBlock": latest}
                )
                harmless, schedule = _harmless_topics(), _schedule_topics()
                topics = [bytes(log["topics"][0]) for log in logs if log["topics"]]
                if any(topic not in harmless for topic in topics):
                    self._clear()
                if any(topic in schedule for topic in topics):
                    self._drop_schedule()
            self._last_block = latest
            self.block_number = latest
            self._last_refresh = time.monotonic()

    def invalidate(self) -> None:
        """Forget everything now (e.g. after an on-chain failure that suggests stale state)."""
        self._clear()
        self._last_refresh = 0.0

    def _clear(self) -> None:
        self._definitions.clear()
        self._operators.clear()
        self._ids.clear()
        self._active_ids = None
        self._active_accounts = None
        self._drop_schedule()

    def _drop_schedule(self) -> None:
        self._schedule = None
        self._schedule_generation += 1

    async def schedule(self) -> AggregatorSchedule:
        """The aggregator list and its turns (read again after an aggregator event, and at the
        latest every ``schedule_ttl`` seconds)."""
        await self.refresh()
        cached = self._schedule
        if cached is not None and time.monotonic() - self._schedule_read < self.schedule_ttl:
            return cached
        read_at, generation = time.monotonic(), self._schedule_generation
        center = self.center.functions
        (max_aggregators, _count, turn_seconds, grace_seconds), listed = await asyncio.gather(
            center.aggregatorConfig().call(), center.activeAggregators().call()
        )
        schedule = AggregatorSchedule(
            aggregators=tuple(Aggregator(int(i), str(account), str(endpoint)) for i, account, endpoint in listed),
            turn_seconds=int(turn_seconds),
            grace_seconds=int(grace_seconds),
            max_aggregators=int(max_aggregators),
        )
        if generation == self._schedule_generation:
            self._schedule, self._schedule_read = schedule, read_at
        return schedule

    async def chain_time(self) -> float:
        """The timestamp the next block is expected to carry: the latest block's timestamp plus the
        time since this view first saw that block, and not before this machine's clock (a chain
        that mines only on demand stamps its next block with the time it is mined, however old the
        latest one is)."""
        number = int(await self.w3.eth.block_number)
        head = self._head
        if head is None or head[0] != number:
            block = await self.w3.eth.get_block(number)
            head = self._head = (number, int(block["timestamp"]), time.monotonic())
        return max(head[1] + time.monotonic() - head[2], time.time())

    async def definition(self, definition_id: int) -> DefinitionView:
        await self.refresh()
        cached = self._definitions.get(definition_id)
        if cached is not None:
            return cached
        try:
            _id, set_id, params = await self.center.functions.getTaskDefinition(definition_id).call()
        except Exception as exc:
            if "UnknownTaskDefinition" in str(exc) or _error_in(exc, "UnknownTaskDefinition"):
                raise UnknownDefinition(f"task definition {definition_id} does not exist") from exc
            raise
        ids, stakes = await self.center.functions.taskDefinitionMembers(definition_id).call()
        view = DefinitionView(
            id=definition_id,
            set_id=int(set_id),
            params=TaskDefinitionParams.from_abi(params),
            members={int(i): int(s) for i, s in zip(ids, stakes)},
            block=self.block_number,
        )
        self._definitions[definition_id] = view
        return view

    async def task_record(self, task_hash: bytes) -> tuple[int, int, bool]:
        """``(task number, block, approved)``; number 0 if the task has not landed. Encoded by hand:
        through web3's contract object this per-vote read cost three times the CPU."""
        data = selector(_CENTER, "taskRecord") + bytes(task_hash)
        answer = await self.w3.eth.call({"to": self.address, "data": data})
        answer = bytes(answer)
        return (
            int.from_bytes(answer[0:32], "big"),
            int.from_bytes(answer[32:64], "big"),
            bool(int.from_bytes(answer[64:96], "big")),
        )

    async def operator(self, operator_id: int) -> Operator:
        await self.refresh()
        cached = self._operators.get(operator_id)
        if cached is not None:
            return cached
        raw = await self.center.functions.getOperator(operator_id).call()
        (id_, account, active, stake, _registered, _exited, pk_g1, pk_g2, endpoint) = raw
        operator = Operator(
            int(id_), account, bool(active), int(stake), PublicKey(g1_from_abi(pk_g1), g2_from_abi(pk_g2)), endpoint
        )
        self._operators[operator_id] = operator
        return operator

    async def active_operator_ids(self) -> list[int]:
        """The ids of the active operators, read once until a relevant event invalidates them."""
        await self.refresh()
        if self._active_ids is None:
            self._active_ids = [int(i) for i in await self.center.functions.activeOperatorIds().call()]
        return list(self._active_ids)

    async def active_operator_of(self, account: str) -> int:
        """The operator id of ``account`` if it is an active operator, else 0. Answered from the set
        of active operators, read once until a relevant event invalidates it: asking about any
        number of unknown accounts costs no chain read (unlike :meth:`operator_id_of`)."""
        await self.refresh()
        accounts = self._active_accounts
        if accounts is None:
            found = await self.operators(await self.active_operator_ids())
            accounts = {op.account: op.id for op in found.values() if op.active}
            self._active_accounts = accounts
        return accounts.get(self.w3.to_checksum_address(account), 0)

    async def operators(self, ids) -> dict[int, Operator]:
        found = await asyncio.gather(*(self.operator(i) for i in ids))
        return {op.id: op for op in found}

    async def operator_id_of(self, account: str) -> int:
        await self.refresh()
        account = self.w3.to_checksum_address(account)
        if account not in self._ids:
            self._ids[account] = int(await self.center.functions.operatorIdOf(account).call())
        return self._ids[account]

    async def is_active(self, account: str) -> bool:
        operator_id = await self.operator_id_of(account)
        return operator_id != 0 and (await self.operator(operator_id)).active

    async def signers_apk_g2(self, definition: DefinitionView, signer_ids) -> G2Point:
        """The aggregate G2 key of ``signer_ids``; the whole set's is computed once per set version."""
        signer_ids = sorted(signer_ids)
        keys = await self.operators(signer_ids)
        if signer_ids == list(definition.members):
            if definition._full_apk_g2 is None:
                definition._full_apk_g2 = await asyncio.to_thread(_sum_g2, [keys[i].public.g2 for i in signer_ids])
            return definition._full_apk_g2
        return await asyncio.to_thread(_sum_g2, [keys[i].public.g2 for i in signer_ids])


def _sum_g2(points: list[G2Point]) -> G2Point:
    total = G2Point.infinity()
    for point in points:
        total = total + point
    return total


def _error_in(exc: Exception, error: str) -> bool:
    """Whether ``exc`` carries the revert data of the center's custom error ``error``."""
    wanted = "0x" + error_selector(_CENTER, error).hex()
    return wanted in str(getattr(exc, "data", "")) or wanted in str(exc)


class SharedReads:
    """One read for every caller that needs the same answer at the same time.

    A burst of tasks right after the view dropped its cache would otherwise send one identical
    ``eth_call`` each; callers asking under the same ``key`` while a read is under way await that
    read instead. Nothing is kept once it finished (caching is :class:`ChainView`'s job).
    """

    def __init__(self) -> None:
        self._reads: dict[Hashable, asyncio.Future] = {}

    async def get(self, key: Hashable, read: Callable[[], Awaitable[Any]]) -> Any:
        future = self._reads.get(key)
        if future is None:
            future = asyncio.ensure_future(read())
            self._reads[key] = future
            future.add_done_callback(lambda done: self._forget(key, done))
        return await asyncio.shield(future)

    def _forget(self, key: Hashable, done: asyncio.Future) -> None:
        if self._reads.get(key) is done:
            del self._reads[key]
