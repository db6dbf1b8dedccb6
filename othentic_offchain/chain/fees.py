"""Fees: what the chain asks now, the operator's ceiling, and the bump of a replacement.

A :class:`FeeQuote` is the next block's base fee (the last entry of ``eth_feeHistory``) and the
node's priority fee, or a legacy gas price on a chain without EIP-1559. :func:`price` turns it
into a transaction's fee fields, :func:`bumped` into a replacement's; both stay within the
operator's ceiling or raise :class:`FeeCeilingExceeded`, and a replacement offers at most
:data:`REPLACEMENT_LIMIT_MULTIPLE` times a fresh transaction's fees. :func:`priced_below` says
whether a waiting transaction offers less than the chain asks now. No I/O here: the senders read the quote.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from eth_account._utils.legacy_transactions import Transaction as LegacyTransaction
from eth_account.typed_transactions import TypedTransaction
from eth_utils import to_checksum_address
from hexbytes import HexBytes

#: The fee cap is this multiple of the next block's base fee, plus the tip: room for the base fee
#: to rise (at most 12.5 % a block) for six full blocks before the transaction is underpriced.
BASE_FEE_MULTIPLE = 2
#: A replacement raises the fee cap and the tip by at least this much (nodes want 10 % to 12.5 %).
REPLACEMENT_BUMP_PERCENT = 13
#: A replacement never offers more than this multiple of what a fresh transaction would offer now
#: (:func:`price`): fees do not compound without bound while a transaction waits.
REPLACEMENT_LIMIT_MULTIPLE = 2
#: Seconds a fee quote is reused (a burst of transactions shares one read).
FEE_MAX_AGE = 1.0

_UNDERPRICED_MARKERS = ("max fee per gas less than block base fee", "underpriced", "fee too low", "feecap")


def is_underpriced(exc: Exception) -> bool:
    """The node refuses the transaction's fees (below the base fee, or too small a replacement bump)."""
    text = str(exc).lower()
    return any(marker in text for marker in _UNDERPRICED_MARKERS)


def _gwei(wei: int) -> str:
    return f"{wei / 10**9:g} gwei" if wei >= 10**6 else f"{wei} wei"


class FeeCeilingExceeded(RuntimeError):
    """The chain asks more per gas than the operator's ``max_fee_per_gas`` allows: nothing is signed."""

    def __init__(self, needed: int, ceiling: int, what: str = "base fee"):
        super().__init__(
            f"the chain's {what} is {_gwei(needed)}, above the ceiling max_fee_per_gas of "
            f"{_gwei(ceiling)}: not sent (raise the ceiling, or wait for fees to fall)"
        )
        self.needed = needed
        self.ceiling = ceiling


class ReplacementNotNeeded(RuntimeError):
    """A replacement would offer more than :data:`REPLACEMENT_LIMIT_MULTIPLE` times what the chain
    asks now: the transaction's fees are high enough already; it stays as it is."""


@dataclass(frozen=True)
class FeeQuote:
    """What the chain asks now. ``base_fee`` is the next block's (None on a chain without
    EIP-1559, where ``gas_price`` is the legacy price); ``priority_fee`` the tip to offer."""

    base_fee: int | None
    priority_fee: int
    gas_price: int = 0


def _bumped(value: int) -> int:
    return -(-value * (100 + REPLACEMENT_BUMP_PERCENT) // 100)


def decode_transaction(raw: bytes) -> dict[str, Any]:
    """The fields of a signed transaction (typed or legacy) that signing it again needs."""
    raw = bytes(raw)
    if raw and raw[0] <= 0x7F:
        fields = dict(TypedTransaction.from_bytes(HexBytes(raw)).as_dict())
    else:
        fields = dict(LegacyTransaction.from_bytes(raw).as_dict())
    tx: dict[str, Any] = {k: fields[k] for k in ("nonce", "gas", "value", "data") if k in fields}
    if fields.get("to"):
        tx["to"] = to_checksum_address(bytes(fields["to"]))
    for key in ("maxFeePerGas", "maxPriorityFeePerGas", "gasPrice", "chainId"):
        if key in fields:
            tx[key] = int(fields[key])
    if fields.get("accessList"):
        tx["accessList"] = fields["accessList"]
    tx["data"] = bytes(tx.get("data") or b"")
    return tx


def quote_from(history: Any, priority_fee: int | None, gas_price: int | None) -> FeeQuote:
    """A quote from an ``eth_feeHistory`` answer (its last base fee is the next block's), the
    node's priority fee, and (for a chain without base fee) its gas price."""
    bases = list((history or {}).get("baseFeePerGas") or [])
    base = int(bases[-1]) if bases else 0
    if base <= 0:
        return FeeQuote(None, 0, int(gas_price or 0))
    return FeeQuote(base, max(int(priority_fee or 0), 0))


def price(quote: FeeQuote, ceiling: int | None) -> dict[str, int]:
    """The fee fields for ``quote``: ``maxFeePerGas`` twice the next base fee plus the tip,
    both within ``ceiling`` (None: none); ``gasPrice`` on a chain without base fee. Raises
    :class:`FeeCeilingExceeded` when the chain asks more than the ceiling."""
    if quote.base_fee is None:
        if ceiling is not None and quote.gas_price > ceiling:
            raise FeeCeilingExceeded(quote.gas_price, ceiling, "gas price")
        return {"gasPrice": quote.gas_price}
    base, tip = quote.base_fee, quote.priority_fee
    max_fee = BASE_FEE_MULTIPLE * base + tip
    if ceiling is not None:
        if base > ceiling:
            raise FeeCeilingExceeded(base, ceiling)
        max_fee = min(max_fee, ceiling)
    return {"maxFeePerGas": max_fee, "maxPriorityFeePerGas": min(tip, max_fee - base)}


def priced_below(old: dict[str, Any], quote: FeeQuote) -> bool:
    """A transaction priced ``old`` offers less than ``quote`` asks to be included now: a fee cap
    below the next base fee plus the tip, or a smaller tip (a legacy price below the gas price)."""
    if quote.base_fee is None:
        return int(old.get("gasPrice") or old.get("maxFeePerGas") or 0) < quote.gas_price
    if "gasPrice" in old:
        return int(old["gasPrice"]) < quote.base_fee + quote.priority_fee
    tip = int(old["maxPriorityFeePerGas"])
    return tip < quote.priority_fee or int(old["maxFeePerGas"]) < quote.base_fee + quote.priority_fee


def bumped(old: dict[str, Any], quote: FeeQuote, ceiling: int | None) -> dict[str, int]:
    """Fees for a replacement of a transaction priced ``old``: each at least
    :data:`REPLACEMENT_BUMP_PERCENT` above the old one, and at least what ``quote`` asks now.
    :class:`FeeCeilingExceeded` when that passes the ceiling, :class:`ReplacementNotNeeded` when
    it passes :data:`REPLACEMENT_LIMIT_MULTIPLE` times a fresh transaction's fees (in both cases
    the old transaction stays)."""
    if "gasPrice" in old or quote.base_fee is None:
        fresh_price = price(quote, ceiling)
        legacy = fresh_price.get("gasPrice", 0) if quote.base_fee is None else 0
        gas_price = max(_bumped(int(old.get("gasPrice") or old.get("maxFeePerGas") or 0)), legacy)
        if ceiling is not None and gas_price > ceiling:
            raise FeeCeilingExceeded(gas_price, ceiling, "replacement gas price")
        limit = REPLACEMENT_LIMIT_MULTIPLE * int(fresh_price.get("gasPrice") or fresh_price.get("maxFeePerGas") or 0)
        if gas_price > limit:
            raise ReplacementNotNeeded(f"a replacement would offer {_gwei(gas_price)}, over {_gwei(limit)}")
        return {"gasPrice": gas_price}
    fresh = price(quote, ceiling)
    tip = max(_bumped(int(old["maxPriorityFeePerGas"])), fresh["maxPriorityFeePerGas"])
    max_fee = max(_bumped(int(old["maxFeePerGas"])), fresh["maxFeePerGas"], tip)
    if ceiling is not None and max_fee > ceiling:
        raise FeeCeilingExceeded(max_fee, ceiling, "replacement fee cap")
    limit = REPLACEMENT_LIMIT_MULTIPLE * fresh["maxFeePerGas"]
    if max_fee > limit:
        raise ReplacementNotNeeded(f"a replacement would offer a fee cap of {_gwei(max_fee)}, over {_gwei(limit)}")
    return {"maxFeePerGas": max_fee, "maxPriorityFeePerGas": tip}
