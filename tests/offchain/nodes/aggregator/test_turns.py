"""othentic_offchain.nodes.aggregator.turns: when a node may submit a task, from the schedule alone."""

from __future__ import annotations

from eth_utils import keccak

from othentic_offchain.chain.schedule import Aggregator, AggregatorSchedule
from othentic_offchain.nodes.aggregator.turns import my_position, turn_starts

A, B, C, D = (Aggregator(i, f"0x{i:040x}", f"http://10.0.0.{i}:8545") for i in (1, 2, 3, 4))
THREE = AggregatorSchedule((A, B, C), turn_seconds=2, grace_seconds=1, max_aggregators=8)


def task_on_turn_at(schedule: AggregatorSchedule, first: Aggregator, timestamp: int) -> bytes:
    """A task hash whose turn at ``timestamp`` is ``first``'s."""
    for n in range(100):
        task_hash = keccak(n.to_bytes(32, "big"))
        if schedule.on_turn(task_hash, timestamp) == first:
            return task_hash
    raise AssertionError("no such task hash")


def test_the_aggregator_on_turn_submits_at_once_and_each_backup_once_its_turn_started_and_the_grace_before_passed():
    now = 1000.4  # 0.4 s into the turn that starts at 1000
    task = task_on_turn_at(THREE, A, 1000)
    order = [turn.aggregator for turn in THREE.turns(task, 1000)]
    assert order[0] == A
    assert turn_starts(THREE, task, A.account, now, now) == now
    assert turn_starts(THREE, task, order[1].account, now, now) == 1002 + 1
    assert turn_starts(THREE, task, order[2].account, now, now) == 1004 + 1


def test_the_aggregator_whose_turn_just_ended_waits_for_its_next_turn_despite_its_grace():
    task = task_on_turn_at(THREE, A, 1000)
    previous = THREE.on_turn(task, 999)
    assert THREE.in_grace(task, 1000) == previous  # the contract would still pay it
    assert turn_starts(THREE, task, previous.account, 1000.2, 1000.2) == 1004 + 1  # its next turn


def test_a_node_off_the_list_submits_once_every_listed_turn_and_the_last_grace_passed_since_the_task_was_ready():
    task = task_on_turn_at(THREE, A, 1000)
    ready = 1001.5
    assert turn_starts(THREE, task, D.account, ready, ready) == 1000 + 3 * 2 + 1
    assert turn_starts(THREE, task, D.account, 1005.0, ready) == 1007  # counted from when it was ready


def test_addresses_compare_without_their_checksum_case_and_the_position_is_the_list_order():
    upper = "0x" + B.account[2:].upper()
    assert my_position(THREE, upper) == 1 and my_position(THREE, D.account) is None
    task = task_on_turn_at(THREE, B, 1000)
    assert turn_starts(THREE, task, upper, 1000.0, 1000.0) == 1000.0


def test_after_an_opt_out_the_turns_are_those_of_the_shorter_list():
    task = task_on_turn_at(THREE, A, 1000)
    two = THREE.opted_out(A.operator_id)  # C takes A's place
    assert turn_starts(two, task, A.account, 1000.5, 1000.5) == 1000 + 2 * 2 + 1  # off the list now
    first = two.on_turn(task, 1000)
    assert first is not None and turn_starts(two, task, first.account, 1000.5, 1000.5) == 1000.5


def test_in_the_last_margin_of_its_turn_the_aggregator_leaves_the_task_to_the_next_and_waits_for_its_next_turn():
    task = task_on_turn_at(THREE, A, 1000)  # A's turn: 1000 to 1002; then two backups of 2 s each
    assert turn_starts(THREE, task, A.account, 1001.6, 1001.6, margin=0.3) == 1001.6  # 0.4 s left
    assert turn_starts(THREE, task, A.account, 1001.8, 1001.8, margin=0.3) == 1000 + 3 * 2 + 1
    following = THREE.turns(task, 1000)[1].aggregator
    assert turn_starts(THREE, task, following.account, 1001.8, 1001.8, margin=0.3) == 1002 + 1
    assert turn_starts(THREE, task, following.account, 1002.0, 1001.8, margin=0.3) == 1002.0  # its turn: at once


def test_the_margin_counts_at_most_a_quarter_of_a_turn():
    task = task_on_turn_at(THREE, A, 1000)
    assert turn_starts(THREE, task, A.account, 1001.4, 1001.4, margin=5.0) == 1001.4  # 0.6 s left > 2 / 4
    assert turn_starts(THREE, task, A.account, 1001.6, 1001.6, margin=5.0) == 1000 + 3 * 2 + 1


def test_a_lone_listed_aggregator_submits_at_once_whatever_is_left_of_its_turn():
    alone = AggregatorSchedule((A,), turn_seconds=2, grace_seconds=1, max_aggregators=8)
    assert turn_starts(alone, keccak(b"task"), A.account, 1001.9, 1001.9, margin=0.3) == 1001.9
