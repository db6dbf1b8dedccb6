"""othentic_offchain.chain.receipts: one poll loop for many transactions of one account (real anvil)."""

from __future__ import annotations

import asyncio

import pytest
from eth_account import Account
from eth_utils import keccak

from othentic_offchain.chain.receipts import ReceiptWatcher, receipt_or_none
from othentic_offchain.chain.rpc import RpcConnection
from othentic_offchain.chain.sender import AsyncTxSender, EncodedCall
from othentic_offchain.devnet.anvil import Anvil

KEY = "0x" + keccak(text="receipt watcher test account").hex()
ADDRESS = Account.from_key(KEY).address


@pytest.fixture(scope="module")
def anvil():
    with Anvil() as node:
        node.rpc("anvil_setBalance", [ADDRESS, hex(10**20)])
        yield node


def _transfer(to: str) -> EncodedCall:
    return EncodedCall(to, b"", "transfer")


def test_waits_for_several_transactions_with_one_watcher_and_knows_superseded_ones(anvil: Anvil):
    async def scenario():
        connection = RpcConnection(anvil.rpc_url)
        w3 = await connection.open()
        sender = AsyncTxSender(w3, KEY, chain_id=int(await w3.eth.chain_id))
        watcher = ReceiptWatcher(w3, ADDRESS, interval=0.02)
        try:
            sent = [await sender.send(_transfer(ADDRESS), gas=21_000) for _ in range(3)]
            receipts = await asyncio.gather(*(watcher.wait(s.tx_hash, s.nonce, 10) for s in sent))
            # A transaction signed for a nonce that another one then takes never mines.
            never = await sender.sign(_transfer(ADDRESS), gas=21_000, value=1)
            await sender.fill_nonce(never.nonce)
            superseded = await watcher.wait(never.tx_hash, never.nonce, 10)
            unknown = await receipt_or_none(w3, keccak(b"no such transaction"))
            return sent, receipts, superseded, unknown
        finally:
            await watcher.close()
            await connection.close()

    sent, receipts, superseded, unknown = asyncio.run(scenario())
    assert [bytes(r["transactionHash"]) for r in receipts] == [s.tx_hash for s in sent]
    assert superseded is None and unknown is None


def test_a_transaction_that_cannot_be_mined_times_out(anvil: Anvil):
    async def scenario():
        connection = RpcConnection(anvil.rpc_url)
        w3 = await connection.open()
        sender = AsyncTxSender(w3, KEY, chain_id=int(await w3.eth.chain_id))
        watcher = ReceiptWatcher(w3, ADDRESS, interval=0.02)
        try:
            await sender.sign(_transfer(ADDRESS), gas=21_000)  # a gap: nonce n is never sent
            stuck = await sender.sign(_transfer(ADDRESS), gas=21_000)
            await sender.broadcast(stuck)
            with pytest.raises(TimeoutError):
                await watcher.wait(stuck.tx_hash, stuck.nonce, 0.3)
            await sender.fill_nonce(stuck.nonce - 1)  # unblock it: now it mines
            return await watcher.wait(stuck.tx_hash, stuck.nonce, 10)
        finally:
            await watcher.close()
            await connection.close()

    receipt = asyncio.run(scenario())
    assert receipt is not None and receipt["status"] == 1
