"""An async transaction sender for nodes: one account, its nonces, many transactions in flight.

The aggregator lands many tasks at once. :class:`AsyncTxSender` hands out consecutive nonces under
a lock and signs locally, so transactions are sent without waiting for each other's receipts; the
transaction hash is known before anything leaves the process, so a caller can record it first and
find it again after a crash. A failed send resynchronises the nonce from the node.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from eth_account import Account
from eth_utils import keccak
from web3.exceptions import ContractCustomError, ContractLogicError, TimeExhausted

from othentic_offchain.chain.client import ErrorDecoder, TransactionReverted, _revert_data


@dataclass(frozen=True)
class SignedTx:
    tx_hash: bytes
    raw: bytes
    nonce: int


class AsyncTxSender:
    def __init__(
        self,
        w3,
        private_key: str | bytes,
        *,
        chain_id: int,
        decoder: ErrorDecoder | None = None,
        gas_margin: float = 1.3,
        receipt_timeout: float = 120.0,
    ):
        self.w3 = w3
        self.account = Account.from_key(private_key)
        self.address = self.account.address
        self.chain_id = chain_id
        self.decoder = decoder
        self.gas_margin = gas_margin
        self.receipt_timeout = receipt_timeout
        self._nonce: int | None = None
        self._lock = asyncio.Lock()
        self._gas_price: int | None = None

    def decode(self, exc: Exception) -> tuple[str | None, tuple]:
        return self.decoder.decode(_revert_data(exc)) if self.decoder else (None, ())

    async def estimate(self, call) -> int:
        """Simulate ``call`` from this account; a revert raises :class:`TransactionReverted` with the
        contract's decoded error."""
        try:
            return int(await call.estimate_gas({"from": self.address}))
        except (ContractCustomError, ContractLogicError) as exc:
            name, args = self.decode(exc)
            raise TransactionReverted(
                f"{call.fn_name} reverts: {name}{args}" if name else str(exc), name, args
            ) from exc

    async def simulate(self, call) -> None:
        """Run ``call`` as an ``eth_call`` from this account: the same revert check as
        :meth:`estimate`, without the gas search (on anvil an estimate of ``submitTask`` costs
        about 20 times an ``eth_call``)."""
        try:
            await call.call({"from": self.address})
        except (ContractCustomError, ContractLogicError) as exc:
            name, args = self.decode(exc)
            raise TransactionReverted(
                f"{call.fn_name} reverts: {name}{args}" if name else str(exc), name, args
            ) from exc

    async def sign(self, call, *, gas: int) -> SignedTx:
        """Assign the next nonce and sign; nothing is sent yet."""
        async with self._lock:
            if self._nonce is None:
                self._nonce = int(await self.w3.eth.get_transaction_count(self.address, "pending"))
            nonce = self._nonce
            self._nonce += 1
        if self._gas_price is None:
            self._gas_price = int(await self.w3.eth.gas_price)
        tx = await call.build_transaction(
            {
                "from": self.address,
                "nonce": nonce,
                "gas": gas,
                "chainId": self.chain_id,
                "maxFeePerGas": self._gas_price * 2,
                "maxPriorityFeePerGas": min(self._gas_price, 10**9),
            }
        )
        signed = self.account.sign_transaction(tx)
        return SignedTx(bytes(signed.hash), bytes(signed.raw_transaction), nonce)

    async def broadcast(self, signed: SignedTx) -> bytes:
        try:
            await self.w3.eth.send_raw_transaction(signed.raw)
        except Exception as exc:
            text = str(exc).lower()
            if "already known" in text:
                return signed.tx_hash
            # The nonce may now be a gap or a duplicate: ask the node again next time.
            self._nonce = None
            raise
        return signed.tx_hash

    async def send(self, call, *, gas: int | None = None) -> SignedTx:
        """Estimate (unless ``gas``), sign and broadcast; returns at once with the hash."""
        if gas is None:
            gas = int(await self.estimate(call) * self.gas_margin)
        signed = await self.sign(call, gas=gas)
        await self.broadcast(signed)
        return signed

    async def receipt(self, tx_hash: bytes, *, timeout: float | None = None) -> Any:
        """The receipt once mined; raises :class:`TransactionReverted` if the transaction reverted."""
        try:
            receipt = await self.w3.eth.wait_for_transaction_receipt(
                tx_hash, timeout=timeout or self.receipt_timeout, poll_latency=0.05
            )
        except TimeExhausted as exc:
            raise TimeoutError(f"transaction 0x{tx_hash.hex()} not mined in time") from exc
        if receipt["status"] != 1:
            raise TransactionReverted(f"transaction 0x{tx_hash.hex()} reverted on-chain", receipt=receipt)
        return receipt

    async def find(self, tx_hash: bytes) -> Any | None:
        """The receipt if the transaction was mined, else None (pending or unknown)."""
        try:
            return await self.w3.eth.get_transaction_receipt(tx_hash)
        except Exception:
            return None


def tx_hash_of(raw: bytes) -> bytes:
    return keccak(raw)
