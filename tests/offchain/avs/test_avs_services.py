"""The HTTP API through a real aiohttp server on 127.0.0.1: Othentic's routes and answer shapes."""

from __future__ import annotations

import asyncio
import json
import logging
import urllib.request
from typing import Any

import aiohttp
import pytest
from tests.offchain.avs._avs_support import PERFORMER, PERFORMER_LOWER, run, served, task_body

from othentic_offchain.avs import (
    Avs,
    Execution,
    ServiceRunner,
    ServiceThread,
    build_execution_app,
    build_services_app,
    build_validation_app,
    serve,
)


def _oracle(timeout: float = 5.0, messages: list[bytes] | None = None) -> Avs:
    """An AVS with one function of every kind, and a few that misbehave on purpose."""
    avs = Avs("oracle", timeout=timeout)
    received = messages if messages is not None else []

    @avs.execute(1)
    async def observe(params, ctx):
        return Execution(proof_of_task=f"cid-{params.get('pair', 'none')}", data=json.dumps(params).encode())

    @avs.execute(0)
    def generic(params, ctx):
        return Execution(proof_of_task="cid-generic", data=b"")

    @avs.validate(1)
    def check(task, ctx):
        return task.data == b"hello"

    @avs.validate(2)
    async def crashes(task, ctx):
        raise ZeroDivisionError("division by zero")

    @avs.validate(3)
    async def slow(task, ctx):
        await asyncio.sleep(30)
        return True

    @avs.validate(4)
    async def votes_with_a_string(task, ctx):
        return "yes"

    @avs.on_message
    async def got(data, ctx):
        received.append(data)

    return avs


def _call(app, method: str, path: str, **kwargs) -> tuple[int, dict, Any]:
    """One request through a real server: (status, JSON body, headers)."""

    async def go():
        async with served(app) as client:
            response = await client.request(method, path, **kwargs)
            return response.status, await response.json(), response.headers.copy()

    return run(go())


def _assert_error(status: int, body: dict, expected_status: int, *fragments: str) -> None:
    assert status == expected_status, body
    assert body["data"] is None and body["error"] is True
    for fragment in fragments:
        assert fragment in body["message"]


# -- POST /task/execute ---------------------------------------------------------------------------


def test_execute_answers_othentic_execution_shape():
    status, body, _ = _call(build_execution_app(_oracle()), "POST", "/task/execute",
                            json={"taskDefinitionId": 1, "pair": "ETHUSDT"})
    assert status == 200
    assert body == {
        "data": {"proofOfTask": "cid-ETHUSDT", "data": "0x" + b'{"pair": "ETHUSDT"}'.hex(), "taskDefinitionId": 1},
        "error": False,
        "message": "Task executed successfully",
    }


def test_execute_with_an_empty_body_runs_definition_zero():
    status, body, _ = _call(build_execution_app(_oracle()), "POST", "/task/execute", data=b"")
    assert status == 200
    assert body["data"]["proofOfTask"] == "cid-generic" and body["data"]["taskDefinitionId"] == 0


def test_execute_for_unknown_definition_is_4xx_naming_it():
    status, body, _ = _call(build_execution_app(_oracle()), "POST", "/task/execute", json={"taskDefinitionId": 9})
    _assert_error(status, body, 422, "no execution logic for task definition 9")


def test_execute_with_out_of_range_definition_is_400_naming_the_field():
    status, body, _ = _call(build_execution_app(_oracle()), "POST", "/task/execute", json={"taskDefinitionId": -3})
    _assert_error(status, body, 400, "taskDefinitionId")


# -- POST /task/validate --------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "vote"), [("0x68656c6c6f", True), ("0x00", False)])
def test_validate_answers_othentic_vote_shape(data, vote):
    status, body, _ = _call(build_validation_app(_oracle()), "POST", "/task/validate", json=task_body(data=data))
    assert status == 200
    assert body == {"data": vote, "error": False, "message": None}


def test_validate_accepts_task_definition_id_spelled_taskDefinitionID():
    body_in = task_body(taskDefinitionId=..., taskDefinitionID=1)
    status, body, _ = _call(build_validation_app(_oracle()), "POST", "/task/validate", json=body_in)
    assert (status, body["data"]) == (200, True)


def test_validate_accepts_a_lowercase_performer_address():
    status, body, _ = _call(build_validation_app(_oracle()), "POST", "/task/validate",
                            json=task_body(performer=PERFORMER_LOWER))
    assert (status, body["data"]) == (200, True)


def test_validate_with_malformed_json_is_400_with_a_message():
    status, body, _ = _call(build_validation_app(_oracle()), "POST", "/task/validate", data=b'{"proofOfTask": ')
    _assert_error(status, body, 400, "malformed JSON", "line 1")


def test_validate_with_a_json_array_is_400_saying_an_object_is_expected():
    status, body, _ = _call(build_validation_app(_oracle()), "POST", "/task/validate", json=[task_body()])
    _assert_error(status, body, 400, "expected a JSON object, got an array")


def test_validate_with_an_empty_body_is_400():
    status, body, _ = _call(build_validation_app(_oracle()), "POST", "/task/validate", data=b"")
    _assert_error(status, body, 400, "request body is empty")


def test_validate_with_a_missing_field_is_400_naming_the_field():
    status, body, _ = _call(build_validation_app(_oracle()), "POST", "/task/validate",
                            json=task_body(performer=...))
    _assert_error(status, body, 400, "performer: field required")


def test_validate_with_a_wrong_type_is_400_naming_the_field():
    status, body, _ = _call(build_validation_app(_oracle()), "POST", "/task/validate",
                            json=task_body(proofOfTask=123, data="hello"))
    _assert_error(status, body, 400, "proofOfTask:", "data: expected a 0x-prefixed hex string")


def test_validate_with_nan_is_400():
    raw = json.dumps(task_body()).replace('"taskDefinitionId": 1', '"taskDefinitionId": NaN').encode()
    status, body, _ = _call(build_validation_app(_oracle()), "POST", "/task/validate", data=raw)
    _assert_error(status, body, 400, "NaN")


def test_validate_for_unknown_definition_is_4xx_no_validation_logic():
    status, body, _ = _call(build_validation_app(_oracle()), "POST", "/task/validate",
                            json=task_body(taskDefinitionId=77))
    _assert_error(status, body, 422, "no validation logic for task definition 77")


def test_validate_function_that_raises_is_500_with_exception_type_and_text():
    status, body, _ = _call(build_validation_app(_oracle()), "POST", "/task/validate",
                            json=task_body(taskDefinitionId=2))
    _assert_error(status, body, 500, "ZeroDivisionError: division by zero")


def test_validate_function_past_its_timeout_is_504():
    status, body, _ = _call(build_validation_app(_oracle(timeout=0.1)), "POST", "/task/validate",
                            json=task_body(taskDefinitionId=3))
    _assert_error(status, body, 504, "did not finish within 0.1 s")


def test_validate_function_returning_a_non_bool_is_500_saying_so():
    status, body, _ = _call(build_validation_app(_oracle()), "POST", "/task/validate",
                            json=task_body(taskDefinitionId=4))
    _assert_error(status, body, 500, "returned str", "expected bool")


# -- body size ------------------------------------------------------------------------------------


def test_body_above_the_limit_is_413_with_a_json_error():
    app = build_validation_app(_oracle(), max_body=1024)
    oversized = json.dumps(task_body(data="0x" + "00" * 2048)).encode()
    status, body, _ = _call(app, "POST", "/task/validate", data=oversized)
    _assert_error(status, body, 413, "request body too large", "1024 bytes")


def test_default_limit_is_one_mebibyte():
    just_under = json.dumps(task_body(data="0x" + "00" * 500_000)).encode()
    assert len(just_under) < 1024 * 1024
    assert _call(build_validation_app(_oracle()), "POST", "/task/validate", data=just_under)[0] == 200
    status, body, _ = _call(build_validation_app(_oracle()), "POST", "/task/validate", data=b" " * (1024 * 1024 + 1))
    _assert_error(status, body, 413, "1048576 bytes")


# -- POST /p2p/message ----------------------------------------------------------------------------


def test_custom_message_reaches_the_handler_as_bytes():
    messages: list[bytes] = []
    status, body, _ = _call(build_services_app(_oracle(messages=messages)), "POST", "/p2p/message",
                            json={"data": "0xcafe"})
    assert (status, body) == (200, {"data": True, "error": False, "message": None})
    assert messages == [b"\xca\xfe"]


def test_custom_message_without_a_handler_is_accepted_and_reported_as_ignored():
    status, body, _ = _call(build_services_app(Avs("quiet")), "POST", "/p2p/message", json={"data": "0x01"})
    assert status == 200 and body["data"] is False and "ignored" in body["message"]


def test_custom_message_that_is_not_hex_is_400():
    status, body, _ = _call(build_services_app(_oracle()), "POST", "/p2p/message", json={"data": "hello"})
    _assert_error(status, body, 400, "data: expected a 0x-prefixed hex string")


# -- routes, health, headers, logs ----------------------------------------------------------------


def test_health_reports_the_avs_and_its_definition_ids():
    status, body, _ = _call(build_services_app(_oracle()), "GET", "/health")
    assert status == 200
    assert body["data"] == {
        "status": "ok", "avs": "oracle", "services": ["execution", "validation"], "execute": [0, 1],
        "validate": [1, 2, 3, 4], "executeAny": False, "validateAny": False, "onMessage": True,
    }


def test_execution_app_does_not_serve_validation_and_says_what_it_serves():
    status, body, _ = _call(build_execution_app(_oracle()), "POST", "/task/validate", json=task_body())
    _assert_error(status, body, 404, "no route POST /task/validate", "POST /task/execute")


def test_validation_app_reports_only_validation_in_health():
    status, body, _ = _call(build_validation_app(_oracle()), "GET", "/health")
    assert body["data"]["services"] == ["validation"] and body["data"]["execute"] == []


def test_wrong_method_is_405_with_a_json_error():
    status, body, _ = _call(build_validation_app(_oracle()), "GET", "/task/validate")
    _assert_error(status, body, 405, "use POST")


def test_request_id_header_is_echoed_or_generated():
    _, _, headers = _call(build_services_app(_oracle()), "GET", "/health", headers={"X-Request-Id": "trace-42"})
    assert headers["X-Request-Id"] == "trace-42"
    _, _, headers = _call(build_services_app(_oracle()), "GET", "/health", headers={"X-Request-Id": "a b;c"})
    assert len(headers["X-Request-Id"]) == 12 and " " not in headers["X-Request-Id"]


class _Records(logging.Handler):
    """Collects records of a logger of our own, whatever the session's logging setup does."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _logged(name: str) -> tuple[logging.Logger, _Records]:
    logger = logging.getLogger(f"test.avs.{name}")
    logger.setLevel(logging.INFO)
    logger.propagate = False
    records = _Records()
    logger.handlers[:] = [records]
    return logger, records


def test_each_request_step_logs_one_structured_line():
    logger, records = _logged("steps")
    _call(build_validation_app(_oracle(), logger=logger), "POST", "/task/validate", json=task_body(),
          headers={"X-Request-Id": "req-1"})
    lines = records.records
    assert [r.event for r in lines] == ["task.validate.start", "task.validate.done", "request.answered"]
    assert all("\n" not in r.getMessage() and "request_id=req-1" in r.getMessage() for r in lines)
    assert "vote=approve" in lines[1].getMessage()
    assert lines[2].fields["status"] == 200
    assert lines[1].fields["step"] == "task.validate.done" and lines[1].fields["request_id"] == "req-1"


def test_failed_request_logs_a_warning_with_its_message():
    logger, records = _logged("failures")
    _call(build_validation_app(_oracle(), logger=logger), "POST", "/task/validate", data=b"{")
    failed = [r for r in records.records if r.event == "request.failed"]
    assert len(failed) == 1 and failed[0].levelno == logging.WARNING
    assert failed[0].fields["status"] == 400 and "malformed JSON" in failed[0].fields["message"]


# -- running: ServiceRunner, serve, ServiceThread -------------------------------------------------


def test_service_runner_binds_a_free_port_and_releases_it_on_stop():
    async def scenario():
        runner = ServiceRunner(build_services_app(_oracle()), "127.0.0.1", 0)
        url = await runner.start()
        assert url == f"http://127.0.0.1:{runner.port}"
        async with aiohttp.ClientSession() as session:
            async with session.get(url + "/health") as response:
                assert (await response.json())["data"]["avs"] == "oracle"
        port = runner.port
        await runner.stop()
        with pytest.raises(aiohttp.ClientConnectorError):
            async with aiohttp.ClientSession() as session:
                await session.get(f"http://127.0.0.1:{port}/health")

    run(scenario())


def test_service_runner_on_a_taken_port_fails_and_can_be_retried():
    async def scenario():
        async with ServiceRunner(build_services_app(_oracle())) as first:
            second = ServiceRunner(build_services_app(_oracle()), "127.0.0.1", first.port)
            with pytest.raises(OSError):
                await second.start()
            with pytest.raises(RuntimeError, match="not running"):
                second.url

    run(scenario())


def test_serve_reports_its_url_and_stops_cleanly_when_cancelled():
    async def scenario():
        ready: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        task = asyncio.create_task(serve(build_services_app(_oracle()), "127.0.0.1", 0, ready=ready.set_result))
        url = await asyncio.wait_for(ready, 5)
        async with aiohttp.ClientSession() as session:
            async with session.get(url + "/health") as response:
                assert response.status == 200
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return url

    url = run(scenario())
    with pytest.raises(OSError):
        urllib.request.urlopen(url + "/health", timeout=2)


def test_service_thread_serves_synchronous_callers():
    with ServiceThread(build_validation_app(_oracle())) as service:
        request = urllib.request.Request(
            service.url + "/task/validate", data=json.dumps(task_body()).encode(), method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            assert json.loads(response.read()) == {"data": True, "error": False, "message": None}
        url = service.url
    with pytest.raises(OSError):
        urllib.request.urlopen(url + "/health", timeout=2)


def test_performer_comes_back_checksummed_to_the_validate_function():
    avs = Avs("oracle")
    seen = []

    @avs.validate(1)
    def check(task):
        seen.append(task.performer)
        return True

    _call(build_validation_app(avs), "POST", "/task/validate", json=task_body(performer=PERFORMER_LOWER))
    assert seen == [PERFORMER]
