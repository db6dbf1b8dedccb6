"""Stateful invariants of the attestation center, its operator sets, its rewards and its penalties.

A Hypothesis state machine drives random sequences of operator moves (register, increase stake,
request a withdrawal, leave, be ejected, be slashed), task definitions (open, restricted to some
ids, with a minimum voting power), task submissions (either side, random signers that reach the
side's quorum) and reward claims, against a Python model of what the documentation promises. After
every step it checks:

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
  ``TaskAlreadySubmitted`` (a rule of its own).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
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
from othentic_offchain.chain.types import PenaltyConfig, TaskDefinitionParams, TaskInfo, build_submission
from othentic_offchain.crypto import G1Point, KeyPair
from tests.contracts.network import CHAIN_ID, DEFINITION_0, MIN_STAKE, TOKEN, deploy_network

POOL_ACCOUNTS = 8  # accounts[1..8] register, leave and come back
KEY_COUNT = 48  # a key is never registered twice, even after its operator left
VAULT_FUNDS = 10**9 * TOKEN
DISPUTE = 20  # new definitions: the longest dispute period the unbonding delay (20) allows
MAX_OPEN_SETS = 8  # OperatorSets.MAX_OPEN_SETS
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"
KEEP_ACTIVE = 3  # leave, eject and slash only while at least this many operators are active
MAX_DEFINITIONS = 6
MAX_LISTED_SETS = 16  # OperatorSets.MAX_LISTED_SETS_PER_OPERATOR

REWARDS = st.sampled_from([0, TOKEN // 2, TOKEN, 3 * TOKEN, 7 * TOKEN // 4])
STAKES = st.one_of(st.just(MIN_STAKE), st.integers(MIN_STAKE, 4 * MIN_STAKE))


@dataclass
class Op:
    id: int
    account: Any
    keys: KeyPair = field(repr=False)
    stake: int
    active: bool = True


@dataclass
class Definition:
    id: int
    set_id: int
    restricted: tuple[int, ...] | None
    minimum: int
    attester: int
    performer: int
    aggregator: int
    slash_bps: int
    reporter_bps: int
    dispute: int

    def admits(self, op: Op) -> bool:
        return op.active and (self.restricted is None or op.id in self.restricted) and op.stake >= self.minimum


@dataclass
class Landed:
    task: TaskInfo
    submission: Any = field(repr=False)
    definition: Definition
    block: int
    signers: tuple[int, ...]


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
    earned: dict[str, int] = field(default_factory=dict)
    claimed: dict[str, int] = field(default_factory=dict)
    definitions: list[Definition] = field(default_factory=list)
    tasks: list[Landed] = field(default_factory=list)
    punished: set = field(default_factory=set)
    used_keys: set = field(default_factory=set)
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

    def exit(self, op: Op) -> None:
        self.pending[op.account.address] = self.pending.get(op.account.address, 0) + op.stake
        op.stake = 0
        op.active = False

    def slash(self, operator_id: int, slash_bps: int) -> tuple[int, bool]:
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
                self.exit(current)
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

    class CenterMachine(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            if world.snapshot is not None:
                chain.restore(world.snapshot)
            world.snapshot = chain.snapshot()
            self.model = Model()
            self.model.definitions.append(
                Definition(
                    0, 0, None, 0,
                    DEFINITION_0.attester_reward, DEFINITION_0.performer_reward, DEFINITION_0.aggregator_reward,
                    DEFINITION_0.penalties.slash_bps, DEFINITION_0.penalties.reporter_bps,
                    DEFINITION_0.dispute_period_blocks,
                )
            )
            self.task_counter = 0

        # --- helpers ----------------------------------------------------------------------------

        def free_accounts(self):
            return [
                a for a in world.pool
                if a.address not in self.model.current or not self.model.ops[self.model.current[a.address]].active
            ]

        def free_keys(self):
            return [i for i in range(len(world.keys)) if i not in self.model.used_keys]

        def register(self, account, key_index: int, stake: int) -> Op:
            keys = world.keys[key_index]
            pop = keys.proof_of_possession(account.address, center.address, CHAIN_ID)
            receipt = center.registerOperator(
                stake, keys.public.g1.words(), keys.public.g2.solidity(), pop.words(), sender=account
            )
            op = Op(max(self.model.ops, default=0) + 1, account, keys, stake)
            assert receipt.events.filter(center.OperatorRegistered)[0].operatorId == op.id
            self.model.used_keys.add(key_index)
            self.model.ops[op.id] = op
            self.model.current[account.address] = op.id
            return op

        def slashable(self):
            """(task, signer id) pairs that a double attestation can still punish."""
            next_block = chain.blocks.head.number + 1
            return [
                (landed, signer)
                for landed in self.model.tasks
                if next_block <= landed.block + landed.definition.dispute
                for signer in landed.signers
                if (landed.task.task_hash(), signer) not in self.model.punished
            ]

        def check_slash(self, receipt, operator_id: int, slash_bps: int, reporter_bps: int, reporter: str):
            slashed, ejected = self.model.slash(operator_id, slash_bps)
            [event] = receipt.events.filter(center.OperatorSlashed)
            assert (event.operatorId, event.amount) == (operator_id, slashed)
            to_reporter = 0 if reporter == ZERO_ADDRESS else slashed * reporter_bps // 10_000
            assert event.reporterReward == to_reporter
            assert len(receipt.events.filter(center.OperatorEjected)) == int(ejected)

        # --- operators --------------------------------------------------------------------------

        @initialize(stakes=st.lists(STAKES, min_size=3, max_size=5))
        def first_operators(self, stakes):
            for account, key_index, stake in zip(world.pool, range(len(stakes)), stakes):
                self.register(account, key_index, stake)

        @precondition(lambda self: self.free_accounts() and self.free_keys())
        @rule(data=st.data(), stake=STAKES)
        def register_operator(self, data, stake):
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
            center.requestWithdrawal(amount, sender=op.account)
            op.stake -= amount
            self.model.pending[op.account.address] = self.model.pending.get(op.account.address, 0) + amount

        @precondition(lambda self: len(self.model.active_ops()) >= KEEP_ACTIVE)
        @rule(data=st.data())
        def leave(self, data):
            op = data.draw(st.sampled_from(self.model.active_ops()), label="operator")
            center.leave(sender=op.account)
            self.model.exit(op)

        @precondition(lambda self: len(self.model.active_ops()) >= KEEP_ACTIVE)
        @rule(data=st.data())
        def eject(self, data):
            op = data.draw(st.sampled_from(self.model.active_ops()), label="operator")
            receipt = center.ejectOperator(op.id, sender=net.admin)
            assert receipt.events.filter(center.OperatorEjected)[0].operatorId == op.id
            self.model.exit(op)

        # --- slashing ---------------------------------------------------------------------------

        @precondition(lambda self: self.slashable())
        @rule(data=st.data())
        def slash_double_attestation(self, data):
            landed, signer = data.draw(st.sampled_from(self.slashable()), label="offence")
            keys = self.model.ops[signer].keys
            task = landed.task
            signatures = [keys.sign(task.vote_hash(center.address, CHAIN_ID, side)).words() for side in (True, False)]
            receipt = net.penalties.reportDoubleAttestation(
                task.abi(), keys.public.g2.solidity(), *signatures, sender=world.reporter
            )
            self.model.punished.add((task.task_hash(), signer))
            definition = landed.definition
            self.check_slash(receipt, signer, definition.slash_bps, definition.reporter_bps, world.reporter.address)

        @precondition(lambda self: len(self.model.active_ops()) >= KEEP_ACTIVE)
        @rule(
            data=st.data(),
            slash_bps=st.one_of(st.integers(0, 3_000), st.sampled_from([0, 1_000, 10_000])),
            reporter_bps=st.integers(0, 10_000),
            to_reporter=st.booleans(),
        )
        def slash_directly(self, data, slash_bps, reporter_bps, to_reporter):
            operator_id = data.draw(st.sampled_from(sorted(self.model.ops)), label="operator id")
            reporter = world.reporter.address if to_reporter else ZERO_ADDRESS
            receipt = center.slashOperator(operator_id, slash_bps, reporter_bps, reporter, sender=world.slasher)
            self.check_slash(receipt, operator_id, slash_bps, reporter_bps, reporter)

        # --- definitions and tasks --------------------------------------------------------------

        @precondition(lambda self: len(self.model.definitions) < MAX_DEFINITIONS)
        @rule(
            data=st.data(),
            attester=REWARDS,
            performer=REWARDS,
            aggregator=REWARDS,
            slash_bps=st.sampled_from([500, 1_000, 5_000]),
            reporter_bps=st.sampled_from([0, 2_000, 10_000]),
        )
        def create_definition(self, data, attester, performer, aggregator, slash_bps, reporter_bps):
            listings = [i for d in self.model.definitions for i in (d.restricted or ())]
            active_ids = [op.id for op in self.model.active_ops() if listings.count(op.id) < MAX_LISTED_SETS]
            restricted = None
            if active_ids and data.draw(st.booleans(), label="restricted"):
                restricted = tuple(sorted(data.draw(st.sets(st.sampled_from(active_ids), min_size=1))))
            minimum = 0
            room = restricted or self.model.open_sets < MAX_OPEN_SETS
            if data.draw(st.booleans(), label="with a minimum") and room:
                minimum = data.draw(st.integers(MIN_STAKE, 3 * MIN_STAKE), label="minimum")
            params = TaskDefinitionParams(
                name=f"stateful {len(self.model.definitions)}",
                attester_reward=attester,
                performer_reward=performer,
                aggregator_reward=aggregator,
                dispute_period_blocks=DISPUTE,
                minimum_voting_power=minimum,
                restricted_attester_ids=restricted or (),
                penalties=PenaltyConfig(slash_bps=slash_bps, reporter_bps=reporter_bps),
            )
            receipt = center.createTaskDefinition(params.abi(), sender=net.admin)
            event = receipt.events.filter(center.TaskDefinitionCreated)[0]
            set_id = 0
            if restricted or minimum:
                self.model.last_set_id += 1
                set_id = self.model.last_set_id
                self.model.open_sets += restricted is None
            assert (event.taskDefinitionId, event.operatorSetId) == (len(self.model.definitions), set_id)
            self.model.definitions.append(
                Definition(
                    len(self.model.definitions), set_id, restricted, minimum,
                    attester, performer, aggregator, slash_bps, reporter_bps, DISPUTE,
                )
            )

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
                tp_signature=task.sign(performer.account.private_key),
                attestation_center=center.address,
                chain_id=CHAIN_ID,
                members=[op.id for op in members],
                signers={i: op.keys for i, op in signers.items()},
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
            self.model.tasks.append(Landed(task, submission, definition, receipt.block_number, tuple(sorted(signers))))

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
                assert chain_keys[op.id] == op.keys.public.g1
            for account in world.pool:
                assert center.pendingWithdrawal(account)[0] == self.model.pending.get(account.address, 0)

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

    return CenterMachine


def test_center_invariants_hold_over_random_operations(world, chain, reverts_with):
    machine = make_machine(world, chain, reverts_with)
    try:
        run_state_machine_as_test(
            machine,
            settings=settings(
                max_examples=12,
                stateful_step_count=25,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
            ),
        )
    finally:
        world.snapshot = None  # Ape reverts the chain past it after the test
