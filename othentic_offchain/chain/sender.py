"""Sending transactions from one account: one nonce counter, one fee rule, one signer, one revert decoder.

:class:`TxAccount` is that core and does no I/O. Two faces put a web3 connection in front of it:

* :class:`TxSender`, blocking, on a ``web3.Web3`` (the CLI, the devnet, benchmarks and tests):
  ``send`` simulates, signs, sends and by default waits for the receipt. Thread-safe.
* :class:`AsyncTxSender`, on an ``AsyncWeb3`` (the aggregator's hot path): the steps are separate
  (``estimate`` or ``simulate``, ``sign``, ``broadcast``), so that the aggregator can store a
  signed transaction's bytes and hash before anything leaves the process, and find it again or
  send the very same bytes after a crash.

    sender = TxSender(w3, private_key, decoder=ErrorDecoder.for_contracts("IAttestationCenter"))
    receipt = sender.send(center.functions.setOperatorEndpoint(url))

Both hand out consecutive nonces (several transactions in flight, none waiting for another's
receipt), sign locally, and price every transaction with :meth:`TxAccount.fees` from a gas price
read once. A send that fails in a way that may leave a gap or a duplicate nonce makes the next one
ask the node again (nonce and price); "already known" counts as sent. A revert found while
simulating, or on-chain, is a :class:`TransactionReverted` carrying the contract's decoded custom
error.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from eth_abi import decode as abi_decode
from eth_account import Account
from hexbytes import HexBytes
from web3.exceptions import ContractCustomError, ContractLogicError, TimeExhausted

from othentic_offchain.chain.abi import ERROR_STRING_SELECTOR, error_selectors
from othentic_offchain.chain.artifacts import load_artifact

#: Fee cap per unit of gas, as a multiple of the node's gas price when first read.
FEE_CAP_MULTIPLE = 2
#: The tip never exceeds this (1 gwei), nor the gas price itself.
MAX_PRIORITY_FEE = 10**9
#: Gas of a plain transfer (what :meth:`AsyncTxSender.fill_nonce` spends).
TRANSFER_GAS = 21_000

_TRANSIENT_MARKERS = ("timeout", "timed out", "connection", "temporarily", "rate limit", "429", "502", "503")


# --- reverts ------------------------------------------------------------------------------------


class TransactionReverted(RuntimeError):
    """The call reverts (in simulation or on-chain). ``error`` is the decoded custom error name
    (``"QuorumNotReached"``) when the contracts know it, ``error_args`` its arguments."""

    def __init__(self, message: str, error: str | None = None, args: tuple = (), receipt: Any = None):
        super().__init__(message)
        self.error = error
        self.error_args = args
        self.receipt = receipt


class ErrorDecoder:
    """Decodes revert data into ``(name, args)`` from the custom errors of a set of ABIs, and
    Solidity's ``Error(string)``."""

    def __init__(self, abis: Iterable[list[dict[str, Any]]]):
        self._errors = error_selectors(abis)

    @classmethod
    def for_contracts(cls, *names: str) -> ErrorDecoder:
        """A decoder for the errors of the packaged contracts ``names``."""
        return cls(load_artifact(name).abi for name in names)

    def decode(self, data: bytes | str | None) -> tuple[str | None, tuple]:
        if isinstance(data, str):
            data = bytes.fromhex(data.removeprefix("0x")) if data.startswith("0x") else b""
        if not data or len(data) < 4:
            return None, ()
        known = self._errors.get(bytes(data[:4]))
        if known is None:
            if bytes(data[:4]) == ERROR_STRING_SELECTOR:
                return "Error", tuple(abi_decode(["string"], bytes(data[4:])))
            return None, ()
        name, types = known
        try:
            return name, tuple(abi_decode(types, bytes(data[4:])))
        except Exception:
            return name, ()


def revert_data(exc: Exception) -> bytes | None:
    """The revert data web3 attached to ``exc``, if any."""
    data = getattr(exc, "data", None)
    if isinstance(data, str) and data.startswith("0x"):
        return bytes.fromhex(data[2:])
    if isinstance(data, (bytes, bytearray)):
        return bytes(data)
    if isinstance(data, dict) and isinstance(data.get("data"), str):
        return bytes.fromhex(data["data"].removeprefix("0x"))
    return None


def is_transient(exc: Exception) -> bool:
    """A failure that trying again may not meet (a timeout, a dropped connection, rate limiting)."""
    if isinstance(exc, (ConnectionError, TimeoutError)):
        return True
    text = str(exc).lower()
    return any(marker in text for marker in _TRANSIENT_MARKERS)


def _already_known(exc: Exception) -> bool:
    return "already known" in str(exc).lower()


def _stale_nonce(exc: Exception) -> bool:
    return "nonce too low" in str(exc).lower()


# --- what both faces share ----------------------------------------------------------------------


@dataclass(frozen=True)
class SignedTx:
    """A signed transaction: its hash is known before it is sent."""

    tx_hash: bytes
    raw: bytes
    nonce: int


@dataclass(frozen=True)
class EncodedCall:
    """A contract call with its calldata already encoded; both faces take it wherever they take a
    web3 contract function. web3's contract functions look their ABI entry up on every use (for
    the center's large ABI, milliseconds per call): a hot path encodes once and passes this."""

    to: str
    data: bytes
    fn_name: str

    def transaction(self, fields: dict[str, Any]) -> dict[str, Any]:
        return {**fields, "to": self.to, "data": self.data}


class TxAccount:
    """One account's key, nonce counter, fee rule, signing and revert decoding; no I/O.

    The counter is seeded from the node's pending count by the face that needs a nonce first, and
    forgotten (with the gas price) by :meth:`resync` after a send that may have left it wrong.
    """

    def __init__(
        self,
        private_key: str | bytes,
        *,
        chain_id: int,
        decoder: ErrorDecoder | None = None,
        gas_margin: float = 1.25,
        receipt_timeout: float = 120.0,
    ):
        self.account = Account.from_key(private_key)
        self.address: str = self.account.address
        self.chain_id = int(chain_id)
        self.decoder = decoder
        self.gas_margin = gas_margin
        self.receipt_timeout = receipt_timeout
        self.gas_price: int | None = None
        self._nonce: int | None = None
        self._lock = threading.Lock()

    # --- nonces ---------------------------------------------------------------------------------

    def take_nonce(self) -> int | None:
        """The next nonce, or None when the counter must first be seeded with :meth:`seed_nonce`."""
        with self._lock:
            if self._nonce is None:
                return None
            nonce = self._nonce
            self._nonce += 1
            return nonce

    def seed_nonce(self, pending_count: int) -> None:
        """Start counting at the node's pending transaction count (unless already counting)."""
        with self._lock:
            if self._nonce is None:
                self._nonce = int(pending_count)

    def resync(self) -> None:
        """Ask the node again next time: the nonce (a failed send may have left a gap or a
        duplicate) and the gas price (it may be why the send failed)."""
        with self._lock:
            self._nonce = None
            self.gas_price = None

    # --- pricing and signing --------------------------------------------------------------------

    def with_margin(self, gas_estimate: int) -> int:
        return int(gas_estimate * self.gas_margin)

    def fees(self, gas_price: int) -> dict[str, int]:
        """EIP-1559 fee fields for a node gas price of ``gas_price``."""
        return {"maxFeePerGas": gas_price * FEE_CAP_MULTIPLE, "maxPriorityFeePerGas": min(gas_price, MAX_PRIORITY_FEE)}

    def fields(self, *, nonce: int, gas: int, gas_price: int, value: int = 0) -> dict[str, Any]:
        """Everything of a transaction from this account but its destination and data."""
        return {
            "from": self.address,
            "nonce": nonce,
            "gas": gas,
            "value": value,
            "chainId": self.chain_id,
            **self.fees(gas_price),
        }

    def sign(self, tx: dict[str, Any]) -> SignedTx:
        signed = self.account.sign_transaction(tx)
        return SignedTx(bytes(signed.hash), bytes(signed.raw_transaction), int(tx["nonce"]))

    def transfer_to_self(self, *, nonce: int, gas_price: int) -> SignedTx:
        """An empty transfer to this account at ``nonce``: uses the nonce and nothing else."""
        fields = self.fields(nonce=nonce, gas=TRANSFER_GAS, gas_price=gas_price)
        return self.sign({**fields, "to": self.address})

    # --- reverts --------------------------------------------------------------------------------

    def reverted(self, exc: Exception, what: str) -> TransactionReverted:
        """The :class:`TransactionReverted` for a simulation of ``what`` that raised ``exc``."""
        name, args = self.decoder.decode(revert_data(exc)) if self.decoder else (None, ())
        detail = f"{name}{args}" if name else str(exc)
        return TransactionReverted(f"{what} reverts: {detail}", name, args)

    def mined(self, receipt: Any, tx_hash: bytes, what: str) -> Any:
        """``receipt``, or :class:`TransactionReverted` when its status says it reverted."""
        if receipt["status"] != 1:
            raise TransactionReverted(f"{what} 0x{bytes(tx_hash).hex()} reverted on-chain", receipt=receipt)
        return receipt


# --- the two faces -------------------------------------------------------------------------------


class _Face:
    """What both faces show of their :class:`TxAccount`."""

    def __init__(self, w3, core: TxAccount):
        self.w3 = w3
        self.core = core
        self.account = core.account
        self.address = core.address
        self.chain_id = core.chain_id
        self.decoder = core.decoder

    @property
    def gas_margin(self) -> float:
        return self.core.gas_margin

    @property
    def receipt_timeout(self) -> float:
        return self.core.receipt_timeout

    def resync(self) -> None:
        self.core.resync()

    def decode(self, exc: Exception) -> tuple[str | None, tuple]:
        """The custom error (name, args) that ``exc`` carries, if the decoder knows it."""
        return self.decoder.decode(revert_data(exc)) if self.decoder else (None, ())


class TxSender(_Face):
    """Sends transactions from one account through a blocking ``Web3``.

    Thread-safe: concurrent ``send`` calls get consecutive nonces. A send the node refuses because
    the nonce is used ("nonce too low"), or that fails transiently, is signed again with a nonce
    read afresh from the node, up to ``retries`` more times.
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
        core = TxAccount(
            private_key,
            chain_id=int(w3.eth.chain_id),
            decoder=decoder,
            gas_margin=gas_margin,
            receipt_timeout=receipt_timeout,
        )
        super().__init__(w3, core)
        self.retries = retries
        self._seeding = threading.Lock()

    def _next_nonce(self) -> int:
        with self._seeding:
            while (nonce := self.core.take_nonce()) is None:
                self.core.seed_nonce(int(self.w3.eth.get_transaction_count(self.address, "pending")))
            return nonce

    def _gas_price(self) -> int:
        price = self.core.gas_price
        if price is None:
            with self._seeding:
                price = self.core.gas_price
                if price is None:
                    price = self.core.gas_price = int(self.w3.eth.gas_price)
        return price

    def estimate(self, call) -> int:
        """Gas estimate of ``call`` from this account; a revert raises :class:`TransactionReverted`."""
        tx = {"from": self.address}
        try:
            if isinstance(call, EncodedCall):
                return int(self.w3.eth.estimate_gas(call.transaction(tx)))
            return int(call.estimate_gas(tx))
        except (ContractCustomError, ContractLogicError) as exc:
            raise self.core.reverted(exc, call.fn_name) from exc

    def simulate(self, call) -> None:
        """Run ``call`` as an ``eth_call`` from this account: the revert check of :meth:`estimate`
        without the gas search."""
        tx = {"from": self.address}
        try:
            if isinstance(call, EncodedCall):
                self.w3.eth.call(call.transaction(tx))
            else:
                call.call(tx)
        except (ContractCustomError, ContractLogicError) as exc:
            raise self.core.reverted(exc, call.fn_name) from exc

    def sign(self, call, *, gas: int, value: int = 0) -> SignedTx:
        """Assign the next nonce and sign; nothing is sent yet."""
        fields = self.core.fields(nonce=self._next_nonce(), gas=gas, gas_price=self._gas_price(), value=value)
        tx = call.transaction(fields) if isinstance(call, EncodedCall) else call.build_transaction(fields)
        return self.core.sign(tx)

    def send(self, call, *, gas: int | None = None, value: int = 0, wait: bool = True):
        """Simulate (unless ``gas``), sign, send; with ``wait`` return the receipt (raising
        :class:`TransactionReverted` if it reverted), otherwise the transaction hash."""
        if gas is None:
            gas = self.core.with_margin(self.estimate(call))
        attempt = 0
        while True:
            try:
                signed = self.sign(call, gas=gas, value=value)
                try:
                    self.w3.eth.send_raw_transaction(signed.raw)
                except Exception as exc:
                    if not _already_known(exc):
                        raise
                break
            except Exception as exc:
                self.core.resync()
                attempt += 1
                if attempt > self.retries or not (_stale_nonce(exc) or is_transient(exc)):
                    raise
                time.sleep(0.2 * attempt)
        tx_hash = HexBytes(signed.tx_hash)
        if not wait:
            return tx_hash
        return self.wait(tx_hash, what=call.fn_name)

    def wait(self, tx_hash, *, what: str = "transaction"):
        """The receipt once mined; :class:`TransactionReverted` if it reverted, ``TimeoutError``
        after ``receipt_timeout`` seconds."""
        timeout = self.core.receipt_timeout
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout)
        except TimeExhausted as exc:
            raise TimeoutError(f"{what} 0x{bytes(tx_hash).hex()} not mined after {timeout} s") from exc
        return self.core.mined(receipt, tx_hash, what)


class AsyncTxSender(_Face):
    """Sends transactions from one account through an ``AsyncWeb3``, one step at a time.

    Nothing here costs a round-trip per transaction beyond the simulation and the broadcast: the
    nonce is counted locally, the gas price read once, and signing happens in the event loop.
    """

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
        core = TxAccount(
            private_key, chain_id=chain_id, decoder=decoder, gas_margin=gas_margin, receipt_timeout=receipt_timeout
        )
        super().__init__(w3, core)
        self._seeding = asyncio.Lock()

    async def _next_nonce(self) -> int:
        nonce = self.core.take_nonce()
        if nonce is not None:
            return nonce
        async with self._seeding:  # a burst of first transactions asks the node once
            while (nonce := self.core.take_nonce()) is None:
                self.core.seed_nonce(int(await self.w3.eth.get_transaction_count(self.address, "pending")))
            return nonce

    async def _gas_price(self) -> int:
        price = self.core.gas_price
        if price is None:
            async with self._seeding:  # read once for a burst, too
                price = self.core.gas_price
                if price is None:
                    price = self.core.gas_price = int(await self.w3.eth.gas_price)
        return price

    async def estimate(self, call) -> int:
        """Gas estimate of ``call`` from this account; a revert raises :class:`TransactionReverted`
        with the contract's decoded error."""
        tx = {"from": self.address}
        try:
            if isinstance(call, EncodedCall):
                return int(await self.w3.eth.estimate_gas(call.transaction(tx)))
            return int(await call.estimate_gas(tx))
        except (ContractCustomError, ContractLogicError) as exc:
            raise self.core.reverted(exc, call.fn_name) from exc

    async def simulate(self, call) -> None:
        """Run ``call`` as an ``eth_call`` from this account: the same revert check as
        :meth:`estimate`, without the gas search (on anvil an estimate of ``submitTask`` costs
        about 20 times an ``eth_call``)."""
        tx = {"from": self.address}
        try:
            if isinstance(call, EncodedCall):
                await self.w3.eth.call(call.transaction(tx))
            else:
                await call.call(tx)
        except (ContractCustomError, ContractLogicError) as exc:
            raise self.core.reverted(exc, call.fn_name) from exc

    async def sign(self, call, *, gas: int, value: int = 0) -> SignedTx:
        """Assign the next nonce and sign; nothing is sent yet."""
        nonce = await self._next_nonce()
        fields = self.core.fields(nonce=nonce, gas=gas, gas_price=await self._gas_price(), value=value)
        tx = call.transaction(fields) if isinstance(call, EncodedCall) else await call.build_transaction(fields)
        return self.core.sign(tx)

    async def send_raw(self, raw: bytes) -> None:
        """Send signed bytes (again); "already known" counts as sent. The counter is not touched."""
        try:
            await self.w3.eth.send_raw_transaction(raw)
        except Exception as exc:
            if not _already_known(exc):
                raise

    async def broadcast(self, signed: SignedTx) -> bytes:
        """Send what :meth:`sign` made; a failure makes the next :meth:`sign` ask the node again."""
        try:
            await self.send_raw(signed.raw)
        except Exception:
            self.core.resync()
            raise
        return signed.tx_hash

    async def send(self, call, *, gas: int | None = None, value: int = 0) -> SignedTx:
        """Estimate (unless ``gas``), sign and broadcast; returns at once with the hash."""
        if gas is None:
            gas = self.core.with_margin(await self.estimate(call))
        signed = await self.sign(call, gas=gas, value=value)
        await self.broadcast(signed)
        return signed

    async def fill_nonce(self, nonce: int) -> SignedTx:
        """Use ``nonce`` with an empty transfer to ourselves, so that the transactions after it
        can be mined (a nonce signed but never sent stalls them). The counter is not touched."""
        signed = self.core.transfer_to_self(nonce=nonce, gas_price=await self._gas_price())
        await self.send_raw(signed.raw)
        return signed

    async def receipt(self, tx_hash: bytes, *, timeout: float | None = None, what: str = "transaction") -> Any:
        """The receipt once mined; :class:`TransactionReverted` if it reverted, ``TimeoutError``
        when not mined in time."""
        try:
            receipt = await self.w3.eth.wait_for_transaction_receipt(
                tx_hash, timeout=timeout or self.core.receipt_timeout, poll_latency=0.05
            )
        except TimeExhausted as exc:
            raise TimeoutError(f"{what} 0x{bytes(tx_hash).hex()} not mined in time") from exc
        return self.core.mined(receipt, tx_hash, what)
