"""Bad input to the aggregator's ``sendTask``: each answered with a JSON-RPC error whose code and
message say what is wrong, and nothing reaches the aggregator's store or the chain."""

from __future__ import annotations

import time

import pytest
from eth_account import Account
from eth_utils import keccak

from tests.e2e.e2e_http import http_json
from tests.e2e.e2e_network import GENERIC, Network

pytestmark = pytest.mark.slow

PARSE_ERROR, METHOD_NOT_FOUND, INVALID_PARAMS = -32700, -32601, -32602
INVALID_SIGNATURE, UNKNOWN_DEFINITION, PERFORMER_NOT_ACTIVE, WRONG_CHAIN = -32001, -32002, -32004, -32005
UNKNOWN_TASK = -32010


def _refused(answer: dict, code: int, *words: str) -> dict:
    assert "result" not in answer, f"accepted: {answer}"
    error = answer["error"]
    assert error["code"] == code, error
    for word in words:
        assert word in error["message"], f"{word!r} not in {error['message']!r}"
    return error


def test_bad_send_task_calls_get_an_error_that_names_the_problem_and_nothing_is_submitted(net: Network):
    count_before = net.task_count()
    stored_before = net.rpc("health")["result"]["tasks"]
    refused_hashes = []

    # A signature by someone else than performerAddress.
    task, _ = net.task(GENERIC, tag="wrong-signer")
    forged = net.sign(task, net.keys[5])
    error = _refused(
        net.rpc("sendTask", net.send_task_params(task, forged)),
        INVALID_SIGNATURE,
        "recovers to",
        net.accounts[5],
        net.performer_account,
    )
    assert error["data"]["taskHash"] == "0x" + task.task_hash().hex()
    refused_hashes.append(task.task_hash())

    # 65 bytes that are no signature at all.
    task, _ = net.task(GENERIC, tag="garbage-signature")
    _refused(net.rpc("sendTask", net.send_task_params(task, b"\x01" * 65)), INVALID_SIGNATURE, "signature")
    refused_hashes.append(task.task_hash())

    # A definition that does not exist (properly signed).
    task, signature = net.task(999, tag="unknown-definition")
    _refused(
        net.rpc("sendTask", net.send_task_params(task, signature)),
        UNKNOWN_DEFINITION,
        "task definition 999 does not exist",
    )
    refused_hashes.append(task.task_hash())

    # A performer that is not an operator: the contract would refuse the task.
    stranger = "0x" + keccak(text="e2e: not an operator").hex()
    task, signature = net.task(GENERIC, tag="stranger", performer_key=stranger)
    _refused(
        net.rpc("sendTask", net.send_task_params(task, signature)),
        PERFORMER_NOT_ACTIVE,
        Account.from_key(stranger).address,
        "not an active operator",
    )
    refused_hashes.append(task.task_hash())

    # Another chain.
    task, signature = net.task(GENERIC, tag="other-chain")
    _refused(
        net.rpc("sendTask", net.send_task_params(task, signature) + ["ecdsa", 1]),
        WRONG_CHAIN,
        "targetChainId 1",
        str(net.record.chain_id),
    )
    refused_hashes.append(task.task_hash())

    # An oversized proof of task (properly signed).
    task, signature = net.task(GENERIC, tag="big-" + "x" * 2000)
    assert len(task.proof_of_task) > 1024
    error = _refused(
        net.rpc("sendTask", net.send_task_params(task, signature)), INVALID_PARAMS, "proofOfTask", "limit is 1024"
    )
    assert error["data"] == {"param": "proofOfTask"}
    refused_hashes.append(task.task_hash())

    # Wrong types, one parameter at a time: the message names the parameter and what it got.
    task, signature = net.task(GENERIC, tag="types")
    good = net.send_task_params(task, signature)
    wrong = [
        (0, 12345, "proofOfTask", "expected a string"),
        (1, 12345, "data", "expected a 0x-prefixed hex string"),
        (1, "hello", "data", "0x-prefixed"),
        (1, "0xzz", "data", "hex"),
        (2, "zero", "taskDefinitionId", "expected an integer"),
        (2, True, "taskDefinitionId", "boolean"),
        (2, 70000, "taskDefinitionId", "uint16"),
        (3, "not-an-address", "performerAddress", "address"),
        (3, 42, "performerAddress", "expected a string"),
        (4, "0x1234", "signature", "65 bytes"),
        (4, ["0x00"], "signature", "an array"),
    ]
    for position, value, name, words in wrong:
        params = list(good)
        params[position] = value
        error = _refused(net.rpc("sendTask", params), INVALID_PARAMS, f"invalid param {name!r}", words)
        assert error["data"] == {"param": name}
    _refused(net.rpc("sendTask", good[:3]), INVALID_PARAMS, "missing param 'performerAddress'")
    _refused(net.rpc("sendTask", good + ["ecdsa", None, "extra"]), INVALID_PARAMS, "too many params")
    refused_hashes.append(task.task_hash())

    # Not JSON at all, and a method that does not exist.
    status, answer = http_json(net.aggregator_url, raw=b'{"jsonrpc": "2.0", "method": "sendTask", "params": [')
    assert status == 200
    _refused(answer, PARSE_ERROR, "not valid JSON")
    assert answer["id"] is None
    error = _refused(net.rpc("sendTasks", good), METHOD_NOT_FOUND, "sendTasks")
    assert error["data"] == {"method": "sendTasks"}

    # None of it was stored or submitted (give a wrongly accepted task time to show up).
    time.sleep(2)
    assert net.rpc("health")["result"]["tasks"] == stored_before
    for task_hash in refused_hashes:
        _refused(net.rpc("taskStatus", ["0x" + task_hash.hex()]), UNKNOWN_TASK, "unknown to this aggregator")
        assert net.task_record(task_hash)[0] == 0
    assert net.task_count() == count_before

    # The same call with good params is accepted: the refusals above were about the input only.
    task_hash = net.send(task, signature)
    (landing,) = net.wait_landed([task_hash])[task_hash]
    assert landing.approved
