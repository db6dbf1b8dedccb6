"""Aggregators and their schedule (docs/decisions/0015-aggregator-schedule.md), through the center.

Opting in and out, the limit and turn settings, leaving and ejection taking an aggregator off the
list; the schedule as the contract applies it to the aggregator reward (the one on turn, or in its
grace, is paid; a copier, an aggregator off turn and anyone landing a task for absent aggregators
are not, and the task still lands); the schedule's edge cases (the list changing while a task is in
flight, a backup racing a late primary); and the Python twin (``othentic_offchain.chain.schedule``)
agreeing with ``aggregatorTurn``.

Block time is set per submission (``chain.pending_timestamp``), so every turn here is exact.
"""

from __future__ import annotations

import dataclasses

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from othentic_offchain.chain.artifacts import load_artifact
from othentic_offchain.chain.schedule import (
    MAX_AGGREGATOR_ENDPOINT_LENGTH,
    MAX_AGGREGATORS,
    Aggregator,
    AggregatorSchedule,
    read_schedule,
    turn_position,
)
from tests.contracts.network import DEFINITION_0, MIN_STAKE, Net

TURN = 12
GRACE = 3
ATTESTER, PERFORMER, AGGREGATOR = (
    DEFINITION_0.attester_reward,
    DEFINITION_0.performer_reward,
    DEFINITION_0.aggregator_reward,
)
FLOW_REGISTRATIONS = 2
MAX_UINT16 = 2**16 - 1


def endpoint(operator) -> str:
    return f"http://aggregator-{operator.id}.example:8545"


def configure(net: Net, max_aggregators: int = 8, turn: int = TURN, grace: int = GRACE):
    return net.center.setAggregatorConfig(max_aggregators, turn, grace, sender=net.admin)


def opt_in(net: Net, operator, url: str | None = None):
    return net.center.optInAsAggregator(url if url is not None else endpoint(operator), sender=operator.account)


def listed(net: Net) -> list[int]:
    return [int(a.operatorId) for a in net.center.activeAggregators()]


def schedule(net: Net) -> AggregatorSchedule:
    """The Python twin, fed from the contract's views."""
    config = net.center.aggregatorConfig()
    return AggregatorSchedule(
        aggregators=tuple(
            Aggregator(int(a.operatorId), str(a.account), str(a.endpoint)) for a in net.center.activeAggregators()
        ),
        turn_seconds=int(config.turnSeconds),
        grace_seconds=int(config.graceSeconds),
        max_aggregators=int(config.maxAggregators),
    )


def task_hash(net: Net, task) -> bytes:
    return bytes(net.center.taskHash(task.abi()))


def turn_of(chain, task_hash_: bytes, position: int, count: int, *, after: int = 0) -> int:
    """The first turn start at least a few seconds ahead (and after ``after``) in which list position
    ``position`` is on turn for the task."""
    start = max(chain.blocks.head.timestamp + 5, after)
    start += -start % TURN
    while turn_position(task_hash_, start, count, TURN) != position:
        start += TURN
    return start


def land(net: Net, chain, task, sender, at: int, submission=None):
    chain.pending_timestamp = at
    submission = submission or net.submission(task)
    receipt = net.center.submitTask(task.abi(), submission.abi(), sender=sender.account, skip_trace=True)
    assert receipt.timestamp == at
    return receipt


def credits(net: Net) -> dict[int, int]:
    return {op.id: int(net.center.claimableRewards(op.account)) for op in net.operators}


def aggregator_rewards(net: Net, before: dict[int, int], performer) -> dict[int, int]:
    """Who was credited more than its attester (and performer) reward since ``before``: the
    aggregator reward's recipients, every operator having signed."""
    after = credits(net)
    extra = {}
    for op in net.operators:
        gained = after[op.id] - before[op.id] - ATTESTER - (PERFORMER if op.id == performer.id else 0)
        if gained:
            extra[op.id] = gained
    return extra


def forfeited(net: Net, receipt) -> list[tuple[bytes, str, int]]:
    return [
        (bytes(e.taskHash), str(e.aggregator), int(e.amount))
        for e in receipt.events.filter(net.center.AggregatorRewardForfeited)
    ]


@pytest.fixture
def three(net4) -> Net:
    """``net4`` with operators 1, 2 and 3 opted in as aggregators (in that order), turns of 12 s with
    3 s of grace; operator 4 is a plain operator (the performer, or a copier)."""
    configure(net4)
    for operator in net4.operators[:3]:
        opt_in(net4, operator)
    return net4


# --- configuration -----------------------------------------------------------------------------------


def test_a_fresh_deployment_has_no_aggregator_and_admits_none(net4, reverts_with):
    config = net4.center.aggregatorConfig()
    assert (config.maxAggregators, config.count, config.turnSeconds, config.graceSeconds) == (0, 0, 0, 0)
    assert listed(net4) == []
    assert net4.center.aggregatorTurn(b"\x07" * 32, 10**9) == (0, 0)
    with reverts_with(net4.center.AggregatorLimitReached, 0):
        opt_in(net4, net4.operators[0])


def test_setAggregatorConfig_stores_the_settings_and_emits_AggregatorConfigUpdated(net4):
    receipt = configure(net4, 5, 30, 7)
    events = list(receipt.events.filter(net4.center.AggregatorConfigUpdated))
    assert [(e.maxAggregators, e.turnSeconds, e.graceSeconds) for e in events] == [(5, 30, 7)]
    config = net4.center.aggregatorConfig()
    assert (config.maxAggregators, config.count, config.turnSeconds, config.graceSeconds) == (5, 0, 30, 7)


def test_setAggregatorConfig_accepts_the_bounds(net4):
    configure(net4, MAX_AGGREGATORS, 1, 0)
    configure(net4, 0, 2**32 - 1, 2**32 - 2)
    config = net4.center.aggregatorConfig()
    assert (config.maxAggregators, config.turnSeconds, config.graceSeconds) == (0, 2**32 - 1, 2**32 - 2)


@pytest.mark.parametrize(
    "settings_",
    [(MAX_AGGREGATORS + 1, TURN, 0), (MAX_UINT16, TURN, 0), (4, 0, 0), (4, TURN, TURN), (4, TURN, TURN + 1)],
    ids=["above-64", "uint16-max", "zero-turn", "grace-equal-to-turn", "grace-longer-than-turn"],
)
def test_setAggregatorConfig_reverts_InvalidAggregatorConfig(net4, reverts_with, settings_):
    with reverts_with(net4.center.InvalidAggregatorConfig, *settings_):
        net4.center.setAggregatorConfig(*settings_, sender=net4.admin)


def test_setAggregatorConfig_is_for_the_admin_only(net4, reverts_with):
    operator = net4.operators[0]
    with reverts_with(net4.center.AccessControlUnauthorizedAccount, operator.address, b"\x00" * 32):
        net4.center.setAggregatorConfig(4, TURN, 0, sender=operator.account)


def test_aggregator_functions_refuse_a_direct_call_to_the_module(net4, reverts_with):
    with reverts_with(net4.definitions_module.NotDelegated):
        net4.definitions_module.optInAsAggregator("http://a", sender=net4.operators[0].account)
    with reverts_with(net4.definitions_module.NotDelegated):
        net4.definitions_module.setAggregatorConfig(4, TURN, 0, sender=net4.admin)
    with reverts_with(net4.definitions_module.NotDelegated):
        net4.definitions_module.setAggregatorEndpoint("http://a", sender=net4.operators[0].account)
    with reverts_with(net4.definitions_module.NotDelegated):
        net4.definitions_module.optOutAsAggregator(sender=net4.operators[0].account)


# --- opting in and out -----------------------------------------------------------------------------


def test_opting_in_appends_to_the_list_with_the_endpoint_and_emits_AggregatorOptedIn(net4):
    configure(net4)
    first, second = net4.operators[2], net4.operators[0]
    receipts = [opt_in(net4, first), opt_in(net4, second)]
    events = [list(r.events.filter(net4.center.AggregatorOptedIn)) for r in receipts]
    assert [(e.operatorId, e.account, e.position, e.endpoint) for [e] in events] == [
        (first.id, first.address, 0, endpoint(first)),
        (second.id, second.address, 1, endpoint(second)),
    ]
    assert [(a.operatorId, a.account, a.endpoint) for a in net4.center.activeAggregators()] == [
        (first.id, first.address, endpoint(first)),
        (second.id, second.address, endpoint(second)),
    ]
    assert net4.center.aggregatorConfig().count == 2


def test_opting_in_twice_reverts_AlreadyAggregator(three, reverts_with):
    operator = three.operators[1]
    with reverts_with(three.center.AlreadyAggregator, operator.id):
        opt_in(three, operator)


def test_opting_in_reverts_NotRegistered_for_an_account_that_is_no_operator(net4, reverts_with):
    configure(net4)
    stranger = net4.new_account()
    with reverts_with(net4.center.NotRegistered, stranger.address):
        net4.center.optInAsAggregator("http://a", sender=stranger)


def test_opting_in_reverts_NotRegistered_for_an_operator_that_left(net4, reverts_with):
    configure(net4)
    operator = net4.operators[0]
    net4.center.leave(sender=operator.account)
    with reverts_with(net4.center.NotRegistered, operator.address):
        opt_in(net4, operator)


def test_opting_in_reverts_EmptyEndpoint(net4, reverts_with):
    configure(net4)
    with reverts_with(net4.center.EmptyEndpoint):
        opt_in(net4, net4.operators[0], "")


def test_opting_in_takes_an_endpoint_of_256_bytes_and_reverts_EndpointTooLong_above(net4, reverts_with):
    configure(net4)
    longest = "http://" + "a" * (MAX_AGGREGATOR_ENDPOINT_LENGTH - 7)
    with reverts_with(net4.center.EndpointTooLong, MAX_AGGREGATOR_ENDPOINT_LENGTH + 1, MAX_AGGREGATOR_ENDPOINT_LENGTH):
        opt_in(net4, net4.operators[0], longest + "a")
    opt_in(net4, net4.operators[0], longest)
    assert net4.center.activeAggregators()[0].endpoint == longest


def test_opting_in_past_the_limit_reverts_AggregatorLimitReached(net4, reverts_with):
    configure(net4, max_aggregators=2)
    opt_in(net4, net4.operators[0])
    opt_in(net4, net4.operators[1])
    with reverts_with(net4.center.AggregatorLimitReached, 2):
        opt_in(net4, net4.operators[2])


def test_a_lower_limit_removes_nobody_and_admits_nobody_new(three, reverts_with):
    configure(three, max_aggregators=1)
    assert listed(three) == [1, 2, 3]
    three.center.optOutAsAggregator(sender=three.operators[0].account)
    with reverts_with(three.center.AggregatorLimitReached, 1):
        opt_in(three, three.operators[0])


def test_opting_in_reverts_FlowPaused_while_registrations_are_paused(net4, reverts_with):
    configure(net4)
    net4.center.pause(FLOW_REGISTRATIONS, sender=net4.admin)
    with reverts_with(net4.center.FlowPaused, FLOW_REGISTRATIONS):
        opt_in(net4, net4.operators[0])


def test_pausing_and_unpausing_keep_the_schedule_on(three):
    three.center.pause(FLOW_REGISTRATIONS, sender=three.admin)
    three.center.unpause(FLOW_REGISTRATIONS, sender=three.admin)
    assert int(three.center.pausedFlows()) == 0
    task = three.task(three.operators[3])
    receipt = three.submit(task, sender=three.operators[3].account)  # a non-aggregator: no reward
    assert len(forfeited(three, receipt)) == 1


def test_setAggregatorEndpoint_replaces_the_endpoint_and_emits_AggregatorEndpointUpdated(three):
    operator = three.operators[1]
    receipt = three.center.setAggregatorEndpoint("https://new.example", sender=operator.account)
    events = list(receipt.events.filter(three.center.AggregatorEndpointUpdated))
    assert [(e.operatorId, e.endpoint) for e in events] == [(operator.id, "https://new.example")]
    assert [a.endpoint for a in three.center.activeAggregators()][1] == "https://new.example"
    assert listed(three) == [1, 2, 3]


def test_setAggregatorEndpoint_reverts_NotAggregator_EmptyEndpoint_and_EndpointTooLong(three, reverts_with):
    plain, aggregator = three.operators[3], three.operators[0]
    with reverts_with(three.center.NotAggregator, plain.address):
        three.center.setAggregatorEndpoint("http://a", sender=plain.account)
    with reverts_with(three.center.EmptyEndpoint):
        three.center.setAggregatorEndpoint("", sender=aggregator.account)
    too_long = "a" * (MAX_AGGREGATOR_ENDPOINT_LENGTH + 1)
    with reverts_with(three.center.EndpointTooLong, len(too_long), MAX_AGGREGATOR_ENDPOINT_LENGTH):
        three.center.setAggregatorEndpoint(too_long, sender=aggregator.account)


def test_opting_out_moves_the_last_aggregator_into_the_gap_and_emits_AggregatorOptedOut(three):
    first = three.operators[0]
    receipt = three.center.optOutAsAggregator(sender=first.account)
    events = list(receipt.events.filter(three.center.AggregatorOptedOut))
    assert [(e.operatorId, e.account, e.position) for e in events] == [(first.id, first.address, 0)]
    assert listed(three) == [3, 2]
    assert three.center.aggregatorConfig().count == 2
    # The moved aggregator's position is kept right: it can opt out in turn, and the list shrinks.
    three.center.optOutAsAggregator(sender=three.operators[2].account)
    assert listed(three) == [2]


def test_opting_out_the_last_of_the_list_moves_nobody(three):
    receipt = three.center.optOutAsAggregator(sender=three.operators[2].account)
    assert [e.position for e in receipt.events.filter(three.center.AggregatorOptedOut)] == [2]
    assert listed(three) == [1, 2]


def test_opting_out_reverts_NotAggregator(three, reverts_with):
    plain = three.operators[3]
    with reverts_with(three.center.NotAggregator, plain.address):
        three.center.optOutAsAggregator(sender=plain.account)


def test_an_operator_can_opt_in_again_after_opting_out_at_the_end_of_the_list(three):
    three.center.optOutAsAggregator(sender=three.operators[0].account)
    opt_in(three, three.operators[0], "http://back")
    assert listed(three) == [3, 2, 1]
    assert three.center.activeAggregators()[2].endpoint == "http://back"


def test_leaving_takes_the_operator_off_the_aggregator_list(three):
    leaver = three.operators[1]
    receipt = three.center.leave(sender=leaver.account)
    events = list(receipt.events.filter(three.center.AggregatorOptedOut))
    assert [(e.operatorId, e.position) for e in events] == [(leaver.id, 1)]
    assert listed(three) == [1, 3]


def test_ejection_takes_the_operator_off_the_aggregator_list(three):
    ejected = three.operators[0]
    receipt = three.center.ejectOperator(ejected.id, sender=three.admin)
    assert [e.operatorId for e in receipt.events.filter(three.center.AggregatorOptedOut)] == [ejected.id]
    assert listed(three) == [3, 2]


def test_a_slash_that_ejects_takes_the_operator_off_the_aggregator_list(three):
    slasher_role = three.center.SLASHER_ROLE()
    three.center.grantRole(slasher_role, three.admin, sender=three.admin)
    victim = three.operators[2]
    receipt = three.center.slashOperator(victim.id, 10_000, 0, "0x" + "00" * 20, sender=three.admin)
    assert [e.operatorId for e in receipt.events.filter(three.center.AggregatorOptedOut)] == [victim.id]
    assert listed(three) == [1, 2]


def test_a_plain_operator_leaving_leaves_the_list_alone(three):
    receipt = three.center.leave(sender=three.operators[3].account)
    assert list(receipt.events.filter(three.center.AggregatorOptedOut)) == []
    assert listed(three) == [1, 2, 3]


# --- the schedule and the aggregator reward ----------------------------------------------------------


def test_with_no_aggregator_any_active_operator_lands_a_task_and_takes_the_reward(net4):
    performer, submitter = net4.operators[3], net4.operators[2]
    task = net4.task(performer)
    before = credits(net4)
    receipt = net4.submit(task, sender=submitter.account)
    assert aggregator_rewards(net4, before, performer) == {submitter.id: AGGREGATOR}
    assert forfeited(net4, receipt) == []


def test_once_the_last_aggregator_opted_out_submissions_pay_as_before(three):
    for operator in three.operators[:3]:
        three.center.optOutAsAggregator(sender=operator.account)
    performer, submitter = three.operators[0], three.operators[3]
    before = credits(three)
    receipt = three.submit(three.task(performer), sender=submitter.account)
    assert aggregator_rewards(three, before, performer) == {submitter.id: AGGREGATOR}
    assert forfeited(three, receipt) == []


def test_the_aggregator_on_turn_takes_the_reward(three, chain):
    performer = three.operators[3]
    task = three.task(performer)
    h = task_hash(three, task)
    for position in range(3):
        at = turn_of(chain, h, position, 3)
        # A turn's first seconds: the aggregator of the turn before is still in its grace.
        assert three.center.aggregatorTurn(h, at) == (listed(three)[position], listed(three)[position - 1])
    at = turn_of(chain, h, 1, 3) + GRACE  # past the grace of the turn before
    primary = three.by_id(listed(three)[1])
    assert three.center.aggregatorTurn(h, at) == (primary.id, 0)
    before = credits(three)
    receipt = land(three, chain, task, primary, at)
    assert aggregator_rewards(three, before, performer) == {primary.id: AGGREGATOR}
    assert forfeited(three, receipt) == []
    assert schedule(three).earns_reward(h, at, primary.id)


def test_a_copier_that_is_no_aggregator_lands_the_task_but_gains_no_aggregator_reward(three, chain):
    performer, copier = three.operators[0], three.operators[3]
    task = three.task(performer)
    h = task_hash(three, task)
    at = turn_of(chain, h, 0, 3) + TURN // 2
    submission = three.submission(task)  # what the aggregator on turn built and sent
    before = credits(three)
    receipt = land(three, chain, task, copier, at, submission)
    assert three.center.taskRecord(h).taskNumber == 1  # it landed
    assert aggregator_rewards(three, before, performer) == {}  # nobody got the aggregator reward
    assert forfeited(three, receipt) == [(h, copier.address, AGGREGATOR)]
    event = next(iter(receipt.events.filter(three.center.TaskSubmitted)))
    assert event.aggregator == copier.address


def test_an_aggregator_off_turn_gains_no_aggregator_reward(three, chain):
    performer = three.operators[3]
    task = three.task(performer)
    h = task_hash(three, task)
    at = turn_of(chain, h, 0, 3) + GRACE + 1
    primary, backup = (three.by_id(i) for i in listed(three)[:2])
    assert three.center.aggregatorTurn(h, at) == (primary.id, 0)
    before = credits(three)
    receipt = land(three, chain, task, backup, at)  # the backup jumps its turn
    assert aggregator_rewards(three, before, performer) == {}
    assert forfeited(three, receipt) == [(h, backup.address, AGGREGATOR)]


def test_a_backup_lands_in_its_own_turn_when_the_primary_is_down(three, chain):
    performer = three.operators[3]
    task = three.task(performer)
    h = task_hash(three, task)
    primary_turn = turn_of(chain, h, 0, 3)
    backups = schedule(three).turns(h, primary_turn)
    assert [t.aggregator.operator_id for t in backups] == [1, 2, 3]
    assert [t.starts - primary_turn for t in backups] == [0, TURN, 2 * TURN]
    second_backup = three.by_id(backups[2].aggregator.operator_id)
    before = credits(three)
    land(three, chain, task, second_backup, backups[2].starts + GRACE)  # the primary and first backup are down
    assert aggregator_rewards(three, before, performer) == {second_backup.id: AGGREGATOR}


def test_when_every_aggregator_is_down_anyone_active_lands_the_task_without_the_reward(three, chain):
    performer, stand_in = three.operators[0], three.operators[3]
    task = three.task(performer)
    h = task_hash(three, task)
    # Long after every turn has come and gone, the task still lands: liveness wins over the reward.
    at = turn_of(chain, h, 0, 3) + 10 * 3 * TURN + 1
    before = credits(three)
    receipt = land(three, chain, task, stand_in, at)
    assert three.center.taskRecord(h).taskNumber == 1
    assert aggregator_rewards(three, before, performer) == {}
    assert forfeited(three, receipt) == [(h, stand_in.address, AGGREGATOR)]


@pytest.mark.parametrize("late_by", [0, GRACE - 1])
def test_a_late_primary_is_paid_within_the_grace(three, chain, late_by):
    performer = three.operators[3]
    task = three.task(performer)
    h = task_hash(three, task)
    backup_turn = turn_of(chain, h, 1, 3)
    primary, backup = three.by_id(listed(three)[0]), three.by_id(listed(three)[1])
    at = backup_turn + late_by
    assert three.center.aggregatorTurn(h, at) == (backup.id, primary.id)
    before = credits(three)
    land(three, chain, task, primary, at)
    assert aggregator_rewards(three, before, performer) == {primary.id: AGGREGATOR}


def test_a_primary_later_than_the_grace_gains_nothing(three, chain):
    performer = three.operators[3]
    task = three.task(performer)
    h = task_hash(three, task)
    at = turn_of(chain, h, 1, 3) + GRACE
    primary, backup = three.by_id(listed(three)[0]), three.by_id(listed(three)[1])
    assert three.center.aggregatorTurn(h, at) == (backup.id, 0)
    before = credits(three)
    receipt = land(three, chain, task, primary, at)
    assert aggregator_rewards(three, before, performer) == {}
    assert forfeited(three, receipt) == [(h, primary.address, AGGREGATOR)]


@pytest.mark.parametrize("winner", ["backup", "primary"])
def test_a_backup_racing_a_late_primary_in_the_grace_first_lands_and_is_paid_the_other_reverts(
    three, chain, reverts_with, winner
):
    """Both may land the task in the first seconds of the backup's turn; the chain orders them, the
    first is paid, the second reverts TaskAlreadySubmitted having changed nothing."""
    performer = three.operators[3]
    task = three.task(performer)
    h = task_hash(three, task)
    at = turn_of(chain, h, 1, 3) + 1
    primary, backup = three.by_id(listed(three)[0]), three.by_id(listed(three)[1])
    first, second = (backup, primary) if winner == "backup" else (primary, backup)
    submission = three.submission(task)
    before = credits(three)
    land(three, chain, task, first, at, submission)
    assert aggregator_rewards(three, before, performer) == {first.id: AGGREGATOR}
    after_first = credits(three)
    with reverts_with(three.center.TaskAlreadySubmitted, h):
        three.center.submitTask(task.abi(), submission.abi(), sender=second.account, skip_trace=True)
    assert credits(three) == after_first


def test_an_opt_in_while_a_task_is_in_flight_moves_its_turn_and_the_reward_follows_the_list_at_landing(three, chain):
    performer = three.operators[3]
    task = three.task(performer)
    h = task_hash(three, task)
    # A moment when the primary under three aggregators is no longer on turn once a fourth joins.
    at = turn_of(chain, h, 0, 3) + GRACE
    while turn_position(h, at, 4, TURN) == turn_position(h, at, 3, TURN):
        at = turn_of(chain, h, 0, 3, after=at + TURN) + GRACE
    primary_before = three.by_id(listed(three)[turn_position(h, at, 3, TURN)])
    opt_in(three, performer)  # the list is now 1, 2, 3, 4
    now_on_turn = schedule(three).on_turn(h, at)
    assert now_on_turn is not None and now_on_turn.operator_id != primary_before.id
    assert three.center.aggregatorTurn(h, at) == (now_on_turn.operator_id, 0)
    before = credits(three)
    receipt = land(three, chain, task, primary_before, at)
    assert aggregator_rewards(three, before, performer) == {}
    assert forfeited(three, receipt) == [(h, primary_before.address, AGGREGATOR)]


def test_when_the_aggregator_on_turn_leaves_mid_task_the_one_moved_into_its_place_is_on_turn(three, chain):
    performer = three.operators[3]
    task = three.task(performer)
    h = task_hash(three, task)
    at = turn_of(chain, h, 0, 3) + GRACE
    primary = three.by_id(listed(three)[0])
    three.center.leave(sender=primary.account)  # operator 3 moves to position 0; two aggregators left
    expected = schedule(three).on_turn(h, at)
    assert listed(three) == [3, 2] and expected is not None
    assert three.center.aggregatorTurn(h, at)[0] == expected.operator_id
    successor = three.by_id(expected.operator_id)
    before = credits(three)
    land(three, chain, task, successor, at)
    paid = aggregator_rewards(three, before, performer)
    # The leaver's attester credit settled when it left: only the successor's aggregator reward shows.
    assert paid.get(successor.id) == AGGREGATOR


def test_an_on_turn_aggregator_signing_as_performer_too_earns_both_rewards(three, chain):
    task = three.task(three.operators[0])
    h = task_hash(three, task)
    performer = three.operators[0]
    at = turn_of(chain, h, 0, 3) + GRACE
    before = credits(three)
    land(three, chain, task, performer, at)
    assert aggregator_rewards(three, before, performer) == {performer.id: AGGREGATOR}


def test_a_definition_without_aggregator_reward_forfeits_nothing(three, chain):
    definition_id = three.create_definition(dataclasses.replace(DEFINITION_0, name="no agg", aggregator_reward=0))
    copier = three.operators[3]
    task = three.task(three.operators[0], definition_id=definition_id)
    receipt = three.submit(task, sender=copier.account)
    assert forfeited(three, receipt) == []


# --- the Python twin -----------------------------------------------------------------------------------


def test_the_python_twin_replays_the_contract_list_order(three):
    model = schedule(three)
    three.center.optOutAsAggregator(sender=three.operators[0].account)
    model = model.opted_out(1)
    opt_in(three, three.operators[3])
    model = model.opted_in(Aggregator(4, three.operators[3].address, endpoint(three.operators[3])))
    assert model == schedule(three)
    with pytest.raises(ValueError, match="not an aggregator"):
        model.opted_out(1)


def test_turn_position_refuses_what_the_contract_cannot_hold():
    with pytest.raises(ValueError):
        turn_position(b"\x00" * 32, 0, 0, TURN)
    with pytest.raises(ValueError):
        turn_position(b"\x00" * 32, 0, 3, 0)
    with pytest.raises(ValueError):
        turn_position(b"\x00" * 31, 0, 3, TURN)
    with pytest.raises(ValueError):
        turn_position(b"\x00" * 32, -1, 3, TURN)


@pytest.fixture
def six(net4) -> Net:
    """Six operators, all aggregators (ids 1 to 6, in order)."""
    net4.register_many([MIN_STAKE] * 2)
    configure(net4)
    for operator in net4.operators:
        opt_in(net4, operator)
    return net4


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_the_python_schedule_agrees_with_aggregatorTurn(six, chain, data):
    turn = data.draw(st.one_of(st.integers(1, 60), st.integers(1, 2**32 - 1)), label="turn")
    grace = data.draw(st.integers(0, turn - 1), label="grace")
    leaving = data.draw(st.lists(st.sampled_from(range(1, 7)), unique=True, max_size=6), label="opt-outs")
    snapshot = chain.snapshot()
    try:
        six.center.setAggregatorConfig(8, turn, grace, sender=six.admin)
        model = schedule(six)
        for operator_id in leaving:
            six.center.optOutAsAggregator(sender=six.by_id(operator_id).account)
            model = model.opted_out(operator_id)
        assert model == schedule(six)
        for _ in range(8):
            h = data.draw(st.binary(min_size=32, max_size=32), label="task hash")
            base = data.draw(st.integers(0, 2**40), label="time") // turn * turn
            t = base + data.draw(st.sampled_from([0, 1, grace, max(grace - 1, 0), turn - 1]), label="offset")
            on_turn, in_grace = six.center.aggregatorTurn(h, t)
            expected_on_turn, expected_in_grace = model.on_turn(h, t), model.in_grace(h, t)
            assert on_turn == (expected_on_turn.operator_id if expected_on_turn else 0)
            assert in_grace == (expected_in_grace.operator_id if expected_in_grace else 0)
    finally:
        chain.restore(snapshot)


def test_read_schedule_reads_the_list_and_the_settings_over_web3(three, chain):
    center = load_artifact("IAttestationCenter").contract(chain.provider.web3, three.center.address)
    three.center.optOutAsAggregator(sender=three.operators[0].account)
    read = read_schedule(center)
    assert read == schedule(three)
    assert [a.operator_id for a in read.aggregators] == [3, 2]
    assert (read.turn_seconds, read.grace_seconds, read.max_aggregators) == (TURN, GRACE, 8)
    assert read.aggregators[0] == Aggregator(3, three.operators[2].address, endpoint(three.operators[2]))


def test_a_new_turn_length_applies_from_its_block(three, chain):
    """The settings are read when the task lands: a changed turn moves whose turn it is at once."""
    task = three.task(three.operators[3])
    h = task_hash(three, task)
    at = turn_of(chain, h, 0, 3) + GRACE
    while turn_position(h, at, 3, 7 * TURN) == 0:
        at = turn_of(chain, h, 0, 3, after=at + TURN) + GRACE
    primary = three.by_id(listed(three)[0])
    configure(three, turn=7 * TURN, grace=0)
    assert three.center.aggregatorTurn(h, at)[0] == listed(three)[turn_position(h, at, 3, 7 * TURN)]
    before = credits(three)
    receipt = land(three, chain, task, primary, at)
    assert aggregator_rewards(three, before, three.operators[3]) == {}
    assert forfeited(three, receipt) == [(h, primary.address, AGGREGATOR)]
