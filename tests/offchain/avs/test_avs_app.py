"""The programming model: registering functions per definition id and running them safely."""

from __future__ import annotations

import asyncio
import logging
import threading

import pytest
from tests.offchain.avs._avs_support import run, task_body

from othentic_offchain.avs import (
    Avs,
    BadHandlerResult,
    Context,
    Execution,
    HandlerFailed,
    HandlerTimeout,
    NoHandler,
    ProofStoreFailed,
    Task,
)


def _task(definition: int = 1, **overrides) -> Task:
    return Task.model_validate(task_body(taskDefinitionId=definition, **overrides))


class MemoryProofs:
    """A proof store twin: content in, fake CID out."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    async def put(self, content: bytes) -> str:
        cid = f"bafk-{len(self.blobs)}"
        self.blobs[cid] = content
        return cid

    async def get(self, cid: str) -> bytes:
        return self.blobs[cid]


# -- execute --------------------------------------------------------------------------------------


def test_async_execute_function_result_becomes_execution_result():
    avs = Avs("oracle")

    @avs.execute(1)
    async def observe(params: dict, ctx: Context) -> Execution:
        return Execution(proof_of_task=f"cid-{params['pair']}", data=b"42")

    result = run(avs.run_execute(1, {"pair": "ETHUSDT"}))
    assert (result.proof_of_task, result.data, result.task_definition_id) == ("cid-ETHUSDT", b"42", 1)


def test_sync_execute_function_runs_in_a_worker_thread():
    avs = Avs("oracle")
    seen: list[str] = []

    @avs.execute(1)
    def observe(params, ctx):
        seen.append(threading.current_thread().name)
        return Execution(proof_of_task="cid", data=b"")

    run(avs.run_execute(1))
    assert seen and seen[0] != threading.main_thread().name


def test_execute_function_registered_for_several_ids_serves_each():
    avs = Avs("oracle")

    @avs.execute(2, 3)
    async def observe(params, ctx):
        return Execution(proof_of_task=f"cid-{ctx.task_definition_id}")

    assert run(avs.run_execute(2)).proof_of_task == "cid-2"
    assert run(avs.run_execute(3)).proof_of_task == "cid-3"
    assert avs.execute_ids == [2, 3]


def test_default_execute_function_serves_ids_without_a_function_of_their_own():
    avs = Avs("oracle")

    @avs.execute(1)
    async def specific(params, ctx):
        return Execution(proof_of_task="specific")

    @avs.execute()
    async def fallback(params, ctx):
        return Execution(proof_of_task=f"fallback-{ctx.task_definition_id}")

    assert run(avs.run_execute(1)).proof_of_task == "specific"
    assert run(avs.run_execute(9)).proof_of_task == "fallback-9"
    assert avs.has_default_execute


def test_bare_decorator_registers_the_default_function():
    avs = Avs("oracle")

    @avs.validate
    def anything(task):
        return True

    assert run(avs.run_validate(_task(definition=65535))) is True
    assert avs.has_default_validate and avs.validate_ids == []


def test_execute_for_unknown_definition_id_is_no_handler_with_a_4xx_status():
    avs = Avs("oracle")
    with pytest.raises(NoHandler) as info:
        run(avs.run_execute(5))
    assert info.value.status == 422
    assert info.value.message == "no execution logic for task definition 5"


def test_execute_returning_something_else_than_execution_is_500_saying_so():
    avs = Avs("oracle")

    @avs.execute(1)
    async def observe(params, ctx):
        return {"proofOfTask": "cid"}

    with pytest.raises(BadHandlerResult) as info:
        run(avs.run_execute(1))
    assert info.value.status == 500
    assert "returned dict, expected Execution" in info.value.message


def test_execution_proof_bytes_are_stored_and_their_cid_becomes_the_proof_of_task():
    proofs = MemoryProofs()
    avs = Avs("oracle", proofs=proofs)

    @avs.execute(1)
    async def observe(params, ctx):
        assert ctx.proofs is proofs
        return Execution(proof=b'{"price": 42}', data=b"42")

    result = run(avs.run_execute(1))
    assert proofs.blobs[result.proof_of_task] == b'{"price": 42}'


def test_execution_proof_without_a_proof_store_is_500_telling_how_to_configure_one():
    avs = Avs("oracle")

    @avs.execute(1)
    async def observe(params, ctx):
        return Execution(proof=b"blob")

    with pytest.raises(BadHandlerResult) as info:
        run(avs.run_execute(1))
    assert "no proof store is configured" in info.value.message


def test_failing_proof_store_is_502_with_its_error():
    class BrokenProofs(MemoryProofs):
        async def put(self, content: bytes) -> str:
            raise ConnectionError("store down")

    avs = Avs("oracle", proofs=BrokenProofs())

    @avs.execute(1)
    async def observe(params, ctx):
        return Execution(proof=b"blob")

    with pytest.raises(ProofStoreFailed) as info:
        run(avs.run_execute(1))
    assert info.value.status == 502
    assert "ConnectionError: store down" in info.value.message


def test_proof_store_slower_than_the_timeout_is_504():
    class SlowProofs(MemoryProofs):
        async def put(self, content: bytes) -> str:
            await asyncio.sleep(30)
            return "never"

    avs = Avs("oracle", proofs=SlowProofs(), timeout=0.05)

    @avs.execute(1)
    async def observe(params, ctx):
        return Execution(proof=b"blob")

    with pytest.raises(ProofStoreFailed, match="within 0.05 s") as info:
        run(avs.run_execute(1))
    assert info.value.status == 504


def test_proof_store_that_is_not_async_is_refused_when_configured():
    class SyncStore:
        def put(self, content):
            return "cid"

        def get(self, cid):
            return b""

    with pytest.raises(TypeError, match="async put"):
        Avs("oracle", proofs=SyncStore())


# -- Execution ------------------------------------------------------------------------------------


def test_execution_needs_exactly_one_of_proof_of_task_and_proof():
    with pytest.raises(ValueError, match="exactly one"):
        Execution(data=b"")
    with pytest.raises(ValueError, match="exactly one"):
        Execution(proof_of_task="cid", proof=b"blob")


def test_execution_data_must_be_bytes_not_text():
    with pytest.raises(TypeError, match="encode text"):
        Execution(proof_of_task="cid", data="hello")  # type: ignore[arg-type]


def test_execution_fields_are_keyword_only():
    with pytest.raises(TypeError):
        Execution(b"data", "cid")  # type: ignore[misc]


# -- validate -------------------------------------------------------------------------------------


@pytest.mark.parametrize("vote", [True, False])
def test_async_validate_function_vote_is_returned(vote):
    avs = Avs("oracle")

    @avs.validate(1)
    async def check(task: Task, ctx) -> bool:
        return vote

    assert run(avs.run_validate(_task())) is vote


def test_sync_validate_function_sees_the_task():
    avs = Avs("oracle")

    @avs.validate(1)
    def check(task: Task, ctx) -> bool:
        return task.data == b"hello" and ctx.task_definition_id == 1

    assert run(avs.run_validate(_task())) is True


def test_validate_for_unknown_definition_id_is_a_4xx_naming_the_id():
    avs = Avs("oracle")

    @avs.validate(1)
    def check(task):
        return True

    with pytest.raises(NoHandler) as info:
        run(avs.run_validate(_task(definition=7)))
    assert 400 <= info.value.status < 500
    assert info.value.message == "no validation logic for task definition 7"


@pytest.mark.parametrize("answer", [1, None, "true", [True]])
def test_validate_returning_a_non_bool_is_500_saying_so(answer):
    avs = Avs("oracle")

    @avs.validate(1)
    async def check(task, ctx):
        return answer

    with pytest.raises(BadHandlerResult) as info:
        run(avs.run_validate(_task()))
    assert info.value.status == 500
    assert f"returned {type(answer).__name__}" in info.value.message
    assert "expected bool" in info.value.message


def test_raising_function_is_500_carrying_exception_type_and_text():
    avs = Avs("oracle")

    @avs.validate(1)
    async def check(task, ctx):
        raise KeyError("price")

    with pytest.raises(HandlerFailed) as info:
        run(avs.run_validate(_task()))
    assert info.value.status == 500
    assert info.value.message.startswith("validate function check for task definition 1 raised")
    assert "KeyError: 'price'" in info.value.message


def test_raising_sync_function_is_500_too():
    avs = Avs("oracle")

    @avs.execute(1)
    def observe(params, ctx):
        raise ValueError("no pair")

    with pytest.raises(HandlerFailed, match="ValueError: no pair"):
        run(avs.run_execute(1))


def test_async_function_past_its_timeout_is_504_not_a_hang():
    avs = Avs("oracle", timeout=0.05)

    @avs.validate(1)
    async def check(task, ctx):
        await asyncio.sleep(30)
        return True

    with pytest.raises(HandlerTimeout) as info:
        run(avs.run_validate(_task()))
    assert info.value.status == 504
    assert "did not finish within 0.05 s" in info.value.message


def test_sync_function_past_its_timeout_is_504_while_its_thread_runs_on():
    avs = Avs("oracle", timeout=0.05)
    release = threading.Event()

    @avs.validate(1)
    def check(task, ctx):
        release.wait(10)
        return True

    async def scenario():
        try:
            await avs.run_validate(_task())
        finally:
            release.set()  # let the worker thread end so the loop can shut down

    with pytest.raises(HandlerTimeout):
        run(scenario())


def test_per_function_timeout_overrides_the_avs_default():
    avs = Avs("oracle", timeout=30)

    @avs.validate(1, timeout=0.05)
    async def check(task, ctx):
        await asyncio.sleep(30)

    with pytest.raises(HandlerTimeout, match="0.05 s"):
        run(avs.run_validate(_task()))


def test_function_raising_its_own_TimeoutError_is_500_not_504():
    avs = Avs("oracle")

    @avs.validate(1)
    async def check(task, ctx):
        raise TimeoutError("upstream API timed out")

    with pytest.raises(HandlerFailed, match="TimeoutError: upstream API timed out"):
        run(avs.run_validate(_task()))


def test_slow_function_does_not_block_other_calls():
    avs = Avs("oracle", timeout=5)
    other_ran = asyncio.Event()

    @avs.validate(1)
    async def waits(task, ctx):
        await other_ran.wait()  # finishes only if the second call runs meanwhile
        return True

    @avs.validate(2)
    async def signals(task, ctx):
        other_ran.set()
        return False

    async def both():
        return await asyncio.gather(avs.run_validate(_task(1)), avs.run_validate(_task(2)))

    assert run(both()) == [True, False]


# -- messages -------------------------------------------------------------------------------------


def test_message_handler_receives_the_bytes():
    avs = Avs("oracle")
    got: list[bytes] = []

    @avs.on_message
    async def on_message(data: bytes, ctx) -> None:
        got.append(data)

    assert run(avs.run_message(b"\xca\xfe")) is True
    assert got == [b"\xca\xfe"]


def test_message_without_a_handler_is_reported_as_not_handled():
    assert run(Avs("oracle").run_message(b"x")) is False


# -- registration and context ---------------------------------------------------------------------


def test_registering_two_functions_for_one_id_is_refused():
    avs = Avs("oracle")

    @avs.validate(1)
    def first(task):
        return True

    with pytest.raises(ValueError, match="already has a validate function"):

        @avs.validate(1)
        def second(task):
            return True


@pytest.mark.parametrize("bad", [-1, 65536, True, "1"])
def test_decorator_refuses_ids_that_are_not_uint16(bad):
    with pytest.raises((TypeError, ValueError)):
        Avs("oracle").execute(bad)


def test_function_with_a_wrong_signature_is_refused_at_registration():
    with pytest.raises(TypeError, match=r"must take \(input, ctx\) or \(input\)"):

        @Avs("oracle").execute(1)
        def observe(a, b, c):
            return Execution(proof_of_task="cid")


def test_function_may_take_its_input_without_ctx():
    avs = Avs("oracle")

    @avs.execute(1)
    async def observe(params):
        return Execution(proof_of_task=str(sorted(params)))

    assert run(avs.run_execute(1, {"b": 1, "a": 2})).proof_of_task == "['a', 'b']"


def test_context_carries_name_config_logger_and_is_read_only():
    logger = logging.getLogger("test.avs")
    avs = Avs("oracle", config={"api": "https://example.org"}, logger=logger)
    seen: list[Context] = []

    @avs.execute(1)
    def observe(params, ctx: Context):
        seen.append(ctx)
        return Execution(proof_of_task="cid")

    run(avs.run_execute(1))
    ctx = seen[0]
    assert (ctx.avs, ctx.config["api"], ctx.logger, ctx.proofs) == ("oracle", "https://example.org", logger, None)
    with pytest.raises(TypeError):
        ctx.config["api"] = "other"  # type: ignore[index]


def test_timeout_must_be_positive():
    with pytest.raises(ValueError, match="positive"):
        Avs("oracle", timeout=0)
