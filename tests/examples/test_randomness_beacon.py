"""examples/randomness_beacon: the data encoding, execute, and validate against a real chain.

Validation reads the chain head, the definition's attesters and the performer's operator id, so it
runs against the anvil Ape started, with the whole system deployed and four operators registered
(``hooked`` in conftest.py); the AVS reaches it over JSON-RPC like a services process would.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json

import ape
import pytest
from eth_abi import encode

from othentic_offchain.avs import Avs, Task
from othentic_offchain.examples.randomness_beacon.avs import (
    DEFAULT_MAX_AGE,
    DEFAULT_PERIOD,
    decode_contribution,
    encode_contribution,
    install,
)
from othentic_offchain.nodes.performer.election import round_robin
from tests.examples._examples_support import BEACON, STRANGER, contract_fixtures, proof_store

VALUE = bytes.fromhex("9c" * 32)


def beacon_avs(hooked, proofs=None, **config) -> Avs:
    settings = {"rpc_url": ape.chain.provider.http_uri, "attestation_center": hooked.net.center.address, **config}
    return install(Avs("randomness-beacon", proofs=proofs, config=settings), BEACON)


def head() -> int:
    return ape.chain.blocks.head.number


@pytest.fixture
def long_chain(hooked):
    """At least two max ages of blocks behind the head, so that old rounds exist."""
    if head() < 3 * DEFAULT_MAX_AGE:
        ape.chain.mine(3 * DEFAULT_MAX_AGE)
    return hooked


def contribution(hooked, round_: int, *, performer: str | None = None, value: bytes = VALUE,
                 definition: int = BEACON, period: int = DEFAULT_PERIOD) -> Task:
    members = hooked.net.members(definition)
    if performer is None:
        performer = hooked.net.by_id(round_robin(members, round_, period)).address
    return Task(proof_of_task="bafkreibeaconproof", data=encode_contribution(round_, value),
                task_definition_id=definition, performer=performer)


def validate_all(avs: Avs, tasks: list[Task]) -> list[bool]:
    async def scenario():
        return [await avs.run_validate(task) for task in tasks]

    return asyncio.run(scenario())


# -- encoding ---------------------------------------------------------------------------------------------


def test_encode_contribution_round_trips_through_decode_contribution():
    data = encode_contribution(1234, VALUE)
    assert data == encode(["uint64", "bytes32"], [1234, VALUE]) and len(data) == 64
    assert decode_contribution(data) == (1234, VALUE)
    assert decode_contribution(encode_contribution(2**64 - 1, b"\x00" * 32)) == (2**64 - 1, b"\x00" * 32)


@pytest.mark.parametrize("length", [0, 32, 63, 65, 96])
def test_decode_contribution_rejects_data_of_the_wrong_length(length):
    with pytest.raises(ValueError, match=f"must be 64 bytes, got {length}"):
        decode_contribution(b"\x01" * length)


def test_decode_contribution_rejects_a_round_beyond_uint64():
    with pytest.raises(Exception, match="Padding bytes"):
        decode_contribution(encode(["uint256", "bytes32"], [2**64, VALUE]))


# -- execute -------------------------------------------------------------------------------------------


def test_execute_contributes_fresh_randomness_for_the_elected_round_and_stores_it(hooked, tmp_path):
    async def scenario():
        async with proof_store(tmp_path) as store:
            avs = beacon_avs(hooked, store.client)
            first = await avs.run_execute(BEACON, {"blockNumber": 42, "trigger": "blocks"})
            second = await avs.run_execute(BEACON, {"blockNumber": 42})
            without_block = await avs.run_execute(BEACON, {})  # a manual call: the chain head's round
            proof = json.loads(await store.client.get(first.proof_of_task))
            return first, second, without_block, proof

    first, second, without_block, proof = asyncio.run(scenario())
    round_, value = decode_contribution(first.data)
    assert round_ == 42 and value != bytes(32)
    assert proof == {"round": 42, "value": "0x" + value.hex()}
    assert decode_contribution(second.data)[0] == 42 and second.data != first.data  # fresh bytes each time
    assert decode_contribution(without_block.data)[0] == head()


# -- validate ----------------------------------------------------------------------------------------------


def test_validate_approves_the_elected_performers_recent_contribution(long_chain):
    now = head()
    rounds = [now, now - 1, now - 7, now - DEFAULT_MAX_AGE]  # up to exactly max_age blocks old
    verdicts = validate_all(beacon_avs(long_chain), [contribution(long_chain, r) for r in rounds])
    assert verdicts == [True] * len(rounds)


def test_validate_rejects_every_performer_but_the_elected_one(long_chain):
    net = long_chain.net
    round_ = head() - 2
    elected = round_robin(net.members(BEACON), round_, DEFAULT_PERIOD)
    others = [op.address for op in net.operators if op.id != elected]
    assert len(others) == 3
    tasks = [contribution(long_chain, round_, performer=a) for a in [*others, STRANGER]]
    tasks.append(contribution(long_chain, round_))
    assert validate_all(beacon_avs(long_chain), tasks) == [False, False, False, False, True]


def test_validate_rejects_a_zero_value(long_chain):
    task = contribution(long_chain, head() - 1, value=bytes(32))
    assert validate_all(beacon_avs(long_chain), [task]) == [False]


def test_validate_rejects_a_future_round_and_a_round_older_than_max_age(long_chain):
    now = head()
    tasks = [contribution(long_chain, r) for r in (now + 1, now + 50, now - DEFAULT_MAX_AGE - 1, 1)]
    assert validate_all(beacon_avs(long_chain), tasks) == [False, False, False, False]


def test_validate_follows_the_configured_period_and_max_age(long_chain):
    now = head()
    avs = beacon_avs(long_chain, period=1, max_age=3)
    members = long_chain.net.members(BEACON)
    tasks = [contribution(long_chain, now - 3, period=1), contribution(long_chain, now - 4, period=1)]
    # with one block per turn, the operator elected under the default period is usually wrong
    wrong = next(r for r in range(now - 3, now + 1)
                 if round_robin(members, r, 1) != round_robin(members, r, DEFAULT_PERIOD))
    tasks.append(contribution(long_chain, wrong, period=DEFAULT_PERIOD))
    assert validate_all(avs, tasks) == [True, False, False]


@pytest.mark.parametrize("data", [b"", b"\x01" * 63, b"\x01" * 65,
                                  # 64 bytes, but the round does not fit its uint64: RandomnessBeaconLogic's
                                  # abi.decode reverts on it, so attesters must reject it (and not fail to
                                  # answer, which leaves the task without a rejection to land)
                                  encode(["uint256", "bytes32"], [2**64, VALUE])],
                         ids=["empty", "63-bytes", "65-bytes", "round-beyond-uint64"])
def test_validate_rejects_malformed_data(hooked, data):
    task = Task(proof_of_task="bafkreibeaconproof", data=data, task_definition_id=BEACON,
                performer=hooked.net.operators[0].address)
    assert validate_all(beacon_avs(hooked), [task]) == [False]


def test_validate_rejects_a_definition_without_attesters(long_chain):
    net = long_chain.net
    # a minimum voting power above every stake: the definition exists, nobody may attest or perform it
    nobody = net.create_definition(dataclasses.replace(
        contract_fixtures.DEFINITION_0, name="nobody", minimum_voting_power=1_000 * contract_fixtures.TOKEN))
    assert net.members(nobody) == []
    task = Task(proof_of_task="bafkreibeaconproof", data=encode_contribution(head() - 1, VALUE),
                task_definition_id=nobody, performer=net.operators[0].address)
    avs = install(Avs("beacon-nobody", config={"rpc_url": ape.chain.provider.http_uri,
                                               "attestation_center": net.center.address}), nobody)
    assert validate_all(avs, [task]) == [False]
