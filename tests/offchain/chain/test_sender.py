"""othentic_offchain.chain.sender: one account's transactions, through the blocking and the asyncio face.

Real anvil and a real deployment; failures of the node are injected by wrapping
``send_raw_transaction``.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import pytest
from eth_abi import encode as abi_encode
from eth_account import Account
from eth_utils import keccak

from othentic_offchain.chain.abi import ERROR_STRING_SELECTOR
from othentic_offchain.chain.client import AvsContracts
from othentic_offchain.chain.client import TransactionReverted as ReExported
from othentic_offchain.chain.deploy import Web3Backend, deploy_system
from othentic_offchain.chain.rpc import RpcConnection
from othentic_offchain.chain.sender import (
    AsyncTxSender,
    EncodedCall,
    ErrorDecoder,
    TransactionReverted,
    TxAccount,
)
from othentic_offchain.devnet.anvil import DEV_PRIVATE_KEYS, Anvil

ETH = 10**18


@dataclass
class Net:
    anvil: Anvil
    w3: Any
    avs: AvsContracts
    counter: list[int]

    def fresh_key(self) -> str:
        """A funded account nobody else uses, so that nonces start at 0 for each test."""
        self.counter[0] += 1
        key = "0x" + keccak(text=f"sender test account {self.counter[0]}").hex()
        self.w3.provider.make_request("anvil_setBalance", [Account.from_key(key).address, hex(100 * ETH)])
        return key

    def nonce(self, address: str) -> int:
        return int(self.w3.eth.get_transaction_count(address, "latest"))

    def approve(self, amount: int = 1):
        """A call that always succeeds (an ERC-20 approval)."""
        return self.avs.stake_token.functions.approve(self.avs.address, amount)


@pytest.fixture(scope="module")
def net():
    with Anvil() as anvil:
        w3 = anvil.web3()
        record = deploy_system(Web3Backend(w3, DEV_PRIVATE_KEYS[0]))
        yield Net(anvil, w3, AvsContracts(w3, record), [0])


class FailingSends:
    """Wraps ``send_raw_transaction``: the first ``len(errors)`` calls raise the given errors, in
    order; an error paired with ``True`` is raised after the transaction was really sent."""

    def __init__(self, real, errors: list[tuple[Exception, bool]]):
        self.real = real
        self.errors = list(errors)
        self.calls = 0

    def __call__(self, raw):
        self.calls += 1
        if self.errors:
            error, after_sending = self.errors.pop(0)
            if after_sending:
                self.real(raw)
            raise error
        return self.real(raw)


# --- the shared core ------------------------------------------------------------------------------


def test_core_counts_nonces_from_the_seed_and_forgets_on_resync():
    core = TxAccount(DEV_PRIVATE_KEYS[3], chain_id=31337)
    assert core.take_nonce() is None
    core.seed_nonce(7)
    core.seed_nonce(99)  # already counting: ignored
    assert [core.take_nonce(), core.take_nonce()] == [7, 8]
    core.gas_price = 5
    core.resync()
    assert core.take_nonce() is None and core.gas_price is None


def test_core_fee_rule():
    core = TxAccount(DEV_PRIVATE_KEYS[3], chain_id=31337)
    assert core.fees(3 * 10**9) == {"maxFeePerGas": 6 * 10**9, "maxPriorityFeePerGas": 10**9}
    assert core.fees(5 * 10**8) == {"maxFeePerGas": 10**9, "maxPriorityFeePerGas": 5 * 10**8}
    fields = core.fields(nonce=4, gas=50_000, gas_price=10**9, value=3)
    assert fields["from"] == core.address and fields["chainId"] == 31337 and fields["nonce"] == 4
    signed = core.transfer_to_self(nonce=4, gas_price=10**9)
    assert signed.nonce == 4 and keccak(signed.raw) == signed.tx_hash


def test_error_decoder_reads_custom_errors_and_error_string():
    decoder = ErrorDecoder.for_contracts("IAttestationCenter")
    selector = keccak(text="ClaimExceedsRewards(uint256,uint256)")[:4]
    assert decoder.decode(selector + abi_encode(["uint256", "uint256"], [5, 2])) == ("ClaimExceedsRewards", (5, 2))
    assert decoder.decode("0x" + selector.hex() + abi_encode(["uint256", "uint256"], [1, 0]).hex())[1] == (1, 0)
    assert decoder.decode(ERROR_STRING_SELECTOR + abi_encode(["string"], ["no"])) == ("Error", ("no",))
    assert decoder.decode(b"\xde\xad\xbe\xef") == (None, ())
    assert decoder.decode(None) == (None, ()) and decoder.decode("not hex") == (None, ())


def test_client_re_exports_the_sender_names():
    assert ReExported is TransactionReverted


# --- the blocking face ----------------------------------------------------------------------------


def test_send_waits_for_the_receipt_and_send_without_wait_returns_the_hash(net: Net):
    sender = net.avs.sender(net.fresh_key())
    receipt = sender.send(net.approve())
    assert receipt["status"] == 1
    hashes = [sender.send(net.approve(i), wait=False) for i in range(3)]
    receipts = [sender.wait(h) for h in hashes]
    assert [r["status"] for r in receipts] == [1, 1, 1]
    assert [net.w3.eth.get_transaction(h)["nonce"] for h in hashes] == [1, 2, 3]
    assert net.nonce(sender.address) == 4


def test_a_reverting_call_is_refused_by_simulation_before_any_gas_is_spent(net: Net):
    sender = net.avs.sender(net.fresh_key())
    with pytest.raises(TransactionReverted) as caught:
        sender.send(net.avs.center.functions.claimRewards(sender.address, 1))
    assert caught.value.error == "ClaimExceedsRewards" and caught.value.error_args == (1, 0)
    assert "claimRewards reverts: ClaimExceedsRewards(1, 0)" in str(caught.value)
    with pytest.raises(TransactionReverted):
        sender.simulate(net.avs.center.functions.leave())
    assert net.nonce(sender.address) == 0


def test_nonce_too_low_resynchronises_from_the_node_and_retries(net: Net):
    key = net.fresh_key()
    first, other = net.avs.sender(key), net.avs.sender(key)
    first.send(net.approve())  # first counts from 0: its next nonce is 1
    other.send(net.approve())  # ... which other uses
    receipt = first.send(net.approve())
    assert receipt["status"] == 1 and net.w3.eth.get_transaction(receipt["transactionHash"])["nonce"] == 2


def test_transient_failures_are_retried(net: Net, monkeypatch):
    sender = net.avs.sender(net.fresh_key())
    sends = FailingSends(net.w3.eth.send_raw_transaction, [(ConnectionError("connection reset"), False)] * 2)
    monkeypatch.setattr(net.w3.eth, "send_raw_transaction", sends)
    assert sender.send(net.approve())["status"] == 1
    assert sends.calls == 3 and net.nonce(sender.address) == 1


def test_retries_are_bounded_and_other_failures_are_not_retried(net: Net, monkeypatch):
    sender = net.avs.sender(net.fresh_key(), retries=1)
    sends = FailingSends(net.w3.eth.send_raw_transaction, [(ConnectionError("connection reset"), False)] * 5)
    monkeypatch.setattr(net.w3.eth, "send_raw_transaction", sends)
    with pytest.raises(ConnectionError):
        sender.send(net.approve())
    assert sends.calls == 2
    sends.errors = [(ValueError("insufficient funds for gas"), False)]
    sends.calls = 0
    with pytest.raises(ValueError, match="insufficient funds"):
        sender.send(net.approve())
    assert sends.calls == 1
    assert sender.core.take_nonce() is None  # the next send asks the node
    assert sender.send(net.approve())["status"] == 1 and net.nonce(sender.address) == 1


def test_already_known_counts_as_sent(net: Net, monkeypatch):
    sender = net.avs.sender(net.fresh_key())
    sends = FailingSends(net.w3.eth.send_raw_transaction, [(ValueError("already known"), True)])
    monkeypatch.setattr(net.w3.eth, "send_raw_transaction", sends)
    assert sender.send(net.approve())["status"] == 1
    assert sends.calls == 1 and net.nonce(sender.address) == 1


def test_concurrent_sends_from_threads_get_consecutive_nonces(net: Net):
    sender = net.avs.sender(net.fresh_key())
    hashes: list = []
    lock = threading.Lock()

    def send(i: int) -> None:
        tx_hash = sender.send(net.approve(i), gas=100_000, wait=False)
        with lock:
            hashes.append(tx_hash)

    threads = [threading.Thread(target=send, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert all(sender.wait(h)["status"] == 1 for h in hashes)
    assert sorted(net.w3.eth.get_transaction(h)["nonce"] for h in hashes) == list(range(8))


def test_encoded_calls_go_through_the_blocking_face(net: Net):
    sender = net.avs.sender(net.fresh_key())
    token = net.avs.stake_token
    call = EncodedCall(token.address, bytes.fromhex(token.encode_abi("approve", [net.avs.address, 9])[2:]), "approve")
    sender.simulate(call)
    assert sender.estimate(call) > 21_000
    assert sender.send(call)["status"] == 1
    assert token.functions.allowance(sender.address, net.avs.address).call() == 9


def test_a_transaction_that_reverts_on_chain_raises_with_its_receipt(net: Net):
    sender = net.avs.sender(net.fresh_key())
    with pytest.raises(TransactionReverted, match="reverted on-chain") as caught:
        sender.send(net.avs.center.functions.leave(), gas=100_000)  # no simulation with a given gas
    assert caught.value.receipt["status"] == 0


# --- the asyncio face -----------------------------------------------------------------------------


async def _async_sender(net: Net, key: str) -> tuple[RpcConnection, AsyncTxSender]:
    connection = RpcConnection(net.anvil.rpc_url)
    w3 = await connection.open()
    decoder = ErrorDecoder.for_contracts("IAttestationCenter")
    return connection, AsyncTxSender(w3, key, chain_id=int(net.w3.eth.chain_id), decoder=decoder)


def test_async_sign_then_broadcast_knows_the_hash_before_sending(net: Net):
    key = net.fresh_key()
    token = net.avs.stake_token
    data = bytes.fromhex(token.encode_abi("approve", [net.avs.address, 3])[2:])

    async def scenario():
        connection, sender = await _async_sender(net, key)
        try:
            call = EncodedCall(token.address, data, "approve")
            gas = await sender.estimate(call)
            signed = [await sender.sign(call, gas=sender.core.with_margin(gas)) for _ in range(3)]
            assert [s.nonce for s in signed] == [0, 1, 2]
            assert all(keccak(s.raw) == s.tx_hash for s in signed)
            for s in signed:
                assert await sender.broadcast(s) == s.tx_hash
            receipts = [await sender.receipt(s.tx_hash) for s in signed]
            sent = await sender.send(call)
            return receipts, await sender.receipt(sent.tx_hash), sent
        finally:
            await connection.close()

    receipts, last, sent = asyncio.run(scenario())
    assert [r["status"] for r in receipts] == [1, 1, 1] and last["status"] == 1 and sent.nonce == 3


def test_async_simulation_decodes_the_revert(net: Net):
    key = net.fresh_key()

    async def scenario():
        connection, sender = await _async_sender(net, key)
        center = sender.w3.eth.contract(address=net.avs.address, abi=net.avs.center.abi)
        try:
            with pytest.raises(TransactionReverted) as by_call:
                await sender.simulate(center.functions.claimRewards(sender.address, 2))
            with pytest.raises(TransactionReverted) as by_estimate:
                await sender.estimate(center.functions.claimRewards(sender.address, 2))
            return by_call.value, by_estimate.value
        finally:
            await connection.close()

    by_call, by_estimate = asyncio.run(scenario())
    assert by_call.error == by_estimate.error == "ClaimExceedsRewards"
    assert by_call.error_args == (2, 0)


def test_async_broadcast_failure_resynchronises_and_fill_nonce_unblocks_the_next(net: Net):
    key = net.fresh_key()
    address = Account.from_key(key).address
    token = net.avs.stake_token
    call = EncodedCall(token.address, bytes.fromhex(token.encode_abi("approve", [address, 1])[2:]), "approve")

    async def scenario():
        connection, sender = await _async_sender(net, key)
        try:
            lost = await sender.sign(call, gas=100_000)  # signed, never sent: nonce 0 is a gap
            after = await sender.sign(call, gas=100_000)
            await sender.broadcast(after)
            assert net.nonce(address) == 0  # stuck behind the gap
            await sender.fill_nonce(lost.nonce)
            await sender.receipt(after.tx_hash, timeout=10)

            real = sender.w3.eth.send_raw_transaction

            async def refuse(raw):
                raise ValueError("nonce too low")

            sender.w3.eth.send_raw_transaction = refuse
            doomed = await sender.sign(call, gas=100_000)
            with pytest.raises(ValueError):
                await sender.broadcast(doomed)
            sender.w3.eth.send_raw_transaction = real
            assert sender.core.take_nonce() is None
            again = await sender.send(call, gas=100_000)
            await sender.receipt(again.tx_hash, timeout=10)
            return again
        finally:
            await connection.close()

    again = asyncio.run(scenario())
    assert again.nonce == 2 and net.nonce(address) == 3


class CountingEth:
    """The two reads of ``eth`` that signing may make, counted."""

    def __init__(self, eth):
        self.eth = eth
        self.asked: list[str] = []

    async def get_transaction_count(self, *args):
        self.asked.append("nonce")
        return await self.eth.get_transaction_count(*args)

    @property
    def gas_price(self):
        self.asked.append("price")
        return self.eth.gas_price


def test_a_burst_of_async_signs_asks_the_node_for_nonce_and_price_once(net: Net):
    key = net.fresh_key()
    token = net.avs.stake_token
    call = EncodedCall(token.address, bytes.fromhex(token.encode_abi("approve", [net.avs.address, 1])[2:]), "approve")

    async def scenario():
        connection, sender = await _async_sender(net, key)
        eth = CountingEth(sender.w3.eth)
        sender.w3 = SimpleNamespace(eth=eth)
        try:
            signed = await asyncio.gather(*(sender.sign(call, gas=100_000) for _ in range(20)))
            return [s.nonce for s in signed], eth.asked
        finally:
            await connection.close()

    nonces, asked = asyncio.run(scenario())
    assert sorted(nonces) == list(range(20))
    assert sorted(asked) == ["nonce", "price"]
