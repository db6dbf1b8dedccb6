"""Talking to a deployed network with web3.py: a transaction sender and a typed contracts client.

    w3 = Web3(Web3.HTTPProvider(record.rpc_url))
    avs = AvsContracts(w3, DeploymentRecord.load(path))
    sender = TxSender(w3, private_key)
    operator_id = avs.register_operator(sender, keys, stake=10 * 10**18)

:class:`TxSender` owns one account's nonces (so several transactions can be in flight), simulates
each call first (a revert comes back as :class:`TransactionReverted` with the contract's decoded
custom error, before any gas is spent), and retries transient RPC failures.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_utils import keccak
from web3.exceptions import ContractCustomError, ContractLogicError, TimeExhausted, Web3RPCError
from web3.logs import DISCARD

from othentic_offchain.chain.artifacts import load_artifact
from othentic_offchain.chain.deploy import DeploymentRecord
from othentic_offchain.chain.types import (
    TaskDefinitionParams,
    TaskInfo,
    TaskSubmission,
    g1_from_abi,
    g2_from_abi,
)
from othentic_offchain.crypto.bls import KeyPair

_TRANSIENT_MARKERS = ("timeout", "timed out", "connection", "temporarily", "rate limit", "429", "502", "503")


class TransactionReverted(RuntimeError):
    """The call reverts (in simulation or on-chain). ``error`` is the decoded custom error name
    (``"QuorumNotReached"``) when the contracts know it, ``args`` its arguments."""

    def __init__(self, message: str, error: str | None = None, args: tuple = (), receipt: Any = None):
        super().__init__(message)
        self.error = error
        self.error_args = args
        self.receipt = receipt


class ErrorDecoder:
    """Decodes revert data into ``(name, args)`` from the custom errors of a set of ABIs."""

    def __init__(self, abis: list[list[dict]]):
        from eth_abi import decode

        self._decode = decode
        self._errors: dict[bytes, tuple[str, list[str]]] = {}
        for abi in abis:
            for item in abi:
                if item.get("type") != "error":
                    continue
                types = [_canonical(i) for i in item.get("inputs", [])]
                selector = keccak(text=f"{item['name']}({','.join(types)})")[:4]
                self._errors[selector] = (item["name"], types)

    def decode(self, data: bytes | str | None) -> tuple[str | None, tuple]:
        if isinstance(data, str):
            data = bytes.fromhex(data.removeprefix("0x")) if data.startswith("0x") else b""
        if not data or len(data) < 4:
            return None, ()
        known = self._errors.get(bytes(data[:4]))
        if known is None:
            if data[:4] == bytes.fromhex("08c379a0"):  # Error(string)
                return "Error", tuple(self._decode(["string"], bytes(data[4:])))
            return None, ()
        name, types = known
        try:
            return name, tuple(self._decode(types, bytes(data[4:])))
        except Exception:
            return name, ()


def _canonical(param: dict) -> str:
    kind = param["type"]
    if kind.startswith("tuple"):
        inner = ",".join(_canonical(c) for c in param["components"])
        return f"({inner}){kind[5:]}"
    return kind


def _revert_data(exc: Exception) -> bytes | None:
    data = getattr(exc, "data", None)
    if isinstance(data, str) and data.startswith("0x"):
        return bytes.fromhex(data[2:])
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    if isinstance(data, dict) and isinstance(data.get("data"), str):
        return bytes.fromhex(data["data"].removeprefix("0x"))
    return None


def _is_transient(exc: Exception) -> bool:
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    text = str(exc).lower()
    return any(marker in text for marker in _TRANSIENT_MARKERS)


class TxSender:
    """Sends transactions from one account, owning its nonces.

    Thread-safe: concurrent ``send`` calls get consecutive nonces. A nonce the node rejects as
    used ("nonce too low") resynchronises the counter from the node and retries once.
    """

    def __init__(
        self,
        w3,
        private_key: str | bytes,
        *,
        decoder: ErrorDecoder | None = None,
        gas_margin: float = 1.25,
        receipt_timeout: float = 120.0,
        retries: int = 3,
    ):
        self.w3 = w3
        self.account = Account.from_key(private_key)
        self.address = self.account.address
        self.chain_id = int(w3.eth.chain_id)
        self.decoder = decoder
        self.gas_margin = gas_margin
        self.receipt_timeout = receipt_timeout
        self.retries = retries
        self._lock = threading.Lock()
        self._nonce: int | None = None

    def _next_nonce(self) -> int:
        with self._lock:
            if self._nonce is None:
                self._nonce = int(self.w3.eth.get_transaction_count(self.address, "pending"))
            nonce = self._nonce
            self._nonce += 1
            return nonce

    def resync(self) -> None:
        with self._lock:
            self._nonce = None

    def _reverted(self, exc: Exception, what: str) -> TransactionReverted:
        name, args = self.decoder.decode(_revert_data(exc)) if self.decoder else (None, ())
        detail = f"{name}{args}" if name else str(exc)
        return TransactionReverted(f"{what} reverts: {detail}", name, args)

    def simulate(self, call) -> int:
        """Gas estimate of ``call`` from this account; raises :class:`TransactionReverted`."""
        try:
            return int(call.estimate_gas({"from": self.address}))
        except (ContractCustomError, ContractLogicError) as exc:
            raise self._reverted(exc, call.fn_name) from exc

    def send(self, call, *, gas: int | None = None, value: int = 0, wait: bool = True):
        """Simulate, sign, send; with ``wait`` return the receipt (raising if it reverted),
        otherwise the transaction hash."""
        if gas is None:
            gas = int(self.simulate(call) * self.gas_margin)
        attempt = 0
        while True:
            nonce = self._next_nonce()
            try:
                tx = call.build_transaction(
                    {"from": self.address, "nonce": nonce, "gas": gas, "value": value, "chainId": self.chain_id}
                )
                signed = self.account.sign_transaction(tx)
                tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
                break
            except Web3RPCError as exc:
                attempt += 1
                if "nonce too low" in str(exc).lower() or "already known" in str(exc).lower():
                    self.resync()
                elif not _is_transient(exc):
                    self.resync()
                    raise
                if attempt > self.retries:
                    raise
                time.sleep(0.2 * attempt)
            except Exception as exc:
                self.resync()
                if attempt >= self.retries or not _is_transient(exc):
                    raise
                attempt += 1
                time.sleep(0.2 * attempt)
        if not wait:
            return tx_hash
        return self.wait(tx_hash, what=call.fn_name)

    def wait(self, tx_hash, *, what: str = "transaction"):
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=self.receipt_timeout)
        except TimeExhausted as exc:
            raise TimeoutError(f"{what} {tx_hash.hex()} not mined after {self.receipt_timeout} s") from exc
        if receipt["status"] != 1:
            raise TransactionReverted(f"{what} {tx_hash.hex()} reverted on-chain", receipt=receipt)
        return receipt


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
        self.decoder = ErrorDecoder([center_abi.abi, vault.abi, penalties.abi, load_artifact("BN254").abi, erc20.abi])
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
