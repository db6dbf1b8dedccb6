"""Leader election: pure functions every performer evaluates alike."""

from __future__ import annotations

import math
from collections import Counter

import pytest
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from othentic_offchain.nodes.performer.election import EmptyOperatorSet, round_robin, stake_weighted

operator_ids = st.integers(min_value=1, max_value=2**32 - 1)
member_sets = st.lists(operator_ids, min_size=1, max_size=12, unique=True)
stakes = st.integers(min_value=10**18, max_value=10**24)
seeds = st.binary(min_size=32, max_size=32)


# -- round robin ------------------------------------------------------------------------------------


@given(member_sets, st.integers(0, 10**9), st.integers(1, 20))
def test_round_robin_elects_every_member_exactly_period_times_per_cycle(members, start, period):
    cycle = len(members) * period
    first = start - start % period  # a window aligned on turns
    elected = Counter(round_robin(members, block, period) for block in range(first, first + cycle))
    assert elected == {member: period for member in members}


@given(member_sets, st.integers(0, 10**9), st.integers(1, 20))
def test_round_robin_takes_turns_in_increasing_id_order(members, block, period):
    ordered = sorted(members)
    here = round_robin(members, block, period)
    there = round_robin(members, block + period, period)
    assert ordered.index(there) == (ordered.index(here) + 1) % len(ordered)


@given(member_sets, st.integers(0, 10**9), st.integers(1, 20), st.randoms(use_true_random=False))
def test_round_robin_ignores_input_order_and_duplicates(members, block, period, rng):
    shuffled = list(members) + list(members[:3])
    rng.shuffle(shuffled)
    assert round_robin(shuffled, block, period) == round_robin(sorted(members), block, period)


@given(member_sets, st.integers(0, 10**9), st.integers(1, 20))
def test_round_robin_keeps_a_leader_for_a_whole_period(members, block, period):
    first = block - block % period
    assert {round_robin(members, b, period) for b in range(first, first + period)} == {
        round_robin(members, block, period)
    }


def test_round_robin_known_answers():
    assert [round_robin([7, 3, 5], b) for b in range(6)] == [3, 5, 7, 3, 5, 7]
    assert [round_robin([2, 1], b, period=3) for b in range(7)] == [1, 1, 1, 2, 2, 2, 1]


def test_round_robin_over_nobody_is_a_clear_error():
    with pytest.raises(EmptyOperatorSet, match="empty operator set"):
        round_robin([], 10)


def test_round_robin_refuses_a_period_below_one_and_negative_blocks():
    with pytest.raises(ValueError, match="period"):
        round_robin([1, 2], 5, period=0)
    with pytest.raises(ValueError, match="negative"):
        round_robin([1, 2], -1)


# -- stake weighted ---------------------------------------------------------------------------------


@given(st.dictionaries(operator_ids, stakes, min_size=1, max_size=10), seeds)
def test_stake_weighted_is_deterministic_and_elects_a_member(members, seed):
    leader = stake_weighted(members, seed)
    assert leader in members
    assert stake_weighted(dict(reversed(list(members.items()))), seed) == leader  # order does not matter


@settings(max_examples=15, deadline=None)
@given(st.dictionaries(operator_ids, st.integers(1, 50), min_size=2, max_size=5))
def test_stake_weighted_frequency_follows_stake(weights):
    """Over 6,000 block hashes each member's share stays within 5 standard deviations of its
    stake share (binomial); every member is elected at least once."""
    draws = 6_000
    members = {operator: weight * 10**18 for operator, weight in weights.items()}
    total = sum(members.values())
    elected = Counter(stake_weighted(members, keccak(b"block %d" % n)) for n in range(draws))
    for operator, stake in members.items():
        share = stake / total
        expected = draws * share
        tolerance = 5 * math.sqrt(draws * share * (1 - share)) + 1
        assert abs(elected[operator] - expected) <= tolerance, (operator, elected[operator], expected)
        assert elected[operator] > 0


@given(
    st.dictionaries(operator_ids, stakes, min_size=1, max_size=6), st.lists(operator_ids, min_size=1, max_size=4), seeds
)
def test_members_without_stake_are_never_elected(members, idle, seed):
    with_idle = {**{operator: 0 for operator in idle}, **members}
    assert stake_weighted(with_idle, seed) in members


def test_stake_weighted_known_answers():
    """Pinned: every performer, whatever its version, must elect the same leader from the same
    block hash. Changing the draw is a protocol change."""
    members = {1: 10**18, 2: 3 * 10**18, 3: 6 * 10**18}
    assert [stake_weighted(members, keccak(text=f"block {i}")) for i in range(12)] == [
        3,
        2,
        3,
        2,
        2,
        3,
        3,
        1,
        3,
        1,
        2,
        3,
    ]


def test_a_single_member_is_always_elected():
    assert {stake_weighted({42: 5}, keccak(b"%d" % n)) for n in range(50)} == {42}


def test_stake_weighted_over_nobody_or_no_stake_is_a_clear_error():
    with pytest.raises(EmptyOperatorSet, match="empty operator set"):
        stake_weighted({}, bytes(32))
    with pytest.raises(EmptyOperatorSet, match="without stake"):
        stake_weighted({1: 0, 2: 0}, bytes(32))


def test_stake_weighted_refuses_short_seeds_and_negative_stakes():
    with pytest.raises(ValueError, match="32 bytes"):
        stake_weighted({1: 1}, b"\x00" * 31)
    with pytest.raises(ValueError, match="negative"):
        stake_weighted({1: 5, 2: -1}, bytes(32))
