"""Collecting votes: ask the definition's attesters at once, check each vote, stop at the quorum.

An :class:`~othentic_offchain.nodes.common.protocol.AttestRequest` goes to every member of the
definition's operator set that has not voted yet (URLs from
:class:`~othentic_offchain.nodes.aggregator.discovery.AttesterDirectory`), signed once per task
with the aggregator's operator key (:func:`~othentic_offchain.nodes.common.protocol.auth_headers`:
attesters answer only active operators). Each answer is checked
(the task hash, the operator id, a point on the curve other than infinity) and stored; powers are
the members' stakes. As soon as one side holds the contract's threshold, the collector waits
``delay`` for more votes if configured, then returns the side. Attesters that time out or answer
5xx are asked again every ``retry_interval`` until the task's deadline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

import aiohttp

from othentic_offchain.chain.view import ChainView, DefinitionView
from othentic_offchain.crypto.auth import ATTEST_REQUEST_TAG
from othentic_offchain.crypto.bn254 import InvalidPoint
from othentic_offchain.nodes.aggregator.activity import AttesterActivity
from othentic_offchain.nodes.aggregator.config import AggregatorConfig
from othentic_offchain.nodes.aggregator.discovery import AttesterDirectory
from othentic_offchain.nodes.aggregator.metrics import AggregatorMetrics
from othentic_offchain.nodes.aggregator.store import TasksDB
from othentic_offchain.nodes.aggregator.work import TaskWork, hex_or_none, side_name
from othentic_offchain.nodes.common.observability import TaskLog
from othentic_offchain.nodes.common.protocol import (
    ATTEST_PATH,
    AnswerTooLarge,
    AttestRequest,
    Vote,
    auth_headers,
    read_capped,
    wire_task,
)

#: What one vote request came to.
VOTE, TRANSIENT, REFUSED = "vote", "transient", "refused"

_JSON = {"Content-Type": "application/json"}


class VoteCollector:
    """Asks attesters for their votes over HTTP (``session``) and keeps them in the task's work.

    A request to one attester waits for one of ``max_requests_per_attester`` slots first, so that
    under a burst requests queue here, before ``vote_timeout`` starts, not at the attester.
    Requests still running when a task stops collecting finish in the background (their votes
    may serve a retry) until :meth:`close`.
    """

    def __init__(
        self,
        config: AggregatorConfig,
        chain: ChainView,
        directory: AttesterDirectory,
        session: aiohttp.ClientSession,
        db: TasksDB,
        metrics: AggregatorMetrics,
        log: TaskLog,
    ):
        self.config = config
        self.chain = chain
        self.directory = directory
        self.session = session
        self.db = db
        self.metrics = metrics
        self.log = log
        self.stopping = False
        self.activity = AttesterActivity()
        self._slots: dict[str, asyncio.Semaphore] = {}
        self._background: set[asyncio.Task] = set()

    async def close(self) -> None:
        """Cancel the requests still running in the background and wait for them."""
        self.stopping = True
        leftover = list(self._background)
        for task in leftover:
            task.cancel()
        if leftover:
            await asyncio.gather(*leftover, return_exceptions=True)
        self._background.clear()

    def _request_body(self, work: TaskWork) -> bytes:
        if not work.request_body:
            request = AttestRequest(
                task=wire_task(work.task),
                task_hash=work.task_hash,
                performer_signature=work.signature,
                attestation_center=self.chain.address,
                chain_id=self.chain.chain_id,
            )
            work.request_body = json.dumps(request.to_wire(), separators=(",", ":")).encode()
            signed = auth_headers(
                self.config.ecdsa_key, ATTEST_REQUEST_TAG, self.chain.chain_id, self.chain.address, work.task_hash
            )
            work.request_headers = {**_JSON, **signed}
        return work.request_body

    async def collect(self, work: TaskWork, definition: DefinitionView, deadline: float) -> bool | None:
        """Ask the members that have not voted until one side holds its threshold (then, with a
        ``delay``, a little longer) or the deadline passes. Returns the side, or None."""
        loop = asyncio.get_running_loop()
        config = self.config
        self._request_body(work)
        side = work.decided(definition)
        pending: dict[asyncio.Task, int] = {}
        urls: dict[int, str | None] = {}

        def launch(operator_id: int) -> None:
            url = urls.get(operator_id)
            if url is None:
                return
            task = asyncio.create_task(self._ask(work, operator_id, url))
            pending[task] = operator_id

        if side is None or config.delay > 0:
            to_ask = [
                i for i in definition.members if i not in work.votes and i not in work.bad and i not in work.refused
            ]
            urls = {i: await self.directory.url_for(i) for i in to_ask}
            for operator_id in to_ask:
                launch(operator_id)
            no_url = [i for i in to_ask if urls.get(i) is None]
            if no_url:
                self.log.step("votes.no_endpoint", work.task_hash, level=logging.WARNING, operators=no_url)
        decided_at: float | None = loop.time() if side is not None else None
        transient: set[int] = set()
        try:
            while True:
                now = loop.time()
                if side is not None:
                    if decided_at is None:
                        decided_at = now
                    remaining = decided_at + config.delay - now
                    if config.delay <= 0 or not pending or remaining <= 0:
                        break
                    timeout = remaining
                else:
                    if not pending:
                        if not transient or now >= deadline:
                            break
                        await asyncio.sleep(min(config.retry_interval, max(deadline - now, 0)))
                        again, transient = transient, set()
                        for operator_id in again:
                            launch(operator_id)
                        continue
                    timeout = deadline - now
                    if timeout <= 0:
                        break
                done, _ = await asyncio.wait(pending, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    operator_id = pending.pop(task)
                    outcome = task.result()
                    if outcome == TRANSIENT:
                        transient.add(operator_id)
                    elif outcome == REFUSED:
                        work.refused.add(operator_id)
                if side is None:
                    side = work.decided(definition)
        finally:
            # Slow attesters still answer; their votes are kept (a retry may use them). When the
            # node is stopping they are cancelled with everything else.
            for task in pending:
                if self.stopping:
                    task.cancel()
                    continue
                self._background.add(task)
                task.add_done_callback(self._background.discard)
        approve, reject = work.powers(definition.members)
        self.log.step(
            "votes.collected",
            work.task_hash,
            side=side_name(side),
            approve=approve,
            reject=reject,
            total=definition.total_power,
            votes=len(work.votes),
        )
        return side

    async def _ask(self, work: TaskWork, operator_id: int, url: str) -> str:
        """One vote request: VOTE, TRANSIENT (ask again later) or REFUSED."""
        requests = self.metrics.requests
        slots = self._slots.get(url)
        if slots is None:
            slots = self._slots[url] = asyncio.Semaphore(self.config.max_requests_per_attester)
        try:
            async with (
                slots,
                self.session.post(url + ATTEST_PATH, data=work.request_body, headers=work.request_headers) as response,
            ):
                status = response.status
                raw = await read_capped(response)
        except asyncio.CancelledError:
            raise
        except AnswerTooLarge as exc:
            self.activity.refused(operator_id)
            requests.labels(result="malformed").inc()
            self.metrics.votes.labels(side="malformed").inc()
            self.log.step("vote.malformed", work.task_hash, level=logging.WARNING, operator=operator_id, error=str(exc))
            return REFUSED
        except TimeoutError:
            self.activity.failed(operator_id, "timeout")
            requests.labels(result="timeout").inc()
            return TRANSIENT
        except (aiohttp.ClientError, OSError) as exc:
            self.activity.failed(operator_id, f"unreachable: {type(exc).__name__}")
            requests.labels(result="unreachable").inc()
            return TRANSIENT
        if status != 200:
            transient = status >= 500 or status in (408, 429)
            if transient:
                self.activity.failed(operator_id, f"HTTP {status}")
            else:
                self.activity.refused(operator_id)
            requests.labels(result="unavailable" if transient else "refused").inc()
            self.log.step(
                "vote.refused",
                work.task_hash,
                level=logging.INFO,
                operator=operator_id,
                status=status,
                body=raw[:300].decode(errors="replace"),
            )
            return TRANSIENT if transient else REFUSED
        try:
            vote = Vote.model_validate_json(raw)
            if vote.task_hash != work.task_hash:
                raise ValueError(f"the vote is for task {hex_or_none(vote.task_hash)}")
            if vote.operator_id != operator_id:
                raise ValueError(f"the vote is signed as operator {vote.operator_id}, asked {operator_id}")
            point = vote.point.validate()
            if point.is_infinity:
                raise InvalidPoint("the signature is the point at infinity")
        except (ValueError, InvalidPoint) as exc:
            self.activity.refused(operator_id)
            requests.labels(result="malformed").inc()
            self.metrics.votes.labels(side="malformed").inc()
            self.log.step("vote.malformed", work.task_hash, level=logging.WARNING, operator=operator_id, error=str(exc))
            return REFUSED
        self.activity.voted(operator_id)
        requests.labels(result="ok").inc()
        self.metrics.votes.labels(side=side_name(vote.is_approved)).inc()
        if operator_id not in work.bad:
            work.votes[operator_id] = (vote.is_approved, point)
            if not self.stopping:
                with contextlib.suppress(Exception):
                    self.db.record_vote(work.task_hash, operator_id, vote.is_approved, vote.signature)
        return VOTE
