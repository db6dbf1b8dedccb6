"""othentic_offchain.devnet.workload: following a task through the aggregator's ``taskStatus``
(against a small JSON-RPC server standing in for the aggregator; no chain)."""

from __future__ import annotations

import time
from typing import Any

from aiohttp import web

from othentic_offchain.devnet.chaos import LandingWatcher
from othentic_offchain.devnet.workload import TaskRun, follow, follow_on_chain
from othentic_offchain.jsonrpc import ApplicationError, JsonRpcServer, Param
from othentic_offchain.nodes.aggregator.config import UNKNOWN_TASK, WRONG_CHAIN
from tests.offchain.jsonrpc.jsonrpc_harness import serving_in_thread

TASK = "0x" + "ab" * 32


def status_app(answers: list[Any]) -> web.Application:
    """``taskStatus`` answers the next of ``answers`` (an :class:`ApplicationError` is raised),
    the last one from then on."""
    server = JsonRpcServer()
    asked = iter(range(10**6))

    @server.method("taskStatus", [Param("taskHash")])
    async def task_status(taskHash: str) -> Any:
        answer = answers[min(next(asked), len(answers) - 1)]
        if isinstance(answer, ApplicationError):
            raise answer
        return answer

    app = web.Application()
    app.router.add_post("/", server.handle)
    return app


def run() -> TaskRun:
    return TaskRun(0, {}, task_hash=TASK, sent_at=time.monotonic())


def test_a_task_the_aggregator_does_not_know_yet_is_followed_until_it_lands():
    """A performer answering 202 kept the task in its outbox: the aggregator learns of it later."""
    unknown = ApplicationError(UNKNOWN_TASK, f"unknown task {TASK}")
    landed = {"status": "landed", "createdAt": 10.0, "finishedAt": 11.5}
    with serving_in_thread(status_app([unknown, unknown, landed])) as url:
        followed = follow(run(), url + "/", task_timeout=30)
    assert (followed.status, followed.latency) == ("landed", 1.5)


def test_another_refusal_of_task_status_fails_the_run_at_once():
    with serving_in_thread(status_app([ApplicationError(WRONG_CHAIN, "not this chain")])) as url:
        followed = follow(run(), url + "/", task_timeout=30)
    assert followed.status == "failed" and "not this chain" in (followed.error or "")


def test_a_task_never_known_times_out_saying_what_the_aggregator_last_answered():
    with serving_in_thread(status_app([ApplicationError(UNKNOWN_TASK, "unknown task")])) as url:
        followed = follow(run(), url + "/", task_timeout=0.3)
    assert followed.status == "failed"
    assert followed.error is not None and followed.error.startswith("timed out") and "unknown task" in followed.error


def test_followed_on_the_chain_a_task_lands_when_its_event_is_seen_with_the_latency_from_its_trigger():
    landings = LandingWatcher(None, "0x" + "00" * 20, 1)  # not started: the test plays its poller
    followed = run()
    followed.triggered_at = time.time() - 2.0
    landings.first_seen[bytes.fromhex(TASK[2:])] = followed.triggered_at + 1.5
    assert follow_on_chain(followed, landings, task_timeout=5).status == "landed"
    assert followed.latency == 1.5 and followed.error is None


def test_followed_on_the_chain_a_task_without_a_landing_event_times_out_saying_so():
    landings = LandingWatcher(None, "0x" + "00" * 20, 1)
    landings.first_seen[bytes.fromhex("cd" * 32)] = time.time()  # another task landed
    followed = follow_on_chain(run(), landings, task_timeout=0.3)
    assert followed.status == "failed" and "no TaskSubmitted or TaskRejected event" in followed.error


def test_a_plan_with_no_lying_share_has_no_lying_task_and_one_with_a_share_has_some():
    from othentic_offchain.devnet.workload import plan

    honest = plan(20, 0.0)
    assert len(honest) == 20 and not any("lie_percent" in r.params for r in honest)
    assert any("lie_percent" in r.params for r in plan(20, 0.5))


def test_a_generic_only_plan_sends_every_task_to_the_generic_definition():
    from othentic_offchain.devnet.examples import GENERIC
    from othentic_offchain.devnet.workload import plan

    runs = plan(7, 0.5, generic_only=True)
    assert [r.definition_id for r in runs] == [GENERIC] * 7
    assert len({r.params["text"] for r in runs}) == 7  # seven different tasks


def test_at_a_steady_rate_tasks_are_triggered_at_their_slots_however_many_are_open():
    """Six tasks at 10 per second: triggered about 0.1 s apart, although none ever lands (the
    landing watcher never sees one) and each is followed until its 1 s timeout."""
    from othentic_offchain.devnet.examples import GENERIC
    from othentic_offchain.devnet.workload import plan, run_workload

    triggered: list[float] = []

    async def trigger(request: web.Request) -> web.Response:
        triggered.append(time.monotonic())
        return web.json_response({"taskHash": "0x" + f"{len(triggered):064x}"})

    app = web.Application()
    app.router.add_post("/performer/v1/trigger", trigger)
    landings = LandingWatcher(None, "0x" + "00" * 20, 1)  # not started: nothing ever lands
    with serving_in_thread(app) as url:
        runs = run_workload(
            plan(6, 0.0, generic_only=True),
            performer_urls={GENERIC: url},
            aggregator_url="http://127.0.0.1:1",
            concurrency=1,  # ignored at a rate: one would hold every later trigger back
            rate=10.0,
            task_timeout=1.0,
            progress=lambda text: None,
            landings=landings,
        )
    assert len(triggered) == 6 and all(r.status == "failed" for r in runs)
    span = triggered[-1] - triggered[0]
    assert span >= 0.35, triggered  # paced: five intervals of 0.1 s, not all at once
    assert span < 3.0, triggered  # not one after the other's 1 s timeout (that takes 5 s)
