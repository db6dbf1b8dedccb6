"""The TaskDefinitions module (at the center's address) and the operator sets behind definitions.

Definitions: definition 0 from deployment, ids, events, admin-only access, every validation error on
create and on update, rewards stored as decimal floats. Operator sets: set 0, restricted sets and
minimum-voting-power sets, kept exact (members, total power, member count, aggregate G1 key) on every
operator change, retired and rebuilt when a definition changes who may attest.

Expected sets are always recomputed from ``getOperator`` of every id, never from the test's own notes.

Reverts are checked on real transactions (views through ``.transact``), never on ``eth_call``: on a
reverted call anvil hands Ape the error's arguments as raw bytes with whitespace bytes stripped, which
``reverts_with`` cannot match; a reverted transaction is decoded from its trace. A reverted
transaction costs ~0.15 s (Ape fetches its trace; ~0.7 s under ``-s``, which also prints it), and it
is mined: the block number moves by one.
"""

from __future__ import annotations

from dataclasses import replace

import ape
import pytest
from eth_utils import keccak
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from othentic_offchain.chain.types import PenaltyConfig, TaskDefinitionParams
from othentic_offchain.crypto import G1Point, KeyPair, aggregate_g1
from tests.contracts.network import DEFINITION_0, MIN_STAKE, TOKEN, UNBONDING

ADMIN_ROLE = b"\x00" * 32
SLASHER_ROLE = keccak(text="SLASHER_ROLE")
UINT40_MAX = 2**40 - 1
UINT96_MAX = 2**96 - 1
UINT128_MAX = 2**128 - 1
MANTISSA_LIMIT = 2**51  # rewards are mantissa (< 2**51) * 10**exponent
ZERO_ADDRESS = "0x" + "00" * 20

#: A definition with nothing special: every active operator attests (set 0).
PLAIN = TaskDefinitionParams(name="plain", attester_reward=5 * TOKEN, dispute_period_blocks=5)
#: A definition with every field set to something other than its default.
RICH = TaskDefinitionParams(
    name="price-feed eth/usd",
    block_expiry=10**9,
    attester_reward=12_345 * 10**13,
    performer_reward=7 * TOKEN,
    aggregator_reward=999_999_999_999_999,
    dispute_period_blocks=UNBONDING - 1,
    minimum_voting_power=MIN_STAKE,
    restricted_attester_ids=(1, 3, 4),
    maximum_number_of_attesters=3,
    penalties=PenaltyConfig(False, True, True, slash_bps=2_500, reporter_bps=5_000),
)

HOW = ["create", "update"]

slow = pytest.mark.slow
#: ``net``/``net4`` are function-scoped copies of module fixtures: Hypothesis examples share one, which is
#: fine for properties that only update definition 0 or only revert.
SHARED_FIXTURE = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
property_settings = settings(max_examples=20, deadline=None, suppress_health_check=SHARED_FIXTURE)
#: Each example of these is a reverted transaction.
revert_settings = settings(max_examples=20, deadline=None, suppress_health_check=SHARED_FIXTURE)


# --- helpers -------------------------------------------------------------------------------------


def send(net, how: str, params: TaskDefinitionParams, *, sender=None, definition_id: int = 0, **kwargs):
    """createTaskDefinition(params) or updateTaskDefinition(definition_id, params)."""
    sender = sender or net.admin
    if how == "create":
        return net.center.createTaskDefinition(params.abi(), sender=sender, **kwargs)
    return net.center.updateTaskDefinition(definition_id, params.abi(), sender=sender, **kwargs)


def stored_id(net, how: str, receipt, definition_id: int = 0) -> int:
    """The id a successful `send` wrote to."""
    if how == "create":
        return int(receipt.events.filter(net.center.TaskDefinitionCreated)[0].taskDefinitionId)
    return definition_id


def read(net, definition_id: int) -> TaskDefinitionParams:
    return TaskDefinitionParams.from_abi(net.center.getTaskDefinition(definition_id).params)


def set_of(net, definition_id: int) -> int:
    return int(net.center.getTaskDefinition(definition_id).operatorSetId)


def all_operators(net) -> list:
    registered, _ = net.center.operatorCount()
    return [net.center.getOperator(i) for i in range(1, int(registered) + 1)]


def eligible(operators, *, listed=None, minimum: int = 0) -> list:
    """Members a set must have: active, listed (if restricted) and with at least `minimum` stake."""
    return [
        op
        for op in operators
        if op.active and (listed is None or int(op.id) in listed) and int(op.stake) >= minimum
    ]


def assert_set_exact(
    net, set_id: int, members: list, *, definition_id: int | None = None, each_id: bool = True
) -> None:
    """The set's totals, count, aggregate key and member list are exactly those of `members` (and,
    with `each_id`, isSetMember agrees for every registered id)."""
    view = net.center.getOperatorSet(set_id)
    ids = [int(op.id) for op in members]
    stakes = [int(op.stake) for op in members]
    assert int(view.memberCount) == len(ids), (set_id, ids)
    assert int(view.totalPower) == sum(stakes), (set_id, ids)
    assert G1Point(*view.apkG1) == aggregate_g1(G1Point(*op.pkG1) for op in members), (set_id, ids)
    got_ids, got_stakes = net.center.operatorSetMembers(set_id)
    assert [int(i) for i in got_ids] == ids
    assert [int(s) for s in got_stakes] == stakes
    for op in all_operators(net) if each_id else ():
        assert bool(net.center.isSetMember(set_id, op.id)) == (int(op.id) in ids)
    if definition_id is not None:
        def_ids, def_stakes = net.center.taskDefinitionMembers(definition_id)
        assert [int(i) for i in def_ids] == ids
        assert [int(s) for s in def_stakes] == stakes


def set_snapshot(net, set_id: int) -> tuple:
    view = net.center.getOperatorSet(set_id)
    return tuple(view.apkG1), int(view.totalPower), int(view.memberCount), bool(view.retired)


def rotate_key(net, account, keys: KeyPair):
    """updateBlsKey to `keys`, with its proof of possession."""
    proof = net.pop(account, keys)
    net.center.updateBlsKey(keys.public.g1.words(), keys.public.g2.solidity(), proof.words(), sender=account)


def grant_slasher(net):
    slasher = net.new_account()
    net.center.grantRole(SLASHER_ROLE, slasher, sender=net.admin)
    return slasher


@pytest.fixture(scope="module")
def spare_keys() -> list[KeyPair]:
    """Keys no fixture registers, for key rotations."""
    return [KeyPair.from_seed(b"test_task_definitions spare key %02d" % i) for i in range(4)]


# --- definition 0, ids, events -------------------------------------------------------------------


def test_definition_zero_exists_after_deployment_with_every_field_of_DEFINITION_0(net):
    view = net.center.getTaskDefinition(0)
    assert int(view.id) == 0
    assert int(view.operatorSetId) == 0
    assert TaskDefinitionParams.from_abi(view.params) == DEFINITION_0
    assert int(view.params.baseRewardFeeForAttesters) == DEFINITION_0.attester_reward
    assert int(view.params.baseRewardFeeForPerformer) == DEFINITION_0.performer_reward
    assert int(view.params.baseRewardFeeForAggregator) == DEFINITION_0.aggregator_reward
    assert int(net.center.taskDefinitionCount()) == 1


def test_create_returns_ids_one_two_three_and_counts_them(net):
    for expected in (1, 2, 3):
        receipt = net.center.createTaskDefinition(replace(PLAIN, name=f"d{expected}").abi(), sender=net.admin)
        assert int(receipt.return_value) == expected
        assert int(net.center.taskDefinitionCount()) == expected + 1
        assert read(net, expected).name == f"d{expected}"
    assert read(net, 0) == DEFINITION_0


def test_create_emits_TaskDefinitionCreated_with_every_field(net4):
    receipt = net4.center.createTaskDefinition(RICH.abi(), sender=net4.admin)
    events = receipt.events.filter(net4.center.TaskDefinitionCreated)
    assert len(events) == 1
    created = events[0]
    assert int(created.taskDefinitionId) == 1
    assert int(created.operatorSetId) == set_of(net4, 1) != 0
    assert TaskDefinitionParams.from_abi(created.params) == RICH
    assert read(net4, 1) == RICH


def test_update_emits_TaskDefinitionUpdated_and_replaces_every_field(net4):
    definition_id = net4.create_definition(PLAIN)
    receipt = net4.center.updateTaskDefinition(definition_id, RICH.abi(), sender=net4.admin)
    events = receipt.events.filter(net4.center.TaskDefinitionUpdated)
    assert len(events) == 1
    updated = events[0]
    assert int(updated.taskDefinitionId) == definition_id
    assert int(updated.operatorSetId) == set_of(net4, definition_id) != 0
    assert TaskDefinitionParams.from_abi(updated.params) == RICH
    assert read(net4, definition_id) == RICH
    assert not receipt.events.filter(net4.center.TaskDefinitionCreated)
    assert int(net4.center.taskDefinitionCount()) == 2


def test_update_back_to_defaults_clears_every_field(net4):
    definition_id = net4.create_definition(RICH)
    bare = TaskDefinitionParams(name="x", penalties=PenaltyConfig(False, False, False, 0, 0))
    net4.center.updateTaskDefinition(definition_id, bare.abi(), sender=net4.admin)
    assert read(net4, definition_id) == bare
    assert set_of(net4, definition_id) == 0


@given(
    name=st.text(min_size=1, max_size=16).filter(lambda s: len(s.encode()) <= 64),
    expiry=st.one_of(st.just(0), st.integers(10**6, UINT40_MAX)),
    dispute=st.integers(0, UNBONDING - 1),
    minimum=st.integers(0, UINT96_MAX),
    maximum=st.integers(0, 2**16 - 1),
    penalties=st.builds(
        PenaltyConfig, st.booleans(), st.booleans(), st.booleans(), st.integers(0, 10_000), st.integers(0, 5_000)
    ),
)
@settings(max_examples=15, deadline=None, suppress_health_check=SHARED_FIXTURE)
def test_any_valid_definition_round_trips_through_getTaskDefinition(
    net, name, expiry, dispute, minimum, maximum, penalties
):
    params = TaskDefinitionParams(
        name=name,
        block_expiry=expiry,
        attester_reward=123 * 10**15,
        performer_reward=1,
        aggregator_reward=10**19,
        dispute_period_blocks=dispute,
        minimum_voting_power=minimum,
        maximum_number_of_attesters=maximum,
        penalties=penalties,
    )
    # Updating definition 0 each time keeps the number of open sets at one at most.
    net.center.updateTaskDefinition(0, params.abi(), sender=net.admin)
    assert read(net, 0) == params


# --- access -------------------------------------------------------------------------------------


@pytest.mark.parametrize("how", HOW)
def test_only_the_admin_may_create_or_update(net4, reverts_with, how):
    outsider = net4.operators[0].account
    with reverts_with(net4.center.AccessControlUnauthorizedAccount, outsider.address, ADMIN_ROLE):
        send(net4, how, PLAIN, sender=outsider)
    slasher = grant_slasher(net4)  # another role is not enough
    with reverts_with(net4.center.AccessControlUnauthorizedAccount, slasher.address, ADMIN_ROLE):
        send(net4, how, PLAIN, sender=slasher)
    assert int(net4.center.taskDefinitionCount()) == 1
    assert read(net4, 0) == DEFINITION_0


def test_a_second_admin_may_create_and_update(net4):
    second = net4.new_account()
    net4.center.grantRole(ADMIN_ROLE, second, sender=net4.admin)
    definition_id = net4.center.createTaskDefinition(PLAIN.abi(), sender=second).return_value
    net4.center.updateTaskDefinition(definition_id, RICH.abi(), sender=second)
    assert read(net4, definition_id) == RICH


# --- validation: names ---------------------------------------------------------------------------


@pytest.mark.parametrize("how", HOW)
def test_empty_name_is_rejected(net4, reverts_with, how):
    with reverts_with(net4.center.EmptyTaskDefinitionName):
        send(net4, how, replace(PLAIN, name=""))


@pytest.mark.parametrize("how", HOW)
def test_name_of_65_bytes_is_rejected_and_64_accepted(net4, reverts_with, how):
    with reverts_with(net4.center.TaskDefinitionNameTooLong, 65, 64):
        send(net4, how, replace(PLAIN, name="n" * 65))
    # The limit is on UTF-8 bytes: 33 two-byte characters are 66 bytes.
    with reverts_with(net4.center.TaskDefinitionNameTooLong, 66, 64):
        send(net4, how, replace(PLAIN, name="é" * 33))
    for name in ("n" * 64, "é" * 32, "x"):
        definition_id = stored_id(net4, how, send(net4, how, replace(PLAIN, name=name)))
        assert read(net4, definition_id).name == name


# --- validation: block expiry ----------------------------------------------------------------------


@pytest.mark.parametrize("how", HOW)
def test_block_expiry_at_or_below_the_current_block_is_rejected(net4, chain, reverts_with, how):
    chain.mine(5)
    for below in (0, 1, 5):
        current = chain.blocks.head.number + 1  # the block the transaction runs in
        with reverts_with(net4.center.BlockExpiryInPast, current - below, current):
            send(net4, how, replace(PLAIN, block_expiry=current - below))


@pytest.mark.parametrize("how", HOW)
def test_block_expiry_zero_means_never_and_the_next_block_is_accepted(net4, chain, how):
    definition_id = stored_id(net4, how, send(net4, how, replace(PLAIN, block_expiry=0)))
    assert read(net4, definition_id).block_expiry == 0
    next_block = chain.blocks.head.number + 2  # one past the block the transaction runs in
    definition_id = stored_id(net4, how, send(net4, how, replace(PLAIN, block_expiry=next_block)))
    assert read(net4, definition_id).block_expiry == next_block


@pytest.mark.parametrize("how", HOW)
def test_block_expiry_above_uint40_is_rejected_and_uint40_max_accepted(net4, reverts_with, how):
    for expiry in (UINT40_MAX + 1, 2**64 - 1) if how == "create" else (UINT40_MAX + 1,):
        with reverts_with(net4.center.BlockExpiryTooLarge, expiry, UINT40_MAX):
            send(net4, how, replace(PLAIN, block_expiry=expiry))
    definition_id = stored_id(net4, how, send(net4, how, replace(PLAIN, block_expiry=UINT40_MAX)))
    assert read(net4, definition_id).block_expiry == UINT40_MAX


# --- validation: rewards ---------------------------------------------------------------------------

REWARD_FIELDS = {
    "attester_reward": UINT96_MAX,
    "performer_reward": UINT128_MAX,
    "aggregator_reward": UINT128_MAX,
}


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("field", list(REWARD_FIELDS))
def test_reward_above_its_width_is_rejected(net4, reverts_with, how, field):
    maximum = REWARD_FIELDS[field]
    for reward in (maximum + 1, 2**256 - 1) if how == "create" else (maximum + 1,):
        with reverts_with(net4.center.RewardTooLarge, reward, maximum):
            send(net4, how, replace(PLAIN, **{field: reward}))


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("field", list(REWARD_FIELDS))
def test_largest_representable_reward_below_the_width_is_accepted(net4, how, field):
    maximum = REWARD_FIELDS[field]
    digits = len(str(maximum))
    reward = int(str(maximum)[:15]) * 10 ** (digits - 15)  # 15 significant digits, rounded down
    definition_id = stored_id(net4, how, send(net4, how, replace(PLAIN, **{field: reward})))
    assert getattr(read(net4, definition_id), field) == reward


@pytest.mark.parametrize("how", HOW)
@pytest.mark.parametrize("field", list(REWARD_FIELDS))
def test_reward_with_too_many_significant_digits_is_rejected(net4, reverts_with, how, field):
    # 18 significant digits; and 2**51, the first mantissa that does not fit (16 digits).
    for reward in (123456789012345678, MANTISSA_LIMIT) if how == "create" else (123456789012345678,):
        with reverts_with(net4.center.RewardNotRepresentable, reward):
            send(net4, how, replace(PLAIN, **{field: reward}))


@pytest.mark.parametrize("how", HOW)
def test_amounts_with_few_significant_digits_are_accepted_and_read_back_exactly(net4, how):
    for reward in (0, 1, 10**19, 999_999_999_999_999, MANTISSA_LIMIT - 1, 10**28, (MANTISSA_LIMIT - 1) * 10**13):
        params = replace(PLAIN, attester_reward=reward, performer_reward=reward, aggregator_reward=reward)
        definition_id = stored_id(net4, how, send(net4, how, params))
        stored = net4.center.getTaskDefinition(definition_id).params
        assert int(stored.baseRewardFeeForAttesters) == reward
        assert int(stored.baseRewardFeeForPerformer) == reward
        assert int(stored.baseRewardFeeForAggregator) == reward


def floats(maximum: int):
    """m * 10**e with m < 2**51 and e <= 20, at most `maximum`."""
    return st.builds(lambda m, e: m * 10**e, st.integers(0, MANTISSA_LIMIT - 1), st.integers(0, 20)).filter(
        lambda value: value <= maximum
    )


@given(attester=floats(UINT96_MAX), performer=floats(UINT128_MAX), aggregator=floats(UINT128_MAX))
@property_settings
def test_every_mantissa_times_power_of_ten_round_trips_exactly(net, attester, performer, aggregator):
    params = replace(PLAIN, attester_reward=attester, performer_reward=performer, aggregator_reward=aggregator)
    receipt = net.center.updateTaskDefinition(0, params.abi(), sender=net.admin)
    assert TaskDefinitionParams.from_abi(receipt.events.filter(net.center.TaskDefinitionUpdated)[0].params) == params
    stored = net.center.getTaskDefinition(0).params
    assert int(stored.baseRewardFeeForAttesters) == attester
    assert int(stored.baseRewardFeeForPerformer) == performer
    assert int(stored.baseRewardFeeForAggregator) == aggregator


LONG_MANTISSAS = st.integers(MANTISSA_LIMIT, 10**20).filter(lambda m: m % 10 != 0)


@given(mantissa=LONG_MANTISSAS, field=st.sampled_from(list(REWARD_FIELDS)))
@revert_settings
def test_every_reward_of_2_51_or_more_without_trailing_zero_is_rejected(net, reverts_with, mantissa, field):
    with reverts_with(net.center.RewardNotRepresentable, mantissa):
        net.center.updateTaskDefinition(0, replace(PLAIN, **{field: mantissa}).abi(), sender=net.admin)


@pytest.mark.parametrize("field", list(REWARD_FIELDS))
def test_RewardNotRepresentable_names_the_reward_as_given_even_with_trailing_zeros(net4, reverts_with, field):
    # Trailing zeros do not make an over-long mantissa fit; the error names the amount the admin passed
    # (`RewardNotRepresentable(uint256 reward)`), not what is left of it once the zeros are stripped.
    reward = 123456789012345678 * 10**3
    with reverts_with(net4.center.RewardNotRepresentable, reward):
        send(net4, "create", replace(PLAIN, **{field: reward}))


# --- validation: dispute period, minimum, maximum attesters, penalties -----------------------------


@pytest.mark.parametrize("how", HOW)
def test_dispute_period_longer_than_the_unbonding_delay_is_rejected(net4, reverts_with, how):
    for period in (UNBONDING + 1, 2**64 - 1) if how == "create" else (UNBONDING + 1,):
        with reverts_with(net4.center.DisputePeriodNotBelowUnbondingDelay, period, UNBONDING):
            send(net4, how, replace(PLAIN, dispute_period_blocks=period))


@pytest.mark.parametrize("how", HOW)
def test_dispute_period_equal_to_the_unbonding_delay_is_rejected(net4, reverts_with, how):
    """Equal lengths would unlock a withdrawal in the last block in which a report is accepted: the
    unbonding delay must be strictly longer than every dispute period."""
    with reverts_with(net4.center.DisputePeriodNotBelowUnbondingDelay, UNBONDING, UNBONDING):
        send(net4, how, replace(PLAIN, dispute_period_blocks=UNBONDING))
    definition_id = stored_id(net4, how, send(net4, how, replace(PLAIN, dispute_period_blocks=UNBONDING - 1)))
    assert read(net4, definition_id).dispute_period_blocks == UNBONDING - 1


@pytest.mark.parametrize("how", HOW)
def test_dispute_period_limit_follows_the_registry_config(net4, reverts_with, how):
    longer = DEFINITION_0.dispute_period_blocks + 2  # longer than any existing definition's period
    net4.center.setRegistryConfig((MIN_STAKE, 100, longer), sender=net4.admin)
    with reverts_with(net4.center.DisputePeriodNotBelowUnbondingDelay, longer, longer):
        send(net4, how, replace(PLAIN, dispute_period_blocks=longer))
    definition_id = stored_id(net4, how, send(net4, how, replace(PLAIN, dispute_period_blocks=longer - 1)))
    assert read(net4, definition_id).dispute_period_blocks == longer - 1


@pytest.mark.parametrize("how", HOW)
def test_minimum_voting_power_above_uint96_is_rejected(net4, reverts_with, how):
    for minimum in (UINT96_MAX + 1, 2**256 - 1) if how == "create" else (UINT96_MAX + 1,):
        with reverts_with(net4.center.MinimumVotingPowerTooLarge, minimum):
            send(net4, how, replace(PLAIN, minimum_voting_power=minimum))
    definition_id = stored_id(net4, how, send(net4, how, replace(PLAIN, minimum_voting_power=UINT96_MAX)))
    assert read(net4, definition_id).minimum_voting_power == UINT96_MAX
    assert_set_exact(net4, set_of(net4, definition_id), [], definition_id=definition_id)


@pytest.mark.parametrize("how", HOW)
def test_maximum_attesters_above_uint16_is_rejected(net4, reverts_with, how):
    for maximum in (2**16, 2**32 - 1) if how == "create" else (2**16,):
        with reverts_with(net4.center.MaximumAttestersTooLarge, maximum, 2**16 - 1):
            send(net4, how, replace(PLAIN, maximum_number_of_attesters=maximum))
    definition_id = stored_id(net4, how, send(net4, how, replace(PLAIN, maximum_number_of_attesters=2**16 - 1)))
    assert read(net4, definition_id).maximum_number_of_attesters == 2**16 - 1


@pytest.mark.parametrize("how", HOW)
def test_slash_basis_points_above_10000_are_rejected(net4, reverts_with, how):
    for slash, reporter in ((10_001, 0), (2**16 - 1, 2**16 - 1)):
        with reverts_with(net4.center.InvalidPenaltyConfig, slash, reporter):
            penalties = PenaltyConfig(True, False, False, slash_bps=slash, reporter_bps=reporter)
            send(net4, how, replace(PLAIN, penalties=penalties))
    penalties = PenaltyConfig(True, True, False, slash_bps=10_000, reporter_bps=5_000)
    definition_id = stored_id(net4, how, send(net4, how, replace(PLAIN, penalties=penalties)))
    assert read(net4, definition_id).penalties == penalties


@pytest.mark.parametrize("how", HOW)
def test_reporter_share_above_half_of_the_slash_is_rejected(net4, reverts_with, how):
    """With more than half, an offender reporting itself first would keep most of its own slash (and
    block every other reporter): the share is capped at 5,000 basis points."""
    for reporter in (5_001, 10_000, 2**16 - 1):
        with reverts_with(net4.center.ReporterShareTooLarge, reporter, 5_000):
            penalties = PenaltyConfig(True, False, False, slash_bps=1_000, reporter_bps=reporter)
            send(net4, how, replace(PLAIN, penalties=penalties))
    penalties = PenaltyConfig(True, False, False, slash_bps=1_000, reporter_bps=5_000)
    definition_id = stored_id(net4, how, send(net4, how, replace(PLAIN, penalties=penalties)))
    assert read(net4, definition_id).penalties.reporter_bps == 5_000


# --- validation: restricted attesters --------------------------------------------------------------


@pytest.mark.parametrize("how", HOW)
def test_restricted_attesters_out_of_order_or_repeated_are_rejected(net4, reverts_with, how):
    for ids, index in (((2, 1), 1), ((1, 1), 1), ((1, 2, 4, 4), 3)):
        with reverts_with(net4.center.RestrictedAttestersNotSorted, index):
            send(net4, how, replace(PLAIN, restricted_attester_ids=ids))


@pytest.mark.parametrize("how", HOW)
def test_restricted_attesters_must_be_registered_ids(net4, reverts_with, how):
    for ids, unknown in (((0, 1), 0), ((5,), 5), ((1, 2, 5), 5), ((2**32 - 1,), 2**32 - 1)):
        with reverts_with(net4.center.UnknownOperator, unknown):
            send(net4, how, replace(PLAIN, restricted_attester_ids=ids))
    definition_id = stored_id(net4, how, send(net4, how, replace(PLAIN, restricted_attester_ids=(1, 2, 3, 4))))
    assert read(net4, definition_id).restricted_attester_ids == (1, 2, 3, 4)


def test_restricted_attesters_on_a_network_without_operators_are_unknown(net, reverts_with):
    with reverts_with(net.center.UnknownOperator, 1):
        net.center.createTaskDefinition(replace(PLAIN, restricted_attester_ids=(1,)).abi(), sender=net.admin)


@pytest.mark.parametrize("how", HOW)
def test_more_than_256_restricted_attesters_are_rejected(net4, reverts_with, how):
    ids = tuple(range(1, 258))
    with reverts_with(net4.center.TooManyRestrictedAttesters, 257, 256):
        send(net4, how, replace(PLAIN, restricted_attester_ids=ids))


# --- unknown definitions --------------------------------------------------------------------------


def test_a_missing_definition_is_unknown_to_update_get_and_members(net4, reverts_with):
    net4.create_definition(PLAIN)  # ids 0 and 1 exist
    for missing in (2, 2**16 - 1):
        with reverts_with(net4.center.UnknownTaskDefinition, missing):
            net4.center.updateTaskDefinition(missing, PLAIN.abi(), sender=net4.admin)
        with reverts_with(net4.center.UnknownTaskDefinition, missing):
            net4.center.getTaskDefinition.transact(missing, sender=net4.admin)
        with reverts_with(net4.center.UnknownTaskDefinition, missing):
            net4.center.taskDefinitionMembers.transact(missing, sender=net4.admin)
    assert int(net4.center.taskDefinitionCount()) == 2


def test_update_of_a_missing_definition_is_refused_before_its_parameters_are_checked(net4, reverts_with):
    with reverts_with(net4.center.UnknownTaskDefinition, 7):
        net4.center.updateTaskDefinition(7, replace(PLAIN, name="").abi(), sender=net4.admin)


# --- operator-set limits --------------------------------------------------------------------------


def minimum_definition(i: int) -> TaskDefinitionParams:
    return replace(PLAIN, name=f"minimum {i}", minimum_voting_power=MIN_STAKE + i)


def test_a_ninth_open_set_with_a_minimum_is_rejected(net4, reverts_with):
    ids = [net4.create_definition(minimum_definition(i)) for i in range(8)]
    assert len({set_of(net4, i) for i in ids}) == 8
    with reverts_with(net4.center.TooManyOperatorSets, 0, 8):
        net4.center.createTaskDefinition(minimum_definition(8).abi(), sender=net4.admin)
    with reverts_with(net4.center.TooManyOperatorSets, 0, 8):
        net4.center.updateTaskDefinition(0, minimum_definition(8).abi(), sender=net4.admin)
    # Sets without a minimum are not limited by it: restricted sets and set 0.
    net4.create_definition(replace(PLAIN, restricted_attester_ids=(1, 2)))
    net4.create_definition(PLAIN)


def test_an_open_set_freed_by_an_update_can_be_used_again(net4):
    ids = [net4.create_definition(minimum_definition(i)) for i in range(8)]
    # Changing the minimum of one of eight: the old set is retired before the new one is built.
    net4.center.updateTaskDefinition(ids[0], minimum_definition(20).abi(), sender=net4.admin)
    # Dropping the minimum frees a slot for a new definition.
    net4.center.updateTaskDefinition(ids[1], PLAIN.abi(), sender=net4.admin)
    new = net4.create_definition(minimum_definition(9))
    assert_set_exact(net4, set_of(net4, new), [], definition_id=new)  # 4 operators at MIN_STAKE < MIN_STAKE + 9


def test_one_operator_listed_by_more_than_16_restricted_definitions_is_rejected(net4, reverts_with):
    for i in range(16):
        net4.create_definition(replace(PLAIN, name=f"r{i}", restricted_attester_ids=(1, 2 + i % 3)))
    with reverts_with(net4.center.TooManyOperatorSets, 1, 16):
        net4.center.createTaskDefinition(replace(PLAIN, restricted_attester_ids=(1,)).abi(), sender=net4.admin)
    with reverts_with(net4.center.TooManyOperatorSets, 1, 16):
        net4.center.updateTaskDefinition(0, replace(PLAIN, restricted_attester_ids=(1, 4)).abi(), sender=net4.admin)
    # Operators listed less often are still free; retiring a set (new list) frees its slots.
    net4.create_definition(replace(PLAIN, restricted_attester_ids=(2, 3, 4)))
    net4.center.updateTaskDefinition(1, replace(PLAIN, restricted_attester_ids=(1, 4)).abi(), sender=net4.admin)
    net4.center.updateTaskDefinition(2, replace(PLAIN, restricted_attester_ids=(3,)).abi(), sender=net4.admin)
    extra = net4.create_definition(replace(PLAIN, restricted_attester_ids=(1,)))
    assert net4.members(extra) == [1]


# --- operator sets: which set a definition gets -------------------------------------------------


def test_an_open_definition_without_minimum_uses_set_zero(net4):
    definition_id = net4.create_definition(PLAIN)
    assert set_of(net4, definition_id) == 0
    assert set_of(net4, 0) == 0
    view = net4.center.getOperatorSet(0)
    assert not view.restricted and not view.retired and int(view.minimumStake) == 0
    assert_set_exact(net4, 0, eligible(all_operators(net4)), definition_id=definition_id)
    assert net4.members(definition_id) == [1, 2, 3, 4]


def test_a_restricted_definition_gets_a_set_of_exactly_its_listed_active_operators(net4):
    net4.register(2 * MIN_STAKE)  # id 5, never listed
    net4.center.ejectOperator(3, sender=net4.admin)
    definition_id = net4.create_definition(replace(PLAIN, restricted_attester_ids=(1, 3, 4)))
    set_id = set_of(net4, definition_id)
    assert set_id != 0
    view = net4.center.getOperatorSet(set_id)
    assert int(view.id) == set_id
    assert view.restricted and not view.retired and int(view.minimumStake) == 0
    assert int(view.rewardIndex) == 0
    members = eligible(all_operators(net4), listed={1, 4})
    assert [int(op.id) for op in members] == [1, 4]
    assert_set_exact(net4, set_id, members, definition_id=definition_id)


def test_each_restricted_definition_gets_its_own_set(net4):
    first = net4.create_definition(replace(PLAIN, restricted_attester_ids=(1, 2)))
    second = net4.create_definition(replace(PLAIN, restricted_attester_ids=(1, 2)))
    assert set_of(net4, first) != set_of(net4, second)
    assert net4.members(first) == net4.members(second) == [1, 2]


def test_a_minimum_voting_power_definition_holds_the_active_operators_at_or_above_it(net):
    operators = net.register_many([MIN_STAKE, 2 * MIN_STAKE, 3 * MIN_STAKE, 2 * MIN_STAKE - 1, 5 * MIN_STAKE])
    net.center.leave(sender=operators[4].account)  # id 5: enough stake, but gone
    definition_id = net.create_definition(replace(PLAIN, minimum_voting_power=2 * MIN_STAKE))
    set_id = set_of(net, definition_id)
    view = net.center.getOperatorSet(set_id)
    assert set_id != 0 and not view.restricted and int(view.minimumStake) == 2 * MIN_STAKE
    members = eligible(all_operators(net), minimum=2 * MIN_STAKE)
    assert [int(op.id) for op in members] == [2, 3]
    assert_set_exact(net, set_id, members, definition_id=definition_id)


def test_a_restricted_definition_with_a_minimum_needs_both(net):
    net.register_many([MIN_STAKE, 3 * MIN_STAKE, 3 * MIN_STAKE, 4 * MIN_STAKE])
    definition_id = net.create_definition(
        replace(PLAIN, restricted_attester_ids=(1, 2, 4), minimum_voting_power=3 * MIN_STAKE)
    )
    set_id = set_of(net, definition_id)
    view = net.center.getOperatorSet(set_id)
    assert view.restricted and int(view.minimumStake) == 3 * MIN_STAKE
    assert_set_exact(net, set_id, eligible(all_operators(net), listed={2, 4}), definition_id=definition_id)
    assert net.members(definition_id) == [2, 4]


def test_building_a_set_emits_OperatorSetMembershipChanged_for_each_member(net4):
    net4.fund_stake(net4.operators[1].account, MIN_STAKE)
    net4.center.increaseStake(MIN_STAKE, sender=net4.operators[1].account)
    params = replace(PLAIN, restricted_attester_ids=(1, 2, 3))
    receipt = net4.center.createTaskDefinition(params.abi(), sender=net4.admin)
    set_id = set_of(net4, 1)
    events = receipt.events.filter(net4.center.OperatorSetMembershipChanged)
    assert [(int(e.setId), int(e.operatorId), int(e.member), int(e.totalPower)) for e in events] == [
        (set_id, 1, 1, MIN_STAKE),
        (set_id, 2, 1, 3 * MIN_STAKE),
        (set_id, 3, 1, 4 * MIN_STAKE),
    ]


# --- operator sets: kept exact on every operator change ------------------------------------------


@pytest.fixture
def three_sets(net4):
    """Definitions 1 (restricted to 1, 2, 3), 2 (minimum 2 * MIN_STAKE) and 3 (restricted to 2, 3, 4
    with minimum 2 * MIN_STAKE) on net4, and a function checking all of them and set 0."""
    restricted = net4.create_definition(replace(PLAIN, name="restricted", restricted_attester_ids=(1, 2, 3)))
    minimum = net4.create_definition(replace(PLAIN, name="minimum", minimum_voting_power=2 * MIN_STAKE))
    both = net4.create_definition(
        replace(PLAIN, name="both", restricted_attester_ids=(2, 3, 4), minimum_voting_power=2 * MIN_STAKE)
    )

    def check():
        operators = all_operators(net4)
        assert_set_exact(net4, 0, eligible(operators), definition_id=0)
        assert_set_exact(
            net4, set_of(net4, restricted), eligible(operators, listed={1, 2, 3}), definition_id=restricted
        )
        assert_set_exact(net4, set_of(net4, minimum), eligible(operators, minimum=2 * MIN_STAKE), definition_id=minimum)
        assert_set_exact(
            net4, set_of(net4, both), eligible(operators, listed={2, 3, 4}, minimum=2 * MIN_STAKE), definition_id=both
        )

    check()
    return {"restricted": restricted, "minimum": minimum, "both": both, "check": check}


def test_a_listed_operator_leaving_drops_out_of_every_set(net4, three_sets):
    for op in net4.operators:
        net4.fund_stake(op.account, MIN_STAKE)
        net4.center.increaseStake(MIN_STAKE, sender=op.account)
    assert net4.members(three_sets["both"]) == [2, 3, 4]
    net4.center.leave(sender=net4.operators[1].account)  # id 2
    three_sets["check"]()
    assert net4.members(three_sets["restricted"]) == [1, 3]
    assert net4.members(three_sets["minimum"]) == [1, 3, 4]
    assert net4.members(three_sets["both"]) == [3, 4]
    assert net4.members(0) == [1, 3, 4]


def test_an_ejected_operator_drops_out_of_every_set(net4, three_sets):
    net4.center.ejectOperator(1, sender=net4.admin)
    three_sets["check"]()
    assert net4.members(three_sets["restricted"]) == [2, 3]
    assert net4.members(0) == [2, 3, 4]


def test_increasing_stake_across_a_minimum_joins_the_minimum_sets(net4, three_sets):
    operator = net4.operators[2]  # id 3: listed by both restricted definitions
    net4.fund_stake(operator.account, MIN_STAKE)
    net4.center.increaseStake(MIN_STAKE - 1, sender=operator.account)
    three_sets["check"]()
    assert net4.members(three_sets["minimum"]) == []
    net4.center.increaseStake(1, sender=operator.account)  # exactly the minimum
    three_sets["check"]()
    assert net4.members(three_sets["minimum"]) == [3]
    assert net4.members(three_sets["both"]) == [3]


def test_an_unlisted_operator_crossing_the_minimum_joins_only_open_sets(net4, three_sets):
    operator = net4.operators[0]  # id 1: not listed by "both"
    net4.fund_stake(operator.account, 5 * MIN_STAKE)
    net4.center.increaseStake(5 * MIN_STAKE, sender=operator.account)
    three_sets["check"]()
    assert net4.members(three_sets["minimum"]) == [1]
    assert net4.members(three_sets["both"]) == []


def test_requesting_a_withdrawal_below_a_minimum_leaves_the_minimum_sets(net4, three_sets):
    operator = net4.operators[3]  # id 4
    net4.fund_stake(operator.account, 2 * MIN_STAKE)
    net4.center.increaseStake(2 * MIN_STAKE, sender=operator.account)  # 3 * MIN_STAKE
    assert net4.members(three_sets["both"]) == [4]
    net4.center.requestWithdrawal(MIN_STAKE, sender=operator.account)  # 2 * MIN_STAKE: still in
    three_sets["check"]()
    assert net4.members(three_sets["both"]) == [4]
    net4.center.requestWithdrawal(1, sender=operator.account)  # one below: out
    three_sets["check"]()
    assert net4.members(three_sets["minimum"]) == []
    assert net4.members(three_sets["both"]) == []
    assert 4 in net4.members(0)


def test_a_slash_below_a_minimum_leaves_the_minimum_sets(net4, three_sets):
    slasher = grant_slasher(net4)
    operator = net4.operators[1]  # id 2: listed by every restricted definition
    net4.fund_stake(operator.account, MIN_STAKE)
    net4.center.increaseStake(MIN_STAKE, sender=operator.account)  # 2 * MIN_STAKE: member of all
    net4.center.slashOperator(2, 1_000, 0, ZERO_ADDRESS, sender=slasher)  # 1.8 * MIN_STAKE, still active
    assert net4.center.getOperator(2).active
    three_sets["check"]()
    assert net4.members(three_sets["minimum"]) == []
    assert net4.members(three_sets["both"]) == []
    assert net4.members(three_sets["restricted"]) == [1, 2, 3]


def test_a_slash_below_the_registry_minimum_ejects_from_every_set(net4, three_sets):
    slasher = grant_slasher(net4)
    net4.center.slashOperator(3, 1, 0, ZERO_ADDRESS, sender=slasher)
    assert not net4.center.getOperator(3).active
    three_sets["check"]()
    assert net4.members(three_sets["restricted"]) == [1, 2]
    assert net4.members(0) == [1, 2, 4]


def test_a_key_update_moves_the_aggregate_key_of_every_set_holding_the_operator(net4, three_sets, spare_keys):
    for op in net4.operators:
        net4.fund_stake(op.account, MIN_STAKE)
        net4.center.increaseStake(MIN_STAKE, sender=op.account)
    operator = net4.operators[2]  # id 3: in every set
    sets = [0] + [set_of(net4, three_sets[k]) for k in ("restricted", "minimum", "both")]
    before = {s: G1Point(*net4.center.getOperatorSet(s).apkG1) for s in sets}
    keys = spare_keys[0]
    rotate_key(net4, operator.account, keys)
    for s in sets:
        after = G1Point(*net4.center.getOperatorSet(s).apkG1)
        assert after == before[s] - operator.keys.public.g1 + keys.public.g1
    three_sets["check"]()


def test_a_key_update_of_an_operator_outside_a_set_leaves_that_set_alone(net4, three_sets, spare_keys):
    operator = net4.operators[3]  # id 4: not in "restricted", below the minimums
    untouched = [set_of(net4, three_sets[k]) for k in ("restricted", "minimum", "both")]
    before = [set_snapshot(net4, s) for s in untouched]
    keys = spare_keys[1]
    rotate_key(net4, operator.account, keys)
    assert [set_snapshot(net4, s) for s in untouched] == before
    three_sets["check"]()


def test_operators_not_listed_never_join_a_restricted_set(net4, three_sets):
    restricted_set = set_of(net4, three_sets["restricted"])
    before = set_snapshot(net4, restricted_set)
    newcomer = net4.register(10 * MIN_STAKE)  # id 5
    outsider = net4.operators[3]  # id 4
    net4.fund_stake(outsider.account, 10 * MIN_STAKE)
    net4.center.increaseStake(10 * MIN_STAKE, sender=outsider.account)
    assert set_snapshot(net4, restricted_set) == before
    assert not net4.center.isSetMember(restricted_set, newcomer.id)
    assert not net4.center.isSetMember(restricted_set, 4)
    three_sets["check"]()
    assert net4.members(three_sets["minimum"]) == [4, 5]


def test_a_listed_operator_that_left_and_registered_again_is_not_a_member_under_its_new_id(net4, three_sets):
    operator = net4.operators[0]  # id 1, listed by "restricted"
    net4.center.leave(sender=operator.account)
    again = net4.register(3 * MIN_STAKE, account=operator.account)
    assert again.id == 5
    three_sets["check"]()
    assert net4.members(three_sets["restricted"]) == [2, 3]
    assert net4.members(three_sets["minimum"]) == [5]


# --- updates: retiring and rebuilding sets ---------------------------------------------------------


def test_changing_the_restricted_list_retires_the_old_set_and_builds_a_new_one(net4):
    definition_id = net4.create_definition(replace(PLAIN, restricted_attester_ids=(1, 2)))
    old = set_of(net4, definition_id)
    params = replace(PLAIN, restricted_attester_ids=(2, 3, 4))
    receipt = net4.center.updateTaskDefinition(definition_id, params.abi(), sender=net4.admin)
    new = set_of(net4, definition_id)
    assert new not in (0, old)
    assert int(receipt.events.filter(net4.center.TaskDefinitionUpdated)[0].operatorSetId) == new
    old_view = net4.center.getOperatorSet(old)
    assert old_view.retired
    assert not net4.center.getOperatorSet(new).retired
    assert_set_exact(net4, new, eligible(all_operators(net4), listed={2, 3, 4}), definition_id=definition_id)
    # The retired set was emptied (members left it, rewards settled) and is no longer updated.
    assert_set_exact(net4, old, [])
    frozen = set_snapshot(net4, old)
    first = net4.operators[0]
    net4.fund_stake(first.account, MIN_STAKE)
    net4.center.increaseStake(MIN_STAKE, sender=first.account)
    net4.center.leave(sender=net4.operators[1].account)
    assert set_snapshot(net4, old) == frozen
    assert_set_exact(net4, new, eligible(all_operators(net4), listed={2, 3, 4}), definition_id=definition_id)


def test_changing_the_minimum_retires_the_old_set_and_builds_a_new_one(net):
    operators = net.register_many([MIN_STAKE, 2 * MIN_STAKE, 3 * MIN_STAKE])
    definition_id = net.create_definition(replace(PLAIN, minimum_voting_power=2 * MIN_STAKE))
    old = set_of(net, definition_id)
    assert net.members(definition_id) == [2, 3]
    params = replace(PLAIN, minimum_voting_power=3 * MIN_STAKE)
    net.center.updateTaskDefinition(definition_id, params.abi(), sender=net.admin)
    new = set_of(net, definition_id)
    assert new not in (0, old)
    assert net.center.getOperatorSet(old).retired
    assert int(net.center.getOperatorSet(new).minimumStake) == 3 * MIN_STAKE
    assert_set_exact(net, new, eligible(all_operators(net), minimum=3 * MIN_STAKE), definition_id=definition_id)
    frozen = set_snapshot(net, old)
    assert frozen[1:3] == (0, 0)
    # Changes that would have touched the old set: a join above its minimum, a stake change, a leave.
    net.register(4 * MIN_STAKE)
    net.fund_stake(operators[1].account, 2 * MIN_STAKE)
    net.center.increaseStake(2 * MIN_STAKE, sender=operators[1].account)
    net.center.leave(sender=operators[2].account)
    assert set_snapshot(net, old) == frozen
    assert_set_exact(net, new, eligible(all_operators(net), minimum=3 * MIN_STAKE), definition_id=definition_id)
    assert net.members(definition_id) == [2, 4]


def test_dropping_the_restriction_moves_a_definition_to_set_zero_and_retires_its_set(net4):
    definition_id = net4.create_definition(replace(PLAIN, restricted_attester_ids=(1,)))
    old = set_of(net4, definition_id)
    receipt = net4.center.updateTaskDefinition(definition_id, PLAIN.abi(), sender=net4.admin)
    assert int(receipt.events.filter(net4.center.TaskDefinitionUpdated)[0].operatorSetId) == 0
    assert set_of(net4, definition_id) == 0
    assert net4.center.getOperatorSet(old).retired
    assert net4.members(definition_id) == [1, 2, 3, 4]


def test_restricting_a_set_zero_definition_never_retires_set_zero(net4):
    net4.center.updateTaskDefinition(0, replace(DEFINITION_0, restricted_attester_ids=(2, 3)).abi(), sender=net4.admin)
    assert set_of(net4, 0) != 0
    assert not net4.center.getOperatorSet(0).retired
    assert net4.members(0) == [2, 3]
    net4.register(MIN_STAKE)  # set 0 still follows every operator
    assert_set_exact(net4, 0, eligible(all_operators(net4)))
    plain = net4.create_definition(PLAIN)
    assert net4.members(plain) == [1, 2, 3, 4, 5]


def test_changing_only_other_fields_keeps_the_same_set(net4):
    listed = replace(PLAIN, restricted_attester_ids=(1, 3), minimum_voting_power=MIN_STAKE)
    definition_id = net4.create_definition(listed)
    set_id = set_of(net4, definition_id)
    before = set_snapshot(net4, set_id)
    changed = replace(
        listed,
        name="renamed",
        attester_reward=7,
        performer_reward=8 * TOKEN,
        aggregator_reward=0,
        dispute_period_blocks=1,
        maximum_number_of_attesters=1,
        block_expiry=10**6,
        penalties=PenaltyConfig(False, False, True, 1, 2),
    )
    receipt = net4.center.updateTaskDefinition(definition_id, changed.abi(), sender=net4.admin)
    assert int(receipt.events.filter(net4.center.TaskDefinitionUpdated)[0].operatorSetId) == set_id
    assert not receipt.events.filter(net4.center.OperatorSetMembershipChanged)
    assert set_of(net4, definition_id) == set_id
    assert set_snapshot(net4, set_id) == before
    assert not before[3]
    assert read(net4, definition_id) == changed
    # Still maintained.
    net4.center.leave(sender=net4.operators[0].account)
    assert net4.members(definition_id) == [3]


def test_set_ids_are_never_reused(net4):
    first = net4.create_definition(replace(PLAIN, restricted_attester_ids=(1,)))
    ids = [set_of(net4, first)]
    for listed in ((2,), (1,), (1, 2)):
        net4.center.updateTaskDefinition(first, replace(PLAIN, restricted_attester_ids=listed).abi(), sender=net4.admin)
        ids.append(set_of(net4, first))
    second = net4.create_definition(replace(PLAIN, minimum_voting_power=1))
    ids.append(set_of(net4, second))
    assert ids == sorted(set(ids)) and len(ids) == 5
    assert [bool(net4.center.getOperatorSet(s).retired) for s in ids] == [True, True, True, False, False]


def test_an_unknown_set_is_reported(net4, reverts_with):
    with reverts_with(net4.center.UnknownOperatorSet, 1):
        net4.center.getOperatorSet.transact(1, sender=net4.admin)


# --- createDefinitionZero ----------------------------------------------------------------------------


def test_createDefinitionZero_is_not_routed_through_the_center(net, project):
    as_module = project.TaskDefinitions.at(net.center.address)
    with ape.reverts() as info:
        as_module.createDefinitionZero(PLAIN.abi(), sender=net.admin)
    # Not DefinitionZeroExists: the selector falls through to the registry module, which has no such
    # function.
    assert "0x" + keccak(text="DefinitionZeroExists()")[:4].hex() not in str(info.value.revert_message or "")
    assert int(net.center.taskDefinitionCount()) == 1
    assert read(net, 0) == DEFINITION_0


def test_createDefinitionZero_on_the_module_itself_is_refused(net, reverts_with):
    module = net.definitions_module
    with reverts_with(module.NotDelegated):
        module.createDefinitionZero(PLAIN.abi(), sender=net.admin)
    with reverts_with(module.NotDelegated):
        module.createTaskDefinition(PLAIN.abi(), sender=net.admin)
    with reverts_with(module.NotDelegated):
        module.updateTaskDefinition(0, PLAIN.abi(), sender=net.admin)


# --- a random history: sets stay exact ---------------------------------------------------------------

STAKES = st.integers(MIN_STAKE, 4 * MIN_STAKE)


@slow
def test_sets_stay_exact_through_random_operator_histories(net, chain, key_pool, spare_keys):
    keys = key_pool + spare_keys[2:]
    slasher = net.accounts[19]
    base = chain.snapshot()
    net.center.grantRole(SLASHER_ROLE, slasher, sender=net.admin)

    class Histories(RuleBasedStateMachine):
        def __init__(self):
            super().__init__()
            self.snapshot = chain.snapshot()
            self.net = replace(net, operators=[], _next_account=1)
            self.keys_used = 0
            self.definitions: dict[str, int] = {}
            self.retired: dict[int, tuple] = {}  # set id => its state when it was retired

        def _register(self, stake, account=None):
            self.net.register(stake, keys=keys[self.keys_used], account=account)
            self.keys_used += 1

        def _active(self):
            return [op for op in self.net.operators if self.net.center.isActiveOperator(op.account)
                    and int(self.net.center.operatorIdOf(op.account)) == op.id]

        @initialize(
            stakes=st.lists(STAKES, min_size=3, max_size=3),
            listed=st.sets(st.sampled_from([1, 2, 3]), min_size=1),
            minimum=st.integers(MIN_STAKE, 4 * MIN_STAKE),
            listed_minimum=st.sampled_from([0, 2 * MIN_STAKE]),
        )
        def setup(self, stakes, listed, minimum, listed_minimum):
            for stake in stakes:
                self._register(stake)
            self.listed = set(listed)
            self.minimum = minimum
            self.listed_minimum = listed_minimum
            self.definitions["restricted"] = self.net.create_definition(
                replace(PLAIN, restricted_attester_ids=tuple(sorted(listed)), minimum_voting_power=listed_minimum)
            )
            self.definitions["minimum"] = self.net.create_definition(replace(PLAIN, minimum_voting_power=minimum))

        @precondition(lambda self: self.keys_used < len(keys) and self.net._next_account < 19)
        @rule(stake=STAKES)
        def register(self, stake):
            self._register(stake)
            event("register")

        @precondition(lambda self: self.keys_used < len(keys))
        @rule(data=st.data(), stake=STAKES)
        def register_again(self, data, stake):
            gone = [op for op in self.net.operators if not self.net.center.isActiveOperator(op.account)]
            if gone:
                self._register(stake, account=data.draw(st.sampled_from(gone)).account)
                event("register again")

        @rule(data=st.data(), amount=st.integers(1, 3 * MIN_STAKE))
        def increase_stake(self, data, amount):
            active = self._active()
            if active:
                op = data.draw(st.sampled_from(active))
                self.net.fund_stake(op.account, amount)
                self.net.center.increaseStake(amount, sender=op.account)
                event("increase stake")

        @rule(data=st.data())
        def withdraw_part(self, data):
            rich = [op for op in self._active() if int(self.net.center.getOperator(op.id).stake) > MIN_STAKE]
            if rich:
                op = data.draw(st.sampled_from(rich))
                stake = int(self.net.center.getOperator(op.id).stake)
                self.net.center.requestWithdrawal(data.draw(st.integers(1, stake - MIN_STAKE)), sender=op.account)
                event("withdraw part")

        @rule(data=st.data())
        def leave(self, data):
            active = self._active()
            if active:
                self.net.center.leave(sender=data.draw(st.sampled_from(active)).account)
                event("leave")

        @rule(data=st.data(), bps=st.integers(1, 5_000))
        def slash(self, data, bps):
            active = self._active()
            if active:
                op = data.draw(st.sampled_from(active))
                self.net.center.slashOperator(op.id, bps, 0, ZERO_ADDRESS, sender=slasher)
                event("slash" if self.net.center.getOperator(op.id).active else "slash and eject")

        @precondition(lambda self: self.keys_used < len(keys))
        @rule(data=st.data())
        def rotate_key(self, data):
            active = self._active()
            if active:
                op = data.draw(st.sampled_from(active))
                new = keys[self.keys_used]
                self.keys_used += 1
                rotate_key(self.net, op.account, new)
                event("rotate key")

        @rule(data=st.data(), which=st.sampled_from(["restricted", "minimum"]))
        def redefine(self, data, which):
            """Change who may attest: the old set is retired (and must stay frozen), a new one built."""
            definition_id = self.definitions[which]
            registered, _ = self.net.center.operatorCount()
            if which == "restricted":
                self.listed = data.draw(st.sets(st.integers(1, int(registered)), min_size=1, max_size=6))
                self.listed_minimum = data.draw(st.sampled_from([0, 2 * MIN_STAKE]))
                params = replace(
                    PLAIN, restricted_attester_ids=tuple(sorted(self.listed)), minimum_voting_power=self.listed_minimum
                )
            else:
                self.minimum = data.draw(st.integers(MIN_STAKE, 4 * MIN_STAKE))
                params = replace(PLAIN, minimum_voting_power=self.minimum)
            old = set_of(self.net, definition_id)
            self.net.center.updateTaskDefinition(definition_id, params.abi(), sender=self.net.admin)
            if set_of(self.net, definition_id) != old:
                self.retired[old] = set_snapshot(self.net, old)
                event("redefine: new set")

        @invariant()
        def sets_are_exact(self):
            operators = all_operators(self.net)
            assert_set_exact(self.net, 0, eligible(operators), definition_id=0, each_id=False)
            restricted = self.definitions["restricted"]
            assert_set_exact(
                self.net,
                set_of(self.net, restricted),
                eligible(operators, listed=self.listed, minimum=self.listed_minimum),
                definition_id=restricted,
                each_id=False,
            )
            minimum = self.definitions["minimum"]
            assert_set_exact(
                self.net,
                set_of(self.net, minimum),
                eligible(operators, minimum=self.minimum),
                definition_id=minimum,
                each_id=False,
            )
            for set_id, frozen in self.retired.items():
                assert frozen[1:] == (0, 0, True)  # emptied and retired
                assert set_snapshot(self.net, set_id) == frozen

        def teardown(self):
            chain.restore(self.snapshot)

    try:
        run_state_machine_as_test(
            Histories,
            settings=settings(
                max_examples=15,
                stateful_step_count=12,
                deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
            ),
        )
    finally:
        chain.restore(base)

