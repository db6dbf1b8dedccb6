"""Submitting a decided task: aggregate, simulate, sign, store, broadcast, settle.

1. The side's signers (capped at the definition's ``maximumNumberOfAttesters``, heaviest first)
   are aggregated into one BLS signature and one G2 key, and ``submitTask`` is simulated.
2. An ``InvalidAggregateSignature`` revert starts a bisection that finds the bad votes with the
   pairing precompile (``eth_call``, never a pairing in Python) and drops them
   (:class:`~othentic_offchain.nodes.aggregator.work.Recollect`); a ``TaskAlreadySubmitted``
   revert means it landed already; reverts that stale cached chain state explains become a
   :class:`~othentic_offchain.nodes.aggregator.work.Retry`.
3. The signed transaction's bytes, hash and nonce are stored (``submitting``), then broadcast.
   It is priced from the chain's fees of the moment (:class:`~othentic_offchain.chain.fees.FeeQuote`);
   fees above the operator's ``max_fee_per_gas`` are a :class:`Retry` (``fee_ceiling``), nothing signed.
4. The receipt (or the center's ``taskRecord``) settles it: landed, or another try. While it does
   not mine, every ``replace_after_blocks`` blocks (or ``replace_after_seconds``) the nonces below
   it that the node's pool lost are filled and the transaction is sent again if the node lost it;
   it is replaced on its nonce with higher fees (stored before it is broadcast) only when it is
   the next nonce to mine and offers less than the chain asks now, or blocks passed without it.
   Whichever of the task's transactions mines settles it; the task stays ``submitting`` until then
   (reported ``stuck`` after ``stuck_after_rounds`` rounds with nothing replaced). A broadcast that
   fails transiently is settled like a sent one: it may have been delivered.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from typing import Any

from eth_abi import encode as abi_encode

from othentic_offchain.chain.abi import event_topic, input_types, selector
from othentic_offchain.chain.fees import (
    FeeCeilingExceeded,
    ReplacementNotNeeded,
    decode_transaction,
    is_underpriced,
    priced_below,
)
from othentic_offchain.chain.receipts import ReceiptWatcher
from othentic_offchain.chain.sender import (
    AsyncTxSender,
    EncodedCall,
    SignedTx,
    TransactionReverted,
    is_nonce_taken,
    is_stale_nonce,
    is_transient,
)
from othentic_offchain.chain.types import TaskInfo, TaskSubmission
from othentic_offchain.chain.view import ChainView, DefinitionView, SharedReads
from othentic_offchain.crypto.bls import aggregate_signatures
from othentic_offchain.crypto.bn254 import G2Point
from othentic_offchain.crypto.verify import PrecompileBackend, verify
from othentic_offchain.nodes.aggregator.config import AggregatorConfig
from othentic_offchain.nodes.aggregator.metrics import AggregatorMetrics
from othentic_offchain.nodes.aggregator.outcomes import TaskOutcomes
from othentic_offchain.nodes.aggregator.store import TasksDB
from othentic_offchain.nodes.aggregator.work import Recollect, Retry, TaskWork, hex_or_none, side_name
from othentic_offchain.nodes.common.observability import TaskLog

_CENTER = "IAttestationCenter"

#: Gas added to a cached estimate (see :meth:`Submitter.submit`).
GAS_PAD = 60_000

#: Reverts after which the task cannot land, with the failure reason stored for it.
FINAL_REVERTS = {
    "TaskDefinitionExpired": "expired",
    "UnknownTaskDefinition": "unknown_definition",
    "InvalidPerformerSignature": "invalid_performer_signature",
    "PerformerNotActive": "performer_not_active",
}


def snake_case(name: str) -> str:
    """``QuorumNotReached`` -> ``quorum_not_reached`` (a revert as a failure reason)."""
    out: list[str] = []
    for char in name:
        if char.isupper() and out:
            out.append("_")
        out.append(char.lower())
    return "".join(out)


class SubmitTaskEncoder:
    """``submitTask(task, submission)`` calldata: ``selector || abi.encode(task, submission)``, with
    the selector and types taken from the center's ABI once."""

    def __init__(self) -> None:
        self.selector = selector(_CENTER, "submitTask")
        self.types = input_types(_CENTER, "submitTask")

    def encode(self, task: TaskInfo, submission: TaskSubmission) -> bytes:
        return self.selector + abi_encode(self.types, [task.abi(), submission.abi()])


class Submitter:
    """Lands decided tasks through ``sender``; raises :class:`Retry` or :class:`Recollect` when a
    submission did not go through."""

    def __init__(
        self,
        config: AggregatorConfig,
        chain: ChainView,
        sender: AsyncTxSender,
        db: TasksDB,
        receipts: ReceiptWatcher,
        backend: PrecompileBackend,
        outcomes: TaskOutcomes,
        reads: SharedReads,
        metrics: AggregatorMetrics,
        log: TaskLog,
    ):
        self.config = config
        self.chain = chain
        self.sender = sender
        self.db = db
        self.receipts = receipts
        self.backend = backend
        self.outcomes = outcomes
        self.reads = reads
        self.metrics = metrics
        self.log = log
        self.encoder = SubmitTaskEncoder()
        self._gas_by_shape: dict[tuple[int, int, int], int] = {}

    async def submit(self, work: TaskWork, definition: DefinitionView, side: bool) -> None:
        """Aggregate, simulate, sign, store, broadcast, wait; raises Retry / Recollect."""
        members = definition.members
        signers = sorted(i for i, (s, _p) in work.votes.items() if s == side and i in members)
        maximum = definition.params.maximum_number_of_attesters
        if maximum and len(signers) > maximum:  # the contract caps signers: keep the heaviest
            signers = sorted(sorted(signers, key=lambda i: (-members[i], i))[:maximum])
        signed_power = sum(members[i] for i in signers)
        if not definition.reached(signed_power, side):
            raise Retry("quorum_lost", f"the {side_name(side)} signers no longer hold the threshold", backoff=False)
        non_signers = sorted(set(members) - set(signers))
        signature = aggregate_signatures(work.votes[i][1] for i in signers)
        apk_g2 = await self._signers_apk(definition, signers, non_signers)
        submission = TaskSubmission(side, work.signature, signature, apk_g2, tuple(non_signers))
        call = EncodedCall(self.chain.address, self.encoder.encode(work.task, submission), "submitTask")
        sender = self.sender
        submissions = self.metrics.submissions
        # Gas depends on the definition (hooks, calldata) and the number of non-signers; it is
        # estimated once per shape and kept, and every later task of that shape is checked with a
        # plain eth_call. The cached figure gets a fixed margin on top of the sender's (the hash to
        # G1 varies by a few thousand gas per message; the first task after a set change costs about
        # 40,000 more); a submission that reverts on-chain drops its shape's figure.
        shape = (work.task.task_definition_id, len(non_signers), len(call.data) // 256)
        try:
            cached = self._gas_by_shape.get(shape)
            if cached is None:
                gas = await sender.estimate(call)
                self._gas_by_shape[shape] = gas
            else:
                await sender.simulate(call)
                gas = cached + GAS_PAD
        except TransactionReverted as exc:
            submissions.labels(result="simulation_reverted").inc()
            await self._on_simulation_revert(work, definition, side, signers, exc)
            return  # it finished the task (landed already, or failed for good), or raised
        except Exception as exc:
            raise Retry("simulation_failed", f"{type(exc).__name__}: {exc}") from None
        approve, reject = work.powers(members)
        try:
            signed = await sender.sign(call, gas=int(gas * sender.gas_margin))
        except FeeCeilingExceeded as exc:
            submissions.labels(result="fee_ceiling").inc()
            raise Retry("fee_ceiling", str(exc)) from None
        except Exception as exc:  # reading the fees (or the nonce) failed: nothing was signed
            raise Retry("fee_read_failed", f"{type(exc).__name__}: {exc}") from None
        try:
            await self.db.record_submission(
                work.task_hash,
                side=side,
                tx_hash=signed.tx_hash,
                raw_tx=signed.raw,
                nonce=signed.nonce,
                non_signers=non_signers,
                approve_power=approve,
                reject_power=reject,
                total_power=definition.total_power,
            )
        except asyncio.CancelledError:
            raise
        except Exception:
            await self.burn_nonce(signed.nonce)  # a signed nonce left unsent would stall every later one
            raise
        self.log.step(
            "task.submitting",
            work.task_hash,
            side=side_name(side),
            tx=hex_or_none(signed.tx_hash),
            nonce=signed.nonce,
            signers=len(signers),
            non_signers=non_signers,
        )
        sent = await self._broadcast(work, signed)
        if sent is None:
            return  # landed meanwhile
        submissions.labels(result="sent").inc()
        known = [signed.tx_hash] if sent is signed else [signed.tx_hash, sent.tx_hash]
        await self.settle(work, sent.tx_hash, sent.nonce, sent.raw, known=known)

    async def _broadcast(self, work: TaskWork, signed: SignedTx) -> SignedTx | None:
        """Broadcast the stored ``signed``; returns what went out (a replacement when the node
        refused the fees), None when the task is found landed; raises Retry."""
        try:
            await self.sender.broadcast(signed)
            return signed
        except Exception as exc:
            error = exc
        if is_stale_nonce(error):  # the nonce is mined: settling finds out by which transaction
            return signed
        if is_transient(error):  # it may have gone out: settling sends it again if the node lacks it
            self.metrics.submissions.labels(result="broadcast_unsure").inc()
            self.log.step("tx.broadcast_unsure", work.task_hash, level=logging.WARNING, error=str(error))
            return signed
        if is_nonce_taken(error):  # the nonce was handed out twice: another transaction holds it
            pass
        elif is_underpriced(error):  # the fees rose since the quote: the same nonce, priced afresh
            replaced = await self._replace(work, signed)
            if replaced is not None:
                return replaced
            await self.burn_nonce(signed.nonce)  # nothing went out on it: free it for the next
        self.metrics.submissions.labels(result="broadcast_failed").inc()
        if await self.outcomes.landed_on_chain(work):
            return None
        self.db.set_collecting(work.task_hash)
        raise Retry("broadcast_failed", f"{type(error).__name__}: {error}") from None

    async def burn_nonce(self, nonce: int) -> None:
        """Use ``nonce`` with an empty transfer to ourselves (unblocks the nonces after it)."""
        with contextlib.suppress(Exception):
            await self.sender.fill_nonce(nonce)
        self.log.step("nonce.filled", nonce=nonce)

    async def _signers_apk(self, definition: DefinitionView, signers: list[int], non_signers: list[int]) -> G2Point:
        """The signers' G2 key: the set's cached aggregate minus the few non-signers when that is
        fewer G2 additions (~0.6 ms each in Python, done off the event loop)."""
        chain = self.chain
        # Warm the operator cache with one read per operator, however many tasks ask at once.
        await asyncio.gather(
            *(self.reads.get(("operator", i), functools.partial(chain.operator, i)) for i in definition.members)
        )
        if non_signers and len(non_signers) < len(signers):
            full = await chain.signers_apk_g2(definition, list(definition.members))
            missing = await chain.operators(non_signers)

            def subtract() -> G2Point:
                total = full
                for operator_id in non_signers:
                    total = total - missing[operator_id].public.g2
                return total

            return await asyncio.to_thread(subtract)
        return await chain.signers_apk_g2(definition, signers)

    async def _on_simulation_revert(
        self, work: TaskWork, definition: DefinitionView, side: bool, signers: list[int], exc: TransactionReverted
    ) -> None:
        name = exc.error or ""
        if name == "TaskAlreadySubmitted":
            if await self.outcomes.landed_on_chain(work):
                self.metrics.duplicate_attempt()
                return
            raise Retry("already_submitted", "TaskAlreadySubmitted, but no taskRecord to read yet")
        if name in FINAL_REVERTS:
            approve, reject = work.powers(definition.members)
            await self.outcomes.failed(
                work,
                FINAL_REVERTS[name],
                approve=approve,
                reject=reject,
                total=definition.total_power,
                message=str(exc),
            )
            return
        if name == "InvalidAggregateSignature":
            self.metrics.bisections.inc()
            bad = await self._find_bad_votes(work, side, signers)
            if bad:
                work.bad.update(bad)
                for operator_id in bad:
                    work.votes.pop(operator_id, None)
                self.db.mark_votes_invalid(work.task_hash, bad)
                self.metrics.votes.labels(side="bad_signature").inc(len(bad))
                self.log.failure("bad_signature", work.task_hash, operators=sorted(bad))
                raise Recollect()
            raise Retry(
                "invalid_aggregate_signature", "every vote verifies on its own: the cached keys or set may be stale"
            )
        raise Retry(snake_case(name) if name else "simulation_reverted", str(exc))

    async def _find_bad_votes(self, work: TaskWork, side: bool, signers: list[int]) -> set[int]:
        """Bisection over the signers: verify halves' aggregates through the pairing precompile."""
        digest = work.task.vote_hash(self.chain.address, self.chain.chain_id, side)
        keys = await self.chain.operators(signers)
        backend = self.backend

        def check(group: list[int]) -> bool:
            apk = G2Point.infinity()
            for operator_id in group:
                apk = apk + keys[operator_id].public.g2
            sigma = aggregate_signatures(work.votes[i][1] for i in group)
            return verify(apk, digest, sigma, backend)

        async def search(group: list[int]) -> set[int]:
            # ``group``'s aggregate is known to fail.
            if len(group) == 1:
                return set(group)
            middle = len(group) // 2
            left, right = group[:middle], group[middle:]
            left_ok, right_ok = await asyncio.gather(asyncio.to_thread(check, left), asyncio.to_thread(check, right))
            found: set[int] = set()
            if not left_ok:
                found |= await search(left)
            if not right_ok:
                found |= await search(right)
            return found

        bad = await search(list(signers))
        self.log.step("bisection.done", work.task_hash, signers=len(signers), bad=sorted(bad))
        return bad

    async def settle(
        self, work: TaskWork, tx_hash: bytes, nonce: int, raw: bytes | None, *, known: list[bytes] | None = None
    ) -> None:
        """Wait for our transactions on ``nonce`` and store the outcome; raises Retry when the
        nonce went to another transaction or ours reverted. Until one mines, the task stays
        ``submitting``: a stuck transaction is sent again or replaced (:meth:`_unstick`). ``known``:
        every transaction sent for the task so far (None: read them from the store)."""
        outcomes = self.outcomes
        config = self.config
        if known is None:  # after a restart: the task may have several
            hashes = [h for h, _raw in await self.db.transactions(work.task_hash, nonce)]
        else:
            hashes = list(known)
        if tx_hash not in hashes:
            hashes.append(tx_hash)
        if raw is not None:  # after a restart the sender knows nothing of it: offer it, never fill it
            self.sender.adopt(SignedTx(tx_hash, raw, nonce))
        tried: list[SignedTx] = []  # replacements the node refused: the next bump starts above them
        rounds = 0
        loop = asyncio.get_running_loop()
        interval = max(min(config.replace_after_seconds / 2, 2.0), 0.05)
        since_block: int | None = None  # read when it first matters: not on the happy path
        since = loop.time()
        while True:
            try:
                receipt = await self.wait_mined(hashes, nonce, interval)
                break
            except TimeoutError:
                pass
            except Exception as exc:  # the RPC failed: the transaction may still mine, look again
                self.log.step("chain.unavailable", work.task_hash, level=logging.WARNING, error=str(exc))
                await asyncio.sleep(interval)
            block = await self._block_number()
            if since_block is None:
                since_block = block
            blocks = block - since_block if block is not None and since_block is not None else 0
            if blocks < config.replace_after_blocks and loop.time() - since < config.replace_after_seconds:
                continue
            if await outcomes.landed_on_chain(work):  # by someone else's transaction
                return
            since_block, since = block, loop.time()
            replaced = await self._unstick(work, nonce, hashes[-1], raw, blocks, tried)
            if replaced is not None:
                hashes.append(replaced.tx_hash)
                raw = replaced.raw
                tried.clear()
                rounds = 0
            else:
                rounds += 1
                if rounds == config.stuck_after_rounds:
                    self._report_stuck(work, nonce, rounds)
        self.sender.settled(nonce)
        if receipt is None:  # the nonce went to another transaction
            if await outcomes.landed_on_chain(work):
                return
            self.db.set_collecting(work.task_hash)
            raise Retry("superseded", "its nonce was used by another transaction", backoff=False)
        mined_hash = bytes(receipt["transactionHash"])
        if int(receipt["status"]) == 1:
            found = self._event_in(receipt, work.task_hash)
            if found is not None:
                number, landed_side = found
                await outcomes.landed(
                    work,
                    number,
                    landed_side,
                    int(receipt["blockNumber"]),
                    mined_hash,
                    block_hash=bytes(receipt["blockHash"]),
                )
                return
        self.metrics.submissions.labels(result="reverted").inc()
        self._gas_by_shape.clear()  # perhaps out of gas: estimate again
        if await outcomes.landed_on_chain(work):  # someone else's landed first: ours was wasted
            self.metrics.duplicate_attempt(receipt)
            return
        self.db.set_collecting(work.task_hash)
        raise Retry("reverted_on_chain", f"transaction {hex_or_none(mined_hash)} reverted")

    async def _block_number(self) -> int | None:
        try:
            return int(await self.sender.w3.eth.block_number)
        except Exception:  # the RPC hiccuped: count time only
            return None

    def _report_stuck(self, work: TaskWork, nonce: int, rounds: int) -> None:
        """The task's transaction waited ``rounds`` rounds with nothing replaced: say so (metric,
        log, the task's error); it stays ``submitting``, since its transaction may still land."""
        self.metrics.submissions.labels(result="stuck").inc()
        message = f"nonce {nonce} not mined after {rounds} rounds; the transaction may still land"
        self.db.note_error(work.task_hash, f"stuck: {message}")
        self.log.step("tx.stuck", work.task_hash, level=logging.WARNING, nonce=nonce, rounds=rounds)

    async def _unstick(
        self, work: TaskWork, nonce: int, tx_hash: bytes, raw: bytes | None, blocks: int, tried: list[SignedTx]
    ) -> SignedTx | None:
        """Our transaction on ``nonce`` did not mine in time: fill the nonces below it that the
        node lost, send it again if the node lost it too, else replace it with higher fees.
        Returns the replacement, if one was sent. A failure of the RPC is logged and waits for
        the next round: the transactions already sent may still mine."""
        try:
            return await self._try_unstick(work, nonce, tx_hash, raw, blocks, tried)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.log.step("tx.unstick_failed", work.task_hash, level=logging.WARNING, nonce=nonce, error=str(exc))
            return None

    async def _try_unstick(
        self, work: TaskWork, nonce: int, tx_hash: bytes, raw: bytes | None, blocks: int, tried: list[SignedTx]
    ) -> SignedTx | None:
        sender = self.sender
        eth = sender.w3.eth
        gaps = await _quietly(sender.fill_gaps())
        if gaps:
            self.log.step(
                "nonce.gaps", work.task_hash, level=logging.WARNING, nonces={str(k): v for k, v in gaps.items()}
            )
        if raw is None:
            return None
        mined = int(await eth.get_transaction_count(sender.address, "latest"))
        if mined > nonce:  # mined (the pool still answers for mined transactions): waiting says by whom
            return None
        try:
            in_pool = await eth.get_transaction(tx_hash) is not None
        except Exception:
            in_pool = False
        if not in_pool:
            try:
                await sender.send_raw(raw)
            except Exception as exc:
                if is_underpriced(exc):  # lost, and not taken back at its fees: only a replacement helps
                    return await self._replace(work, SignedTx(tx_hash, raw, nonce), tried)
                self.log.step("tx.rebroadcast_failed", work.task_hash, level=logging.WARNING, error=str(exc))
                return None
            self.metrics.submissions.labels(result="rebroadcast").inc()
            self.log.step("tx.rebroadcast", work.task_hash, tx=hex_or_none(tx_hash), nonce=nonce)
            return None
        if mined < nonce:  # it waits behind a lower nonce: higher fees would not help it
            return None
        # Next in line and not mined: replace it if it offers less than the chain asks now, or if
        # blocks were made without it; a chain making no blocks is not a reason to pay more.
        if blocks < self.config.replace_after_blocks and not priced_below(
            decode_transaction(raw), await sender.quote(fresh=True)
        ):
            return None
        return await self._replace(work, SignedTx(tx_hash, raw, nonce), tried)

    async def _replace(self, work: TaskWork, old: SignedTx, tried: list[SignedTx] | None = None) -> SignedTx | None:
        """``old`` signed again on its nonce with higher fees (above the last refused try in
        ``tried``, so that the bumps compound to what the node wants), stored, then broadcast;
        None when the ceiling forbids it or the node refuses it (``old`` stays the task's
        transaction, and the task's row points at it again)."""
        basis = tried[-1] if tried else old
        try:
            new = await self.sender.replace(basis.raw)
        except ReplacementNotNeeded as exc:
            self.log.step("tx.fees_high_enough", work.task_hash, nonce=old.nonce, message=str(exc))
            return None
        except FeeCeilingExceeded as exc:
            self.db.note_error(work.task_hash, f"fee_ceiling: {exc}")
            self.log.step("tx.fee_ceiling", work.task_hash, level=logging.WARNING, nonce=old.nonce, message=str(exc))
            return None
        except Exception as exc:  # the fee read failed: the old transaction stands
            self.log.step("tx.replace_failed", work.task_hash, level=logging.WARNING, error=str(exc))
            return None
        try:
            await self.db.record_replacement(work.task_hash, tx_hash=new.tx_hash, raw_tx=new.raw, nonce=new.nonce)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            self.log.step("tx.replace_failed", work.task_hash, level=logging.WARNING, error=str(exc))
            return None
        try:
            await self.sender.broadcast(new)
        except Exception as exc:  # mined meanwhile (nonce too low) or refused: the kept ones stand
            self.log.step("tx.replace_refused", work.task_hash, level=logging.WARNING, error=str(exc))
            if is_transient(exc):  # it may have gone out: it stays the task's latest transaction
                return new
            if tried is not None:
                tried.append(new)
            # A restart sends the task's transaction again: not one the node refused.
            with contextlib.suppress(Exception):
                await self.db.record_replacement(work.task_hash, tx_hash=old.tx_hash, raw_tx=old.raw, nonce=old.nonce)
            return None
        self.metrics.submissions.labels(result="replaced").inc()
        self.log.step(
            "tx.replaced",
            work.task_hash,
            replaced=hex_or_none(old.tx_hash),
            tx=hex_or_none(new.tx_hash),
            nonce=new.nonce,
        )
        return new

    async def wait_mined(self, tx_hashes: list[bytes], nonce: int, timeout: float) -> Any | None:
        """The receipt of whichever of ``tx_hashes`` mined; None when another transaction took the
        nonce; TimeoutError."""
        return await self.receipts.wait(tx_hashes, nonce, timeout)

    def _event_in(self, receipt: Any, task_hash: bytes) -> tuple[int, bool] | None:
        """``(task number, approved)`` from the receipt's TaskSubmitted or TaskRejected event."""
        center = self.chain.address.lower()
        submitted = event_topic(_CENTER, "TaskSubmitted")
        rejected = event_topic(_CENTER, "TaskRejected")
        for log in receipt["logs"]:
            if str(log["address"]).lower() != center:
                continue
            topics = [bytes(t) for t in log["topics"]]
            if len(topics) == 4 and topics[0] in (submitted, rejected) and topics[3] == task_hash:
                return int.from_bytes(topics[1], "big"), topics[0] == submitted
        return None


async def _quietly(coro: Any) -> Any:
    """``coro``'s result, or None when it raised (a best-effort repair)."""
    try:
        return await coro
    except asyncio.CancelledError:
        raise
    except Exception:
        return None
