"""Functions registered by task definition name serve the id the name is bound to (Avs.bind)."""

from __future__ import annotations

import asyncio

import pytest

from othentic_offchain.avs import Avs, Execution, NoHandler, Task

PERFORMER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


def named_avs() -> Avs:
    avs = Avs("names")

    @avs.execute("echo")
    def echo(params: dict, ctx) -> Execution:
        return Execution(proof_of_task=f"{ctx.task_definition_name}:{ctx.task_definition_id}", data=b"x")

    @avs.validate("echo")
    def check(task: Task) -> bool:
        return task.data == b"x"

    return avs


def task(definition_id: int, data: bytes = b"x") -> Task:
    return Task(proof_of_task="p", data=data, task_definition_id=definition_id, performer=PERFORMER)


def test_a_named_function_serves_the_id_bound_to_its_name():
    avs = named_avs()
    avs.bind({"echo": 7})
    result = asyncio.run(avs.run_execute(7, {}))
    assert (result.proof_of_task, result.task_definition_id) == ("echo:7", 7)
    assert asyncio.run(avs.run_execute("echo", {})).task_definition_id == 7
    assert asyncio.run(avs.run_validate(task(7))) is True
    assert (avs.execute_ids, avs.validate_ids, avs.definition_names) == ([7], [7], ["echo"])


def test_before_binding_a_name_serves_no_id_and_says_so():
    avs = named_avs()
    with pytest.raises(NoHandler, match="no validation logic for task definition 0"):
        asyncio.run(avs.run_validate(task(0)))
    with pytest.raises(NoHandler, match="'echo' has no id on this network"):
        asyncio.run(avs.run_execute("echo", {}))


def test_binding_without_a_name_the_avs_serves_is_refused():
    with pytest.raises(ValueError, match="'echo', which the network does not have .*'other'"):
        named_avs().bind({"other": 1})


def test_binding_two_names_to_one_id_is_refused():
    with pytest.raises(ValueError, match="bound to both"):
        named_avs().bind({"echo": 1, "other": 1})


def test_a_name_registered_twice_is_refused_and_a_bad_name_too():
    avs = named_avs()
    with pytest.raises(ValueError, match="'echo' already has a execute function"):
        avs.execute("echo")(lambda params: Execution(proof_of_task="p"))
    with pytest.raises(ValueError, match="1 to 64 bytes"):
        avs.execute("x" * 65)
    with pytest.raises(ValueError, match="only digits"):
        avs.execute("1")
