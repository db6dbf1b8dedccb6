"""The nodes' clients against our services and against stand-ins for foreign ones."""

from __future__ import annotations

import asyncio
import json

import pytest
from tests.offchain.avs._avs_support import PERFORMER, closed_port, run, served, task_body, tiny_server
from aiohttp import web

from othentic_offchain.avs import (
    Avs,
    Execution,
    ExecutionClient,
    MessageClient,
    ServiceError,
    ServiceUnavailable,
    Task,
    ValidationClient,
    build_services_app,
    send_message,
)

TASK = Task.model_validate(task_body())


def _avs() -> Avs:
    avs = Avs("oracle")

    @avs.validate(1)
    def check(task):
        return task.data == b"hello"

    @avs.validate(2)
    def crashes(task):
        raise RuntimeError("price feed down")

    @avs.execute(1)
    async def observe(params, ctx):
        return Execution(proof_of_task="cid-1", data=params.get("text", "").encode())

    return avs


async def _with_our_service(use):
    async with served(build_services_app(_avs())) as client:
        return await use(str(client.make_url("")).rstrip("/"))


def _answering(payload, status: int = 200, *, raw: bytes | None = None, seen: list | None = None):
    """A handler that records the request body and answers ``payload`` (or raw bytes)."""

    async def handler(request: web.Request) -> web.Response:
        if seen is not None:
            seen.append(await request.json())
        if raw is not None:
            return web.Response(status=status, body=raw, content_type="text/html")
        return web.json_response(payload, status=status)

    return handler


def _validate_against(handler, timeout: float = 5.0) -> bool:
    async def scenario():
        async with tiny_server(handler) as url, ValidationClient(url, timeout) as client:
            return await client.validate(TASK)

    return run(scenario())


# -- ValidationClient -----------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "vote"), [("0x68656c6c6f", True), ("0x00", False)])
def test_validation_client_reads_the_vote_of_our_service(data, vote):
    async def use(url):
        async with ValidationClient(url) as client:
            return await client.validate(Task.model_validate(task_body(data=data)))

    assert run(_with_our_service(use)) is vote


@pytest.mark.parametrize("vote", [True, False])
def test_validation_client_accepts_the_data_bool_answer(vote):
    assert _validate_against(_answering({"data": vote, "error": False, "message": None})) is vote


@pytest.mark.parametrize("vote", [True, False])
def test_validation_client_accepts_the_go_example_data_result_answer(vote):
    assert _validate_against(_answering({"data": {"result": vote}, "error": False, "message": None})) is vote


def test_validation_client_sends_the_task_with_both_definition_id_spellings():
    seen: list = []
    _validate_against(_answering({"data": True}, seen=seen))
    assert seen == [{
        "proofOfTask": TASK.proof_of_task, "data": "0x68656c6c6f", "taskDefinitionId": 1,
        "taskDefinitionID": 1, "performer": PERFORMER,
    }]


def test_validation_client_accepts_a_plain_dict_task():
    seen: list = []

    async def scenario():
        async with tiny_server(_answering({"data": True}, seen=seen)) as url, ValidationClient(url) as client:
            return await client.validate(task_body(taskDefinitionId=..., taskDefinitionID=9))

    assert run(scenario()) is True
    assert seen[0]["taskDefinitionId"] == 9


def test_validation_client_takes_the_base_url_or_the_full_endpoint():
    assert ValidationClient("http://host:4002").url == "http://host:4002/task/validate"
    assert ValidationClient("http://host:4002/").url == "http://host:4002/task/validate"
    assert ValidationClient("http://host:4002/task/validate").url == "http://host:4002/task/validate"
    with pytest.raises(ValueError, match="http://"):
        ValidationClient("host:4002")


def test_service_down_is_service_unavailable_naming_the_url():
    url = f"http://127.0.0.1:{closed_port()}"

    async def scenario():
        async with ValidationClient(url, timeout=2) as client:
            await client.validate(TASK)

    with pytest.raises(ServiceUnavailable) as info:
        run(scenario())
    assert f"{url}/task/validate" in str(info.value)
    assert info.value.url == f"{url}/task/validate"


def test_service_slower_than_the_timeout_is_service_unavailable_naming_the_url():
    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(5)
        return web.json_response({"data": True})

    with pytest.raises(ServiceUnavailable, match=r"http://127\.0\.0\.1:\d+/task/validate did not answer within 0\.2 s"):
        _validate_against(slow, timeout=0.2)


def test_500_answer_is_service_error_carrying_the_service_message():
    async def use(url):
        async with ValidationClient(url) as client:
            await client.validate(Task.model_validate(task_body(taskDefinitionId=2)))

    with pytest.raises(ServiceError) as info:
        run(_with_our_service(use))
    assert info.value.status == 500
    assert "RuntimeError: price feed down" in info.value.service_message
    assert "answered 500" in str(info.value) and "price feed down" in str(info.value)


def test_4xx_for_unknown_definition_is_service_error():
    async def use(url):
        async with ValidationClient(url) as client:
            await client.validate(Task.model_validate(task_body(taskDefinitionId=99)))

    with pytest.raises(ServiceError, match="no validation logic for task definition 99") as info:
        run(_with_our_service(use))
    assert info.value.status == 422


def test_error_true_in_a_200_answer_is_service_error_with_its_message():
    handler = _answering({"data": None, "error": True, "message": "quota exceeded"})
    with pytest.raises(ServiceError, match="reported an error: quota exceeded"):
        _validate_against(handler)


@pytest.mark.parametrize("answer", [{"data": "yes"}, {"data": {"result": 1}}, {"data": None}, {"result": True}, [True]])
def test_malformed_answer_is_service_error(answer):
    with pytest.raises(ServiceError, match="malformed answer|not a JSON object"):
        _validate_against(_answering(answer))


def test_non_json_error_page_is_service_error_quoting_it():
    handler = _answering(None, 502, raw=b"<html>Bad Gateway</html>")
    with pytest.raises(ServiceError, match="answered 502: <html>Bad Gateway</html>") as info:
        _validate_against(handler)
    assert info.value.status == 502


def test_client_closes_its_session_on_exit():
    async def scenario():
        async with tiny_server(_answering({"data": True})) as url:
            client = ValidationClient(url)
            async with client:
                await client.validate(TASK)
                session = client._session
                assert session is not None and not session.closed
            return session

    assert run(scenario()).closed


# -- ExecutionClient ------------------------------------------------------------------------------


def test_execution_client_returns_proof_and_data_from_our_service():
    async def use(url):
        async with ExecutionClient(url) as client:
            return await client.execute(1, {"text": "hi"})

    result = run(_with_our_service(use))
    assert (result.proof_of_task, result.data, result.task_definition_id) == ("cid-1", b"hi", 1)


def test_execution_client_takes_text_data_as_othentic_js_example_answers_it():
    answer = {"data": {"proofOfTask": "Qm123", "data": "hello", "taskDefinitionId": 0}, "error": False,
              "message": "Task executed successfully"}

    async def scenario():
        async with tiny_server(_answering(answer), "/task/execute") as url, ExecutionClient(url) as client:
            return await client.execute()

    result = run(scenario())
    assert (result.proof_of_task, result.data, result.task_definition_id) == ("Qm123", b"hello", 0)


def test_execution_client_refuses_the_id_inside_params():
    with pytest.raises(ValueError, match="task_definition_id"):
        run(ExecutionClient("http://127.0.0.1:1").execute(1, {"taskDefinitionId": 2}))


def test_execution_answer_without_proof_is_service_error_naming_the_field():
    answer = {"data": {"data": "0x"}, "error": False, "message": "ok"}

    async def scenario():
        async with tiny_server(_answering(answer), "/task/execute") as url, ExecutionClient(url) as client:
            await client.execute(3)

    with pytest.raises(ServiceError, match="proofOfTask: field required"):
        run(scenario())


def test_execution_answer_for_another_definition_id_is_service_error():
    answer = {"data": {"proofOfTask": "cid", "data": "0x", "taskDefinitionId": 4}, "error": False, "message": "ok"}

    async def scenario():
        async with tiny_server(_answering(answer), "/task/execute") as url, ExecutionClient(url) as client:
            await client.execute(3)

    with pytest.raises(ServiceError, match="taskDefinitionId 4 answered for a request of 3"):
        run(scenario())


# -- custom messages ------------------------------------------------------------------------------


def test_send_message_delivers_bytes_as_hex_and_reports_handled():
    seen: list = []

    async def scenario():
        async with tiny_server(_answering({"data": True, "error": False}, seen=seen), "/p2p/message") as url:
            return await send_message(url, b"\xca\xfe")

    assert run(scenario()) is True
    assert seen == [{"data": "0xcafe"}]


def test_message_client_reports_a_service_without_handler_as_not_handled():
    async def use(url):
        async with MessageClient(url) as client:
            return await client.send(b"\x01")

    assert run(_with_our_service(use)) is False


def test_send_message_to_a_closed_port_is_service_unavailable():
    url = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(ServiceUnavailable, match=f"{url}/p2p/message"):
        run(send_message(url, b"x"))


def test_json_answer_with_a_text_content_type_is_accepted():
    # Hand-written services often forget the content type; the body is what counts.
    async def plain(request: web.Request) -> web.Response:
        return web.Response(text=json.dumps({"data": True}), content_type="text/plain")

    assert _validate_against(plain) is True
