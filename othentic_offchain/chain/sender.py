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
receipt) and sign locally. Every transaction is priced by :meth:`TxAccount.fees` from a
:class:`~othentic_offchain.chain.fees.FeeQuote` of the chain as it is now: the next block's base fee (the last entry of
``eth_feeHistory``) and the node's priority fee (``eth_maxPriorityFeePerGas``); a chain without
EIP-1559 gets a legacy ``gasPrice``. A quote is read once for a burst of transactions and kept at
most ``fee_max_age`` seconds. ``max_fee_per_gas`` is the operator's ceiling: a transaction that
would need more is not signed (:class:`FeeCeilingExceeded`, saying what the chain asks). A
transaction that does not mine is replaced on its nonce with both fees raised by
:data:`~othentic_offchain.chain.fees.REPLACEMENT_BUMP_PERCENT` (:meth:`AsyncTxSender.replace`).

A send that fails in a way that may leave a gap or a duplicate nonce makes the next one ask the
node again (nonce and price; the asyncio face never starts below a nonce it still holds); a send
that fails transiently may have been delivered, and is sent again byte for byte, never signed
anew on another nonce; "already known" counts as sent. The asyncio face remembers the
transaction it last broadcast for each nonce not yet mined, and :meth:`AsyncTxSender.fill_gaps`
offers those again (or an empty transfer for a nonce it holds nothing for) when the node's pool
lacks them. A revert found while simulating, or on-chain, is a :class:`TransactionReverted`
carrying the contract's decoded custom error.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from dataclasses import replace as with_fields
from typing import Any

from eth_abi import decode as abi_decode
from eth_account import Account
from eth_utils import to_checksum_address
from hexbytes import HexBytes
from web3.exceptions import ContractCustomError, ContractLogicError, TimeExhausted

from othentic_offchain.chain.abi import ERROR_STRING_SELECTOR, error_selectors
from othentic_offchain.chain.artifacts import load_artifact
from othentic_offchain.chain.fees import (
    FEE_MAX_AGE,
    FeeQuote,
    bumped,
    decode_transaction,
    is_underpriced,
    price,
    quote_from,
)

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


def format_error(name: str, args: tuple) -> str:
    """A decoded custom error as Solidity writes it: ``NotAggregator(0xAbC...)``, ``Limit(2)``
    (addresses checksummed, bytes in hex, strings quoted; no tuple punctuation)."""

    def shown(value: Any) -> str:
        if isinstance(value, str) and len(value) == 42 and value[:2].lower() == "0x":
            try:
                return to_checksum_address(value)
            except ValueError:
                return repr(value)
        if isinstance(value, (bytes, bytearray)):
            return "0x" + bytes(value).hex()
        if isinstance(value, (list, tuple)):
            return "[" + ", ".join(shown(v) for v in value) + "]"
        return repr(value) if isinstance(value, str) else str(value)

    return f"{name}({', '.join(shown(arg) for arg in args)})"


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
    text = str(exc).lower()
    return "already known" in text or "already imported" in text


def _stale_nonce(exc: Exception) -> bool:
    return "nonce too low" in str(exc).lower()


def is_stale_nonce(exc: Exception) -> bool:
    """The node says the nonce is mined already (by this transaction or another)."""
    return _stale_nonce(exc)


def is_nonce_taken(exc: Exception) -> bool:
    """The node holds another transaction on the nonce ("replacement transaction underpriced"):
    on the first send of a nonce, the nonce was handed out twice, not priced too low."""
    return "replacement transaction underpriced" in str(exc).lower()


# --- what both faces share ----------------------------------------------------------------------


@dataclass(frozen=True)
class SignedTx:
    """A signed transaction: its hash is known before it is sent."""

    tx_hash: bytes
    raw: bytes
    nonce: int
    replaces: bool = False  # a replacement of an earlier transaction on its nonce


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
    forgotten (with the fee quote) by :meth:`resync` after a send that may have left it wrong.
    """

    def __init__(
        self,
        private_key: str | bytes,
        *,
        chain_id: int,
        decoder: ErrorDecoder | None = None,
        gas_margin: float = 1.25,
        receipt_timeout: float = 120.0,
        max_fee_per_gas: int | None = None,
        fee_max_age: float = FEE_MAX_AGE,
    ):
        self.account = Account.from_key(private_key)
        self.address: str = self.account.address
        self.chain_id = int(chain_id)
        self.decoder = decoder
        self.gas_margin = gas_margin
        self.receipt_timeout = receipt_timeout
        self.max_fee_per_gas = None if max_fee_per_gas is None else int(max_fee_per_gas)
        self.fee_max_age = fee_max_age
        self._quote: tuple[FeeQuote, float] | None = None
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

    def next_nonce(self) -> int | None:
        """The nonce the next transaction will get (None when not counting yet)."""
        with self._lock:
            return self._nonce

    def seed_nonce(self, pending_count: int) -> None:
        """Start counting at the node's pending transaction count (unless already counting)."""
        with self._lock:
            if self._nonce is None:
                self._nonce = int(pending_count)

    def resync(self) -> None:
        """Ask the node again next time: the nonce (a failed send may have left a gap or a
        duplicate) and the fees (they may be why the send failed)."""
        with self._lock:
            self._nonce = None
            self._quote = None

    def forget_fees(self) -> None:
        """Read the fees afresh for the next transaction."""
        self._quote = None

    def fresh_quote(self) -> FeeQuote | None:
        """The kept quote, while younger than ``fee_max_age``."""
        kept = self._quote
        if kept is None or time.monotonic() - kept[1] > self.fee_max_age:
            return None
        return kept[0]

    def keep_quote(self, quote: FeeQuote) -> None:
        self._quote = (quote, time.monotonic())

    # --- pricing and signing --------------------------------------------------------------------

    def fees(self, quote: FeeQuote) -> dict[str, int]:
        """The fee fields for ``quote`` within this account's ceiling (:func:`~othentic_offchain.chain.fees.price`)."""
        return price(quote, self.max_fee_per_gas)

    def bumped_fees(self, old: dict[str, Any], quote: FeeQuote) -> dict[str, int]:
        """Fees replacing a transaction priced ``old`` (:func:`~othentic_offchain.chain.fees.bumped`)."""
        return bumped(old, quote, self.max_fee_per_gas)

    # --- signing

    def with_margin(self, gas_estimate: int) -> int:
        return int(gas_estimate * self.gas_margin)

    def fields(self, *, nonce: int, gas: int, fees: dict[str, int], value: int = 0) -> dict[str, Any]:
        """Everything of a transaction from this account but its destination and data."""
        return {
            "from": self.address,
            "nonce": nonce,
            "gas": gas,
            "value": value,
            "chainId": self.chain_id,
            **fees,
        }

    def sign(self, tx: dict[str, Any]) -> SignedTx:
        signed = self.account.sign_transaction(tx)
        return SignedTx(bytes(signed.hash), bytes(signed.raw_transaction), int(tx["nonce"]))

    def transfer_to_self(self, *, nonce: int, fees: dict[str, int]) -> SignedTx:
        """An empty transfer to this account at ``nonce``: uses the nonce and nothing else."""
        fields = self.fields(nonce=nonce, gas=TRANSFER_GAS, fees=fees)
        return self.sign({**fields, "to": self.address})

    def resigned(self, raw: bytes, fees: dict[str, int]) -> SignedTx:
        """The transaction ``raw`` (signed by this account) signed again with other ``fees``:
        same nonce, destination, data, gas and value."""
        tx = decode_transaction(raw)
        tx.setdefault("chainId", self.chain_id)
        if "gasPrice" in fees:
            tx.pop("maxFeePerGas", None)
            tx.pop("maxPriorityFeePerGas", None)
            tx.pop("type", None)
            tx.pop("accessList", None)
        else:
            tx.pop("gasPrice", None)
        tx.update(fees)
        return self.sign(tx)

    # --- reverts --------------------------------------------------------------------------------

    def reverted(self, exc: Exception, what: str) -> TransactionReverted:
        """The :class:`TransactionReverted` for a simulation of ``what`` that raised ``exc``."""
        name, args = self.decoder.decode(revert_data(exc)) if self.decoder else (None, ())
        detail = format_error(name, args) if name else str(exc)
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

    Thread-safe: concurrent ``send`` calls get consecutive nonces. A send that fails transiently
    (a timeout, a dropped connection: it may have been delivered) is sent again byte for byte; a
    send the node refuses because the nonce is used ("nonce too low", and our transaction is not
    the one mined on it) or the fees are below what the chain asks now is signed again (nonce and
    fees read afresh from the node); up to ``retries`` more tries in all. So one ``send`` never
    puts two different transactions on the chain.
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
        max_fee_per_gas: int | None = None,
        fee_max_age: float = FEE_MAX_AGE,
    ):
        core = TxAccount(
            private_key,
            chain_id=int(w3.eth.chain_id),
            decoder=decoder,
            gas_margin=gas_margin,
            receipt_timeout=receipt_timeout,
            max_fee_per_gas=max_fee_per_gas,
            fee_max_age=fee_max_age,
        )
        super().__init__(w3, core)
        self.retries = retries
        self._seeding = threading.Lock()

    def _next_nonce(self) -> int:
        with self._seeding:
            while (nonce := self.core.take_nonce()) is None:
                self.core.seed_nonce(int(self.w3.eth.get_transaction_count(self.address, "pending")))
            return nonce

    def quote(self) -> FeeQuote:
        """What the chain asks now (kept ``fee_max_age`` seconds)."""
        quote = self.core.fresh_quote()
        if quote is None:
            with self._seeding:
                quote = self.core.fresh_quote()
                if quote is None:
                    eth = self.w3.eth
                    history = eth.fee_history(1, "latest", [])
                    base = (history.get("baseFeePerGas") or [0])[-1]
                    if base:
                        quote = quote_from(history, _priority_fee(lambda: eth.max_priority_fee), None)
                    else:
                        quote = quote_from(history, None, int(eth.gas_price))
                    self.core.keep_quote(quote)
        return quote

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
        """Price (:class:`FeeCeilingExceeded` before any nonce is taken), assign the next nonce and
        sign; nothing is sent yet."""
        fees = self.core.fees(self.quote())
        fields = self.core.fields(nonce=self._next_nonce(), gas=gas, fees=fees, value=value)
        tx = call.transaction(fields) if isinstance(call, EncodedCall) else call.build_transaction(fields)
        return self.core.sign(tx)

    def send(self, call, *, gas: int | None = None, value: int = 0, wait: bool = True):
        """Simulate (unless ``gas``), sign, send; with ``wait`` return the receipt (raising
        :class:`TransactionReverted` if it reverted), otherwise the transaction hash."""
        if gas is None:
            gas = self.core.with_margin(self.estimate(call))
        signed = self.sign(call, gas=gas, value=value)
        attempt = 0
        while True:
            try:
                self.w3.eth.send_raw_transaction(signed.raw)
                break
            except Exception as exc:
                if _already_known(exc):
                    break
                attempt += 1
                if attempt > self.retries:
                    self.core.resync()
                    raise
                if is_transient(exc):  # it may have been delivered: the very same bytes again
                    time.sleep(0.2 * attempt)
                    continue
                if _stale_nonce(exc) and self._mined(signed.tx_hash):
                    break  # delivered by a try that seemed to fail, and mined since
                if not (_stale_nonce(exc) or is_underpriced(exc)):
                    self.core.resync()
                    raise
                # refused for sure: nothing of ours is on that nonce; sign again (nonce and fees afresh)
                self.core.resync()
                time.sleep(0.2 * attempt)
                signed = self.sign(call, gas=gas, value=value)
        tx_hash = HexBytes(signed.tx_hash)
        if not wait:
            return tx_hash
        return self.wait(tx_hash, what=call.fn_name)

    def _mined(self, tx_hash: bytes) -> bool:
        try:
            return self.w3.eth.get_transaction_receipt(HexBytes(tx_hash)) is not None
        except Exception:
            return False

    def wait(self, tx_hash, *, what: str = "transaction"):
        """The receipt once mined; :class:`TransactionReverted` if it reverted, ``TimeoutError``
        after ``receipt_timeout`` seconds."""
        timeout = self.core.receipt_timeout
        try:
            receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout)
        except TimeExhausted as exc:
            raise TimeoutError(f"{what} 0x{bytes(tx_hash).hex()} not mined after {timeout} s") from exc
        return self.core.mined(receipt, tx_hash, what)


def _priority_fee(read) -> int | None:
    """The node's priority fee (web3 falls back to ``eth_feeHistory`` where the method is missing);
    None when neither answers."""
    try:
        return int(read())
    except Exception:
        return None


class AsyncTxSender(_Face):
    """Sends transactions from one account through an ``AsyncWeb3``, one step at a time.

    Nothing here costs a round-trip per transaction beyond the simulation and the broadcast (and
    one fee read per burst): the nonce is counted locally, and signing happens in the event loop.
    The sender owns the account's nonces: it remembers what it last broadcast on each nonce until
    :meth:`settled`, so that :meth:`fill_gaps` can offer it again.
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
        max_fee_per_gas: int | None = None,
        fee_max_age: float = FEE_MAX_AGE,
    ):
        core = TxAccount(
            private_key,
            chain_id=chain_id,
            decoder=decoder,
            gas_margin=gas_margin,
            receipt_timeout=receipt_timeout,
            max_fee_per_gas=max_fee_per_gas,
            fee_max_age=fee_max_age,
        )
        super().__init__(w3, core)
        self._seeding = asyncio.Lock()
        self._quoting = asyncio.Lock()
        self._gaps = asyncio.Lock()
        self._sent: dict[int, SignedTx] = {}  # the last transaction broadcast on each unsettled nonce
        self._unsent: set[int] = set()  # signed, not yet broadcast (their owner sends them)
        self._inflight: set[int] = set()  # being broadcast: send_raw has not answered yet

    def _held(self) -> int:
        """The nonce after every one this sender holds (signed, being sent, or sent and not mined):
        a counter seeded again never starts below it, as the node's pending count may (a nonce
        signed but not yet sent, or dropped from the pool, is not in it)."""
        held = self._unsent | self._inflight | set(self._sent)
        return max(held) + 1 if held else 0

    async def _next_nonce(self) -> int:
        nonce = self.core.take_nonce()
        if nonce is not None:
            return nonce
        async with self._seeding:  # a burst of first transactions asks the node once
            while (nonce := self.core.take_nonce()) is None:
                pending = int(await self.w3.eth.get_transaction_count(self.address, "pending"))
                self.core.seed_nonce(max(pending, self._held()))
            return nonce

    async def quote(self, *, fresh: bool = False) -> FeeQuote:
        """What the chain asks now: read once for a burst, kept ``fee_max_age`` seconds (``fresh``:
        read again)."""
        if fresh:
            self.core.forget_fees()
        quote = self.core.fresh_quote()
        if quote is not None:
            return quote
        async with self._quoting:
            quote = self.core.fresh_quote()
            if quote is None:
                eth = self.w3.eth
                history, priority = await asyncio.gather(eth.fee_history(1, "latest", []), self._priority_fee())
                base = (history.get("baseFeePerGas") or [0])[-1]
                gas_price = None if base else int(await eth.gas_price)
                quote = quote_from(history, priority, gas_price)
                self.core.keep_quote(quote)
        return quote

    async def _priority_fee(self) -> int | None:
        try:
            return int(await self.w3.eth.max_priority_fee)
        except Exception:
            return None

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
        """Price (:class:`FeeCeilingExceeded` before any nonce is taken), assign the next nonce and
        sign; nothing is sent yet (the caller broadcasts it, or :meth:`fill_nonce` s it)."""
        fees = self.core.fees(await self.quote())
        nonce = await self._next_nonce()
        self._unsent.add(nonce)
        fields = self.core.fields(nonce=nonce, gas=gas, fees=fees, value=value)
        try:
            tx = call.transaction(fields) if isinstance(call, EncodedCall) else await call.build_transaction(fields)
            return self.core.sign(tx)
        except BaseException:
            self._unsent.discard(nonce)
            raise

    async def replace(self, raw: bytes) -> SignedTx:
        """The transaction ``raw`` signed again on its nonce with both fees raised by at least
        :data:`~othentic_offchain.chain.fees.REPLACEMENT_BUMP_PERCENT` (and to what the chain asks now); not sent yet.
        :class:`FeeCeilingExceeded` when that would pass the ceiling."""
        old = decode_transaction(raw)
        fees = self.core.bumped_fees(old, await self.quote(fresh=True))
        signed = with_fields(self.core.resigned(raw, fees), replaces=True)
        self._unsent.add(signed.nonce)
        return signed

    async def send_raw(self, raw: bytes) -> None:
        """Send signed bytes (again); "already known" counts as sent. The counter is not touched."""
        try:
            await self.w3.eth.send_raw_transaction(raw)
        except Exception as exc:
            if not _already_known(exc):
                raise

    async def broadcast(self, signed: SignedTx) -> bytes:
        """Send what :meth:`sign` or :meth:`replace` made.

        * A transient failure (it may have been delivered) keeps ``signed`` as what this nonce
          carries: :meth:`fill_gaps` sends the same bytes again if the node lacks them.
        * Refused fees make the next quote a fresh one.
        * "replacement transaction underpriced" on the first send of a nonce means the nonce was
          handed out twice (another of our transactions holds it): the counter is asked again.
        * "nonce too low" on a replacement changes nothing (the nonce was counted; it is mined).
        * Any other failure makes the next :meth:`sign` ask the node for the nonce too.
        """
        nonce = signed.nonce
        first = not signed.replaces
        self._unsent.discard(nonce)
        self._inflight.add(nonce)
        try:
            await self.send_raw(signed.raw)
        except Exception as exc:
            if is_transient(exc):
                self._sent.setdefault(nonce, signed)
            elif first and is_nonce_taken(exc):
                self.core.resync()
            elif is_underpriced(exc):
                self.core.forget_fees()
            elif not (_stale_nonce(exc) and not first):
                self.core.resync()
            raise
        finally:
            self._inflight.discard(nonce)
        self._sent[nonce] = signed
        return signed.tx_hash

    def adopt(self, signed: SignedTx) -> None:
        """``signed`` is what its nonce carries (a transaction a previous run stored and sent):
        :meth:`fill_gaps` offers it again instead of filling the nonce with an empty transfer,
        and a counter seeded again starts after it."""
        self._unsent.discard(signed.nonce)
        self._sent[signed.nonce] = signed

    def settled(self, nonce: int) -> None:
        """``nonce`` is mined (whoever's transaction took it): nothing to offer again for it."""
        self._sent.pop(nonce, None)
        self._unsent.discard(nonce)

    async def send(self, call, *, gas: int | None = None, value: int = 0) -> SignedTx:
        """Estimate (unless ``gas``), sign and broadcast (signed again on the same nonce when the
        node refuses the fees); returns at once with the hash."""
        if gas is None:
            gas = self.core.with_margin(await self.estimate(call))
        signed = await self.sign(call, gas=gas, value=value)
        try:
            await self.broadcast(signed)
        except Exception as exc:
            if not is_underpriced(exc) or is_nonce_taken(exc):
                raise
            signed = await self.replace(signed.raw)  # the fees rose since the quote: same nonce
            await self.broadcast(signed)
        return signed

    async def fill_nonce(self, nonce: int) -> SignedTx:
        """Use ``nonce`` with an empty transfer to ourselves, so that the transactions after it
        can be mined (a nonce signed but never sent stalls them). The counter is not touched."""
        self._unsent.discard(nonce)
        signed = self.core.transfer_to_self(nonce=nonce, fees=self.core.fees(await self.quote()))
        await self.send_raw(signed.raw)
        self._sent[nonce] = signed
        return signed

    def missing_nonces(self, mined: int, pending: int) -> list[int]:
        """The nonces this sender used that are neither mined nor in the node's pool (``pending``
        counts them), leaving out those signed and not yet broadcast, or being broadcast: gaps."""
        counter = self.core.next_nonce()
        if counter is None or pending >= counter:
            return []
        held = self._unsent | self._inflight
        return [n for n in range(max(mined, pending), counter) if n not in held]

    async def fill_gaps(self) -> dict[int, str]:
        """Find the nonces between the chain's mined count and our counter that the node's pool
        lacks (its pending count stops short of our counter: a transaction was dropped, or never
        sent) and fill them: with what we last broadcast on that nonce, or else an empty transfer.
        A nonce signed and not yet broadcast, or being broadcast, is left to its owner. Returns ``{nonce: "resent" |
        "filled"}``; "already known" answers and refusals are information, not failures."""
        async with self._gaps:
            eth = self.w3.eth
            mined, pending = await asyncio.gather(
                eth.get_transaction_count(self.address, "latest"), eth.get_transaction_count(self.address, "pending")
            )
            mined, pending = int(mined), int(pending)
            for nonce in [n for n in self._sent if n < mined]:
                self._sent.pop(nonce, None)
            done: dict[int, str] = {}
            for nonce in self.missing_nonces(mined, pending):
                known = self._sent.get(nonce)
                try:
                    if known is not None:
                        await self.send_raw(known.raw)
                        done[nonce] = "resent"
                    else:
                        await self.fill_nonce(nonce)
                        done[nonce] = "filled"
                except Exception as exc:
                    if not _stale_nonce(exc):  # mined meanwhile: nothing to say
                        done[nonce] = f"refused: {exc}"
            return done

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
