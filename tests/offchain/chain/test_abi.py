"""othentic_offchain.chain.abi: selectors, topics and canonical types come from the packaged ABIs."""

from __future__ import annotations

import pytest
from eth_utils import keccak

from othentic_offchain.chain import abi
from othentic_offchain.chain.artifacts import load_artifact

_TASK_EVENT_ARGS = "(uint64,uint16,bytes32,address,address,string,bytes,uint32[],uint256,uint256)"


def test_event_topics_are_the_keccak_of_the_declared_signatures():
    assert abi.event_topic("IAttestationCenter", "TaskSubmitted") == keccak(text="TaskSubmitted" + _TASK_EVENT_ARGS)
    assert abi.event_topic("IAttestationCenter", "TaskRejected") == keccak(text="TaskRejected" + _TASK_EVENT_ARGS)
    assert abi.event_topic("IAttestationCenter", "RewardsClaimed") == keccak(
        text="RewardsClaimed(address,address,uint256)"
    )


def test_function_and_error_selectors():
    assert abi.selector("IAttestationCenter", "taskRecord") == keccak(text="taskRecord(bytes32)")[:4]
    assert (
        abi.error_selector("IAttestationCenter", "UnknownTaskDefinition")
        == keccak(text="UnknownTaskDefinition(uint16)")[:4]
    )
    assert abi.ERROR_STRING_SELECTOR == bytes.fromhex("08c379a0")


def test_tuples_are_spelled_out_in_canonical_types():
    assert abi.input_types("IAttestationCenter", "submitTask") == [
        "(string,bytes,address,uint16)",
        "(bool,bytes,(uint256,uint256),(uint256[2],uint256[2]),uint32[])",
    ]
    nested = {
        "type": "tuple[]",
        "components": [{"type": "uint256"}, {"type": "tuple", "components": [{"type": "bytes"}, {"type": "bool"}]}],
    }
    assert abi.canonical_type(nested) == "(uint256,(bytes,bool))[]"
    assert (
        abi.signature({"name": "f", "inputs": [nested, {"type": "address"}]}) == "f((uint256,(bytes,bool))[],address)"
    )


def test_selector_matches_web3s_encoding_of_the_same_function():
    item = abi.function_abi("IAttestationCenter", "submitTask")
    assert item["name"] == "submitTask" and len(item["inputs"]) == 2
    assert abi.selector("IAttestationCenter", "submitTask") == keccak(text=abi.signature(item))[:4]


def test_error_selectors_cover_every_custom_error_of_the_given_abis():
    center = load_artifact("IAttestationCenter").abi
    table = abi.error_selectors([center, load_artifact("BN254").abi])
    names = {name for name, _types in table.values()}
    assert {"UnknownTaskDefinition", "QuorumNotReached", "InvalidAggregateSignature"} <= names
    assert table[keccak(text="UnknownTaskDefinition(uint16)")[:4]] == ("UnknownTaskDefinition", ["uint16"])
    assert len(names) >= len([i for i in center if i.get("type") == "error"])


def test_unknown_or_ambiguous_names_are_refused():
    with pytest.raises(LookupError, match="0 events named 'NoSuchEvent'"):
        abi.event_topic("IAttestationCenter", "NoSuchEvent")
    with pytest.raises(LookupError):
        abi.selector("IAttestationCenter", "noSuchFunction")
