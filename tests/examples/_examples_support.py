"""Helpers shared by the example AVSs' tests: servers on 127.0.0.1, a real proof store, networks.

Tests are plain sync functions that drive their coroutines with ``asyncio.run``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

from othentic_offchain.proofs import LocalProofStore, ProofStoreClient, start_proof_server

ROOT = Path(__file__).resolve().parents[2]


from tests.contracts import network as contract_fixtures  # noqa: E402

deploy_network = contract_fixtures.deploy_network
Net = contract_fixtures.Net
TOKEN = contract_fixtures.TOKEN
MIN_STAKE = contract_fixtures.MIN_STAKE
CHAIN_ID = contract_fixtures.CHAIN_ID

#: The devnet's definition ids of the two examples with on-chain hooks.
PRICE_ORACLE, BEACON = 1, 2

#: An address that is no operator anywhere.
STRANGER = "0x000000000000000000000000000000000000dEaD"


@asynccontextmanager
async def serving(app: web.Application) -> AsyncIterator[str]:
    """``app`` on a real TCP port of 127.0.0.1; yields its base URL."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@dataclass
class ProofStore:
    """A real proof store: files in a folder, served over HTTP, reached through its client."""

    local: LocalProofStore
    url: str
    client: ProofStoreClient


@asynccontextmanager
async def proof_store(folder: Path) -> AsyncIterator[ProofStore]:
    local = LocalProofStore(folder, durable=False)
    server = await start_proof_server(local, "127.0.0.1", 0)
    try:
        async with ProofStoreClient(server.url) as client:
            yield ProofStore(local, server.url, client)
    finally:
        await server.close()


def submit_expecting_revert(net, task, *, approve: bool = True, transact: bool = False):
    """``submitTask`` with a submission that should revert, signed by every member.

    By default it is simulated (``eth_call`` of the exact submission, as the aggregator simulates
    before it sends): the revert data is the hook's error, in milliseconds. ``transact=True`` sends
    it as a transaction, which reverts the same way; Ape then finds the error's contract by walking
    the trace of the whole submission, BLS pairing included (seconds on anvil), so tests send only
    one such transaction per error.
    """
    submission = net.submission(task, approve=approve)
    sender = net.operators[0].account
    if transact:
        return net.center.submitTask(task.abi(), submission.abi(), sender=sender, skip_trace=True)
    return net.center.submitTask.call(task.abi(), submission.abi(), sender=sender, skip_trace=True)
