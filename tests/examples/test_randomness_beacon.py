"""examples/randomness_beacon: the data encoding, execute, and validate against a real chain.

Validation reads the chain head, the definition's attesters, the performer's operator id and its
registered BLS key, so it runs against the anvil Ape started, with the whole system deployed and
four operators registered (``hooked`` in conftest.py); the AVS reaches it over JSON-RPC like a
services process would. Contributions are real BLS signatures by the operators' keys.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json

import ape
import pytest
from eth_abi import encode

from othentic_offchain.avs import Avs, HandlerFailed, Task
from othentic_offchain.crypto import G1Point, KeyPair, round_hash
from othentic_offchain.examples.randomness_beacon.avs import (
    DEFAULT_MAX_AGE,
    DEFAULT_PERIOD,
    decode_contribution,
    encode_contribution,
    install,
)
from othentic_offchain.nodes.performer.election import round_robin
from tests.examples._examples_support import BEACON, CHAIN_ID, STRANGER, contract_fixtures, proof_store

POINT = G1Point.generator() * 12345


def beacon_avs(hooked, proofs=None, **config) -> Avs:
    settings = {"rpc_url": ape.chain.provider.http_uri, "attestation_center": hooked.net.center.address, **config}
    return install(Avs("randomness-beacon", proofs=proofs, config=settings), BEACON)


def head() -> int:
    return ape.chain.blocks.head.number


def turn_start(block: int, period: int = DEFAULT_PERIOD) -> int:
    return block - block % period


@pytest.fixture
def long_chain(hooked):
    """At least two max ages of blocks behind the head, so that old rounds exist."""
    if head() < 3 * DEFAULT_MAX_AGE:
        ape.chain.mine(3 * DEFAULT_MAX_AGE)
    return hooked


def signed(hooked, keys: KeyPair, round_: int, definition: int = BEACON, center: str | None = None) -> G1Point:
    return keys.sign(round_hash(center or hooked.net.center.address, CHAIN_ID, definition, round_))


def contribution(
    hooked,
    round_: int,
    *,
    performer: str | None = None,
    signature: G1Point | None = None,
    definition: int = BEACON,
    period: int = DEFAULT_PERIOD,
) -> Task:
    """The elected operator's honest contribution for ``round_``, unless told otherwise."""
    net = hooked.net
    elected = net.by_id(round_robin(net.members(definition), round_, period))
    if signature is None:
        signature = signed(hooked, elected.keys, round_, definition)
    return Task(
        proof_of_task="bafkreibeaconproof",
        data=encode_contribution(round_, signature),
        task_definition_id=definition,
        performer=performer or elected.address,
    )


def validate_all(avs: Avs, tasks: list[Task]) -> list[bool]:
    async def scenario():
        return [await avs.run_validate(task) for task in tasks]

    return asyncio.run(scenario())


# -- encoding ---------------------------------------------------------------------------------------------


def test_encode_contribution_round_trips_through_decode_contribution():
    data = encode_contribution(1234, POINT)
    assert data == encode(["uint64", "uint256", "uint256"], [1234, POINT.x, POINT.y]) and len(data) == 96
    assert decode_contribution(data) == (1234, POINT)
    assert decode_contribution(encode_contribution(2**64 - 1, G1Point(0, 0))) == (2**64 - 1, G1Point(0, 0))


@pytest.mark.parametrize("length", [0, 32, 64, 95, 97, 128])
def test_decode_contribution_rejects_data_of_the_wrong_length(length):
    with pytest.raises(ValueError, match=f"must be 96 bytes, got {length}"):
        decode_contribution(b"\x01" * length)


def test_decode_contribution_rejects_a_round_beyond_uint64():
    with pytest.raises(Exception, match="Padding bytes"):
        decode_contribution(encode(["uint256", "uint256", "uint256"], [2**64, POINT.x, POINT.y]))


# -- execute -------------------------------------------------------------------------------------------


def _hex(point: G1Point) -> str:
    return "0x" + (point.x.to_bytes(32, "big") + point.y.to_bytes(32, "big")).hex()


def test_execute_submits_the_performers_round_signature_and_stores_it(hooked, tmp_path):
    signature = signed(hooked, hooked.net.operators[0].keys, 40)

    async def scenario():
        async with proof_store(tmp_path) as store:
            avs = beacon_avs(hooked, store.client)
            params = {"blockNumber": 40, "trigger": "blocks", "roundSignature": _hex(signature)}
            first = await avs.run_execute(BEACON, params)
            again = await avs.run_execute(BEACON, params)
            proof = json.loads(await store.client.get(first.proof_of_task))
            return first, again, proof

    first, again, proof = asyncio.run(scenario())
    assert decode_contribution(first.data) == (40, signature)
    assert proof == {"round": 40, "signature": _hex(signature)}
    assert again.data == first.data  # one value per round: nothing fresh to pick


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"blockNumber": 40}, "needs blockNumber and roundSignature"),
        ({"roundSignature": _hex(POINT)}, "needs blockNumber and roundSignature"),
        ({"blockNumber": 40, "roundSignature": "0x1234"}, "0x and 128 hex digits"),
        ({"blockNumber": 40, "roundSignature": _hex(G1Point(1, 3))}, "not a point of G1"),
        ({"blockNumber": 40, "roundSignature": _hex(G1Point(0, 0))}, "point at infinity"),
    ],
    ids=["no-signature", "no-round", "short", "off-curve", "infinity"],
)
def test_execute_fails_with_a_reason_without_a_well_formed_round_signature(hooked, params, message):
    with pytest.raises(HandlerFailed, match=message):
        asyncio.run(beacon_avs(hooked).run_execute(BEACON, params))


# -- validate ----------------------------------------------------------------------------------------------


def test_validate_approves_the_elected_performers_signature_over_a_recent_round(long_chain):
    start = turn_start(head())
    rounds = [start, start - DEFAULT_PERIOD, start - 3 * DEFAULT_PERIOD]
    if head() - (start - 4 * DEFAULT_PERIOD) <= DEFAULT_MAX_AGE:
        rounds.append(start - 4 * DEFAULT_PERIOD)
    verdicts = validate_all(beacon_avs(long_chain), [contribution(long_chain, r) for r in rounds])
    assert verdicts == [True] * len(rounds)


def test_validate_rejects_a_contribution_that_is_not_the_performers_round_signature(long_chain):
    net = long_chain.net
    round_ = turn_start(head()) - DEFAULT_PERIOD
    elected = net.by_id(round_robin(net.members(BEACON), round_, DEFAULT_PERIOD))
    other = next(op for op in net.operators if op.id != elected.id)
    tasks = [
        contribution(long_chain, round_, signature=POINT),  # a point of the performer's choosing
        contribution(long_chain, round_, signature=signed(long_chain, other.keys, round_)),  # another key
        contribution(long_chain, round_, signature=signed(long_chain, elected.keys, round_ + 1)),  # another round
        contribution(long_chain, round_, signature=signed(long_chain, elected.keys, round_, definition=1)),
        contribution(long_chain, round_, signature=signed(long_chain, elected.keys, round_, center=STRANGER)),
        contribution(long_chain, round_, signature=-signed(long_chain, elected.keys, round_)),  # its negation
        contribution(long_chain, round_, signature=G1Point(0, 0)),
        contribution(long_chain, round_, signature=G1Point(1, 3)),  # not on the curve
        contribution(long_chain, round_),  # the honest one, for contrast
    ]
    assert validate_all(beacon_avs(long_chain), tasks) == [False] * 8 + [True]


def test_validate_rejects_every_performer_but_the_elected_one(long_chain):
    net = long_chain.net
    round_ = turn_start(head()) - DEFAULT_PERIOD
    elected = round_robin(net.members(BEACON), round_, DEFAULT_PERIOD)
    others = [op for op in net.operators if op.id != elected]
    assert len(others) == 3
    # each signs with its own key: a valid signature, but not the elected operator's round
    tasks = [
        contribution(long_chain, round_, performer=op.address, signature=signed(long_chain, op.keys, round_))
        for op in others
    ]
    tasks.append(contribution(long_chain, round_, performer=STRANGER))
    tasks.append(contribution(long_chain, round_))
    assert validate_all(beacon_avs(long_chain), tasks) == [False, False, False, False, True]


def test_validate_rejects_a_round_that_does_not_start_a_turn(long_chain):
    # Signing any block of its turn would give the performer `period` contributions to choose from.
    start = turn_start(head()) - DEFAULT_PERIOD
    tasks = [contribution(long_chain, start + k) for k in range(1, DEFAULT_PERIOD)]
    assert validate_all(beacon_avs(long_chain), tasks) == [False] * (DEFAULT_PERIOD - 1)


def test_validate_rejects_a_future_round_and_a_round_older_than_max_age(long_chain):
    start = turn_start(head())
    old = turn_start(head() - DEFAULT_MAX_AGE - 1)
    tasks = [contribution(long_chain, r) for r in (start + DEFAULT_PERIOD, start + 50, old, 0)]
    assert validate_all(beacon_avs(long_chain), tasks) == [False, False, False, False]


def test_validate_follows_the_configured_period_and_max_age(long_chain):
    now = head()
    avs = beacon_avs(long_chain, period=1, max_age=3)
    members = long_chain.net.members(BEACON)
    tasks = [contribution(long_chain, now - 3, period=1), contribution(long_chain, now - 4, period=1)]
    # with one block per turn, the operator elected under the default period is usually wrong
    wrong = next(
        r for r in range(now - 3, now + 1) if round_robin(members, r, 1) != round_robin(members, r, DEFAULT_PERIOD)
    )
    tasks.append(contribution(long_chain, wrong, period=DEFAULT_PERIOD))
    assert validate_all(avs, tasks) == [True, False, False]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x01" * 64,
        b"\x01" * 95,
        b"\x01" * 97,
        # 96 bytes, but the round does not fit its uint64: RandomnessBeaconLogic's
        # abi.decode reverts on it, so attesters must reject it (and not fail to
        # answer, which leaves the task without a rejection to land)
        encode(["uint256", "uint256", "uint256"], [2**64, POINT.x, POINT.y]),
    ],
    ids=["empty", "64-bytes", "95-bytes", "97-bytes", "round-beyond-uint64"],
)
def test_validate_rejects_malformed_data(hooked, data):
    task = Task(
        proof_of_task="bafkreibeaconproof",
        data=data,
        task_definition_id=BEACON,
        performer=hooked.net.operators[0].address,
    )
    assert validate_all(beacon_avs(hooked), [task]) == [False]


def test_validate_rejects_a_definition_without_attesters(long_chain):
    net = long_chain.net
    # a minimum voting power above every stake: the definition exists, nobody may attest or perform it
    nobody = net.create_definition(
        dataclasses.replace(
            contract_fixtures.DEFINITION_0, name="nobody", minimum_voting_power=1_000 * contract_fixtures.TOKEN
        )
    )
    assert net.members(nobody) == []
    round_ = turn_start(head())
    task = Task(
        proof_of_task="bafkreibeaconproof",
        data=encode_contribution(round_, signed(long_chain, net.operators[0].keys, round_, nobody)),
        task_definition_id=nobody,
        performer=net.operators[0].address,
    )
    avs = install(
        Avs("beacon-nobody", config={"rpc_url": ape.chain.provider.http_uri, "attestation_center": net.center.address}),
        nobody,
    )
    assert validate_all(avs, [task]) == [False]
