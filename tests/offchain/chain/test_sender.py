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
from othentic_offchain.chain.fees import (
    FeeCeilingExceeded,
    FeeQuote,
    ReplacementNotNeeded,
    decode_transaction,
    priced_below,
    quote_from,
)
from othentic_offchain.chain.receipts import receipt_or_none
from othentic_offchain.chain.rpc import RpcConnection
from othentic_offchain.chain.sender import (
    AsyncTxSender,
    EncodedCall,
    ErrorDecoder,
    TransactionReverted,
    TxAccount,
    format_error,
)
from othentic_offchain.devnet.anvil import DEV_PRIVATE_KEYS, Anvil

ETH = 10**18
GWEI = 10**9


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
    core.keep_quote(FeeQuote(GWEI, GWEI))
    core.resync()
    assert core.take_nonce() is None and core.fresh_quote() is None


def test_core_fee_rule_twice_the_next_base_fee_plus_the_tip():
    core = TxAccount(DEV_PRIVATE_KEYS[3], chain_id=31337)
    assert core.fees(FeeQuote(3 * GWEI, GWEI)) == {"maxFeePerGas": 7 * GWEI, "maxPriorityFeePerGas": GWEI}
    assert core.fees(FeeQuote(200 * GWEI, 2 * GWEI)) == {"maxFeePerGas": 402 * GWEI, "maxPriorityFeePerGas": 2 * GWEI}
    fields = core.fields(nonce=4, gas=50_000, fees=core.fees(FeeQuote(GWEI, GWEI)), value=3)
    assert fields["from"] == core.address and fields["chainId"] == 31337 and fields["nonce"] == 4
    signed = core.transfer_to_self(nonce=4, fees=core.fees(FeeQuote(GWEI, GWEI)))
    assert signed.nonce == 4 and keccak(signed.raw) == signed.tx_hash


def test_core_quote_reads_the_next_blocks_base_fee_and_goes_legacy_without_one():
    history = {"baseFeePerGas": [10**9, 200 * GWEI]}  # the last entry is the next block's
    assert quote_from(history, GWEI, None) == FeeQuote(200 * GWEI, GWEI)
    legacy = quote_from({"baseFeePerGas": [0, 0]}, None, 3 * GWEI)
    assert legacy == FeeQuote(None, 0, 3 * GWEI)
    core = TxAccount(DEV_PRIVATE_KEYS[3], chain_id=31337)
    assert core.fees(legacy) == {"gasPrice": 3 * GWEI}
    signed = core.transfer_to_self(nonce=0, fees=core.fees(legacy))
    assert decode_transaction(signed.raw)["gasPrice"] == 3 * GWEI


def test_core_ceiling_caps_the_fee_cap_and_refuses_a_base_fee_above_it():
    core = TxAccount(DEV_PRIVATE_KEYS[3], chain_id=31337, max_fee_per_gas=100 * GWEI)
    assert core.fees(FeeQuote(60 * GWEI, 2 * GWEI)) == {"maxFeePerGas": 100 * GWEI, "maxPriorityFeePerGas": 2 * GWEI}
    with pytest.raises(FeeCeilingExceeded, match="base fee is 200 gwei, above the ceiling max_fee_per_gas of 100 gwei"):
        core.fees(FeeQuote(200 * GWEI, GWEI))
    with pytest.raises(FeeCeilingExceeded, match="gas price is 150 gwei"):
        core.fees(FeeQuote(None, 0, 150 * GWEI))


def test_core_replacement_raises_both_fees_by_13_percent_or_to_the_current_price_within_the_ceiling():
    core = TxAccount(DEV_PRIVATE_KEYS[3], chain_id=31337, max_fee_per_gas=50 * GWEI)
    old = {"maxFeePerGas": 10 * GWEI, "maxPriorityFeePerGas": GWEI}
    assert core.bumped_fees(old, FeeQuote(3 * GWEI, GWEI)) == {
        "maxFeePerGas": 11_300_000_000,
        "maxPriorityFeePerGas": 1_130_000_000,
    }
    assert core.bumped_fees(old, FeeQuote(20 * GWEI, GWEI)) == {
        "maxFeePerGas": 41 * GWEI,
        "maxPriorityFeePerGas": 1_130_000_000,
    }
    with pytest.raises(FeeCeilingExceeded, match="replacement fee cap"):
        core.bumped_fees({"maxFeePerGas": 48 * GWEI, "maxPriorityFeePerGas": GWEI}, FeeQuote(GWEI, GWEI))
    assert core.bumped_fees({"gasPrice": 10 * GWEI}, FeeQuote(None, 0, 6 * GWEI)) == {"gasPrice": 11_300_000_000}
    signed = core.transfer_to_self(nonce=5, fees=old)
    again = core.resigned(signed.raw, core.bumped_fees(old, FeeQuote(3 * GWEI, GWEI)))
    fields = decode_transaction(again.raw)
    assert again.nonce == 5 and fields["to"] == core.address and fields["maxFeePerGas"] == 11_300_000_000


def test_core_replacement_offers_at_most_twice_a_fresh_transactions_fees():
    core = TxAccount(DEV_PRIVATE_KEYS[3], chain_id=31337)  # no ceiling: the bound still holds
    # a fresh transaction would offer 2 * 1 + 1 = 3 gwei: 11.3 gwei is more than twice that
    with pytest.raises(ReplacementNotNeeded, match="over 6 gwei"):
        core.bumped_fees({"maxFeePerGas": 10 * GWEI, "maxPriorityFeePerGas": GWEI}, FeeQuote(GWEI, GWEI))
    with pytest.raises(ReplacementNotNeeded):
        core.bumped_fees({"gasPrice": 10 * GWEI}, FeeQuote(None, 0, GWEI))
    assert core.bumped_fees({"maxFeePerGas": 5 * GWEI, "maxPriorityFeePerGas": GWEI}, FeeQuote(GWEI, GWEI)) == {
        "maxFeePerGas": 5_650_000_000,
        "maxPriorityFeePerGas": 1_130_000_000,
    }


def test_priced_below_compares_a_waiting_transaction_with_what_the_chain_asks_now():
    old = {"maxFeePerGas": 10 * GWEI, "maxPriorityFeePerGas": GWEI}
    assert not priced_below(old, FeeQuote(9 * GWEI, GWEI))  # 9 + 1 still fits under the cap
    assert priced_below(old, FeeQuote(10 * GWEI, GWEI))
    assert priced_below(old, FeeQuote(GWEI, 2 * GWEI))  # the tip the node suggests rose
    assert priced_below({"gasPrice": GWEI}, FeeQuote(None, 0, 2 * GWEI))
    assert not priced_below({"gasPrice": 2 * GWEI}, FeeQuote(None, 0, 2 * GWEI))


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


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        ((0,), "Limit(0)"),  # one argument: no tuple comma
        (("0x90f79bf6eb2c4f870365e785982e1f101e93b906",), "Limit(0x90F79bf6EB2c4f870365E785982E1f101E93b906)"),
        ((b"\x5c" * 2, "why", True), "Limit(0x5c5c, 'why', True)"),
        (((1, 2), ()), "Limit([1, 2], [])"),
        ((), "Limit()"),
    ],
)
def test_a_decoded_error_is_shown_as_solidity_writes_it(args, shown):
    assert format_error("Limit", args) == shown


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


def test_a_send_delivered_despite_a_transient_failure_is_sent_again_byte_for_byte_not_signed_again(
    net: Net, monkeypatch
):
    sender = net.avs.sender(net.fresh_key())
    sends = FailingSends(net.w3.eth.send_raw_transaction, [(ConnectionError("connection reset"), True)])
    sent: list[bytes] = []
    real = sends.real
    sends.real = lambda raw: (sent.append(bytes(raw)), real(raw))[1]
    monkeypatch.setattr(net.w3.eth, "send_raw_transaction", sends)
    receipt = sender.send(net.approve())
    assert receipt["status"] == 1 and sends.calls == 2
    assert net.nonce(sender.address) == 1  # one transaction on the chain, not two
    assert keccak(sent[0]) == bytes(receipt["transactionHash"])


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
    """The reads of ``eth`` that signing may make, counted."""

    def __init__(self, eth):
        self.eth = eth
        self.asked: list[str] = []

    async def get_transaction_count(self, *args):
        self.asked.append("nonce")
        return await self.eth.get_transaction_count(*args)

    async def fee_history(self, *args):
        self.asked.append("fee history")
        return await self.eth.fee_history(*args)

    @property
    def max_priority_fee(self):
        self.asked.append("tip")
        return self.eth.max_priority_fee

    @property
    def gas_price(self):
        self.asked.append("price")
        return self.eth.gas_price


def test_a_burst_of_async_signs_asks_the_node_for_nonce_and_fees_once(net: Net):
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
    assert sorted(asked) == ["fee history", "nonce", "tip"]


# --- real chains: fees that move, transactions that do not mine, nonce gaps -----------------------


def _rpc(net: Net, method: str, *params: Any) -> Any:
    answer = net.w3.provider.make_request(method, list(params))
    assert "error" not in answer, answer
    return answer["result"]


def test_a_base_fee_jump_is_priced_on_the_next_send_without_a_refused_try(net: Net, monkeypatch):
    sender = net.avs.sender(net.fresh_key(), fee_max_age=0)
    sender.send(net.approve())
    _rpc(net, "anvil_setNextBlockBaseFeePerGas", hex(200 * GWEI))
    sends = FailingSends(net.w3.eth.send_raw_transaction, [])
    monkeypatch.setattr(net.w3.eth, "send_raw_transaction", sends)
    receipt = sender.send(net.approve())
    assert receipt["status"] == 1 and sends.calls == 1
    assert net.w3.eth.get_transaction(receipt["transactionHash"])["maxFeePerGas"] >= 200 * GWEI


def test_a_ceiling_below_the_base_fee_refuses_to_sign_and_takes_no_nonce(net: Net):
    sender = net.avs.sender(net.fresh_key(), max_fee_per_gas=GWEI // 100, fee_max_age=0)
    with pytest.raises(FeeCeilingExceeded, match="above the ceiling max_fee_per_gas"):
        sender.send(net.approve(), gas=100_000)
    assert sender.core.next_nonce() is None and net.nonce(sender.address) == 0


def _without_automine(net: Net):
    class Paused:
        def __enter__(self):
            _rpc(net, "evm_setAutomine", False)

        def __exit__(self, *exc):
            _rpc(net, "evm_setAutomine", True)
            _rpc(net, "evm_mine")

    return Paused()


def test_a_transaction_that_does_not_mine_is_replaced_on_its_nonce_with_higher_fees(net: Net):
    key = net.fresh_key()
    token = net.avs.stake_token
    call = EncodedCall(token.address, bytes.fromhex(token.encode_abi("approve", [net.avs.address, 5])[2:]), "approve")

    async def scenario():
        connection, sender = await _async_sender(net, key)
        try:
            with _without_automine(net):
                first = await sender.sign(call, gas=100_000)
                await sender.broadcast(first)  # in the pool, not mined
                _rpc(net, "anvil_setNextBlockBaseFeePerGas", hex(300 * GWEI))
                second = await sender.replace(first.raw)
                await sender.broadcast(second)
                _rpc(net, "evm_mine")
                receipt = await sender.receipt(second.tx_hash, timeout=10)
            return first, second, receipt, await receipt_or_none(sender.w3, first.tx_hash)
        finally:
            await connection.close()

    first, second, receipt, replaced = asyncio.run(scenario())
    assert second.nonce == first.nonce == 0 and second.tx_hash != first.tx_hash
    old, new = decode_transaction(first.raw), decode_transaction(second.raw)
    assert new["maxFeePerGas"] >= 600 * GWEI and new["maxPriorityFeePerGas"] * 100 >= old["maxPriorityFeePerGas"] * 113
    assert (new["to"], new["data"], new["gas"]) == (old["to"], old["data"], old["gas"])
    assert receipt["status"] == 1 and replaced is None and net.nonce(Account.from_key(key).address) == 1


def test_a_dropped_transaction_no_longer_wedges_the_later_ones(net: Net):
    key = net.fresh_key()
    address = Account.from_key(key).address
    token = net.avs.stake_token
    call = EncodedCall(token.address, bytes.fromhex(token.encode_abi("approve", [address, 1])[2:]), "approve")

    async def scenario():
        connection, sender = await _async_sender(net, key)
        try:
            with _without_automine(net):
                signed = [await sender.sign(call, gas=100_000) for _ in range(3)]
                for s in signed:
                    await sender.broadcast(s)
                _rpc(net, "anvil_dropTransaction", "0x" + signed[0].tx_hash.hex())
                _rpc(net, "evm_mine")
                wedged = net.nonce(address)  # 0: the two later ones queue behind the gap
                filled = await sender.fill_gaps()
                _rpc(net, "evm_mine")
            receipts = [await sender.receipt(s.tx_hash, timeout=10) for s in signed]
            return wedged, filled, receipts, await sender.fill_gaps()
        finally:
            await connection.close()

    wedged, filled, receipts, nothing_left = asyncio.run(scenario())
    assert wedged == 0
    assert filled[0] == "resent"
    assert [r["status"] for r in receipts] == [1, 1, 1] and net.nonce(address) == 3
    assert nothing_left == {}


def test_a_gap_nobody_holds_is_filled_with_an_empty_transfer(net: Net):
    key = net.fresh_key()
    address = Account.from_key(key).address
    token = net.avs.stake_token
    call = EncodedCall(token.address, bytes.fromhex(token.encode_abi("approve", [address, 1])[2:]), "approve")

    async def scenario():
        connection, sender = await _async_sender(net, key)
        try:
            lost = await sender.sign(call, gas=100_000)
            sender.settled(lost.nonce)  # its owner gave it up without sending it
            after = await sender.sign(call, gas=100_000)
            await sender.broadcast(after)
            filled = await sender.fill_gaps()
            return filled, await sender.receipt(after.tx_hash, timeout=10)
        finally:
            await connection.close()

    filled, receipt = asyncio.run(scenario())
    assert filled == {0: "filled"} and receipt["status"] == 1 and net.nonce(address) == 2
    mined = [
        tx
        for number in (receipt["blockNumber"] - 1, receipt["blockNumber"])
        for tx in net.w3.eth.get_block(number, full_transactions=True)["transactions"]
        if tx["from"] == address and tx["nonce"] == 0
    ]
    assert [(tx["to"], tx["value"]) for tx in mined] == [(address, 0)]


def test_a_quote_gone_stale_is_re_priced_on_the_same_nonce_and_leaves_no_gap(net: Net):
    key = net.fresh_key()
    address = Account.from_key(key).address
    token = net.avs.stake_token
    call = EncodedCall(token.address, bytes.fromhex(token.encode_abi("approve", [address, 2])[2:]), "approve")

    async def scenario():
        connection = RpcConnection(net.anvil.rpc_url)
        w3 = await connection.open()
        sender = AsyncTxSender(w3, key, chain_id=int(net.w3.eth.chain_id), fee_max_age=3600)
        try:
            first = await sender.send(call, gas=100_000)  # the quote is kept from here on
            await sender.receipt(first.tx_hash, timeout=10)
            _rpc(net, "anvil_setNextBlockBaseFeePerGas", hex(300 * GWEI))
            second = await sender.send(call, gas=100_000)
            receipt = await sender.receipt(second.tx_hash, timeout=10)
            return first, second, receipt
        finally:
            await connection.close()

    first, second, receipt = asyncio.run(scenario())
    assert (first.nonce, second.nonce) == (0, 1) and receipt["status"] == 1
    assert decode_transaction(second.raw)["maxFeePerGas"] >= 600 * GWEI
    assert net.nonce(address) == 2


def _approve_call(net: Net, address: str, amount: int = 1) -> EncodedCall:
    token = net.avs.stake_token
    return EncodedCall(token.address, bytes.fromhex(token.encode_abi("approve", [address, amount])[2:]), "approve")


def test_a_counter_asked_again_never_hands_out_a_nonce_signed_and_not_yet_sent(net: Net):
    key = net.fresh_key()
    address = Account.from_key(key).address
    call = _approve_call(net, address)

    async def scenario():
        connection, sender = await _async_sender(net, key)
        try:
            waiting = await sender.sign(call, gas=100_000)  # its owner is still storing it
            refused = await sender.sign(call, gas=100_000)
            real = sender.w3.eth.send_raw_transaction

            async def refuse(raw):
                raise ValueError("insufficient funds for gas * price + value")

            sender.w3.eth.send_raw_transaction = refuse
            with pytest.raises(ValueError):
                await sender.broadcast(refused)  # the counter is asked again
            sender.w3.eth.send_raw_transaction = real
            later = await sender.sign(call, gas=100_000)
            for signed in (waiting, later):
                await sender.broadcast(signed)
            return waiting, refused, later, await sender.receipt(later.tx_hash, timeout=10)
        finally:
            await connection.close()

    waiting, refused, later, receipt = asyncio.run(scenario())
    assert waiting.nonce == 0 and later.nonce == refused.nonce == 1  # not 0 again: that one is held
    assert receipt["status"] == 1 and net.nonce(address) == 2


def test_a_first_send_on_a_nonce_another_of_ours_holds_asks_the_counter_again_and_replaces_nothing(net: Net):
    key = net.fresh_key()
    address = Account.from_key(key).address
    call = _approve_call(net, address)

    async def scenario():
        connection, sender = await _async_sender(net, key)
        try:
            with _without_automine(net):
                held = await sender.send(call, gas=100_000)  # nonce 0, in the pool
                sender.core.resync()
                sender.core.seed_nonce(0)  # a counter gone wrong hands out 0 again
                with pytest.raises(Exception, match="replacement transaction underpriced") as refused:
                    await sender.send(_approve_call(net, address, 2), gas=100_000)
                asked_again = sender.core.next_nonce() is None
                in_pool = await sender.w3.eth.get_transaction(held.tx_hash)
            return held, refused.value, asked_again, in_pool, await sender.receipt(held.tx_hash, timeout=10)
        finally:
            await connection.close()

    held, _refused, asked_again, in_pool, receipt = asyncio.run(scenario())
    assert asked_again and in_pool is not None and receipt["status"] == 1  # the first one stood
    assert net.nonce(address) == 1


def test_fill_gaps_leaves_a_nonce_being_broadcast_to_its_owner(net: Net):
    key = net.fresh_key()
    address = Account.from_key(key).address
    call = _approve_call(net, address)

    async def scenario():
        connection, sender = await _async_sender(net, key)
        try:
            real = sender.w3.eth.send_raw_transaction
            reached, release = asyncio.Event(), asyncio.Event()

            async def slow_first(raw):
                sender.w3.eth.send_raw_transaction = real
                reached.set()
                await release.wait()  # the node has not answered yet
                return await real(raw)

            sender.w3.eth.send_raw_transaction = slow_first
            signed = await sender.sign(call, gas=100_000)
            sending = asyncio.create_task(sender.broadcast(signed))
            await reached.wait()
            during = await sender.fill_gaps()
            release.set()
            await sending
            return signed, during, await sender.receipt(signed.tx_hash, timeout=10)
        finally:
            await connection.close()

    signed, during, receipt = asyncio.run(scenario())
    assert during == {} and receipt["status"] == 1 and bytes(receipt["transactionHash"]) == signed.tx_hash


def test_an_adopted_transaction_is_offered_again_after_a_restart_not_filled(net: Net):
    key = net.fresh_key()
    address = Account.from_key(key).address
    call = _approve_call(net, address)

    async def scenario():
        connection, before = await _async_sender(net, key)
        try:
            with _without_automine(net):
                stored = await before.sign(call, gas=100_000)
                await before.broadcast(stored)
                _rpc(net, "anvil_dropTransaction", "0x" + stored.tx_hash.hex())
                after = AsyncTxSender(before.w3, key, chain_id=before.chain_id)  # a restart
                after.adopt(stored)
                later = await after.sign(call, gas=100_000)
                await after.broadcast(later)
                filled = await after.fill_gaps()
            receipts = [await after.receipt(s.tx_hash, timeout=10) for s in (stored, later)]
            return later, filled, receipts
        finally:
            await connection.close()

    later, filled, receipts = asyncio.run(scenario())
    assert later.nonce == 1 and filled[0] == "resent" and set(filled.values()) == {"resent"}  # nothing filled
    assert [r["status"] for r in receipts] == [1, 1] and net.nonce(address) == 2
