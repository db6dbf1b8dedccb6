"""Waiting for many transactions of one account with one poll loop.

Polling each transaction's receipt costs one RPC call per transaction per poll interval.
:class:`ReceiptWatcher` asks for the account's mined nonce once per interval instead, and fetches a
receipt only for a transaction whose nonce is now below it (mined, or superseded by another
transaction with the same nonce). The aggregator waits for its submissions this way: for every
transaction it sent on a nonce at once (a replacement with higher fees, and the one it replaced),
whichever mined settles the wait.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from typing import Any

logger = logging.getLogger("othentic.chain.receipts")

#: Polls after the nonce moved past a transaction without its receipt, before it counts as superseded
#: (a node may index the receipt a moment after the nonce moves).
_MISSES_BEFORE_SUPERSEDED = 3


async def receipt_or_none(w3, tx_hash: bytes) -> Any | None:
    """The receipt of ``tx_hash``, or None when the node does not know it as mined."""
    try:
        return await w3.eth.get_transaction_receipt(tx_hash)
    except Exception as exc:
        if "not found" in str(exc).lower() or type(exc).__name__ == "TransactionNotFound":
            return None
        raise


class ReceiptWatcher:
    """Receipts of one account's transactions, through an ``AsyncWeb3``, polled every ``interval`` s."""

    def __init__(self, w3, address: str, interval: float):
        self.w3 = w3
        self.address = address
        self.interval = interval
        self._pending: dict[object, tuple[int, asyncio.Future, list[int], tuple[bytes, ...]]] = {}
        self._task: asyncio.Task | None = None
        self._delay = interval

    async def wait(self, tx_hash: bytes | Sequence[bytes], nonce: int, timeout: float) -> Any | None:
        """The receipt of ``tx_hash`` (or of whichever of several transactions on ``nonce`` mined);
        None when the nonce was used by another transaction (these never mine). Raises
        ``TimeoutError`` when neither happened within ``timeout``."""
        hashes = (bytes(tx_hash),) if isinstance(tx_hash, (bytes, bytearray)) else tuple(bytes(h) for h in tx_hash)
        for receipt in await asyncio.gather(*(receipt_or_none(self.w3, h) for h in hashes)):
            if receipt is not None:
                return receipt
        self._delay = min(0.005, self.interval)  # look again soon: it is probably being mined now
        future = asyncio.get_running_loop().create_future()
        token = object()
        self._pending[token] = (nonce, future, [0], hashes)
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._poll(), name="receipt-watcher")
        try:
            return await asyncio.wait_for(asyncio.shield(future), timeout)
        finally:
            self._pending.pop(token, None)

    async def _poll(self) -> None:
        # A node that mines on arrival (anvil) has the receipt a few ms after the broadcast: look
        # soon after each new transaction, then back off to the interval.
        while self._pending:
            await asyncio.sleep(self._delay)
            self._delay = min(self._delay * 2, self.interval)
            try:
                mined_nonce = int(await self.w3.eth.get_transaction_count(self.address, "latest"))
                candidates = [
                    (h, entry)
                    for entry in list(self._pending.values())
                    if entry[0] < mined_nonce and not entry[1].done()
                    for h in entry[3]
                ]
                receipts = await asyncio.gather(*(receipt_or_none(self.w3, h) for h, _ in candidates))
            except Exception as exc:  # a transient RPC failure: poll again
                logger.debug("receipt poll failed: %s", exc)
                continue
            found = {id(entry[1]): receipt for (_h, entry), receipt in zip(candidates, receipts) if receipt is not None}
            entries = {id(entry[1]): entry for _h, entry in candidates}
            for _nonce, future, misses, _hashes in entries.values():
                if future.done():
                    continue
                receipt = found.get(id(future))
                if receipt is not None:
                    future.set_result(receipt)
                else:
                    misses[0] += 1
                    if misses[0] >= _MISSES_BEFORE_SUPERSEDED:
                        future.set_result(None)

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
