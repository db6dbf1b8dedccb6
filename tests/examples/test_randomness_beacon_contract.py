"""contracts/examples/RandomnessBeaconLogic.sol behind the AvsLogicRouter, through real submissions.

Each approved contribution is mixed into the beacon's value with the aggregate BLS signature and
the block's prevrandao; rounds only move forward, and a stale round makes ``submitTask`` revert with
the hook's own ``StaleRound`` error.
"""

from __future__ import annotations

import ape
from eth_abi import encode
from eth_utils import keccak

from othentic_offchain.examples.randomness_beacon.avs import encode_contribution
from tests.examples._examples_support import BEACON, CHAIN_ID, submit_expecting_revert


def contribute(hooked, round_: int, value: bytes, *, approve: bool = True, performer=None):
    net = hooked.net
    task = net.task(performer or net.operators[1], BEACON, encode_contribution(round_, value))
    submission = net.submission(task, approve=approve)
    receipt = net.submit(task, submission)
    return task, submission, receipt


def mixed(previous: bytes, value: bytes, submission, block_number: int) -> bytes:
    prevrandao = bytes(ape.chain.provider.web3.eth.get_block(block_number)["mixHash"])
    signature = submission.ta_signature
    return keccak(encode(["bytes32", "bytes32", "uint256", "uint256", "bytes32"],
                         [previous, value, signature.x, signature.y, prevrandao]))


def test_the_beacon_starts_from_a_value_bound_to_its_chain_and_address(hooked):
    beacon = hooked.beacon
    assert bytes(beacon.randomness()) == keccak(encode(["uint256", "address"], [CHAIN_ID, beacon.address]))
    assert (beacon.lastRound(), beacon.contributions()) == (0, 0)
    assert beacon.caller() == hooked.router.address


def test_approved_contributions_are_mixed_in_and_emit_RandomnessUpdated(hooked):
    beacon = hooked.beacon
    performer = hooked.net.operators[2]
    start = bytes(beacon.randomness())
    value = b"\x5a" * 32
    _task, submission, receipt = contribute(hooked, 10, value, performer=performer)
    expected = mixed(start, value, submission, receipt.block_number)
    assert bytes(beacon.randomness()) == expected
    assert (beacon.lastRound(), beacon.contributions()) == (10, 1)
    events = receipt.events.filter(beacon.RandomnessUpdated)
    assert [(e.round, bytes(e.contribution), bytes(e.randomness), e.performer) for e in events] == [
        (10, value, expected, performer.address)]

    second = b"\xa5" * 32
    _task, submission, receipt = contribute(hooked, 15, second)
    assert bytes(beacon.randomness()) == mixed(expected, second, submission, receipt.block_number)
    assert (beacon.lastRound(), beacon.contributions()) == (15, 2)


def test_one_contribution_does_not_decide_the_outcome_alone(hooked):
    # The same value in the same round, signed by different signer sets: the aggregate signature
    # differs, so does the result (a performer cannot pick its contribution to steer the value).
    beacon = hooked.beacon
    net = hooked.net
    value = b"\x42" * 32
    task = net.task(net.operators[1], BEACON, encode_contribution(7, value))
    everyone = net.submission(task)
    three = net.submission(task, signers=net.operators[:3])
    assert everyone.ta_signature != three.ta_signature
    start = bytes(beacon.randomness())
    receipt = net.submit(task, three)
    assert bytes(beacon.randomness()) == mixed(start, value, three, receipt.block_number)
    assert bytes(beacon.randomness()) != mixed(start, value, everyone, receipt.block_number)


def test_a_rejected_contribution_lands_without_changing_the_beacon(hooked):
    beacon = hooked.beacon
    start = bytes(beacon.randomness())
    task, _submission, receipt = contribute(hooked, 10, b"\x01" * 32, approve=False)
    assert hooked.net.center.taskRecord(task.task_hash()).taskNumber == 1
    assert not list(receipt.events.filter(beacon.RandomnessUpdated))
    assert bytes(beacon.randomness()) == start
    assert (beacon.lastRound(), beacon.contributions()) == (0, 0)


def test_a_stale_round_makes_submitTask_revert_with_StaleRound(hooked, reverts_with):
    beacon = hooked.beacon
    net = hooked.net
    contribute(hooked, 20, b"\x01" * 32)
    # one real transaction, then a simulation of the same call (see submit_expecting_revert)
    for stale, transact in ((20, True), (1, False)):
        task = net.task(net.operators[1], BEACON, encode_contribution(stale, b"\x02" * 32))
        with reverts_with(beacon.StaleRound, stale, 20):
            submit_expecting_revert(net, task, transact=transact)
        assert net.center.taskRecord(task.task_hash()).taskNumber == 0
    assert (beacon.lastRound(), beacon.contributions()) == (20, 1)
    contribute(hooked, 21, b"\x03" * 32)  # the next round is welcome
    assert (beacon.lastRound(), beacon.contributions()) == (21, 2)


def test_round_zero_is_stale_from_the_start(hooked, reverts_with):
    net = hooked.net
    task = net.task(net.operators[1], BEACON, encode_contribution(0, b"\x01" * 32))
    with reverts_with(hooked.beacon.StaleRound, 0, 0):
        submit_expecting_revert(net, task)


def test_a_rejected_stale_round_still_lands(hooked):
    # Attesters that reject a stale contribution must be able to land their rejection.
    contribute(hooked, 20, b"\x01" * 32)
    task, _submission, _receipt = contribute(hooked, 5, b"\x02" * 32, approve=False)
    record = hooked.net.center.taskRecord(task.task_hash())
    assert (record.taskNumber > 0, record.isApproved) == (True, False)
    assert hooked.beacon.lastRound() == 20


def test_malformed_beacon_data_makes_the_submission_revert_with_MalformedBeaconData(hooked, reverts_with):
    net = hooked.net
    for data, approve in ((b"", True), (b"\x01" * 32, True), (b"\x01" * 96, True), (b"\x01" * 32, False)):
        task = net.task(net.operators[1], BEACON, data)
        with reverts_with(hooked.beacon.MalformedBeaconData, len(data)):
            submit_expecting_revert(net, task, approve=approve)
    assert hooked.beacon.contributions() == 0


def test_the_beacon_hooks_refuse_anyone_but_their_caller(hooked, accounts, reverts_with):
    stranger = accounts[12]
    task = hooked.net.task(hooked.net.operators[1], BEACON, encode_contribution(5, b"\x01" * 32)).abi()
    with reverts_with(hooked.beacon.NotCaller, stranger.address):
        hooked.beacon.afterTaskSubmission(task, True, b"", (0, 0), [], sender=stranger, skip_trace=True)
    with reverts_with(hooked.beacon.NotCaller, stranger.address):
        hooked.beacon.beforeTaskSubmission(task, True, b"", (0, 0), [], sender=stranger)
    assert hooked.beacon.contributions() == 0
