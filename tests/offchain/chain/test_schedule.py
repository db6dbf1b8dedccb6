"""othentic_offchain.chain.schedule without a chain: turns, grace, the reward rule, the list order.

That the contract computes the same is checked against ``aggregatorTurn`` in
tests/contracts/test_aggregators.py.
"""

from __future__ import annotations

from othentic_offchain.chain.schedule import Aggregator, AggregatorSchedule, turn_position

A, B, C = (Aggregator(i, f"0x{i:040x}", f"http://agg-{i}") for i in (1, 2, 3))
HASH = (7).to_bytes(32, "big")  # 7 mod 3 = 1: the task starts at position 1 at turn 0


def test_the_task_hash_picks_the_start_and_each_turn_moves_one_place_down_the_list():
    assert [turn_position(HASH, t, 3, 10) for t in (0, 9, 10, 19, 20, 30)] == [1, 1, 2, 2, 0, 1]


def test_turns_list_every_aggregator_from_the_one_on_turn_with_its_start():
    schedule = AggregatorSchedule((A, B, C), turn_seconds=10, grace_seconds=2)
    turns = schedule.turns(HASH, 25)
    assert [(t.aggregator, t.starts, t.ends) for t in turns] == [(A, 20, 30), (B, 30, 40), (C, 40, 50)]
    assert schedule.on_turn(HASH, 25) == A


def test_the_aggregator_before_is_in_grace_for_the_first_seconds_of_a_turn():
    schedule = AggregatorSchedule((A, B, C), turn_seconds=10, grace_seconds=2)
    assert (schedule.on_turn(HASH, 20), schedule.in_grace(HASH, 20)) == (A, C)
    assert (schedule.on_turn(HASH, 21), schedule.in_grace(HASH, 21)) == (A, C)
    assert schedule.in_grace(HASH, 22) is None
    assert schedule.earns_reward(HASH, 21, C.operator_id) and schedule.earns_reward(HASH, 21, A.operator_id)
    assert not schedule.earns_reward(HASH, 22, C.operator_id)
    assert not schedule.earns_reward(HASH, 21, B.operator_id)


def test_a_single_aggregator_is_always_on_turn_and_never_in_grace():
    schedule = AggregatorSchedule((B,), turn_seconds=10, grace_seconds=5)
    assert all(schedule.on_turn(HASH, t) == B and schedule.in_grace(HASH, t) is None for t in range(0, 40, 3))


def test_with_no_aggregator_nobody_is_on_turn_and_every_operator_earns_the_reward():
    schedule = AggregatorSchedule((), turn_seconds=0)
    assert not schedule.active
    assert schedule.on_turn(HASH, 100) is None and schedule.in_grace(HASH, 100) is None
    assert schedule.turns(HASH, 100) == []
    assert schedule.earns_reward(HASH, 100, 42)


def test_opting_out_moves_the_last_aggregator_into_the_gap():
    schedule = AggregatorSchedule((A, B, C), turn_seconds=10)
    assert schedule.opted_out(1).aggregators == (C, B)
    assert schedule.opted_out(3).aggregators == (A, B)
    assert schedule.opted_out(1).opted_in(A).aggregators == (C, B, A)
