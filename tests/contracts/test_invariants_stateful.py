"""Stateful invariants of the attestation center, its operator sets, its rewards and its penalties.

A Hypothesis state machine drives random sequences of operator moves (register, and register again
from an account that left or was ejected; increase stake, request a withdrawal and withdraw it once
unlocked, rotate the BLS key, leave, be ejected, be slashed), task definitions (open, restricted to
some ids, with a minimum voting power; penalty settings changed after tasks landed; who may attest
changed, which retires the definition's operator set and builds a new one), the unbonding delay,
the fee calculator (on, off, its fees changed, sometimes beyond what a reward can hold), operators
opting in and out as aggregators (docs/decisions/0015-aggregator-schedule.md), AVS hooks
behind an ``AvsLogicRouter`` (routed per definition, accepting or reverting before or after),
task submissions (either side, random signers that reach the side's quorum, sent by anyone or,
at a block time set for it, by the aggregator on turn or in its grace; and submissions the
center must refuse: a signer or non-signer from outside the set, an inactive performer or
aggregator), reports of double attestations and of incorrect attestations (by any key ever
registered, on any task landed; a key never registered, a signature on the winning side, a task
that never landed) and of rejected tasks, blocks passing, and reward claims (some, all in any
order, more than claimable, more than the vault holds), against a Python model of what the
documentation promises. The vault is funded either amply once, or tightly: after each task with
exactly what it added to the rewards. Every refusal is predicted by the model (which custom error,
with which arguments), and a refused submission must leave the task, the rewards, the debits, the
set's G2-key cache and the hooks' counters as they were. After every step it checks:

* every live operator set (set 0 and each definition's own set): its members are exactly the
  active operators the definition admits, its total power is the sum of their stakes, its member
  count their number, its aggregate G1 key the sum of their keys (as ``getOperator`` reports them)
  and its reward index the model's; a retired set is empty, with no power and no key; each
  definition names the set the model expects;
* the G2-key cache of every live set (``_setApkG2Hash``, read from storage: no view returns it) is
  zero exactly when the model says a member or a member's key changed since the last submission
  that every member signed, and otherwise the hash of the aggregate G2 key of its current members,
  computed here from their keys;
* every account's ``claimableRewards`` equals the model's: the attester reward of each task its
  operator ids signed (never one it did not sign), the performer reward of each approved task it
  performed, the aggregator reward of each task it submitted (the fee calculator's amounts while
  one is set) when no aggregator was listed or it was on turn or in its grace (the Python twin of
  the schedule decides; otherwise nobody gets it and the center says so), minus what it claimed; rewards of an id that left or was ejected stay claimable by
  its account;
* the same amount rebuilt the way the contract keeps it (docs/decisions/0003-rewards-accounting.md):
  the account's credit, plus its active id's unsettled earnings in every set it is a member of
  (the set's reward index minus the id's checkpoint), minus the id's debit, minus its claims; the
  model keeps indices, checkpoints, credits and debits of its own and they must equal the center's
  (credits, debits and checkpoints read from storage);
* the vault holds at least everything that is claimable, and exactly what was funded minus claims
  (when funded tightly: exactly what is claimable);
* the center holds exactly the active stakes plus the pending withdrawals (slashes pay out at once);
* the aggregator list (``activeAggregators``) is the model's, in order (swap and pop on opt-outs,
  leaving, ejection and ejecting slashes);
* the task count is the number of tasks that landed, and re-submitting any landed task reverts
  ``TaskAlreadySubmitted`` (a rule of its own);
* every key answers for exactly the tasks that landed while it was its id's current key: its
  ``keyRecord`` bounds are the model's, so an inactive id's keys answer for no task landed after
  its exit (and a rotated key for none after its rotation);
* an account is punished at most once per offence and task, whatever ids it held (from the
  PenaltyManager's ``OffencePunished`` logs; double and incorrect attestations share one record),
  and exactly for the offences the model punished;
* the unbonding delay exceeds every definition's dispute period, and no pending withdrawal unlocks
  before the last block in which a report of a task that landed before it was requested is accepted.

``STATEFUL_EXAMPLES`` (environment) sets how many random sequences to run (default 12).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from eth_abi import encode
from eth_utils import keccak
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from othentic_offchain.chain.artifacts import load_artifact
from othentic_offchain.chain.deploy import SLASHER_ROLE
from othentic_offchain.chain.schedule import Aggregator, AggregatorSchedule
from othentic_offchain.chain.types import (
    PenaltyConfig,
    RegistryConfig,
    TaskDefinitionParams,
    TaskInfo,
    build_submission,
)
from othentic_offchain.crypto import G1Point, G2Point, KeyPair, aggregate_g2, recover_task_signer
from tests.contracts.network import CHAIN_ID, DEFINITION_0, MIN_STAKE, REGISTRY, TOKEN, deploy_network

EXAMPLES = int(os.environ.get("STATEFUL_EXAMPLES", "12"))
POOL_ACCOUNTS = 8  # accounts[1..8] register, leave and come back
KEY_COUNT = 56  # a key is never registered twice, even after its operator left or rotated it
NEVER_REGISTERED = KEY_COUNT  # World.keys[KEY_COUNT]: a key no operator ever registers
VAULT_FUNDS = 10**9 * TOKEN
MAX_OPEN_SETS = 8  # OperatorSets.MAX_OPEN_SETS
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
ZERO_HASH = b"\x00" * 32
KEEP_ACTIVE = 3  # leave, eject and slash only while at least this many operators are active
MAX_DEFINITIONS = 6
MAX_LISTED_SETS = 16  # OperatorSets.MAX_LISTED_SETS_PER_OPERATOR
MAX_REPORTER_BPS = 5_000
MAX_ATTESTER_FEE = 2**96 - 1  # AttestationCenter._fees: the attester reward is a uint96
MAX_ROLE_FEE = 2**128 - 1  # ... the performer's and the aggregator's uint128
BEFORE_SAYS_NO, AFTER_SAYS_NO = "before hook says no", "after hook says no"  # TestAvsLogic.HookRejected
LOGICS = 2  # TestAvsLogic instances the router can send a definition to
MAX_AGGREGATORS = 4  # the aggregator limit the examples run with
TURN, GRACE = 12, 3  # seconds of block time

DOUBLE, INCORRECT, REJECTED = 0, 1, 2  # IPenaltyManager.Offence
SIGNATURES = "signatures"  # double and incorrect attestation share one record
OFFENCE_PUNISHED = "0x" + keccak(text="OffencePunished(uint8,bytes32,uint32,address,uint256)").hex()

REWARDS = st.sampled_from([0, TOKEN // 2, TOKEN, 3 * TOKEN, 7 * TOKEN // 4])
FEES = st.sampled_from([0, 1, TOKEN // 4, TOKEN, 5 * TOKEN // 2])  # any amount: no packing for them
STAKES = st.one_of(st.just(MIN_STAKE), st.integers(MIN_STAKE, 4 * MIN_STAKE))
SWITCHES = st.tuples(st.booleans(), st.booleans(), st.booleans())
# (before reverts, after reverts): half the time hooks that accept, so that tasks keep landing.
HOOK_MODES = st.sampled_from([(False, False), (False, False), (True, False), (False, True)])


@dataclass
class Op:
    id: int
    account: Any
    key: int  # index of its current key in World.keys
    stake: int
    active: bool = True


@dataclass
class KeyLife:
    """A registered key: its id, and the task counts between which it answers (``keyRecord``)."""

    operator_id: int
    added_at_count: int
    added_at_block: int
    retired_at_count: int | None = None
    retired_at_block: int = 0

    def answers_for(self, task_number: int) -> bool:
        return self.added_at_count < task_number and (
            self.retired_at_count is None or task_number <= self.retired_at_count
        )


@dataclass(frozen=True)
class Terms:
    """A definition's penalty settings: what the tasks landing under them are judged by."""

    dispute: int
    double: bool
    incorrect: bool
    rejected: bool
    slash_bps: int
    reporter_bps: int

    def config(self) -> PenaltyConfig:
        return PenaltyConfig(self.double, self.incorrect, self.rejected, self.slash_bps, self.reporter_bps)


@dataclass
class Definition:
    id: int
    set_id: int
    restricted: tuple[int, ...] | None
    minimum: int
    attester: int
    performer: int
    aggregator: int
    terms: Terms
    terms_since: int  # the task count when `terms` were set
    name: str = ""

    def admits(self, op: Op) -> bool:
        return op.active and (self.restricted is None or op.id in self.restricted) and op.stake >= self.minimum

    def params(self, terms: Terms) -> TaskDefinitionParams:
        return TaskDefinitionParams(
            name=self.name,
            attester_reward=self.attester,
            performer_reward=self.performer,
            aggregator_reward=self.aggregator,
            dispute_period_blocks=terms.dispute,
            minimum_voting_power=self.minimum,
            restricted_attester_ids=self.restricted or (),
            penalties=terms.config(),
        )


@dataclass
class Landed:
    task: TaskInfo
    submission: Any = field(repr=False)
    definition: Definition
    number: int
    block: int
    signers: tuple[int, ...]
    approved: bool
    supermajority: bool
    terms: Terms  # the definition's settings when it landed

    @property
    def deadline(self) -> int:
        return self.block + self.terms.dispute


@dataclass
class OperatorSet:
    """The model's own bookkeeping of one operator set (OperatorSets.sol, decision 0003): its
    reward index, each member's checkpoint, the members' keys, and the G2-key cache."""

    index: int = 0
    checkpoints: dict[int, int] = field(default_factory=dict)  # member id -> index when it joined
    keys: dict[int, int] = field(default_factory=dict)  # member id -> its key (World.keys index)
    g2_hash: bytes = ZERO_HASH  # what the center caches after a submission every member signed
    retired: bool = False


@dataclass
class Attempt:
    """One submission as the aggregator sends it, and who is behind it."""

    definition: Definition
    approve: bool
    members: list[Op]  # the definition's set
    signers: dict[int, Op]  # whose signatures the aggregate carries (a stranger's too, sometimes)
    performer: Any  # accounts
    aggregator: Any
    task: TaskInfo
    submission: Any = field(repr=False)
    #: How the performer signed: "bound" (this center and chain), "bare" (Othentic's taskHash), or
    #: bound to "another center" / "another chain" (valid there, never here).
    signed: str = "bound"
    #: The block time to land at (set for a submission sent by the aggregator on turn or in grace).
    at: int | None = None

    @property
    def non_signers(self) -> tuple[int, ...]:
        return tuple(self.submission.non_signer_ids)


@dataclass
class World:
    """The deployment every example starts from (restored from a chain snapshot)."""

    net: Any
    pool: list
    reporter: Any
    slasher: Any
    keys: list[KeyPair]
    calculator: Any  # TestFeeCalculator
    router: Any  # AvsLogicRouter, owned by the admin
    logics: list  # TestAvsLogic instances the router sends definitions to
    g2_hashes: dict = field(default_factory=dict)  # frozenset of key indices -> hash of their G2 sum
    snapshot: Any = None

    def g2_hash_of(self, key_indices) -> bytes:
        """keccak256(abi.encode(aggregate G2 key)) of these keys, as AttestationCenter caches it."""
        indices = frozenset(key_indices)
        if indices not in self.g2_hashes:
            self.g2_hashes[indices] = g2_hash(aggregate_g2(self.keys[i].public.g2 for i in indices))
        return self.g2_hashes[indices]


def g2_hash(point: G2Point) -> bytes:
    return keccak(encode(["uint256"] * 4, point.words()))


@dataclass
class Model:
    ops: dict[int, Op] = field(default_factory=dict)
    current: dict[str, int] = field(default_factory=dict)  # account -> its current or latest id
    pending: dict[str, int] = field(default_factory=dict)  # account -> unbonding withdrawal
    unlock: dict[str, int] = field(default_factory=dict)  # account -> block its withdrawal unlocks
    queued_at: dict[str, int] = field(default_factory=dict)  # account -> block of its last request
    earned: dict[str, int] = field(default_factory=dict)  # per task: what each account was given
    claimed: dict[str, int] = field(default_factory=dict)
    definitions: list[Definition] = field(default_factory=list)
    tasks: list[Landed] = field(default_factory=list)
    keys: dict[int, KeyLife] = field(default_factory=dict)  # key index -> its life
    punished: set = field(default_factory=set)  # (SIGNATURES or REJECTED, task hash, account)
    delay: int = REGISTRY.unbonding_delay_blocks
    superseded_open_until: int = 0
    last_set_id: int = 0
    open_sets: int = 0
    tight: bool = False  # the vault is funded after each task with exactly what it added
    vault: int = 0
    # The contract's way of keeping rewards (decision 0003), kept here independently.
    sets: dict[int, OperatorSet] = field(default_factory=lambda: {0: OperatorSet()})
    credits: dict[str, int] = field(default_factory=dict)  # account -> credit
    debits: dict[int, int] = field(default_factory=dict)  # id -> attester rewards forfeited
    # The fee calculator: its fees (kept when it is switched off) and whether the center uses it.
    calculator_on: bool = False
    calculator_fees: tuple[int, int, int] = (0, 0, 0)
    aggregators: list[int] = field(default_factory=list)  # operator ids, in the contract's order
    # Hooks: whether the center calls the router, which logic each definition goes to, each logic's
    # (before reverts, after reverts) and its calls (before, after).
    hooks_on: bool = False
    logic_of: dict[int, int] = field(default_factory=dict)
    hook_modes: list = field(default_factory=lambda: [(False, False)] * LOGICS)
    hook_calls: list = field(default_factory=lambda: [(0, 0)] * LOGICS)

    def active_ops(self) -> list[Op]:
        return [op for op in self.ops.values() if op.active]

    def schedule(self) -> AggregatorSchedule:
        listed = tuple(Aggregator(i, self.ops[i].account.address, f"http://aggregator-{i}") for i in self.aggregators)
        return AggregatorSchedule(listed, TURN, GRACE, MAX_AGGREGATORS)

    def drop_aggregator(self, operator_id: int) -> None:
        """Swap and pop, as the contract: the last aggregator takes the leaver's place."""
        position = self.aggregators.index(operator_id)
        last = self.aggregators.pop()
        if position < len(self.aggregators):
            self.aggregators[position] = last

    def is_active(self, address: str) -> bool:
        return address in self.current and self.ops[self.current[address]].active

    def members(self, definition: Definition) -> list[Op]:
        return sorted((op for op in self.ops.values() if definition.admits(op)), key=lambda op: op.id)

    def set_members(self, set_id: int) -> list[Op]:
        if set_id == 0:
            return sorted(self.active_ops(), key=lambda op: op.id)
        [owner] = [d for d in self.definitions if d.set_id == set_id]
        return self.members(owner)

    def live_sets(self) -> list[int]:
        return [set_id for set_id, s in self.sets.items() if not s.retired]

    def claimable(self, address: str) -> int:
        return self.earned.get(address, 0) - self.claimed.get(address, 0)

    def owed(self) -> int:
        return sum(self.claimable(address) for address in self.earned)

    def credit(self, address: str, amount: int) -> None:
        self.earned[address] = self.earned.get(address, 0) + amount

    def fees(self, definition: Definition) -> tuple[int, int, int]:
        """(attester, performer, aggregator) a task of the definition pays."""
        if self.calculator_on:
            return self.calculator_fees
        return definition.attester, definition.performer, definition.aggregator

    def hook_of(self, definition: Definition) -> int | None:
        """The logic the center's hooks reach for this definition's tasks, if any."""
        return self.logic_of.get(definition.id) if self.hooks_on else None

    # --- the contract's bookkeeping -----------------------------------------------------------

    def settle_sets(self) -> None:
        """Brings every live set up to the operators as they are now: an id that left settles its
        earnings in the set into its account's credit, an id that joined starts at the set's index,
        and any change of members or of a member's key clears the G2-key cache. Exact at any
        moment between steps, because no step both moves a reward index (a submission) and
        changes a membership; idempotent."""
        for set_id in self.live_sets():
            s = self.sets[set_id]
            now = {op.id: op.key for op in self.set_members(set_id)}
            for operator_id in [i for i in s.checkpoints if i not in now]:
                self.settle(s, operator_id)
            for operator_id in now:
                s.checkpoints.setdefault(operator_id, s.index)
            if now != s.keys:
                s.g2_hash = ZERO_HASH
            s.keys = now

    def settle(self, s: OperatorSet, operator_id: int) -> None:
        address = self.ops[operator_id].account.address
        self.credits[address] = self.credits.get(address, 0) + s.index - s.checkpoints.pop(operator_id)

    def retire_set(self, set_id: int) -> None:
        """OperatorSets._retireSet: every member leaves, its earnings settled."""
        s = self.sets[set_id]
        for operator_id in list(s.checkpoints):
            self.settle(s, operator_id)
        s.keys, s.g2_hash, s.retired = {}, ZERO_HASH, True

    def unsettled(self, operator_id: int) -> int:
        return sum(
            s.index - s.checkpoints[operator_id]
            for s in self.sets.values()
            if not s.retired and operator_id in s.checkpoints
        )

    def kept_claimable(self, address: str) -> int:
        """claimableRewards as the contract computes it, from the model's own bookkeeping."""
        amount = self.credits.get(address, 0) - self.claimed.get(address, 0)
        if self.is_active(address):
            operator_id = self.current[address]
            amount += self.unsettled(operator_id) - self.debits.get(operator_id, 0)
        return amount

    # --- operators ----------------------------------------------------------------------------

    def queue(self, address: str, amount: int, block: int) -> None:
        """OperatorRegistry._queueWithdrawal: adds to the pending amount, restarts the delay."""
        self.pending[address] = self.pending.get(address, 0) + amount
        self.unlock[address] = block + self.delay
        self.queued_at[address] = block

    def retire_key(self, op: Op, block: int) -> None:
        life = self.keys[op.key]
        life.retired_at_count, life.retired_at_block = len(self.tasks), block

    def exit(self, op: Op, block: int) -> None:
        """OperatorRegistry._exit: also charges the id's debit to its account's credit."""
        if op.stake:
            self.queue(op.account.address, op.stake, block)
        self.retire_key(op, block)
        op.stake = 0
        op.active = False
        address = op.account.address
        self.credits[address] = self.credits.get(address, 0) - self.debits.get(op.id, 0)
        if op.id in self.aggregators:
            self.drop_aggregator(op.id)

    def slash(self, operator_id: int, slash_bps: int, block: int) -> tuple[int, bool]:
        """OperatorRegistry.slashOperator: the account behind the id loses `slash_bps` of its active
        stake plus its unbonding withdrawal, active stake first; below the minimum it is ejected."""
        address = self.ops[operator_id].account.address
        current = self.ops[self.current[address]]
        active = current.stake if current.active else 0
        pending = self.pending.get(address, 0)
        slashed = (active + pending) * slash_bps // 10_000
        from_stake = min(slashed, active)
        ejected = False
        if from_stake > 0:
            current.stake -= from_stake
            if current.stake < MIN_STAKE:
                self.exit(current, block)
                ejected = True
        if slashed > from_stake:
            self.pending[address] = self.pending.get(address, 0) - (slashed - from_stake)
        return slashed, ejected


def reached(approve: bool, signed: int, total: int) -> bool:
    """AttestationCenter._checkQuorum: approve > 2/3 of the power, reject >= 1/3, never zero."""
    if signed == 0:
        return False
    return signed * 3 > total * 2 if approve else signed * 3 >= total


class CenterReads:
    """The center's views and storage, many reads per JSON-RPC batch (an Ape call costs about
    three times as much per read, and the invariants make hundreds per step).

    Storage holds what no view returns: credits, debits, set checkpoints and the G2-key cache.
    The slots are CenterStorage's layout as ``solc --storage-layout`` reports it (AccessControl's
    ``_roles`` in slot 0, then CenterStorage's variables in declaration order); the invariants
    compare every value with the model's, so a moved slot fails loudly."""

    OP_STATE = 6  # _opState: uint32 id => {uint96 stake; uint128 debit; uint8 status}
    ACCOUNTS = 11  # _accounts: address => {uint32 operatorId; bool active; uint128 credit}
    SET_APK_G2_HASH = 19  # _setApkG2Hash: uint32 set id => bytes32
    MEMBERSHIP = 21  # _membership: uint32 set id => uint32 id => {bool listed; bool member; uint96 checkpoint}

    def __init__(self, web3, address: str):
        self.web3, self.address = web3, address
        abi = load_artifact("IAttestationCenter").abi
        self.center = web3.eth.contract(address=address, abi=abi, decode_tuples=True)

    def views(self, calls: list[tuple]) -> list:
        """``[(function name, *arguments), ...]``: the decoded results, in order (structs as named
        tuples, as Ape gives them)."""
        if not calls:
            return []
        with self.web3.batch_requests() as batch:
            for name, *arguments in calls:
                batch.add(getattr(self.center.functions, name)(*arguments))
            return batch.execute()

    @staticmethod
    def entry(key: int | str, slot: int) -> int:
        """The slot of ``mapping[key]`` for a mapping at ``slot`` (an address key as a string)."""
        word = bytes.fromhex(key[2:]).rjust(32, b"\x00") if isinstance(key, str) else key.to_bytes(32, "big")
        return int.from_bytes(keccak(word + slot.to_bytes(32, "big")), "big")

    def read(self, slots: list[int]) -> list[int]:
        """Many storage words in one JSON-RPC batch."""
        if not slots:
            return []
        with self.web3.batch_requests() as batch:
            for slot in slots:
                batch.add(self.web3.eth.get_storage_at(self.address, slot))
            words = batch.execute()
        return [int.from_bytes(bytes(word), "big") for word in words]

    def credit_slot(self, address: str) -> int:
        return self.entry(address, self.ACCOUNTS)

    @staticmethod
    def credit_of(word: int) -> int:
        return (word >> 40) & (2**128 - 1)

    def debit_slot(self, operator_id: int) -> int:
        return self.entry(operator_id, self.OP_STATE)

    @staticmethod
    def debit_of(word: int) -> int:
        return (word >> 96) & (2**128 - 1)

    def membership_slot(self, set_id: int, operator_id: int) -> int:
        return self.entry(operator_id, self.entry(set_id, self.MEMBERSHIP))

    @staticmethod
    def checkpoint_of(word: int) -> tuple[bool, int]:
        """(member, checkpoint)."""
        return bool((word >> 8) & 0xFF), (word >> 16) & (2**96 - 1)

    def g2_hash_slot(self, set_id: int) -> int:
        return self.entry(set_id, self.SET_APK_G2_HASH)


@pytest.fixture(scope="module")
def world(project, accounts, key_pool) -> World:
    net = deploy_network(project, accounts, key_pool)
    # The admin funds the vault: ample once per example, or tightly after every task.
    net.reward_token.mint(net.admin, 10**12 * TOKEN, sender=net.admin)
    net.reward_token.approve(net.vault.address, 2**256 - 1, sender=net.admin)
    pool = [accounts[i] for i in range(1, POOL_ACCOUNTS + 1)]
    for account in pool:
        net.fund_stake(account, 10**6 * TOKEN)
    slasher = accounts[POOL_ACCOUNTS + 1]
    net.center.grantRole(SLASHER_ROLE, slasher, sender=net.admin)
    keys = [KeyPair.from_seed(b"othentic-py stateful invariant key %03d" % i) for i in range(KEY_COUNT + 1)]
    calculator = project.TestFeeCalculator.deploy(sender=net.admin)
    router = project.AvsLogicRouter.deploy(net.center.address, net.admin.address, sender=net.admin)
    logics = [project.TestAvsLogic.deploy(sender=net.admin) for _ in range(LOGICS)]
    net.center.setAggregatorConfig(MAX_AGGREGATORS, TURN, GRACE, sender=net.admin)
    return World(net, pool, accounts[POOL_ACCOUNTS + 2], slasher, keys, calculator, router, logics)


def make_machine(world: World, chain, reverts_with):
    net = world.net
    center = net.center
    penalties = net.penalties
    web3 = chain.provider.web3
    reads = CenterReads(web3, center.address)

    class CenterMachine(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            if world.snapshot is not None:
                chain.restore(world.snapshot)
            world.snapshot = chain.snapshot()
            self.first_block = chain.blocks.head.number + 1
            self.model = Model()
            zero_terms = Terms(
                DEFINITION_0.dispute_period_blocks,
                DEFINITION_0.penalties.double_attestation,
                DEFINITION_0.penalties.incorrect_attestation,
                DEFINITION_0.penalties.rejected_task,
                DEFINITION_0.penalties.slash_bps,
                DEFINITION_0.penalties.reporter_bps,
            )
            self.model.definitions.append(
                Definition(
                    0,
                    0,
                    None,
                    0,
                    DEFINITION_0.attester_reward,
                    DEFINITION_0.performer_reward,
                    DEFINITION_0.aggregator_reward,
                    zero_terms,
                    0,
                    DEFINITION_0.name,
                )
            )
            self.task_counter = 0

        # --- helpers ----------------------------------------------------------------------------

        def next_block(self) -> int:
            return chain.blocks.head.number + 1

        def free_accounts(self):
            return [
                a
                for a in world.pool
                if a.address not in self.model.current or not self.model.ops[self.model.current[a.address]].active
            ]

        def free_keys(self):
            return [i for i in range(KEY_COUNT) if i not in self.model.keys]

        def register(self, account, key_index: int, stake: int) -> Op:
            keys = world.keys[key_index]
            pop = keys.proof_of_possession(account.address, center.address, CHAIN_ID)
            receipt = center.registerOperator(
                stake, keys.public.g1.words(), keys.public.g2.solidity(), pop.words(), sender=account
            )
            op = Op(max(self.model.ops, default=0) + 1, account, key_index, stake)
            assert receipt.events.filter(center.OperatorRegistered)[0].operatorId == op.id
            self.model.keys[key_index] = KeyLife(op.id, len(self.model.tasks), receipt.block_number)
            self.model.ops[op.id] = op
            self.model.current[account.address] = op.id
            return op

        def check_slash(self, receipt, operator_id: int, slash_bps: int, reporter_bps: int, reporter: str):
            slashed, ejected = self.model.slash(operator_id, slash_bps, receipt.block_number)
            [event] = receipt.events.filter(center.OperatorSlashed)
            assert (event.operatorId, event.amount) == (operator_id, slashed)
            to_reporter = 0 if reporter == ZERO_ADDRESS else slashed * reporter_bps // 10_000
            assert event.reporterReward == to_reporter
            assert len(receipt.events.filter(center.OperatorEjected)) == int(ejected)

        def refusal(self, landed: Landed, switch: bool, offence: int):
            """The error the PenaltyManager's common checks give for a report sent now, or None."""
            if not switch:
                return penalties.PenaltyDisabled, (landed.definition.id, offence)
            if self.next_block() > landed.deadline:
                return penalties.DisputePeriodOver, (landed.task.task_hash(), landed.deadline)
            return None

        # --- operators --------------------------------------------------------------------------

        @initialize(stakes=st.lists(STAKES, min_size=3, max_size=5), tight=st.booleans())
        def first_operators(self, stakes, tight):
            """The first operators, and how the vault is funded: amply now, or tightly as tasks land."""
            for account, key_index, stake in zip(world.pool, range(len(stakes)), stakes):
                self.register(account, key_index, stake)
            self.model.tight = tight
            if not tight:
                net.vault.fund(VAULT_FUNDS, sender=net.admin)
                self.model.vault = VAULT_FUNDS

        @precondition(lambda self: self.free_accounts() and self.free_keys())
        @rule(data=st.data(), stake=STAKES)
        def register_operator(self, data, stake):
            """A fresh account, or one whose last id left or was ejected (it gets a new id)."""
            account = data.draw(st.sampled_from(self.free_accounts()), label="account")
            key_index = data.draw(st.sampled_from(self.free_keys()), label="key")
            self.register(account, key_index, stake)

        @precondition(lambda self: self.model.active_ops())
        @rule(data=st.data(), amount=st.integers(1, 2 * MIN_STAKE))
        def increase_stake(self, data, amount):
            op = data.draw(st.sampled_from(self.model.active_ops()), label="operator")
            center.increaseStake(amount, sender=op.account)
            op.stake += amount

        @precondition(lambda self: any(op.stake > MIN_STAKE for op in self.model.active_ops()))
        @rule(data=st.data())
        def request_withdrawal(self, data):
            op = data.draw(st.sampled_from([op for op in self.model.active_ops() if op.stake > MIN_STAKE]))
            amount = data.draw(st.integers(1, op.stake - MIN_STAKE), label="amount")
            receipt = center.requestWithdrawal(amount, sender=op.account)
            op.stake -= amount
            self.model.queue(op.account.address, amount, receipt.block_number)

        @precondition(lambda self: self.model.unlock)
        @rule(data=st.data(), wait=st.booleans())
        def withdraw(self, data, wait):
            """Right away (refused while locked) or once the blocks until the unlock have passed."""
            address = data.draw(st.sampled_from(sorted(self.model.unlock)), label="account")
            account = next(a for a in world.pool if a.address == address)
            amount, unlock = self.model.pending.get(address, 0), self.model.unlock[address]
            if wait and self.next_block() < unlock:
                chain.mine(unlock - self.next_block())
            if amount == 0:
                with reverts_with(center.NothingToWithdraw, address):
                    center.withdraw(address, sender=account, skip_trace=True)
            elif self.next_block() < unlock:
                with reverts_with(center.WithdrawalLocked, unlock, self.next_block()):
                    center.withdraw(address, sender=account, skip_trace=True)
            else:
                before = net.stake_token.balanceOf(address)
                center.withdraw(address, sender=account)
                assert net.stake_token.balanceOf(address) - before == amount
                del self.model.pending[address], self.model.unlock[address], self.model.queued_at[address]

        @precondition(lambda self: self.model.active_ops() and self.free_keys())
        @rule(data=st.data())
        def rotate_key(self, data):
            """Mostly a member of a set whose G2 key is cached (the rotation must clear the cache)."""
            self.model.settle_sets()
            cached = [
                op
                for op in self.model.active_ops()
                if any(s.g2_hash != ZERO_HASH and op.id in s.keys for s in self.model.sets.values())
            ]
            pool = (
                cached if cached and data.draw(st.integers(0, 2), label="any operator") > 0 else self.model.active_ops()
            )
            op = data.draw(st.sampled_from(pool), label="operator")
            key_index = data.draw(st.sampled_from(self.free_keys()), label="new key")
            keys = world.keys[key_index]
            pop = keys.proof_of_possession(op.account.address, center.address, CHAIN_ID)
            receipt = center.updateBlsKey(
                keys.public.g1.words(), keys.public.g2.solidity(), pop.words(), sender=op.account
            )
            self.model.retire_key(op, receipt.block_number)
            self.model.keys[key_index] = KeyLife(op.id, len(self.model.tasks), receipt.block_number)
            op.key = key_index

        @precondition(lambda self: len(self.model.active_ops()) >= KEEP_ACTIVE)
        @rule(data=st.data())
        def leave(self, data):
            op = data.draw(st.sampled_from(self.model.active_ops()), label="operator")
            receipt = center.leave(sender=op.account)
            self.model.exit(op, receipt.block_number)

        @precondition(lambda self: len(self.model.active_ops()) >= KEEP_ACTIVE)
        @rule(data=st.data())
        def eject(self, data):
            op = data.draw(st.sampled_from(self.model.active_ops()), label="operator")
            receipt = center.ejectOperator(op.id, sender=net.admin)
            assert receipt.events.filter(center.OperatorEjected)[0].operatorId == op.id
            self.model.exit(op, receipt.block_number)

        # --- penalties --------------------------------------------------------------------------

        @precondition(
            lambda self: len(self.model.aggregators) < MAX_AGGREGATORS
            and any(op.id not in self.model.aggregators for op in self.model.active_ops())
        )
        @rule(data=st.data())
        def opt_in_as_aggregator(self, data):
            candidates = [op for op in self.model.active_ops() if op.id not in self.model.aggregators]
            op = data.draw(st.sampled_from(candidates), label="aggregator")
            receipt = center.optInAsAggregator(f"http://aggregator-{op.id}", sender=op.account)
            [event] = receipt.events.filter(center.AggregatorOptedIn)
            assert (event.operatorId, event.position) == (op.id, len(self.model.aggregators))
            self.model.aggregators.append(op.id)

        @precondition(lambda self: self.model.aggregators)
        @rule(data=st.data())
        def opt_out_as_aggregator(self, data):
            op = self.model.ops[data.draw(st.sampled_from(self.model.aggregators), label="aggregator")]
            receipt = center.optOutAsAggregator(sender=op.account)
            [event] = receipt.events.filter(center.AggregatorOptedOut)
            assert (event.operatorId, event.position) == (op.id, self.model.aggregators.index(op.id))
            self.model.drop_aggregator(op.id)

        def key_cases(self, eligible) -> dict[str, list]:
            """(task, key) pairs of the tasks `eligible` admits that are still open to a signature
            report, by what the model expects: punished, or refused for one of three reasons."""
            next_block = self.next_block()
            cases = {"punishable": [], "already punished": [], "key retired before": [], "key added after": []}
            for landed in self.model.tasks:
                if not eligible(landed) or next_block > landed.deadline:
                    continue
                for key_index, life in self.model.keys.items():
                    account = self.model.ops[life.operator_id].account.address
                    if landed.number <= life.added_at_count:
                        cases["key added after"].append((landed, key_index))
                    elif not life.answers_for(landed.number):
                        cases["key retired before"].append((landed, key_index))
                    elif (SIGNATURES, landed.task.task_hash(), account) in self.model.punished:
                        cases["already punished"].append((landed, key_index))
                    else:
                        cases["punishable"].append((landed, key_index))
            return {case: pairs for case, pairs in cases.items() if pairs}

        def draw_task_and_key(self, data, eligible) -> tuple[Landed, int]:
            """Mostly a pair of each expected outcome in turn, sometimes any pair at all (closed
            windows, switches off)."""
            cases = self.key_cases(eligible)
            if cases and data.draw(st.integers(0, 4), label="any pair") > 0:
                case = data.draw(st.sampled_from(sorted(cases)), label="expected outcome")
                return data.draw(st.sampled_from(cases[case]), label="task and key")
            landed = data.draw(st.sampled_from(self.model.tasks), label="task")
            return landed, data.draw(st.sampled_from(sorted(self.model.keys)), label="key")

        def key_refusal(self, landed: Landed, key_index: int):
            """PenaltyManager._signer's checks of a registered key: it must answer for the task."""
            life = self.model.keys[key_index]
            if landed.number <= life.added_at_count:
                return penalties.KeyAddedAfterTask, (life.operator_id, life.added_at_block, landed.block)
            if not life.answers_for(landed.number):
                return penalties.KeyRetiredBeforeTask, (life.operator_id, life.retired_at_block, landed.block)
            return None

        def punish(self, report, expected, record, landed: Landed, operator_id: int) -> None:
            """Sends `report`: refused with `expected` (error, arguments) if the model says so, and
            otherwise the account behind `operator_id` is slashed by the task's terms."""
            if expected is not None:
                with reverts_with(expected[0], *expected[1]):
                    report(skip_trace=True)
                return
            receipt = report()
            self.model.punished.add(record)
            [event] = receipt.events.filter(penalties.OffencePunished)
            assert event.operatorId == operator_id
            self.check_slash(
                receipt, operator_id, landed.terms.slash_bps, landed.terms.reporter_bps, world.reporter.address
            )

        # Reports are what this machine is about: each has a second rule (the same move), so that
        # Hypothesis, which picks among the rules evenly, draws them twice as often.
        @precondition(lambda self: self.model.tasks)
        @rule(data=st.data())
        def report_double_attestation_again(self, data):
            self.report_double_attestation(data)

        @precondition(lambda self: any(not landed.approved for landed in self.model.tasks))
        @rule(data=st.data())
        def report_rejected_task_again(self, data):
            self.report_rejected_task(data)

        @precondition(lambda self: self.model.tasks)
        @rule(data=st.data())
        def report_incorrect_attestation_again(self, data):
            self.report_incorrect_attestation(data, "losing side")

        @precondition(lambda self: self.model.tasks)
        @rule(data=st.data())
        def report_double_attestation(self, data):
            """Any key ever registered, on any task landed: slashed if the key answers for the task
            (it was its id's current key when the task landed), refused otherwise."""
            landed, key_index = self.draw_task_and_key(data, lambda t: t.terms.double)
            op = self.model.ops[self.model.keys[key_index].operator_id]
            keys, task = world.keys[key_index], landed.task
            signatures = [keys.sign(task.vote_hash(center.address, CHAIN_ID, side)).words() for side in (True, False)]
            record = (SIGNATURES, task.task_hash(), op.account.address)

            def report(**kwargs):
                return penalties.reportDoubleAttestation(
                    task.abi(), keys.public.g2.solidity(), *signatures, sender=world.reporter, **kwargs
                )

            expected = self.refusal(landed, landed.terms.double, DOUBLE) or self.key_refusal(landed, key_index)
            if expected is None and record in self.model.punished:
                expected = penalties.AlreadyPunished, (DOUBLE, task.task_hash(), op.account.address)
            self.punish(report, expected, record, landed, op.id)

        @precondition(lambda self: self.model.tasks)
        @rule(
            data=st.data(), evidence=st.sampled_from(["losing side"] * 4 + ["winning side", "unknown key", "no task"])
        )
        def report_incorrect_attestation(self, data, evidence):
            """A signature on the side that lost a task landed with more than two thirds: by any key
            ever registered (slashed if it answers for the task, refused otherwise), and evidence
            the PenaltyManager must refuse: a signature on the winning side, a key nobody
            registered, a task that never landed."""
            landed, key_index = self.draw_task_and_key(data, lambda t: t.terms.incorrect and t.supermajority)
            task = landed.task
            if evidence == "no task":
                self.task_counter += 1
                task = TaskInfo(
                    f"bafkreineverlanded{self.task_counter:05d}", task.data, task.performer, task.task_definition_id
                )
            if evidence == "unknown key":
                key_index = NEVER_REGISTERED
            side = landed.approved if evidence == "winning side" else not landed.approved
            keys = world.keys[key_index]
            signature = keys.sign(task.vote_hash(center.address, CHAIN_ID, side)).words()

            def report(**kwargs):
                return penalties.reportIncorrectAttestation(
                    task.abi(), keys.public.g2.solidity(), signature, sender=world.reporter, **kwargs
                )

            if evidence == "no task":
                expected = penalties.TaskNotSubmitted, (task.task_hash(),)
            else:
                expected = self.refusal(landed, landed.terms.incorrect, INCORRECT)
            if expected is None and not landed.supermajority:
                expected = penalties.RejectionWithoutSupermajority, (task.task_hash(),)
            if expected is None and evidence == "unknown key":
                expected = penalties.UnknownKey, ()
            if expected is None:
                expected = self.key_refusal(landed, key_index)
            if expected is None and evidence == "winning side":
                expected = penalties.InvalidEvidenceSignature, ()
            operator_id = self.model.keys[key_index].operator_id if key_index in self.model.keys else 0
            account = self.model.ops[operator_id].account.address if operator_id else ZERO_ADDRESS
            record = (SIGNATURES, task.task_hash(), account)
            if expected is None and record in self.model.punished:
                expected = penalties.AlreadyPunished, (INCORRECT, task.task_hash(), account)
            self.punish(report, expected, record, landed, operator_id)

        @precondition(lambda self: any(not landed.approved for landed in self.model.tasks))
        @rule(data=st.data())
        def report_rejected_task(self, data):
            """The performer's account is punished once per rejected task (a supermajority one, with
            the switch on when it landed), whatever ids it registered since."""
            rejected = [t for t in self.model.tasks if not t.approved]
            open_ = [t for t in rejected if t.terms.rejected and t.supermajority and self.next_block() <= t.deadline]
            pool = open_ if open_ and data.draw(st.integers(0, 2), label="any task") > 0 else rejected
            landed = data.draw(st.sampled_from(pool), label="task")
            task = landed.task
            performer = task.performer
            record = (REJECTED, task.task_hash(), performer)
            expected = self.refusal(landed, landed.terms.rejected, REJECTED)
            if expected is None and not landed.supermajority:
                expected = penalties.RejectionWithoutSupermajority, (task.task_hash(),)
            if expected is None and record in self.model.punished:
                expected = penalties.AlreadyPunished, (REJECTED, task.task_hash(), performer)
            self.punish(
                lambda **kwargs: penalties.reportRejectedTask(task.abi(), sender=world.reporter, **kwargs),
                expected,
                record,
                landed,
                self.model.current[performer],
            )

        @precondition(lambda self: len(self.model.active_ops()) >= KEEP_ACTIVE)
        @rule(
            data=st.data(),
            slash_bps=st.one_of(st.integers(0, 3_000), st.sampled_from([0, 1_000, 10_000])),
            reporter_bps=st.one_of(st.integers(0, MAX_REPORTER_BPS), st.integers(MAX_REPORTER_BPS + 1, 10_000)),
            to_reporter=st.booleans(),
        )
        def slash_directly(self, data, slash_bps, reporter_bps, to_reporter):
            operator_id = data.draw(st.sampled_from(sorted(self.model.ops)), label="operator id")
            reporter = world.reporter.address if to_reporter else ZERO_ADDRESS
            if reporter_bps > MAX_REPORTER_BPS:
                with reverts_with(center.ReporterShareTooLarge, reporter_bps, MAX_REPORTER_BPS):
                    center.slashOperator(
                        operator_id, slash_bps, reporter_bps, reporter, sender=world.slasher, skip_trace=True
                    )
                return
            receipt = center.slashOperator(operator_id, slash_bps, reporter_bps, reporter, sender=world.slasher)
            self.check_slash(receipt, operator_id, slash_bps, reporter_bps, reporter)

        # --- definitions and the unbonding delay ---------------------------------------------------

        def draw_terms(self, data, switches, slash_bps, reporter_bps) -> Terms:
            """Penalty settings with a dispute period that the current delay admits (mostly long)."""
            longest = self.model.delay - 1
            dispute = data.draw(
                st.one_of(st.integers(max(0, longest - 4), longest), st.integers(0, longest)), label="dispute period"
            )
            return Terms(dispute, *switches, slash_bps, reporter_bps)

        def draw_attesters(
            self, data, candidates: list[int], open_set_room: bool
        ) -> tuple[tuple[int, ...] | None, int]:
            """Who may attest: everyone or some of `candidates` (restricted), with or without a
            minimum voting power (an open set with a minimum only if there is room for one more)."""
            listings = [i for d in self.model.definitions for i in (d.restricted or ())]
            candidates = [i for i in candidates if listings.count(i) < MAX_LISTED_SETS]
            restricted = None
            if candidates and data.draw(st.booleans(), label="restricted"):
                restricted = tuple(sorted(data.draw(st.sets(st.sampled_from(candidates), min_size=1), label="ids")))
            minimum = 0
            if data.draw(st.booleans(), label="with a minimum") and (restricted or open_set_room):
                minimum = data.draw(st.integers(MIN_STAKE, 3 * MIN_STAKE), label="minimum")
            return restricted, minimum

        def new_set(self, definition: Definition, set_id: int) -> None:
            """The model's side of TaskDefinitions._setFor: a set of its own unless it admits everyone."""
            definition.set_id = 0
            if definition.restricted or definition.minimum:
                self.model.last_set_id += 1
                definition.set_id = self.model.last_set_id
                self.model.open_sets += definition.restricted is None
                self.model.sets[definition.set_id] = OperatorSet()
            assert set_id == definition.set_id
            self.model.settle_sets()  # the members join at the new set's index, zero

        @precondition(lambda self: len(self.model.definitions) < MAX_DEFINITIONS)
        @rule(
            data=st.data(),
            attester=REWARDS,
            performer=REWARDS,
            aggregator=REWARDS,
            switches=SWITCHES,
            slash_bps=st.sampled_from([500, 1_000, 5_000]),
            reporter_bps=st.sampled_from([0, 2_000, 5_000]),
        )
        def create_definition(self, data, attester, performer, aggregator, switches, slash_bps, reporter_bps):
            active_ids = [op.id for op in self.model.active_ops()]
            restricted, minimum = self.draw_attesters(data, active_ids, self.model.open_sets < MAX_OPEN_SETS)
            terms = self.draw_terms(data, switches, slash_bps, reporter_bps)
            definition = Definition(
                len(self.model.definitions),
                0,
                restricted,
                minimum,
                attester,
                performer,
                aggregator,
                terms,
                len(self.model.tasks),
                f"stateful {len(self.model.definitions)}",
            )
            receipt = center.createTaskDefinition(definition.params(terms).abi(), sender=net.admin)
            [event] = receipt.events.filter(center.TaskDefinitionCreated)
            assert event.taskDefinitionId == definition.id
            self.model.settle_sets()
            self.model.definitions.append(definition)
            self.new_set(definition, event.operatorSetId)

        @rule(data=st.data())
        def change_attesters(self, data):
            """A definition update that changes who may attest (restricted ids, minimum voting power;
            same rewards and penalty settings): its set is retired (members leave, their earnings
            settled) and a new one built; the same attesters keep the set. Any registered id may be
            listed, also one that left (it never becomes a member again)."""
            definition = data.draw(st.sampled_from(self.model.definitions), label="definition")
            old_set = definition.set_id
            frees_an_open_set = old_set != 0 and definition.restricted is None
            room = self.model.open_sets - frees_an_open_set < MAX_OPEN_SETS
            restricted, minimum = self.draw_attesters(data, sorted(self.model.ops), room)
            params = replace(
                definition.params(definition.terms),
                restricted_attester_ids=restricted or (),
                minimum_voting_power=minimum,
            )
            receipt = center.updateTaskDefinition(definition.id, params.abi(), sender=net.admin)
            [event] = receipt.events.filter(center.TaskDefinitionUpdated)
            assert event.taskDefinitionId == definition.id
            self.model.settle_sets()
            if (restricted, minimum) == (definition.restricted, definition.minimum):
                assert event.operatorSetId == old_set
                return
            if old_set != 0:
                self.model.retire_set(old_set)
                self.model.open_sets -= frees_an_open_set
            definition.restricted, definition.minimum = restricted, minimum
            self.new_set(definition, event.operatorSetId)

        @rule(
            data=st.data(),
            switches=SWITCHES,
            slash_bps=st.sampled_from([0, 1_000, 5_000, 10_000]),
            reporter_bps=st.sampled_from([0, 1_000, 5_000]),
            too_long=st.integers(0, 4),
        )
        def change_penalty_settings(self, data, switches, slash_bps, reporter_bps, too_long):
            """New penalty settings for a definition (same attesters and rewards): they judge the tasks
            that land from now on. A dispute period as long as the delay is refused."""
            definition = data.draw(st.sampled_from(self.model.definitions), label="definition")
            if too_long == 0:
                terms = Terms(self.model.delay, *switches, slash_bps, reporter_bps)
                with reverts_with(center.DisputePeriodNotBelowUnbondingDelay, self.model.delay, self.model.delay):
                    center.updateTaskDefinition(
                        definition.id, definition.params(terms).abi(), sender=net.admin, skip_trace=True
                    )
                return
            terms = self.draw_terms(data, switches, slash_bps, reporter_bps)
            receipt = center.updateTaskDefinition(definition.id, definition.params(terms).abi(), sender=net.admin)
            if terms == definition.terms:
                return
            if definition.terms_since != len(self.model.tasks):  # tasks landed under the old settings
                self.model.superseded_open_until = max(
                    self.model.superseded_open_until, receipt.block_number + definition.terms.dispute
                )
            definition.terms, definition.terms_since = terms, len(self.model.tasks)

        @rule(delay=st.integers(1, 30))
        def set_unbonding_delay(self, delay):
            """Accepted only if longer than every dispute period, and long enough that a withdrawal
            requested now unlocks after every replaced dispute period still running."""
            config = RegistryConfig(MIN_STAKE, REGISTRY.max_operators, delay)
            first_too_long = next((d for d in self.model.definitions if d.terms.dispute >= delay), None)
            if first_too_long is not None:
                with reverts_with(center.DisputePeriodNotBelowUnbondingDelay, first_too_long.terms.dispute, delay):
                    center.setRegistryConfig(config.abi(), sender=net.admin, skip_trace=True)
                return
            if self.next_block() + delay <= self.model.superseded_open_until:
                with reverts_with(center.SupersededDisputePeriodStillOpen, self.model.superseded_open_until, delay):
                    center.setRegistryConfig(config.abi(), sender=net.admin, skip_trace=True)
                return
            center.setRegistryConfig(config.abi(), sender=net.admin)
            self.model.delay = delay

        # --- the fee calculator and the hooks -----------------------------------------------------

        @rule(
            on=st.booleans(),
            fees=st.tuples(FEES, FEES, FEES),
            too_large=st.sampled_from([None] * 5 + ["attester", "performer", "aggregator"]),
        )
        def set_fee_calculator(self, on, fees, too_large):
            """The center's fee calculator on (its fees changed, sometimes one beyond what the reward
            can hold, which every submission must then refuse) or off (the definitions' rewards)."""
            if too_large == "attester":
                fees = (MAX_ATTESTER_FEE + 1, *fees[1:])
            elif too_large == "performer":
                fees = (fees[0], MAX_ROLE_FEE + 1, fees[2])
            elif too_large == "aggregator":
                fees = (*fees[:2], MAX_ROLE_FEE + 1)
            world.calculator.setFees(*fees, sender=net.admin)
            self.model.calculator_fees = fees
            if on != self.model.calculator_on:
                center.setFeeCalculator(world.calculator.address if on else ZERO_ADDRESS, sender=net.admin)
                self.model.calculator_on = on

        @rule(data=st.data(), on=st.booleans(), modes=HOOK_MODES)
        def route_hooks(self, data, on, modes):
            """The center calls the router or no hooks; the router sends a definition to one of the
            logics or to none; that logic accepts, or reverts before or after the task is recorded."""
            definition = data.draw(st.sampled_from(self.model.definitions), label="definition")
            logic = data.draw(st.sampled_from([None, *range(LOGICS)]), label="logic")
            target = ZERO_ADDRESS if logic is None else world.logics[logic].address
            world.router.setLogic(definition.id, target, sender=net.admin)
            if logic is None:
                self.model.logic_of.pop(definition.id, None)
            else:
                world.logics[logic].setReverts(*modes, sender=net.admin)
                self.model.logic_of[definition.id] = logic
                self.model.hook_modes[logic] = modes
            if on != self.model.hooks_on:
                center.setAvsLogic(world.router.address if on else ZERO_ADDRESS, sender=net.admin)
                self.model.hooks_on = on

        # --- tasks ------------------------------------------------------------------------------

        def submittable(self):
            if not self.model.active_ops():
                return []
            return [d for d in self.model.definitions if self.model.members(d)]

        # Most rules need landed tasks: each kind of submission has a second rule too (see reports).
        @precondition(lambda self: self.submittable())
        @rule(data=st.data())
        def submit_approved_task_again(self, data):
            self.submit_approved_task(data)

        @precondition(lambda self: self.submittable())
        @rule(data=st.data())
        def submit_rejected_task_again(self, data):
            self.submit_rejected_task(data)

        @precondition(lambda self: self.submittable())
        @rule(data=st.data())
        def submit_approved_task(self, data):
            self.submit(data, self.draw_attempt(data, True))

        @precondition(lambda self: self.submittable())
        @rule(data=st.data())
        def submit_rejected_task(self, data):
            self.submit(data, self.draw_attempt(data, False))

        @precondition(lambda self: self.submittable())
        @rule(
            data=st.data(),
            approve=st.booleans(),
            stranger=st.sampled_from(["signs", "is listed as a non-signer", "performs", "aggregates"]),
        )
        def submit_with_a_stranger(self, data, approve, stranger):
            """Only the definition's set attests, and only active operators perform and aggregate: a
            signature or a non-signer id from outside the set (an id the definition does not admit,
            or no longer since its attesters changed, or one that left), or an inactive performer
            or aggregator, is refused (the model says with which error)."""
            attempt = self.draw_attempt(data, approve, stranger)
            if attempt is not None:
                self.submit(data, attempt)

        def draw_attempt(self, data, approve: bool, stranger: str | None = None) -> Attempt | None:
            """A task of a submittable definition signed by random members that reach the side's
            quorum, performed and aggregated by active operators; with `stranger`, one party from
            outside (None when there is nobody outside)."""
            definition = data.draw(st.sampled_from(self.submittable()), label="definition")
            members = self.model.members(definition)
            total = sum(op.stake for op in members)
            by_id = {op.id: op for op in members}
            chosen = data.draw(st.sets(st.sampled_from(sorted(by_id)), max_size=len(members)), label="signers")
            signers = {i: by_id[i] for i in chosen}
            for op in data.draw(st.permutations(members), label="fill order"):
                if reached(approve, sum(s.stake for s in signers.values()), total):
                    break
                signers[op.id] = op
            performer = data.draw(st.sampled_from(self.model.active_ops()), label="performer").account
            aggregator = data.draw(st.sampled_from(self.model.active_ops()), label="aggregator").account
            listed = [op.id for op in members]
            if stranger in ("signs", "is listed as a non-signer"):
                outsiders = [op for op in self.model.ops.values() if not definition.admits(op)]
                if not outsiders:
                    return None
                outsider = data.draw(st.sampled_from(outsiders), label="outsider")
                listed.append(outsider.id)
                if stranger == "signs":
                    signers[outsider.id] = outsider
            elif stranger in ("performs", "aggregates"):
                if not self.free_accounts():
                    return None
                inactive = data.draw(st.sampled_from(self.free_accounts()), label="inactive account")
                performer, aggregator = (inactive, aggregator) if stranger == "performs" else (performer, inactive)

            self.task_counter += 1
            task = TaskInfo(f"bafkreistateful{self.task_counter:05d}", b"\x07" * 32, performer.address, definition.id)
            signed = "bound"
            if stranger is None:
                forms = ["bound", "bound", "bound", "bare", "another center", "another chain"]
                signed = data.draw(st.sampled_from(forms), label="performer signature")
            if signed == "bare":
                tp_signature = task.sign_bare(performer.private_key)
            else:
                where = performer.address if signed == "another center" else center.address  # any other address
                chain_id = CHAIN_ID + 1 if signed == "another chain" else CHAIN_ID
                tp_signature = task.sign(performer.private_key, where, chain_id)
            at = None
            schedule = self.model.schedule()
            if stranger is None and schedule.active:
                timing = data.draw(st.sampled_from(["anyone", "on turn", "in grace"]), label="aggregator timing")
                if timing != "anyone":
                    start = chain.blocks.head.timestamp + 2
                    start += TURN - start % TURN
                    at = start + data.draw(
                        st.integers(0, GRACE - 1) if timing == "in grace" else st.integers(GRACE, TURN - 1),
                        label="second of the turn",
                    )
                    chosen = (
                        schedule.on_turn(task.task_hash(), at)
                        if timing == "on turn"
                        else schedule.in_grace(task.task_hash(), at)
                    )
                    if chosen is None:  # one aggregator: never in grace
                        chosen = schedule.on_turn(task.task_hash(), at)
                    assert chosen is not None
                    aggregator = self.model.ops[chosen.operator_id].account
            submission = build_submission(
                task,
                is_approved=approve,
                tp_signature=tp_signature,
                attestation_center=center.address,
                chain_id=CHAIN_ID,
                members=listed,
                signers={i: world.keys[op.key] for i, op in signers.items()},
            )
            return Attempt(definition, approve, members, signers, performer, aggregator, task, submission, signed, at)

        def submission_refusal(self, attempt: Attempt):
            """The error submitTask gives, in the order it checks, or None if the task lands."""
            definition = attempt.definition
            task, performer = attempt.task, attempt.performer.address
            if attempt.signed in ("another center", "another chain"):  # valid on one center and chain only
                recovered = recover_task_signer(
                    task.performer_hash(center.address, CHAIN_ID), attempt.submission.tp_signature
                )
                return center.InvalidPerformerSignature, (performer, recovered)
            if attempt.signed == "bare" and definition.terms.rejected:
                return center.PerformerSignatureNotDomainBound, (task.task_hash(), definition.id)
            if not self.model.is_active(attempt.performer.address):
                return center.PerformerNotActive, (attempt.performer.address,)
            if not self.model.is_active(attempt.aggregator.address):
                return center.AggregatorNotActive, (attempt.aggregator.address,)
            logic = self.model.hook_of(definition)
            if logic is not None and self.model.hook_modes[logic][0]:
                return world.logics[logic].HookRejected, (BEFORE_SAYS_NO,)
            if self.model.calculator_on:
                for fee, maximum in zip(self.model.calculator_fees, (MAX_ATTESTER_FEE, MAX_ROLE_FEE, MAX_ROLE_FEE)):
                    if fee > maximum:
                        return center.RewardTooLarge, (fee, maximum)
            member_ids = {op.id for op in attempt.members}
            outside = [i for i in attempt.non_signers if i not in member_ids]
            if outside:
                return center.NonSignerNotInSet, (outside[0], definition.set_id)
            if any(i not in member_ids for i in attempt.signers):
                return center.InvalidAggregateSignature, ()
            if logic is not None and self.model.hook_modes[logic][1]:
                return world.logics[logic].HookRejected, (AFTER_SAYS_NO,)
            return None

        def submit(self, data, attempt: Attempt) -> None:
            """Lands the attempt, or checks that the center refuses it as the model predicts and that
            nothing changed: the task is not recorded, the hooks' counters are back where they were
            (and the invariants find rewards, debits, indices and the G2-key cache as the model,
            which the refusal leaves alone, has them)."""
            task, submission = attempt.task, attempt.submission
            expected = self.submission_refusal(attempt)
            if expected is not None:
                with reverts_with(expected[0], *expected[1]):
                    center.submitTask(task.abi(), submission.abi(), sender=attempt.aggregator, skip_trace=True)
                assert center.taskRecord(task.task_hash()).taskNumber == 0
            else:
                if attempt.at is not None:
                    chain.pending_timestamp = attempt.at
                receipt = center.submitTask(task.abi(), submission.abi(), sender=attempt.aggregator)
                if attempt.at is not None:
                    assert receipt.timestamp == attempt.at
                self.land(data, attempt, receipt)
            logic = self.model.logic_of.get(attempt.definition.id)
            if logic is not None:
                calls = (world.logics[logic].beforeCalls(), world.logics[logic].afterCalls())
                assert calls == self.model.hook_calls[logic], f"logic {logic} calls"

        def land(self, data, attempt: Attempt, receipt) -> None:
            definition, signers, approve = attempt.definition, attempt.signers, attempt.approve
            event_type = center.TaskSubmitted if approve else center.TaskRejected
            [event] = receipt.events.filter(event_type)
            signed = sum(op.stake for op in signers.values())
            total = sum(op.stake for op in attempt.members)
            assert event.taskNumber == len(self.model.tasks) + 1
            assert list(event.nonSignerIds) == list(attempt.non_signers)
            assert (event.signedPower, event.totalPower) == (signed, total)
            assert event.aggregator == attempt.aggregator.address
            assert center.taskPenaltyTerms(attempt.task.abi()).performerBound == (attempt.signed == "bound")

            attester, performer, aggregator = self.model.fees(definition)
            # The aggregator reward: to the sender, unless aggregators are listed and it is neither on
            # turn nor in its grace at the block's time; then to nobody, and the center says so.
            sender_id = next(
                op.id for op in self.model.active_ops() if op.account.address == attempt.aggregator.address
            )
            task_hash = attempt.task.task_hash()
            paid = self.model.schedule().earns_reward(task_hash, receipt.timestamp, sender_id)
            if attempt.at is not None:
                assert paid, "the aggregator on turn or in grace is paid"
            forfeits = [
                (bytes(e.taskHash), e.aggregator, e.amount)
                for e in receipt.events.filter(center.AggregatorRewardForfeited)
            ]
            if not paid and aggregator:
                assert forfeits == [(task_hash, attempt.aggregator.address, aggregator)]
                aggregator = 0
            else:
                assert forfeits == []
            # What each account is owed for this task...
            for op in signers.values():
                self.model.credit(op.account.address, attester)
            if approve:
                self.model.credit(attempt.performer.address, performer)
            self.model.credit(attempt.aggregator.address, aggregator)
            # ... and how the center keeps it: the set's index, the non-signers' debits, two credits.
            self.model.settle_sets()
            operator_set = self.model.sets[definition.set_id]
            operator_set.index += attester
            for operator_id in attempt.non_signers:
                self.model.debits[operator_id] = self.model.debits.get(operator_id, 0) + attester
            credits = self.model.credits
            if approve:
                credits[attempt.performer.address] = credits.get(attempt.performer.address, 0) + performer
            credits[attempt.aggregator.address] = credits.get(attempt.aggregator.address, 0) + aggregator
            if not attempt.non_signers:  # the whole set signed: its G2 key is cached from now on
                operator_set.g2_hash = g2_hash(attempt.submission.signers_apk_g2)

            self.model.tasks.append(
                Landed(
                    attempt.task,
                    attempt.submission,
                    definition,
                    len(self.model.tasks) + 1,
                    receipt.block_number,
                    tuple(sorted(signers)),
                    approve,
                    signed * 3 > total * 2,
                    definition.terms,
                )
            )
            logic = self.model.hook_of(definition)
            if logic is not None:
                before, after = self.model.hook_calls[logic]
                self.model.hook_calls[logic] = (before + 1, after + 1)
            self.fund_tightly(data, attester * len(signers) + (performer if approve else 0) + aggregator)

        @precondition(lambda self: self.model.tasks)
        @rule(data=st.data())
        def resubmit_landed_task(self, data):
            landed = data.draw(st.sampled_from(self.model.tasks), label="task")
            sender = data.draw(st.sampled_from(world.pool), label="sender")
            with reverts_with(center.TaskAlreadySubmitted, landed.task.task_hash()):
                center.submitTask(landed.task.abi(), landed.submission.abi(), sender=sender)

        # --- rewards ----------------------------------------------------------------------------

        def fund_tightly(self, data, added: int) -> None:
            """When funded tightly, the admin pays in exactly what a task added to the rewards. Until
            it does, a claim of more than the vault holds is refused whole (and loses nothing)."""
            if not self.model.tight or added == 0:
                return
            if data.draw(st.booleans(), label="claim before the funding"):
                account = max(world.pool, key=lambda a: self.model.claimable(a.address))
                amount = self.model.claimable(account.address)
                if amount > self.model.vault:
                    with reverts_with(net.vault.InsufficientRewardsBalance, amount, self.model.vault):
                        center.claimRewards(account, amount, sender=account, skip_trace=True)
            net.vault.fund(added, sender=net.admin)
            self.model.vault += added

        def claimants(self):
            return [a for a in world.pool if self.model.claimable(a.address) > 0]

        def claim(self, account, amount: int) -> None:
            before = net.reward_token.balanceOf(account)
            center.claimRewards(account, amount, sender=account)
            assert net.reward_token.balanceOf(account) - before == amount
            self.model.claimed[account.address] = self.model.claimed.get(account.address, 0) + amount
            self.model.vault -= amount

        @precondition(lambda self: self.claimants())
        @rule(data=st.data(), too_much=st.integers(0, 4))
        def claim_rewards(self, data, too_much):
            """Part or all of what is claimable; more is refused."""
            account = data.draw(st.sampled_from(self.claimants()), label="claimant")
            claimable = self.model.claimable(account.address)
            if too_much == 0:
                amount = claimable + data.draw(st.integers(1, TOKEN), label="excess")
                with reverts_with(center.ClaimExceedsRewards, amount, claimable):
                    center.claimRewards(account, amount, sender=account, skip_trace=True)
                return
            self.claim(account, data.draw(st.integers(1, claimable), label="amount"))

        @precondition(lambda self: self.claimants())
        @rule(data=st.data())
        def claim_everything_in_some_order(self, data):
            """Every account claims all it has, in any order: each claim is paid in full, and a
            tightly funded vault ends empty."""
            for account in data.draw(st.permutations(self.claimants()), label="order"):
                self.claim(account, self.model.claimable(account.address))
            if self.model.tight:
                assert net.reward_token.balanceOf(net.vault) == 0

        # --- invariants -------------------------------------------------------------------------

        @invariant()
        def operators_and_sets_match_the_model(self):
            """Operators as the model has them; each live set holds exactly its active members, with
            the model's reward index; a retired set is empty."""
            self.model.settle_sets()
            ops, set_ids = list(self.model.ops.values()), sorted(self.model.sets)
            results = reads.views(
                [("operatorCount",)]
                + [("getOperator", op.id) for op in ops]
                + [("pendingWithdrawal", account.address) for account in world.pool]
                + [call for set_id in set_ids for call in (("getOperatorSet", set_id), ("operatorSetMembers", set_id))]
            )
            registered, active = results[0]
            assert (registered, active) == (len(self.model.ops), len(self.model.active_ops()))
            views, results = results[1 : 1 + len(ops)], results[1 + len(ops) :]
            chain_keys = {}
            for op, view in zip(ops, views):
                assert (view.account, bool(view.active), view.stake) == (op.account.address, op.active, op.stake)
                chain_keys[op.id] = G1Point(*(int(w) for w in view.pkG1))
                assert chain_keys[op.id] == world.keys[op.key].public.g1
            withdrawals, results = results[: len(world.pool)], results[len(world.pool) :]
            for account, (amount, unlock) in zip(world.pool, withdrawals):
                address = account.address
                assert (amount, unlock) == (self.model.pending.get(address, 0), self.model.unlock.get(address, 0))

            for set_id, view, (ids, stakes) in zip(set_ids, results[::2], results[1::2]):
                operator_set = self.model.sets[set_id]
                assert bool(view.retired) == operator_set.retired, f"set {set_id} retired"
                assert view.rewardIndex == operator_set.index, f"set {set_id} reward index"
                members = [] if operator_set.retired else self.model.set_members(set_id)
                assert [int(i) for i in ids] == [op.id for op in members], f"set {set_id} members"
                assert [int(s) for s in stakes] == [op.stake for op in members], f"set {set_id} stakes"
                assert view.totalPower == sum(op.stake for op in members), f"set {set_id} power"
                assert view.memberCount == len(members), f"set {set_id} count"
                apk = G1Point.infinity()
                for i in ids:
                    apk = apk + chain_keys[int(i)]  # the keys as getOperator reports them
                assert G1Point(*(int(w) for w in view.apkG1)) == apk, f"set {set_id} aggregate key"

        @invariant()
        def g2_key_cache_is_empty_or_the_current_aggregate(self):
            """The G2 key a set caches is the aggregate of its members' keys as they are now, or none:
            exactly when the model says so (none after a member or a member's key changed)."""
            self.model.settle_sets()
            set_ids = sorted(self.model.sets)
            cached = reads.read([reads.g2_hash_slot(set_id) for set_id in set_ids])
            for set_id, word in zip(set_ids, cached):
                value = word.to_bytes(32, "big")
                assert value == self.model.sets[set_id].g2_hash, f"set {set_id} G2-key cache"
                if value != ZERO_HASH:
                    members = self.model.set_members(set_id)
                    assert value == world.g2_hash_of(op.key for op in members), f"set {set_id} cached a stale key"

        @invariant()
        def rewards_match_the_model_and_the_vault_covers_them(self):
            """Per account, the rewards owed task by task equal what the center reports, and equal
            the center's bookkeeping rebuilt by the model: credit + unsettled index earnings - debit
            - claims, with the credits, debits, indices and checkpoints themselves the center's."""
            self.model.settle_sets()
            accounts = [*world.pool, world.reporter, world.slasher]
            operator_ids = sorted(self.model.ops)
            memberships = [(i, j) for i, s in self.model.sets.items() for j in sorted(s.checkpoints)]
            words = reads.read(
                [reads.credit_slot(a.address) for a in accounts]
                + [reads.debit_slot(i) for i in operator_ids]
                + [reads.membership_slot(i, j) for i, j in memberships]
            )
            credits, words = words[: len(accounts)], words[len(accounts) :]
            debits, words = words[: len(operator_ids)], words[len(operator_ids) :]
            for account, word in zip(accounts, credits):
                assert reads.credit_of(word) == self.model.credits.get(account.address, 0), f"credit of {account}"
            for operator_id, word in zip(operator_ids, debits):
                assert reads.debit_of(word) == self.model.debits.get(operator_id, 0), f"debit of id {operator_id}"
            for (set_id, operator_id), word in zip(memberships, words):
                checkpoint = self.model.sets[set_id].checkpoints[operator_id]
                assert reads.checkpoint_of(word) == (True, checkpoint), f"id {operator_id} in set {set_id}"

            amounts = reads.views(
                [call for a in accounts for call in (("claimableRewards", a.address), ("claimedRewards", a.address))]
            )
            total = 0
            for account, claimable, claimed in zip(accounts, amounts[::2], amounts[1::2]):
                expected = self.model.claimable(account.address)
                assert claimable == expected, f"claimable of {account.address}"
                assert self.model.kept_claimable(account.address) == expected, f"bookkeeping of {account.address}"
                assert claimed == self.model.claimed.get(account.address, 0), f"claimed by {account.address}"
                total += claimable
            # RewardsVault.balance() is shadowed by Ape's ETH `balance` attribute: ask the token.
            balance = net.reward_token.balanceOf(net.vault)
            assert balance == self.model.vault
            assert balance >= total
            if self.model.tight:
                assert balance == total

        @invariant()
        def stake_held_matches_stakes_and_withdrawals(self):
            held = sum(op.stake for op in self.model.active_ops()) + sum(self.model.pending.values())
            assert net.stake_token.balanceOf(center.address) == held

        @invariant()
        def the_aggregator_list_is_the_models(self):
            listed = [(int(a.operatorId), a.account) for a in center.activeAggregators()]
            assert listed == [(i, self.model.ops[i].account.address) for i in self.model.aggregators]

        @invariant()
        def task_count_is_the_number_of_landed_tasks(self):
            assert center.taskCount() == len(self.model.tasks)

        @invariant()
        def keys_answer_only_for_the_tasks_landed_while_they_were_current(self):
            """keyRecord of every key ever registered: its id and account, and the task counts it
            answers between. An inactive id's keys are all retired, at or before its exit."""
            lives = list(self.model.keys.items())
            records = reads.views([("keyRecord", world.keys[key_index].public.g2.solidity()) for key_index, _ in lives])
            for (key_index, life), record in zip(lives, records):
                op = self.model.ops[life.operator_id]
                retired = life.retired_at_count is not None
                assert (record.operatorId, record.account) == (op.id, op.account.address)
                assert (record.addedAtTaskCount, record.addedAtBlock) == (life.added_at_count, life.added_at_block)
                assert (record.retiredAtBlock != 0) == retired, f"key {key_index} of id {op.id}"
                if retired:
                    assert record.retiredAtTaskCount == life.retired_at_count
                    assert record.retiredAtBlock == life.retired_at_block
                if not op.active:
                    assert retired, f"id {op.id} left with a live key"

        @invariant()
        def each_account_is_punished_at_most_once_per_offence_and_task(self):
            logs = web3.eth.get_logs(
                {"address": penalties.address, "topics": [OFFENCE_PUNISHED], "fromBlock": self.first_block}
            )
            punished = []
            for log in logs:
                offence, task_hash, operator_id = (int.from_bytes(bytes(t), "big") for t in log["topics"][1:4])
                kind = REJECTED if offence == REJECTED else SIGNATURES
                account = self.model.ops[operator_id].account.address
                punished.append((kind, task_hash.to_bytes(32, "big"), account))
            assert len(punished) == len(set(punished)), "an account punished twice for one offence on one task"
            assert set(punished) == self.model.punished

        @invariant()
        def unbonding_outlasts_every_dispute_period(self):
            config, *views = reads.views(
                [("registryConfig",)] + [("getTaskDefinition", d.id) for d in self.model.definitions]
            )
            delay = int(config.unbondingDelayBlocks)
            assert delay == self.model.delay
            for definition, view in zip(self.model.definitions, views):
                assert view.operatorSetId == definition.set_id, f"definition {definition.id} set"
                dispute = int(view.params.disputePeriodBlocks)
                assert dispute == definition.terms.dispute
                assert delay > dispute, f"definition {definition.id}: dispute {dispute}, delay {delay}"
            # No withdrawal unlocks while a task landed before its request can still be reported.
            for address, amount in self.model.pending.items():
                if amount == 0:
                    continue
                earlier = [t.deadline for t in self.model.tasks if t.block <= self.model.queued_at[address]]
                assert self.model.unlock[address] > max(earlier, default=0), f"withdrawal of {address}"

    return CenterMachine


def test_center_invariants_hold_over_random_operations(world, chain, reverts_with):
    machine = make_machine(world, chain, reverts_with)
    try:
        run_state_machine_as_test(
            machine,
            settings=settings(
                max_examples=EXAMPLES,
                stateful_step_count=60,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
            ),
        )
    finally:
        world.snapshot = None  # Ape reverts the chain past it after the test
