"""The aggregator's parts that need no network: sendTask's params, a task's powers, the submitTask
encoder and the receipt reading of :mod:`othentic_offchain.nodes.aggregator.submit`."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from eth_account import Account
from eth_utils import keccak
from web3 import Web3

from othentic_offchain.chain.artifacts import load_artifact
from othentic_offchain.chain.types import TaskDefinitionParams, TaskInfo, build_submission
from othentic_offchain.chain.view import DefinitionView
from othentic_offchain.crypto import KeyPair
from othentic_offchain.crypto.bn254 import G1Point
from othentic_offchain.nodes.aggregator import params
from othentic_offchain.nodes.aggregator.submit import SubmitTaskEncoder, Submitter, snake_case
from othentic_offchain.nodes.aggregator.work import TaskWork

CENTER = "0x" + "c0" * 20
PERFORMER_KEY = "0x" + keccak(text="parts test performer").hex()
PERFORMER = Account.from_key(PERFORMER_KEY).address


# --- params ---------------------------------------------------------------------------------------


def test_send_task_params_in_othentic_order_with_aliases_and_defaults():
    declared = params.send_task_params(10)
    assert [p.name for p in declared] == [
        "proofOfTask",
        "data",
        "taskDefinitionId",
        "performerAddress",
        "signature",
        "signatureType",
        "targetChainId",
    ]
    by_name = {p.name: p for p in declared}
    assert by_name["performerAddress"].aliases == ("performer",)
    assert by_name["signatureType"].default == "ecdsa" and by_name["targetChainId"].default is None
    assert [p.name for p in declared if p.required] == [
        "proofOfTask",
        "data",
        "taskDefinitionId",
        "performerAddress",
        "signature",
    ]


@pytest.mark.parametrize(
    ("parse", "value", "expected"),
    [
        (params.parse_proof_of_task(5), "abcde", "abcde"),
        (params.parse_definition_id, "0x10", 16),
        (params.parse_definition_id, 65535, 65535),
        (params.parse_address, PERFORMER.lower(), PERFORMER),
        (params.parse_address, "0x" + PERFORMER[2:].upper(), PERFORMER),
        (params.parse_signature, "0x" + "11" * 65, b"\x11" * 65),
        (params.parse_signature_type, " ECDSA ", "ecdsa"),
        (params.parse_signature_type, "bls", "bls"),
        (params.parse_task_hash, "0x" + "22" * 32, b"\x22" * 32),
    ],
)
def test_parsers_accept(parse, value, expected):
    assert parse(value) == expected


@pytest.mark.parametrize(
    ("parse", "value", "message"),
    [
        (params.parse_proof_of_task(5), "abcdef", "6 characters, the limit is 5"),
        (params.parse_definition_id, 65536, "uint16"),
        (params.parse_definition_id, -1, "uint16"),
        (params.parse_address, "0x1234", "40 hex digits"),
        (params.parse_address, "0x" + "zz" * 20, "40 hex digits"),
        (params.parse_address, PERFORMER[:-1] + ("a" if PERFORMER[-1] != "a" else "b"), "checksum"),
        (params.parse_signature, "0x" + "11" * 64, "expected 65 bytes"),
        (params.parse_signature_type, "schnorr", "ecdsa"),
        (params.parse_task_hash, "0x" + "22" * 31, "expected 32 bytes"),
    ],
)
def test_parsers_refuse_saying_why(parse, value, message):
    with pytest.raises(ValueError, match=message):
        parse(value)


# --- a task's powers ------------------------------------------------------------------------------


def _definition(members: dict[int, int]) -> DefinitionView:
    return DefinitionView(id=0, set_id=0, params=TaskDefinitionParams("d"), members=members, block=1)


def test_powers_count_members_only_and_the_decision_follows_the_contracts_thresholds():
    work = TaskWork(b"\x01" * 32, TaskInfo("p", b"", PERFORMER), b"", 0.0)
    point = G1Point.generator()
    definition = _definition({1: 10, 2: 10, 3: 10})
    work.votes = {1: (True, point), 2: (True, point), 9: (True, point)}
    assert work.powers(definition.members) == (20, 0)
    assert work.decided(definition) is None  # 20 of 30 is not more than two thirds
    work.votes[3] = (False, point)
    assert work.powers(definition.members) == (20, 10) and work.decided(definition) is False  # a third rejects
    work.votes[3] = (True, point)
    assert work.decided(definition) is True


# --- submitting -----------------------------------------------------------------------------------


def test_submit_task_calldata_is_what_web3_encodes():
    task = TaskInfo("bafkrei-parts", b"\x01\x02", PERFORMER, 3)
    keys = {i: KeyPair.from_seed(b"parts test key %d" % i) for i in (1, 2)}
    submission = build_submission(
        task,
        is_approved=True,
        tp_signature=task.sign(PERFORMER_KEY, CENTER, 31337),
        attestation_center=CENTER,
        chain_id=31337,
        members=[1, 2, 3],
        signers=keys,
    )
    center = Web3().eth.contract(address=Web3.to_checksum_address(CENTER), abi=load_artifact("IAttestationCenter").abi)
    expected = center.encode_abi("submitTask", [task.abi(), submission.abi()])
    assert "0x" + SubmitTaskEncoder().encode(task, submission).hex() == expected


def test_the_largest_task_data_keeps_submit_task_under_the_mempool_limit():
    """A task at the data and proofOfTask limits, with 500 non-signers, still fits the 128 KiB
    (geth's txMaxSize) transaction, with room for the envelope (nonce, fees, signature)."""
    task = TaskInfo("b" * 1024, b"\xff" * params.MAX_TASK_DATA_BYTES, PERFORMER, 3)
    keys = {i: KeyPair.from_seed(b"parts test key %d" % i) for i in (1, 2)}
    submission = build_submission(
        task,
        is_approved=True,
        tp_signature=task.sign(PERFORMER_KEY, CENTER, 31337),
        attestation_center=CENTER,
        chain_id=31337,
        members=list(range(1, 503)),
        signers=keys,
    )
    calldata = SubmitTaskEncoder().encode(task, submission)
    assert len(calldata) + 1024 < 128 * 1024
    with pytest.raises(ValueError, match=f"the limit is {params.MAX_TASK_DATA_BYTES}"):
        params.parse_task_data("0x" + "ff" * (params.MAX_TASK_DATA_BYTES + 1))


def test_revert_names_become_failure_reasons():
    assert snake_case("QuorumNotReached") == "quorum_not_reached"
    assert snake_case("AggregatorNotActive") == "aggregator_not_active"


def test_the_landing_event_is_read_from_our_receipt_only_for_the_task_and_the_center():
    submitted = keccak(
        text="TaskSubmitted(uint64,uint16,bytes32,address,address,string,bytes,uint32[],uint256,uint256)"
    )
    rejected = keccak(text="TaskRejected(uint64,uint16,bytes32,address,address,string,bytes,uint32[],uint256,uint256)")
    task_hash = b"\x07" * 32
    submitter = Submitter.__new__(Submitter)
    submitter.chain = SimpleNamespace(address=Web3.to_checksum_address(CENTER))

    def log(address, topic, number, hash_):
        return {"address": address, "topics": [topic, number.to_bytes(32, "big"), b"\x00" * 32, hash_]}

    other = "0x" + "ab" * 20
    receipt = {
        "logs": [
            log(other, submitted, 1, task_hash),  # another contract
            log(CENTER, submitted, 2, b"\x08" * 32),  # another task
            log(CENTER, rejected, 42, task_hash),
        ]
    }
    assert submitter._event_in(receipt, task_hash) == (42, False)
    receipt["logs"][2]["topics"][0] = submitted
    assert submitter._event_in(receipt, task_hash) == (42, True)
    assert submitter._event_in({"logs": receipt["logs"][:2]}, task_hash) is None
