"""The live dashboard against the end-to-end network: the aggregator's read-only methods behind it
(``listTasks``, ``operatorActivity``), the dashboard server's JSON (``othentic dashboard`` run as its
own process, as the devnet runs it), and the page itself in headless Chromium.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from eth_account import Account

from othentic_offchain.chain.types import TaskInfo
from othentic_offchain.dashboard import DashboardSource
from othentic_offchain.devnet.processes import othentic_command
from othentic_offchain.jsonrpc import INVALID_PARAMS, BlockingJsonRpcClient, JsonRpcError
from othentic_offchain.nodes.aggregator.config import RATE_LIMITED
from tests.browser import HeadlessChromium, chromium_binary
from tests.e2e.e2e_http import http_json
from tests.e2e.e2e_network import GENERIC, NO_FILTER, Network
from tests.offchain.nodes.node_harness import closed_url

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def dashboard(network: Network) -> Iterator[str]:
    """``othentic dashboard`` on the e2e network (its own process); its base URL."""
    command = othentic_command(
        "dashboard", "--aggregator", network.aggregator_url, *network.chain_args(), "--port", "0"
    )
    managed = network.supervisor.start("dashboard", command, timeout=60)
    assert managed.url is not None
    try:
        yield managed.url.rstrip("/")
    finally:
        network.supervisor.stop("dashboard")


def _approved_task(net: Network, proof: str) -> tuple[TaskInfo, bytes]:
    """A generic task with a proof of our choosing (the test AVS approves sha256(proof) as data)."""
    task = TaskInfo(
        proof, hashlib.sha256(proof.encode()).digest(), Account.from_key(net.performer_key).address, GENERIC
    )
    return task, net.sign(task, net.performer_key)


def _state_until(url: str, holds: Callable[[dict[str, Any]], bool], timeout: float = 60) -> dict[str, Any]:
    """``GET /api/state`` until ``holds(state)`` (the snapshot follows the aggregator within a refresh)."""
    deadline = time.monotonic() + timeout
    while True:
        status, state = http_json(url + "/api/state")
        assert status == 200, state
        if holds(state):
            return state
        if time.monotonic() > deadline:
            raise AssertionError(f"the dashboard never showed it: errors {state['errors']}, tasks {state['tasks'][:3]}")
        time.sleep(0.2)


def _task(state: dict[str, Any], task_hash: bytes) -> dict[str, Any] | None:
    wanted = "0x" + task_hash.hex()
    return next((t for t in state["tasks"] if t["taskHash"] == wanted), None)


# --- the aggregator's read-only methods --------------------------------------------------------------


def test_list_tasks_pages_through_the_newest_tasks_with_their_votes_and_cuts_long_proofs(net: Network):
    sent, tasks = [], []
    for n in range(3):
        task, signature = _approved_task(net, f"dashboard-page-{n}-{time.time_ns()}-" + "p" * (300 if n == 2 else 0))
        sent.append(net.send(task, signature))
        tasks.append(task)
    net.wait_landed(sent)
    deadline = time.monotonic() + 30
    while net.status(sent[-1])["status"] != "landed" and time.monotonic() < deadline:
        time.sleep(0.1)

    first = net.rpc("listTasks", [2])["result"]
    assert [t["taskHash"] for t in first["tasks"]] == ["0x" + h.hex() for h in reversed(sent[1:])]
    assert first["next"] is not None
    second = net.rpc("listTasks", {"limit": 2, "cursor": first["next"]})["result"]
    assert second["tasks"][0]["taskHash"] == "0x" + sent[0].hex()
    newest = first["tasks"][0]
    assert newest["status"] == "landed" and newest["side"] == "approve" and newest["taskNumber"] > 0
    assert newest["proofOfTask"] == tasks[2].proof_of_task[:200]
    assert newest["proofOfTaskLength"] == len(tasks[2].proof_of_task) > 300
    assert newest["dataSize"] == 32 and newest["dataPrefix"] == "0x" + tasks[2].data.hex()
    assert {v["operatorId"] for v in newest["votes"]} <= set(net.ids) and newest["votes"]
    assert all(
        v["side"] == "approve" and v["valid"] and v["receivedAt"] >= newest["createdAt"] for v in newest["votes"]
    )
    assert "performerSignature" not in newest and "rawTx" not in newest

    landed = net.rpc("listTasks", {"limit": 100, "status": "landed"})["result"]["tasks"]
    assert landed and all(t["status"] == "landed" for t in landed)
    assert all(
        t["status"] in ("accepted", "collecting", "submitting")
        for t in net.rpc("listTasks", {"status": "open"})["result"]["tasks"]
    )


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"limit": 0}, "'limit': must be 1..100"),
        ({"limit": 101}, "'limit': must be 1..100"),
        ({"cursor": "yesterday"}, "'cursor': expected the `next` of an earlier answer"),
        ({"cursor": "nan:0x" + "00" * 32}, "'cursor'"),
        ({"status": "done"}, "'status': expected one of open, accepted"),
    ],
)
def test_list_tasks_refuses_parameters_out_of_bounds_saying_which(net: Network, params, says):
    answer = net.rpc("listTasks", params)
    assert answer["error"]["code"] == INVALID_PARAMS and says in answer["error"]["message"], answer


def test_list_tasks_is_answered_once_per_http_request(net: Network):
    first, second = BlockingJsonRpcClient(net.aggregator_url).batch([("listTasks", [1]), ("listTasks", [1])])
    assert isinstance(first, dict) and "tasks" in first
    assert isinstance(second, JsonRpcError) and second.code == RATE_LIMITED
    assert "at most 1 listTasks" in second.message


def test_operator_activity_shows_a_stopped_attester_offline_with_the_reason_and_the_others_online(net: Network):
    down = net.ids[-1]
    net.stop_attester(down)
    try:
        task, signature = net.task(GENERIC, tag="dashboard-offline")
        task_hash = net.send(task, signature)
        (landing,) = net.wait_landed([task_hash])[task_hash]
        assert down in landing.non_signer_ids
        activity = {a["operatorId"]: a for a in net.rpc("operatorActivity")["result"]["operators"]}
        assert activity[down]["online"] is False and activity[down]["lastFailure"].startswith("unreachable")
        assert activity[down]["failures"] >= 1
        for operator_id in set(net.ids) - {down} - set(landing.non_signer_ids):
            assert activity[operator_id]["online"] is True and activity[operator_id]["votes"] >= 1
    finally:
        net.start_attesters([down])


# --- the dashboard server's JSON -----------------------------------------------------------------


def test_dashboard_state_shows_landed_and_rejected_tasks_with_votes_gas_latency_and_the_chain_around_them(
    net: Network, dashboard: str
):
    approved_task, signature = net.task(NO_FILTER, approve=True, tag="dashboard-json")
    rejected_task, rejected_signature = net.task(NO_FILTER, approve=False, tag="dashboard-json")
    approved, rejected = net.send(approved_task, signature), net.send(rejected_task, rejected_signature)
    landings = net.wait_landed([approved, rejected])

    state = _state_until(
        dashboard,
        lambda s: all(
            (_task(s, h) or {}).get("status") == "landed" and _task(s, h)["gasUsed"] for h in (approved, rejected)
        ),
    )
    assert state["errors"] == [] and state["chainId"] == net.record.chain_id
    for task_hash, side in ((approved, "approve"), (rejected, "reject")):
        shown = _task(state, task_hash)
        (landing,) = landings[task_hash]
        assert shown["side"] == side and shown["taskNumber"] == landing.task_number
        assert shown["txHash"] == "0x" + landing.tx_hash.hex()
        assert shown["gasUsed"] == int(net.w3.eth.get_transaction_receipt(landing.tx_hash)["gasUsed"])
        assert 0 < shown["latency"] < 60
        voters = {v["operatorId"] for v in shown["votes"] if v["side"] == side}
        assert voters >= set(net.ids) - set(landing.non_signer_ids)

    operators = {o["id"]: o for o in state["operators"]}
    assert {i: int(operators[i]["stake"]) for i in net.ids} == net.stakes
    assert all(operators[i]["active"] and operators[i]["online"] is True for i in net.ids)
    total = sum(net.stakes.values())
    assert operators[net.ids[0]]["powerShare"] == pytest.approx(net.stakes[net.ids[0]] / total)
    assert all(operators[i]["signedOnChain"] >= 1 and int(operators[i]["claimableRewards"]) > 0 for i in net.ids)

    definitions = {d["id"]: d for d in state["definitions"]}
    assert {GENERIC, NO_FILTER} <= set(definitions)
    assert definitions[NO_FILTER]["approved"] >= 1 and definitions[NO_FILTER]["rejected"] >= 1
    assert definitions[NO_FILTER]["members"] == len(net.ids) and int(definitions[NO_FILTER]["totalPower"]) == total

    events = {(e["event"], e["args"].get("taskHash")) for e in state["events"]}
    assert ("TaskSubmitted", "0x" + approved.hex()) in events and ("TaskRejected", "0x" + rejected.hex()) in events
    assert state["aggregator"]["health"]["status"] in ("ok", "degraded")


def test_dashboard_serves_its_page_with_a_policy_that_runs_no_inline_script_and_nothing_else(dashboard: str):
    import urllib.request

    with urllib.request.urlopen(dashboard + "/", timeout=10) as response:
        page = response.read().decode()
        policy = response.headers["Content-Security-Policy"]
    assert '<script src="/static/dashboard.js"' in page
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    status, body = http_json(dashboard + "/static/..%2Fserver.py")
    assert status == 404 and body["error"] == "not_found"
    source = asyncio.run(_read_static(dashboard + "/static/dashboard.js"))
    assert "innerHTML" not in source.replace("There is no innerHTML", "")


async def _read_static(url: str) -> str:
    import aiohttp

    async with aiohttp.ClientSession() as session, session.get(url) as response:
        assert response.status == 200 and response.content_type == "text/javascript"
        return await response.text()


def test_dashboard_without_its_aggregator_still_shows_the_chain_and_says_what_is_missing(net: Network):
    async def snapshot() -> dict[str, Any]:
        source = DashboardSource(closed_url(), net.record, net.rpc_url)
        await source.start()
        try:
            return await source.snapshot()
        finally:
            await source.close()

    state = asyncio.run(snapshot())
    assert len(state["errors"]) == 1 and "unreachable" in state["errors"][0] and "aggregator" in state["errors"][0]
    assert state["tasks"] == [] and state["aggregator"]["health"] is None
    assert {o["id"] for o in state["operators"]} == set(net.ids)
    assert all(o["online"] is None for o in state["operators"])  # unknown, not offline
    assert state["definitions"] and state["block"] >= net.record.block_number


# --- the page in a real browser ------------------------------------------------------------------


def test_the_page_in_headless_chromium_shows_a_landed_task_with_its_votes_and_renders_task_data_as_text(
    net: Network, dashboard: str, tmp_path
):
    if chromium_binary() is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: scripts/setup.sh installs it (apt-get install chromium)")
        pytest.skip("chromium is not installed (scripts/setup.sh installs it with apt; apt was not available)")
    hostile = f"<img src=x onerror=\"document.title='pwned'\"> dashboard-xss-{time.time_ns()}"
    task, signature = _approved_task(net, hostile)
    plain, plain_signature = net.task(GENERIC, tag="dashboard-browser")
    hashes = [net.send(task, signature), net.send(plain, plain_signature)]
    landings = net.wait_landed(hashes)

    async def browse() -> tuple[list[dict[str, Any]], dict[str, Any]]:
        async with HeadlessChromium() as browser:
            await browser.goto(dashboard + "/")
            rows = []
            for task_hash in hashes:
                selector = f'#tasks tr[data-task-hash="0x{task_hash.hex()}"][data-status="landed"]'
                rows.append(
                    await browser.wait_for(
                        f"""(() => {{
                            const row = document.querySelector('{selector}');
                            return row && {{
                                badge: row.querySelector('.badge').textContent,
                                chips: [...row.querySelectorAll('.chip')].map(c => c.getAttribute('data-operator')),
                                onChain: row.children[8].textContent,
                                detail: row.querySelector('td.detail').textContent,
                            }};
                        }})()""",
                        timeout=60,
                    )
                )
            page = await browser.evaluate(
                """({title: document.title, images: document.querySelectorAll('img').length,
                     operators: document.querySelectorAll('#operators tbody tr').length,
                     online: document.querySelectorAll('#operators tr[data-online="online"]').length,
                     events: document.querySelectorAll('#events li[data-event="TaskSubmitted"]').length,
                     state: document.body.dataset.state})"""
            )
            await browser.screenshot(tmp_path / "dashboard.png")
            return rows, page

    rows, page = asyncio.run(browse())
    for row, task_hash in zip(rows, hashes):
        (landing,) = landings[task_hash]
        assert row["badge"] == "approved" and row["onChain"] == f"#{landing.task_number}"
        assert {int(c) for c in row["chips"]} >= set(net.ids) - set(landing.non_signer_ids)
    assert rows[0]["detail"] == hostile  # the markup is shown as text...
    assert page["images"] == 0 and page["title"] == "othentic dashboard"  # ...and never became an element
    assert page["operators"] == len(net.ids) and page["online"] >= 1 and page["events"] >= 1
    assert page["state"] == "live"
    assert (tmp_path / "dashboard.png").stat().st_size > 10_000
