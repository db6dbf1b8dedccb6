"""Wire models: aliases, hex bytes, checksummed addresses, uint16 ids, answer envelopes."""

from __future__ import annotations

import json

import pytest
from tests.offchain.avs._avs_support import PERFORMER, PERFORMER_LOWER, task_body
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from othentic_offchain.avs.models import (
    CustomMessage,
    ErrorResponse,
    ExecutionRequest,
    ExecutionResponse,
    ExecutionResult,
    MessageResponse,
    Task,
    ValidationResponse,
    describe_validation_error,
)


def _error_text(body: dict) -> str:
    with pytest.raises(ValidationError) as info:
        Task.model_validate(body)
    return describe_validation_error(info.value)


# -- Task -----------------------------------------------------------------------------------------


def test_task_reads_othentic_camel_case_fields_into_snake_case_attributes():
    task = Task.model_validate(task_body())
    assert task.proof_of_task.startswith("bafk")
    assert task.data == b"hello"
    assert task.task_definition_id == 1
    assert task.performer == PERFORMER


def test_task_accepts_task_definition_id_spelled_taskDefinitionID():
    body = task_body(taskDefinitionId=..., taskDefinitionID=7)
    assert "taskDefinitionId" not in body
    assert Task.model_validate(body).task_definition_id == 7


def test_task_serializes_with_camel_case_names_and_0x_hex_data():
    wire = Task.model_validate(task_body(taskDefinitionId=..., taskDefinitionID=3)).to_wire()
    assert wire == {
        "proofOfTask": task_body()["proofOfTask"],
        "data": "0x68656c6c6f",
        "taskDefinitionId": 3,
        "performer": PERFORMER,
    }


def test_task_can_be_built_from_python_with_bytes_and_snake_case_names():
    task = Task(proof_of_task="cid", data=b"\x00\xff", task_definition_id=0, performer=PERFORMER_LOWER)
    assert task.to_wire()["data"] == "0x00ff"


def test_task_ignores_unknown_fields_such_as_targetChainId():
    task = Task.model_validate(task_body(targetChainId=8453))
    assert "targetChainId" not in task.to_wire()


def test_task_is_immutable():
    task = Task.model_validate(task_body())
    with pytest.raises(ValidationError):
        task.data = b"other"  # type: ignore[misc]


@given(
    proof=st.text(max_size=80),
    data=st.binary(max_size=200),
    definition=st.integers(min_value=0, max_value=65535),
    performer=st.binary(min_size=20, max_size=20),
)
def test_task_survives_a_json_round_trip_unchanged(proof, data, definition, performer):
    task = Task(proof_of_task=proof, data=data, task_definition_id=definition, performer="0x" + performer.hex())
    again = Task.model_validate(json.loads(json.dumps(task.to_wire())))
    assert again == task


# -- data: 0x-hex only ----------------------------------------------------------------------------


def test_data_accepts_0x_alone_as_empty_bytes():
    assert Task.model_validate(task_body(data="0x")).data == b""


def test_data_accepts_uppercase_hex_and_prefix():
    assert Task.model_validate(task_body(data="0XABCD")).data == b"\xab\xcd"


def test_data_rejects_hex_without_0x_prefix_with_a_clear_message():
    message = _error_text(task_body(data="68656c6c6f"))
    assert message.startswith("data: ")
    assert "0x-prefixed hex" in message


def test_data_rejects_plain_text():
    assert "0x-prefixed hex" in _error_text(task_body(data="hello"))


def test_data_rejects_odd_number_of_hex_digits():
    assert "odd number of digits" in _error_text(task_body(data="0xabc"))


def test_data_rejects_non_hex_characters():
    assert "characters other than" in _error_text(task_body(data="0xzz"))


def test_data_rejects_numbers_and_lists():
    assert "got int" in _error_text(task_body(data=1234))
    assert "got list" in _error_text(task_body(data=[1, 2]))


# -- performer: EVM address, checksummed ----------------------------------------------------------


def test_performer_in_lowercase_is_checksummed():
    assert Task.model_validate(task_body(performer=PERFORMER_LOWER)).performer == PERFORMER


def test_performer_in_uppercase_is_checksummed():
    upper = "0x" + PERFORMER[2:].upper()
    assert Task.model_validate(task_body(performer=upper)).performer == PERFORMER


def test_performer_with_wrong_mixed_case_checksum_is_rejected():
    broken = PERFORMER[:3] + PERFORMER[3].swapcase() + PERFORMER[4:]  # 0x5B38 -> 0x5b38 breaks EIP-55
    assert broken != PERFORMER and broken.lower() != broken
    message = _error_text(task_body(performer=broken))
    assert message.startswith("performer: ")
    assert "EIP-55 checksum" in message


@pytest.mark.parametrize("bad", ["0x1234", PERFORMER + "00", PERFORMER[2:], "0x" + "g" * 40, 42])
def test_performer_that_is_not_an_address_is_rejected(bad):
    assert "performer: expected an EVM address" in _error_text(task_body(performer=bad))


# -- taskDefinitionId: uint16 ---------------------------------------------------------------------


@pytest.mark.parametrize("definition", [0, 1, 65535])
def test_task_definition_id_accepts_the_uint16_range(definition):
    assert Task.model_validate(task_body(taskDefinitionId=definition)).task_definition_id == definition


@pytest.mark.parametrize("definition", [-1, 65536, 2**255])
def test_task_definition_id_outside_uint16_is_rejected(definition):
    assert _error_text(task_body(taskDefinitionId=definition)).startswith("taskDefinitionId: Input should be")


def test_task_definition_id_rejects_booleans():
    assert "got a boolean" in _error_text(task_body(taskDefinitionId=True))


def test_task_definition_id_rejects_fractions_but_takes_integral_strings():
    assert "fractional part" in _error_text(task_body(taskDefinitionId=1.5))
    assert Task.model_validate(task_body(taskDefinitionId="12")).task_definition_id == 12


def test_missing_fields_are_each_named():
    message = _error_text({"data": "0x"})
    assert "proofOfTask: field required" in message
    assert "taskDefinitionId: field required" in message
    assert "performer: field required" in message


# -- execution request and answer -----------------------------------------------------------------


def test_execution_request_without_id_means_definition_zero():
    request = ExecutionRequest.model_validate({})
    assert request.task_definition_id == 0
    assert request.params == {}


def test_execution_request_keeps_unknown_fields_as_parameters():
    request = ExecutionRequest.model_validate({"taskDefinitionId": 2, "pair": "ETHUSDT", "depth": {"n": 3}})
    assert request.task_definition_id == 2
    assert request.params == {"pair": "ETHUSDT", "depth": {"n": 3}}


def test_execution_request_accepts_taskDefinitionID_and_does_not_count_it_as_a_parameter():
    request = ExecutionRequest.model_validate({"taskDefinitionID": 5, "x": 1})
    assert request.task_definition_id == 5
    assert request.params == {"x": 1}


def test_execution_request_rejects_out_of_range_id():
    with pytest.raises(ValidationError):
        ExecutionRequest.model_validate({"taskDefinitionId": 70000})


def test_execution_answer_has_othentic_shape():
    result = ExecutionResult(proof_of_task="cid", data=b"\x01", task_definition_id=4)
    assert ExecutionResponse(data=result).to_wire() == {
        "data": {"proofOfTask": "cid", "data": "0x01", "taskDefinitionId": 4},
        "error": False,
        "message": "Task executed successfully",
    }


# -- answers --------------------------------------------------------------------------------------


@pytest.mark.parametrize("vote", [True, False])
def test_validation_answer_has_othentic_shape(vote):
    assert ValidationResponse(data=vote).to_wire() == {"data": vote, "error": False, "message": None}


def test_error_answer_has_null_data_and_error_true():
    assert ErrorResponse(message="boom").to_wire() == {"data": None, "error": True, "message": "boom"}


def test_custom_message_carries_hex_bytes():
    assert CustomMessage.model_validate({"data": "0xcafe"}).data == b"\xca\xfe"
    assert CustomMessage(data=b"\x01").to_wire() == {"data": "0x01"}
    with pytest.raises(ValidationError):
        CustomMessage.model_validate({"data": "cafe"})


def test_message_answer_says_whether_a_handler_took_it():
    assert MessageResponse(data=False, message="ignored").to_wire() == {
        "data": False, "error": False, "message": "ignored"}
