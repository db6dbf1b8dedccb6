"""A typed client of a deployed network's contracts, over a blocking web3.py connection.

    w3 = Web3(Web3.HTTPProvider(record.rpc_url))
    avs = AvsContracts(w3, DeploymentRecord.load(path))
    sender = avs.sender(private_key)
    operator_id = avs.register_operator(sender, keys, stake=10 * 10**18)

Transactions go through :class:`~othentic_offchain.chain.sender.TxSender` (nonces, simulation,
revert decoding, retries); ``TxSender``, ``TransactionReverted`` and ``ErrorDecoder`` are
importable from here too.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from web3.logs import DISCARD

from othentic_offchain.chain.artifacts import load_artifact
from othentic_offchain.chain.deploy import DeploymentRecord
from othentic_offchain.chain.sender import ErrorDecoder, TransactionReverted, TxSender
from othentic_offchain.chain.types import (
    TaskDefinitionParams,
    TaskInfo,
    TaskSubmission,
    g1_from_abi,
    g2_from_abi,
)
from othentic_offchain.crypto.bls import KeyPair

__all__ = ["AvsContracts", "ErrorDecoder", "OperatorInfo", "TransactionReverted", "TxSender", "fund_eth"]


@dataclass(frozen=True)
class OperatorInfo:
    id: int
    account: str
    active: bool
    stake: int
    registered_at_block: int
    exited_at_block: int
    pk_g1: Any
    pk_g2: Any
    endpoint: str


class AvsContracts:
    """The deployed contracts of one network, with typed calls for what operators and tools do."""

    def __init__(self, w3, record: DeploymentRecord):
        self.w3 = w3
        self.record = record
        contracts = record.contracts
        center_abi = load_artifact("IAttestationCenter")
        self.center = center_abi.contract(w3, contracts["AttestationCenter"])
        # Any ERC-20: on a devnet the tokens are mintable test tokens (othentic_offchain.devnet.tokens).
        erc20 = load_artifact("IERC20")
        self.stake_token = erc20.contract(w3, contracts["StakeToken"])
        self.reward_token = erc20.contract(w3, contracts["RewardToken"])
        vault = load_artifact("RewardsVault")
        self.vault = vault.contract(w3, contracts["RewardsVault"])
        penalties = load_artifact("PenaltyManager")
        self.penalties = penalties.contract(w3, contracts["PenaltyManager"])
        self.decoder = ErrorDecoder.for_contracts(
            "IAttestationCenter", "RewardsVault", "PenaltyManager", "BN254", "IERC20"
        )
        self.chain_id = record.chain_id

    @property
    def address(self) -> str:
        return self.center.address

    def sender(self, private_key: str | bytes, **kwargs) -> TxSender:
        return TxSender(self.w3, private_key, decoder=self.decoder, **kwargs)

    # --- operators -----------------------------------------------------------------------------

    def register_operator(self, sender: TxSender, keys: KeyPair, stake: int, *, approve: bool = True):
        """Approve ``stake`` of the stake token and register with ``keys``. Returns the receipt."""
        if approve:
            sender.send(self.stake_token.functions.approve(self.address, stake))
        proof = keys.proof_of_possession(sender.address, self.address, self.chain_id)
        return sender.send(
            self.center.functions.registerOperator(
                stake, keys.public.g1.words(), keys.public.g2.solidity(), proof.words()
            )
        )

    def operator_id(self, account: str) -> int:
        return int(self.center.functions.operatorIdOf(account).call())

    def operator(self, operator_id: int) -> OperatorInfo:
        raw = self.center.functions.getOperator(operator_id).call()
        (id_, account, active, stake, registered, exited, pk_g1, pk_g2, endpoint) = raw
        return OperatorInfo(
            int(id_),
            account,
            bool(active),
            int(stake),
            int(registered),
            int(exited),
            g1_from_abi(pk_g1),
            g2_from_abi(pk_g2),
            endpoint,
        )

    def definition(self, definition_id: int) -> tuple[int, TaskDefinitionParams]:
        """``(operator set id, parameters)`` of a task definition."""
        _id, set_id, params = self.center.functions.getTaskDefinition(definition_id).call()
        return int(set_id), TaskDefinitionParams.from_abi(params)

    def definition_members(self, definition_id: int) -> dict[int, int]:
        """``{operator id: stake}`` of the definition's attesters, in increasing id order."""
        ids, stakes = self.center.functions.taskDefinitionMembers(definition_id).call()
        return {int(i): int(s) for i, s in zip(ids, stakes)}

    def create_definition(self, sender: TxSender, params: TaskDefinitionParams) -> int:
        receipt = sender.send(self.center.functions.createTaskDefinition(params.abi()))
        events = self.center.events.TaskDefinitionCreated().process_receipt(receipt, errors=DISCARD)
        return int(events[0]["args"]["taskDefinitionId"])

    # --- tasks ---------------------------------------------------------------------------------

    def submit_task(self, sender: TxSender, task: TaskInfo, submission: TaskSubmission, **kwargs):
        return sender.send(self.center.functions.submitTask(task.abi(), submission.abi()), **kwargs)

    def vote_hash(self, task: TaskInfo, is_approved: bool) -> bytes:
        return task.vote_hash(self.address, self.chain_id, is_approved)

    def task_record(self, task_hash: bytes) -> tuple[int, int, bool]:
        number, block, approved = self.center.functions.taskRecord(task_hash).call()
        return int(number), int(block), bool(approved)

    # --- rewards -------------------------------------------------------------------------------

    def claimable(self, account: str) -> int:
        return int(self.center.functions.claimableRewards(account).call())

    def fund_rewards(self, sender: TxSender, amount: int) -> None:
        sender.send(self.reward_token.functions.approve(self.vault.address, amount))
        sender.send(self.vault.functions.fund(amount))

    def on_receipt(self, receipt, event: str) -> list[dict]:
        return [e["args"] for e in getattr(self.center.events, event)().process_receipt(receipt, errors=DISCARD)]


def fund_eth(w3, addresses: list[str], wei: int) -> None:
    """Dev chains only (anvil): give each address ``wei`` of ETH."""
    for address in addresses:
        w3.provider.make_request("anvil_setBalance", [address, hex(wei)])
