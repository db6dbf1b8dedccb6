"""contracts/examples/RandomnessBeaconLogic.sol behind the AvsLogicRouter, through real submissions.

Each approved contribution (the performer's BLS signature over its round) is mixed into the
beacon's value as ``keccak256(previous, keccak256(signature))``: nothing the aggregator chooses
(which signers it aggregates, when it submits) enters the output. Rounds only move forward, and a
stale round makes ``submitTask`` revert with the hook's own ``StaleRound`` error.
"""

from __future__ import annotations

import ape
from eth_abi import encode
from eth_utils import keccak

from othentic_offchain.crypto import G1Point, round_hash
from othentic_offchain.examples.randomness_beacon.avs import encode_contribution
from tests.examples._examples_support import BEACON, CHAIN_ID, submit_expecting_revert


def round_signature(hooked, performer, round_: int) -> G1Point:
    """``performer``'s real contribution for ``round_``: its BLS signature over the round's digest."""
    return performer.keys.sign(round_hash(hooked.net.center.address, CHAIN_ID, BEACON, round_))


def beacon_task(hooked, round_: int, *, performer=None, signature: G1Point | None = None):
    net = hooked.net
    performer = performer or net.operators[1]
    signature = signature or round_signature(hooked, performer, round_)
    return net.task(performer, BEACON, encode_contribution(round_, signature))


def contribute(hooked, round_: int, *, approve: bool = True, performer=None, signature=None):
    net = hooked.net
    task = beacon_task(hooked, round_, performer=performer, signature=signature)
    receipt = net.submit(task, net.submission(task, approve=approve))
    return task, receipt


def mixed(previous: bytes, signature: G1Point) -> bytes:
    contribution = keccak(encode(["uint256", "uint256"], [signature.x, signature.y]))
    return keccak(previous + contribution)


def test_the_beacon_starts_from_a_value_bound_to_its_chain_and_address(hooked):
    beacon = hooked.beacon
    assert bytes(beacon.randomness()) == keccak(encode(["uint256", "address"], [CHAIN_ID, beacon.address]))
    assert (beacon.lastRound(), beacon.contributions()) == (0, 0)
    assert beacon.caller() == hooked.router.address


def test_approved_contributions_are_mixed_in_and_emit_RandomnessUpdated(hooked):
    beacon = hooked.beacon
    performer = hooked.net.operators[2]
    start = bytes(beacon.randomness())
    signature = round_signature(hooked, performer, 10)
    _task, receipt = contribute(hooked, 10, performer=performer, signature=signature)
    expected = mixed(start, signature)
    assert bytes(beacon.randomness()) == expected
    assert (beacon.lastRound(), beacon.contributions()) == (10, 1)
    events = receipt.events.filter(beacon.RandomnessUpdated)
    contribution = keccak(encode(["uint256", "uint256"], [signature.x, signature.y]))
    assert [(e.round, bytes(e.contribution), bytes(e.randomness), e.performer) for e in events] == [
        (10, contribution, expected, performer.address)
    ]

    second = round_signature(hooked, hooked.net.operators[1], 15)
    contribute(hooked, 15, signature=second)
    assert bytes(beacon.randomness()) == mixed(expected, second)
    assert (beacon.lastRound(), beacon.contributions()) == (15, 2)


def test_two_quorum_subsets_aggregated_for_the_same_task_give_the_same_output(hooked):
    # The aggregator picks which signers to aggregate (and when to submit): neither may change the
    # output, or it could grind the beacon by trying subsets (176 quorum subsets of 10 equal stakes).
    beacon = hooked.beacon
    net = hooked.net
    task = beacon_task(hooked, 25)
    first_three = net.submission(task, signers=net.operators[:3])
    last_three = net.submission(task, signers=net.operators[1:])
    assert first_three.ta_signature != last_three.ta_signature  # two different aggregates
    start = bytes(beacon.randomness())

    snapshot = ape.chain.snapshot()
    net.submit(task, first_three)
    with_first = bytes(beacon.randomness())
    ape.chain.restore(snapshot)
    assert bytes(beacon.randomness()) == start and net.center.taskRecord(task.task_hash()).taskNumber == 0
    ape.chain.mine(7)  # and a later block, another timestamp
    net.submit(task, last_three)
    with_last = bytes(beacon.randomness())

    assert with_first == with_last == mixed(start, round_signature(hooked, net.operators[1], 25))


def test_a_rejected_contribution_lands_without_changing_the_beacon(hooked):
    beacon = hooked.beacon
    start = bytes(beacon.randomness())
    task, receipt = contribute(hooked, 10, approve=False)
    assert hooked.net.center.taskRecord(task.task_hash()).taskNumber == 1
    assert not list(receipt.events.filter(beacon.RandomnessUpdated))
    assert bytes(beacon.randomness()) == start
    assert (beacon.lastRound(), beacon.contributions()) == (0, 0)


def test_a_stale_round_makes_submitTask_revert_with_StaleRound(hooked, reverts_with):
    beacon = hooked.beacon
    net = hooked.net
    contribute(hooked, 20)
    # one real transaction, then a simulation of the same call (see submit_expecting_revert)
    for stale, transact in ((20, True), (1, False)):
        task = beacon_task(hooked, stale, performer=net.operators[2])
        with reverts_with(beacon.StaleRound, stale, 20):
            submit_expecting_revert(net, task, transact=transact)
        assert net.center.taskRecord(task.task_hash()).taskNumber == 0
    assert (beacon.lastRound(), beacon.contributions()) == (20, 1)
    contribute(hooked, 21)  # the next round is welcome
    assert (beacon.lastRound(), beacon.contributions()) == (21, 2)


def test_round_zero_is_stale_from_the_start(hooked, reverts_with):
    with reverts_with(hooked.beacon.StaleRound, 0, 0):
        submit_expecting_revert(hooked.net, beacon_task(hooked, 0))


def test_a_rejected_stale_round_still_lands(hooked):
    # Attesters that reject a stale contribution must be able to land their rejection.
    contribute(hooked, 20)
    task, _receipt = contribute(hooked, 5, approve=False)
    record = hooked.net.center.taskRecord(task.task_hash())
    assert (record.taskNumber > 0, record.isApproved) == (True, False)
    assert hooked.beacon.lastRound() == 20


def test_malformed_beacon_data_makes_the_submission_revert_with_MalformedBeaconData(hooked, reverts_with):
    net = hooked.net
    # 64 bytes: the old (round, value) layout
    for data, approve in ((b"", True), (b"\x01" * 64, True), (b"\x01" * 128, True), (b"\x01" * 64, False)):
        task = net.task(net.operators[1], BEACON, data)
        with reverts_with(hooked.beacon.MalformedBeaconData, len(data)):
            submit_expecting_revert(net, task, approve=approve)
    assert hooked.beacon.contributions() == 0


def test_the_beacon_hooks_refuse_anyone_but_their_caller(hooked, accounts, reverts_with):
    stranger = accounts[12]
    task = beacon_task(hooked, 5).abi()
    with reverts_with(hooked.beacon.NotCaller, stranger.address):
        hooked.beacon.afterTaskSubmission(task, True, b"", (0, 0), [], sender=stranger, skip_trace=True)
    with reverts_with(hooked.beacon.NotCaller, stranger.address):
        hooked.beacon.beforeTaskSubmission(task, True, b"", (0, 0), [], sender=stranger)
    assert hooked.beacon.contributions() == 0
