"""Stateful invariants of the attestation center, its operator sets, its rewards and its penalties.

A Hypothesis state machine drives random sequences of operator moves (register, and register again
from an account that left or was ejected; increase stake, request a withdrawal and withdraw it once
unlocked, rotate the BLS key, leave, be ejected, be slashed), task definitions (open, restricted to
some ids, with a minimum voting power; penalty settings changed after tasks landed), the unbonding
delay, task submissions (either side, random signers that reach the side's quorum), reports of
double attestations (by any key ever registered, on any task landed) and of rejected tasks, blocks
passing, and reward claims, against a Python model of what the documentation promises. Every report
is predicted by the model: slashed (by the settings the task landed under) or refused with the
contract's error. After every step it checks:

* every operator set in use (set 0 and each definition's own set): its members are exactly the
  active operators the definition admits, its total power is the sum of their stakes, its member
  count their number and its aggregate G1 key the sum of their keys (as ``getOperator`` reports them);
* every account's ``claimableRewards`` equals the model's: the attester reward of each task its
  operator ids signed (never one it did not sign), the performer reward of each approved task it
  performed, the aggregator reward of each task it submitted, minus what it claimed; rewards of an
  id that left or was ejected stay claimable by its account;
* the vault holds at least everything that is claimable, and exactly what was funded minus claims;
* the center holds exactly the active stakes plus the pending withdrawals (slashes pay out at once);
* the task count is the number of tasks that landed, and re-submitting any landed task reverts
  ``TaskAlreadySubmitted`` (a rule of its own);
* every key answers for exactly the tasks that landed while it was its id's current key: its
  ``keyRecord`` bounds are the model's, so an inactive id's keys answer for no task landed after
  its exit (and a rotated key for none after its rotation);
* an account is punished at most once per offence and task, whatever ids it held (from the
  PenaltyManager's ``OffencePunished`` logs), and exactly for the offences the model punished;
* the unbonding delay exceeds every definition's dispute period, and no pending withdrawal unlocks
  before the last block in which a report of a task that landed before it was requested is accepted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
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

from othentic_offchain.chain.deploy import SLASHER_ROLE
from othentic_offchain.chain.types import (
    PenaltyConfig,
    RegistryConfig,
    TaskDefinitionParams,
    TaskInfo,
    build_submission,
)
from othentic_offchain.crypto import G1Point, KeyPair
from tests.contracts.network import CHAIN_ID, DEFINITION_0, MIN_STAKE, REGISTRY, TOKEN, deploy_network

POOL_ACCOUNTS = 8  # accounts[1..8] register, leave and come back
KEY_COUNT = 56  # a key is never registered twice, even after its operator left or rotated it
VAULT_FUNDS = 10**9 * TOKEN
MAX_OPEN_SETS = 8  # OperatorSets.MAX_OPEN_SETS
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
KEEP_ACTIVE = 3  # leave, eject and slash only while at least this many operators are active
MAX_DEFINITIONS = 6
MAX_LISTED_SETS = 16  # OperatorSets.MAX_LISTED_SETS_PER_OPERATOR
MAX_REPORTER_BPS = 5_000

DOUBLE, INCORRECT, REJECTED = 0, 1, 2  # IPenaltyManager.Offence
SIGNATURES = "signatures"  # double and incorrect attestation share one record
OFFENCE_PUNISHED = "0x" + keccak(text="OffencePunished(uint8,bytes32,uint32,address,uint256)").hex()

REWARDS = st.sampled_from([0, TOKEN // 2, TOKEN, 3 * TOKEN, 7 * TOKEN // 4])
STAKES = st.one_of(st.just(MIN_STAKE), st.integers(MIN_STAKE, 4 * MIN_STAKE))
SWITCHES = st.tuples(st.booleans(), st.booleans(), st.booleans())


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
class World:
    """The deployment every example starts from (restored from a chain snapshot)."""

    net: Any
    pool: list
    reporter: Any
    slasher: Any
    keys: list[KeyPair]
    snapshot: Any = None


@dataclass
class Model:
    ops: dict[int, Op] = field(default_factory=dict)
    current: dict[str, int] = field(default_factory=dict)  # account -> its current or latest id
    pending: dict[str, int] = field(default_factory=dict)  # account -> unbonding withdrawal
    unlock: dict[str, int] = field(default_factory=dict)  # account -> block its withdrawal unlocks
    queued_at: dict[str, int] = field(default_factory=dict)  # account -> block of its last request
    earned: dict[str, int] = field(default_factory=dict)
    claimed: dict[str, int] = field(default_factory=dict)
    definitions: list[Definition] = field(default_factory=list)
    tasks: list[Landed] = field(default_factory=list)
    keys: dict[int, KeyLife] = field(default_factory=dict)  # key index -> its life
    punished: set = field(default_factory=set)  # (SIGNATURES or REJECTED, task hash, account)
    delay: int = REGISTRY.unbonding_delay_blocks
    superseded_open_until: int = 0
    last_set_id: int = 0
    open_sets: int = 0
    vault: int = VAULT_FUNDS

    def active_ops(self) -> list[Op]:
        return [op for op in self.ops.values() if op.active]

    def members(self, definition: Definition) -> list[Op]:
        return sorted((op for op in self.ops.values() if definition.admits(op)), key=lambda op: op.id)

    def claimable(self, address: str) -> int:
        return self.earned.get(address, 0) - self.claimed.get(address, 0)

    def credit(self, address: str, amount: int) -> None:
        self.earned[address] = self.earned.get(address, 0) + amount

    def queue(self, address: str, amount: int, block: int) -> None:
        """OperatorRegistry._queueWithdrawal: adds to the pending amount, restarts the delay."""
        self.pending[address] = self.pending.get(address, 0) + amount
        self.unlock[address] = block + self.delay
        self.queued_at[address] = block

    def retire_key(self, op: Op, block: int) -> None:
        life = self.keys[op.key]
        life.retired_at_count, life.retired_at_block = len(self.tasks), block

    def exit(self, op: Op, block: int) -> None:
        if op.stake:
            self.queue(op.account.address, op.stake, block)
        self.retire_key(op, block)
        op.stake = 0
        op.active = False

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


@pytest.fixture(scope="module")
def world(project, accounts, key_pool) -> World:
    net = deploy_network(project, accounts, key_pool)
    net.fund_rewards(VAULT_FUNDS)
    pool = [accounts[i] for i in range(1, POOL_ACCOUNTS + 1)]
    for account in pool:
        net.fund_stake(account, 10**6 * TOKEN)
    slasher = accounts[POOL_ACCOUNTS + 1]
    net.center.grantRole(SLASHER_ROLE, slasher, sender=net.admin)
    keys = [KeyPair.from_seed(b"othentic-py stateful invariant key %03d" % i) for i in range(KEY_COUNT)]
    return World(net, pool, accounts[POOL_ACCOUNTS + 2], slasher, keys)


def make_machine(world: World, chain, reverts_with):
    net = world.net
    center = net.center
    penalties = net.penalties
    web3 = chain.provider.web3

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
                    0, 0, None, 0,
                    DEFINITION_0.attester_reward, DEFINITION_0.performer_reward, DEFINITION_0.aggregator_reward,
                    zero_terms, 0, DEFINITION_0.name,
                )
            )
            self.task_counter = 0

        # --- helpers ----------------------------------------------------------------------------

        def next_block(self) -> int:
            return chain.blocks.head.number + 1

        def free_accounts(self):
            return [
                a for a in world.pool
                if a.address not in self.model.current or not self.model.ops[self.model.current[a.address]].active
            ]

        def free_keys(self):
            return [i for i in range(len(world.keys)) if i not in self.model.keys]

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

        @initialize(stakes=st.lists(STAKES, min_size=3, max_size=5))
        def first_operators(self, stakes):
            for account, key_index, stake in zip(world.pool, range(len(stakes)), stakes):
                self.register(account, key_index, stake)

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
            op = data.draw(st.sampled_from(self.model.active_ops()), label="operator")
            key_index = data.draw(st.sampled_from(self.free_keys()), label="new key")
            keys = world.keys[key_index]
            pop = keys.proof_of_possession(op.account.address, center.address, CHAIN_ID)
            receipt = center.updateBlsKey(keys.public.g1.words(), keys.public.g2.solidity(), pop.words(), sender=op.account)
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

        def key_cases(self) -> dict[str, list]:
            """(task, key) pairs still open to a double-attestation report (switch on, in the dispute
            period), by what the model expects: punished, or refused for one of three reasons."""
            next_block = self.next_block()
            cases = {"punishable": [], "already punished": [], "key retired before": [], "key added after": []}
            for landed in self.model.tasks:
                if not landed.terms.double or next_block > landed.deadline:
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
        def report_double_attestation(self, data):
            """Any key ever registered, on any task landed: slashed if the key answers for the task
            (it was its id's current key when the task landed), refused otherwise. Mostly pairs of
            each expected outcome in turn, sometimes any pair at all (closed windows, switches off)."""
            cases = self.key_cases()
            if cases and data.draw(st.integers(0, 4), label="any pair") > 0:
                case = data.draw(st.sampled_from(sorted(cases)), label="expected outcome")
                landed, key_index = data.draw(st.sampled_from(cases[case]), label="task and key")
            else:
                landed = data.draw(st.sampled_from(self.model.tasks), label="task")
                key_index = data.draw(st.sampled_from(sorted(self.model.keys)), label="key")
            life = self.model.keys[key_index]
            op = self.model.ops[life.operator_id]
            keys, task = world.keys[key_index], landed.task
            signatures = [keys.sign(task.vote_hash(center.address, CHAIN_ID, side)).words() for side in (True, False)]
            record = (SIGNATURES, task.task_hash(), op.account.address)

            def report(**kwargs):
                return penalties.reportDoubleAttestation(
                    task.abi(), keys.public.g2.solidity(), *signatures, sender=world.reporter, **kwargs
                )

            expected = self.refusal(landed, landed.terms.double, DOUBLE)
            if expected is None and landed.number <= life.added_at_count:
                expected = penalties.KeyAddedAfterTask, (op.id, life.added_at_block, landed.block)
            if expected is None and not life.answers_for(landed.number):
                expected = penalties.KeyRetiredBeforeTask, (op.id, life.retired_at_block, landed.block)
            if expected is None and record in self.model.punished:
                expected = penalties.AlreadyPunished, (DOUBLE, task.task_hash(), op.account.address)
            if expected is not None:
                with reverts_with(expected[0], *expected[1]):
                    report(skip_trace=True)
                return
            receipt = report()
            self.model.punished.add(record)
            self.check_slash(receipt, op.id, landed.terms.slash_bps, landed.terms.reporter_bps, world.reporter.address)

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
            if expected is not None:
                with reverts_with(expected[0], *expected[1]):
                    penalties.reportRejectedTask(task.abi(), sender=world.reporter, skip_trace=True)
                return
            receipt = penalties.reportRejectedTask(task.abi(), sender=world.reporter)
            self.model.punished.add(record)
            latest = self.model.current[performer]
            assert receipt.events.filter(penalties.OffencePunished)[0].operatorId == latest
            self.check_slash(receipt, latest, landed.terms.slash_bps, landed.terms.reporter_bps, world.reporter.address)

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

        # --- definitions, the unbonding delay and tasks -----------------------------------------

        def draw_terms(self, data, switches, slash_bps, reporter_bps) -> Terms:
            """Penalty settings with a dispute period that the current delay admits (mostly long)."""
            longest = self.model.delay - 1
            dispute = data.draw(
                st.one_of(st.integers(max(0, longest - 4), longest), st.integers(0, longest)), label="dispute period"
            )
            return Terms(dispute, *switches, slash_bps, reporter_bps)

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
            listings = [i for d in self.model.definitions for i in (d.restricted or ())]
            active_ids = [op.id for op in self.model.active_ops() if listings.count(op.id) < MAX_LISTED_SETS]
            restricted = None
            if active_ids and data.draw(st.booleans(), label="restricted"):
                restricted = tuple(sorted(data.draw(st.sets(st.sampled_from(active_ids), min_size=1))))
            minimum = 0
            room = restricted or self.model.open_sets < MAX_OPEN_SETS
            if data.draw(st.booleans(), label="with a minimum") and room:
                minimum = data.draw(st.integers(MIN_STAKE, 3 * MIN_STAKE), label="minimum")
            terms = self.draw_terms(data, switches, slash_bps, reporter_bps)
            definition = Definition(
                len(self.model.definitions), 0, restricted, minimum, attester, performer, aggregator,
                terms, len(self.model.tasks), f"stateful {len(self.model.definitions)}",
            )
            receipt = center.createTaskDefinition(definition.params(terms).abi(), sender=net.admin)
            event = receipt.events.filter(center.TaskDefinitionCreated)[0]
            if restricted or minimum:
                self.model.last_set_id += 1
                definition.set_id = self.model.last_set_id
                self.model.open_sets += restricted is None
            assert (event.taskDefinitionId, event.operatorSetId) == (definition.id, definition.set_id)
            self.model.definitions.append(definition)

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

        def submittable(self):
            if not self.model.active_ops():
                return []
            return [d for d in self.model.definitions if self.model.members(d)]

        @precondition(lambda self: self.submittable())
        @rule(data=st.data())
        def submit_approved_task(self, data):
            self.submit(data, True)

        @precondition(lambda self: self.submittable())
        @rule(data=st.data())
        def submit_rejected_task(self, data):
            self.submit(data, False)

        def submit(self, data, approve: bool):
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
            performer = data.draw(st.sampled_from(self.model.active_ops()), label="performer")
            aggregator = data.draw(st.sampled_from(self.model.active_ops()), label="aggregator")

            self.task_counter += 1
            proof = f"bafkreistateful{self.task_counter:05d}"
            task = TaskInfo(proof, b"\x07" * 32, performer.account.address, definition.id)
            submission = build_submission(
                task,
                is_approved=approve,
                tp_signature=task.sign(performer.account.private_key, center.address, CHAIN_ID),
                attestation_center=center.address,
                chain_id=CHAIN_ID,
                members=[op.id for op in members],
                signers={i: world.keys[op.key] for i, op in signers.items()},
            )
            receipt = center.submitTask(task.abi(), submission.abi(), sender=aggregator.account)

            event_type = center.TaskSubmitted if approve else center.TaskRejected
            [event] = receipt.events.filter(event_type)
            signed = sum(op.stake for op in signers.values())
            assert event.taskNumber == len(self.model.tasks) + 1
            assert list(event.nonSignerIds) == list(submission.non_signer_ids)
            assert (event.signedPower, event.totalPower) == (signed, total)
            assert event.aggregator == aggregator.account.address
            for op in signers.values():
                self.model.credit(op.account.address, definition.attester)
            if approve:
                self.model.credit(performer.account.address, definition.performer)
            self.model.credit(aggregator.account.address, definition.aggregator)
            self.model.tasks.append(
                Landed(
                    task, submission, definition, len(self.model.tasks) + 1, receipt.block_number,
                    tuple(sorted(signers)), approve, signed * 3 > total * 2, definition.terms,
                )
            )

        @precondition(lambda self: self.model.tasks)
        @rule(data=st.data())
        def resubmit_landed_task(self, data):
            landed = data.draw(st.sampled_from(self.model.tasks), label="task")
            sender = data.draw(st.sampled_from(world.pool), label="sender")
            with reverts_with(center.TaskAlreadySubmitted, landed.task.task_hash()):
                center.submitTask(landed.task.abi(), landed.submission.abi(), sender=sender)

        # --- rewards ----------------------------------------------------------------------------

        def claimants(self):
            return [a for a in world.pool if self.model.claimable(a.address) > 0]

        @precondition(lambda self: self.claimants())
        @rule(data=st.data())
        def claim_rewards(self, data):
            account = data.draw(st.sampled_from(self.claimants()), label="claimant")
            amount = data.draw(st.integers(1, self.model.claimable(account.address)), label="amount")
            before = net.reward_token.balanceOf(account)
            center.claimRewards(account, amount, sender=account)
            assert net.reward_token.balanceOf(account) - before == amount
            self.model.claimed[account.address] = self.model.claimed.get(account.address, 0) + amount
            self.model.vault -= amount

        # --- invariants -------------------------------------------------------------------------

        @invariant()
        def operators_and_sets_match_the_model(self):
            """Operators as the model has them; each set in use holds exactly its active members."""
            registered, active = center.operatorCount()
            assert (registered, active) == (len(self.model.ops), len(self.model.active_ops()))
            chain_keys = {}
            for op in self.model.ops.values():
                view = center.getOperator(op.id)
                assert (view.account, bool(view.active), view.stake) == (op.account.address, op.active, op.stake)
                chain_keys[op.id] = G1Point(*(int(w) for w in view.pkG1))
                assert chain_keys[op.id] == world.keys[op.key].public.g1
            for account in world.pool:
                amount, unlock = center.pendingWithdrawal(account)
                address = account.address
                assert (amount, unlock) == (self.model.pending.get(address, 0), self.model.unlock.get(address, 0))

            checked = set()
            for definition in self.model.definitions:
                if definition.set_id in checked:
                    continue
                checked.add(definition.set_id)
                members = self.model.members(definition)
                ids, stakes = center.taskDefinitionMembers(definition.id)
                assert [int(i) for i in ids] == [op.id for op in members], f"set {definition.set_id} members"
                assert [int(s) for s in stakes] == [op.stake for op in members], f"set {definition.set_id} stakes"
                view = center.getOperatorSet(definition.set_id)
                assert view.totalPower == sum(op.stake for op in members), f"set {definition.set_id} power"
                assert view.memberCount == len(members), f"set {definition.set_id} count"
                apk = G1Point.infinity()
                for i in ids:
                    apk = apk + chain_keys[int(i)]  # the keys as getOperator reports them
                assert G1Point(*(int(w) for w in view.apkG1)) == apk, f"set {definition.set_id} aggregate key"

        @invariant()
        def rewards_match_the_model_and_the_vault_covers_them(self):
            total = 0
            for account in [*world.pool, world.reporter, world.slasher]:
                claimable, expected = center.claimableRewards(account), self.model.claimable(account.address)
                assert claimable == expected, f"claimable of {account.address}"
                claimed, expected = center.claimedRewards(account), self.model.claimed.get(account.address, 0)
                assert claimed == expected, f"claimed by {account.address}"
                total += claimable
            # RewardsVault.balance() is shadowed by Ape's ETH `balance` attribute: ask the token.
            balance = net.reward_token.balanceOf(net.vault)
            assert balance == self.model.vault
            assert balance >= total

        @invariant()
        def stake_held_matches_stakes_and_withdrawals(self):
            held = sum(op.stake for op in self.model.active_ops()) + sum(self.model.pending.values())
            assert net.stake_token.balanceOf(center.address) == held

        @invariant()
        def task_count_is_the_number_of_landed_tasks(self):
            assert center.taskCount() == len(self.model.tasks)

        @invariant()
        def keys_answer_only_for_the_tasks_landed_while_they_were_current(self):
            """keyRecord of every key ever registered: its id and account, and the task counts it
            answers between. An inactive id's keys are all retired, at or before its exit."""
            for key_index, life in self.model.keys.items():
                op = self.model.ops[life.operator_id]
                record = center.keyRecord(world.keys[key_index].public.g2.solidity())
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
            delay = int(center.registryConfig().unbondingDelayBlocks)
            assert delay == self.model.delay
            for definition in self.model.definitions:
                dispute = int(center.getTaskDefinition(definition.id).params.disputePeriodBlocks)
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
                max_examples=12,
                stateful_step_count=30,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
            ),
        )
    finally:
        world.snapshot = None  # Ape reverts the chain past it after the test
