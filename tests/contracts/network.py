"""The contract tests' network: operators, the deployed system through Ape, and helpers (``Net``).

Imported by ``tests/contracts/conftest.py`` (the fixtures) and by the example AVSs' contract tests.
"""

from __future__ import annotations

import dataclasses

from dataclasses import dataclass, field
from typing import Any, Iterable

from othentic_offchain.chain.ape_backend import ApeBackend
from othentic_offchain.chain.deploy import TOKEN, deploy_system
from othentic_offchain.chain.types import (
    PenaltyConfig,
    RegistryConfig,
    TaskDefinitionParams,
    TaskInfo,
    TaskSubmission,
    build_submission,
)
from othentic_offchain.crypto import KeyPair

MIN_STAKE = 10 * TOKEN
UNBONDING = 20
CHAIN_ID = 31337

#: Definition 0 of the test deployments: every reward nonzero, a dispute period, every penalty on.
DEFINITION_0 = TaskDefinitionParams(
    name="generic",
    attester_reward=TOKEN,
    performer_reward=2 * TOKEN,
    aggregator_reward=3 * TOKEN,
    dispute_period_blocks=10,
    penalties=PenaltyConfig(True, True, True, slash_bps=1_000, reporter_bps=2_000),
)
#: A definition that does not punish rejected tasks: the one kind on which an Othentic performer's
#: bare taskHash signature lands (one that does takes only domain-bound signatures).
BARE_SIGNATURES_LAND = dataclasses.replace(
    DEFINITION_0,
    name="othentic-performers",
    penalties=PenaltyConfig(True, True, False, slash_bps=1_000, reporter_bps=2_000),
)
REGISTRY = RegistryConfig(minimum_stake=MIN_STAKE, max_operators=100, unbonding_delay_blocks=UNBONDING)


@dataclass
class Operator:
    account: Any
    keys: KeyPair
    id: int = 0

    @property
    def address(self) -> str:
        return str(self.account.address)


@dataclass
class Net:
    """A deployed network and the handful of moves the contract tests make with it."""

    center: Any  # IAttestationCenter at the center's address (all functions, all errors)
    vault: Any
    penalties: Any
    stake_token: Any
    reward_token: Any
    registry_module: Any
    definitions_module: Any
    admin: Any
    accounts: Any
    key_pool: list[KeyPair]
    operators: list[Operator] = field(default_factory=list)
    _next_account: int = 1
    _task_counter: int = 0

    # --- Python state (Ape reverts the chain, not this object) ---------------------------------

    def save(self) -> tuple:
        return (list(self.operators), self._next_account, self._task_counter)

    def restore(self, saved: tuple) -> None:
        self.operators[:], self._next_account, self._task_counter = list(saved[0]), saved[1], saved[2]

    # --- operators -----------------------------------------------------------------------------

    def new_account(self):
        if self._next_account < len(self.accounts):
            account = self.accounts[self._next_account]
        else:
            account = self.accounts.generate_test_account()
            self.admin.transfer(account, 10 * TOKEN)
        self._next_account += 1
        return account

    def fund_stake(self, account, amount: int) -> None:
        self.stake_token.mint(account, amount, sender=self.admin)
        self.stake_token.approve(self.center.address, amount, sender=account)

    def pop(self, account, keys: KeyPair):
        return keys.proof_of_possession(str(account.address), self.center.address, CHAIN_ID)

    def register(self, stake: int = MIN_STAKE, keys: KeyPair | None = None, account=None) -> Operator:
        account = account or self.new_account()
        keys = keys or self.key_pool[len(self.operators)]
        self.fund_stake(account, stake)
        self.center.registerOperator(
            stake, keys.public.g1.words(), keys.public.g2.solidity(), self.pop(account, keys).words(), sender=account
        )
        operator = Operator(account, keys, int(self.center.operatorIdOf(account)))
        self.operators.append(operator)
        return operator

    def register_many(self, stakes: Iterable[int]) -> list[Operator]:
        return [self.register(stake) for stake in stakes]

    def by_id(self, operator_id: int) -> Operator:
        return next(op for op in self.operators if op.id == operator_id)

    # --- tasks ---------------------------------------------------------------------------------

    def task(
        self, performer: Operator, definition_id: int = 0, data: bytes = b"\x01" * 32, proof: str | None = None
    ) -> TaskInfo:
        self._task_counter += 1
        proof = proof or f"bafkreitestproof{self._task_counter:04d}"
        return TaskInfo(proof, data, performer.address, definition_id)

    def sign_performer(self, task: TaskInfo, performer: Operator) -> bytes:
        """The performer's signature bound to this center and chain, as our performers sign."""
        return task.sign(performer.account.private_key, self.center.address, CHAIN_ID)

    def members(self, definition_id: int = 0) -> list[int]:
        ids, _ = self.center.taskDefinitionMembers(definition_id)
        return [int(i) for i in ids]

    def submission(
        self,
        task: TaskInfo,
        signers: Iterable[Operator] | None = None,
        *,
        approve: bool = True,
        tp_signature: bytes | None = None,
        members: Iterable[int] | None = None,
    ) -> TaskSubmission:
        performer = self.by_id(int(self.center.operatorIdOf(task.performer))) if tp_signature is None else None
        members = list(members) if members is not None else self.members(task.task_definition_id)
        if signers is None:
            signers = [self.by_id(i) for i in members]
        return build_submission(
            task,
            is_approved=approve,
            tp_signature=tp_signature if tp_signature is not None else self.sign_performer(task, performer),
            attestation_center=self.center.address,
            chain_id=CHAIN_ID,
            members=members,
            signers={op.id: op.keys for op in signers},
        )

    def submit(self, task: TaskInfo, submission: TaskSubmission | None = None, *, sender=None, **kwargs):
        submission = submission or self.submission(task, **kwargs)
        sender = sender or self.operators[0].account
        return self.center.submitTask(task.abi(), submission.abi(), sender=sender)

    # --- definitions and rewards ----------------------------------------------------------------

    def create_definition(self, params: TaskDefinitionParams) -> int:
        receipt = self.center.createTaskDefinition(params.abi(), sender=self.admin)
        return int(receipt.events.filter(self.center.TaskDefinitionCreated)[0].taskDefinitionId)

    def fund_rewards(self, amount: int) -> None:
        self.reward_token.mint(self.admin, amount, sender=self.admin)
        self.reward_token.approve(self.vault.address, amount, sender=self.admin)
        self.vault.fund(amount, sender=self.admin)


def deploy_network(project, accounts, key_pool, *, registry=REGISTRY, definition0=DEFINITION_0) -> Net:
    admin = accounts[0]
    record = deploy_system(ApeBackend(project, admin), registry=registry, definition0=definition0)
    contracts = record.contracts
    return Net(
        center=project.IAttestationCenter.at(contracts["AttestationCenter"]),
        vault=project.RewardsVault.at(contracts["RewardsVault"]),
        penalties=project.PenaltyManager.at(contracts["PenaltyManager"]),
        stake_token=project.TestToken.at(contracts["StakeToken"]),
        reward_token=project.TestToken.at(contracts["RewardToken"]),
        registry_module=project.OperatorRegistry.at(contracts["OperatorRegistry"]),
        definitions_module=project.TaskDefinitions.at(contracts["TaskDefinitions"]),
        admin=admin,
        accounts=accounts,
        key_pool=key_pool,
    )
