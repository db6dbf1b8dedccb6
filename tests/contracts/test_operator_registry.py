"""The OperatorRegistry module, reached through the attestation center (``net.center``).

Registration (ids, stake, BLS keys, proof of possession and the rogue-key defence), stake changes,
unbonding withdrawals, leaving, ejection, key rotation, endpoints, registry configuration, the
treasury and slashing; the aggregate G1 key, total power and member count of set 0 after each of
them; the ``OperatorSetMembershipChanged`` events; and the module refusing direct calls.

``Net`` keeps Python-side bookkeeping (its operator list, the next account to hand out) that Ape's
chain revert between tests does not undo: ``_reset_net_bookkeeping`` restores it after each test,
and the property tests restore it after each example, so that ``net.register()`` always takes the
same accounts and pool keys from a fresh deployment.
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from ape.exceptions import VirtualMachineError
from eth_utils import keccak
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from othentic_offchain.chain.types import RegistryConfig, TaskDefinitionParams
from othentic_offchain.crypto import G1Point, G2Point, aggregate_g1, pop_hash
from othentic_offchain.crypto.bn254 import P
from tests.contracts.network import CHAIN_ID, DEFINITION_0, MIN_STAKE, TOKEN, UNBONDING
from tests.reverts import assert_reverted_with

ZERO_ADDRESS = "0x" + "00" * 20
DEFAULT_ADMIN_ROLE = b"\x00" * 32
EJECTOR_ROLE = keccak(text="EJECTOR_ROLE")
SLASHER_ROLE = keccak(text="SLASHER_ROLE")
FLOW_REGISTRATIONS = 2
UINT96_MAX = 2**96 - 1
MAX_ENDPOINT_LENGTH = 256
#: Pool keys from this index on are never taken by ``net.register()`` in these tests.
FRESH = 16

PROPERTY = settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


# --- helpers -------------------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _reset_net_bookkeeping(request):
    nets = [request.getfixturevalue(name) for name in ("net", "net4") if name in request.fixturenames]
    saved = [(n, list(n.operators), n._next_account) for n in nets]
    yield
    for n, operators, next_account in saved:
        n.operators[:] = operators
        n._next_account = next_account


class _Bookkeeping:
    """Per Hypothesis example: revert the chain and the ``Net`` bookkeeping."""

    def __init__(self, chain, net):
        self.chain, self.net = chain, net

    def __enter__(self):
        self.snapshot = self.chain.snapshot()
        self.saved = (list(self.net.operators), self.net._next_account)
        return self

    def __exit__(self, *exc):
        self.chain.restore(self.snapshot)
        self.net.operators[:] = self.saved[0]
        self.net._next_account = self.saved[1]
        return False


def g1_of(value) -> G1Point:
    return G1Point(int(value.X), int(value.Y))


def g2_of(value) -> G2Point:
    return G2Point.from_words([*value.X, *value.Y])


def apk(net, set_id: int = 0) -> G1Point:
    return g1_of(net.center.getOperatorSet(set_id).apkG1)


def key_sum(keys) -> G1Point:
    return aggregate_g1(k.public.g1 for k in keys)


def unswapped(point: G2Point) -> tuple:
    """A G2 key with each coordinate's halves in py_ecc's (real, imag) order: not a twist point."""
    return ((point.x_real, point.x_imag), (point.y_real, point.y_imag))


def register_raw(net, account, keys, stake: int = MIN_STAKE, *, pk_g1=None, pk_g2=None, proof=None, fund=True, **kwargs):
    """``registerOperator`` with any part replaceable; the defaults make a valid registration."""
    if fund:
        net.fund_stake(account, stake)
    g1 = pk_g1 if pk_g1 is not None else keys.public.g1.words()
    g2 = pk_g2 if pk_g2 is not None else keys.public.g2.solidity()
    proof = proof if proof is not None else net.pop(account, keys)
    return net.center.registerOperator(stake, g1, g2, proof.words(), sender=account, **kwargs)


def update_key(net, operator, keys, **kwargs):
    proof = net.pop(operator.account, keys)
    return net.center.updateBlsKey(keys.public.g1.words(), keys.public.g2.solidity(), proof.words(), sender=operator.account, **kwargs)


def grant(net, role: bytes, account) -> None:
    net.center.grantRole(role, account, sender=net.admin)


def events(receipt, event) -> list:
    return list(receipt.events.filter(event))


def membership_events(net, receipt) -> list[tuple[int, int, int, int]]:
    return [
        (int(e.setId), int(e.operatorId), int(e.member), int(e.totalPower))
        for e in receipt.events.filter(net.center.OperatorSetMembershipChanged)
    ]


def balance(net, account) -> int:
    return int(net.stake_token.balanceOf(account))


def total_power(net, set_id: int = 0) -> int:
    return int(net.center.getOperatorSet(set_id).totalPower)


# --- registerOperator: success -------------------------------------------------------------------


def test_registerOperator_assigns_ids_one_two_three_in_order(net):
    operators = net.register_many([MIN_STAKE] * 3)
    assert [op.id for op in operators] == [1, 2, 3]
    assert [int(net.center.operatorIdOf(op.account)) for op in operators] == [1, 2, 3]
    assert tuple(net.center.operatorCount()) == (3, 3)


def test_registerOperator_returns_the_new_id(net):
    net.register()
    account = net.new_account()
    receipt = register_raw(net, account, net.key_pool[FRESH])
    assert receipt.return_value == 2


def test_registerOperator_never_reuses_an_id_after_leave_and_reregister(net):
    first, second = net.register_many([MIN_STAKE] * 2)
    net.center.leave(sender=first.account)
    register_raw(net, first.account, net.key_pool[FRESH])
    assert net.center.operatorIdOf(first.account) == 3
    net.center.leave(sender=second.account)
    third = net.register()
    assert third.id == 4
    assert tuple(net.center.operatorCount()) == (4, 2)
    assert sorted(net.center.activeOperatorIds()) == [3, 4]
    old = net.center.getOperator(1)
    assert old.account == first.address and not old.active


def test_registerOperator_moves_the_stake_to_the_center(net):
    account = net.new_account()
    stake = MIN_STAKE + 7 * TOKEN
    net.fund_stake(account, stake)
    before = balance(net, net.center.address)
    register_raw(net, account, net.key_pool[FRESH], stake, fund=False)
    assert balance(net, account) == 0
    assert balance(net, net.center.address) == before + stake


def test_registerOperator_emits_OperatorRegistered_with_id_account_stake_and_keys(net):
    net.register()
    account = net.new_account()
    keys = net.key_pool[FRESH]
    receipt = register_raw(net, account, keys, 3 * MIN_STAKE)
    (event,) = events(receipt, net.center.OperatorRegistered)
    assert event.operatorId == 2
    assert event.account == account.address
    assert event.stake == 3 * MIN_STAKE
    assert G1Point(*event.pkG1) == keys.public.g1
    assert [tuple(c) for c in event.pkG2] == list(keys.public.g2.solidity())


def test_registerOperator_emits_OperatorSetMembershipChanged_joining_set_0(net):
    net.register(stake=MIN_STAKE)
    account = net.new_account()
    receipt = register_raw(net, account, net.key_pool[FRESH], 2 * MIN_STAKE)
    assert membership_events(net, receipt) == [(0, 2, 1, 3 * MIN_STAKE)]


def test_registerOperator_adds_the_key_to_set_0_aggregate_power_and_count(net):
    stakes = [MIN_STAKE, 2 * MIN_STAKE, MIN_STAKE + 1]
    operators = net.register_many(stakes)
    view = net.center.getOperatorSet(0)
    assert g1_of(view.apkG1) == key_sum(op.keys for op in operators)
    assert view.totalPower == sum(stakes)
    assert view.memberCount == 3
    assert view.id == 0 and not view.restricted and not view.retired and view.minimumStake == 0


def test_getOperator_shows_the_registered_operator(net):
    account = net.new_account()
    keys = net.key_pool[FRESH]
    receipt = register_raw(net, account, keys, MIN_STAKE + 5)
    view = net.center.getOperator(1)
    assert view.id == 1
    assert view.account == account.address
    assert view.active
    assert view.stake == MIN_STAKE + 5
    assert view.registeredAtBlock == receipt.block_number
    assert view.exitedAtBlock == 0
    assert g1_of(view.pkG1) == keys.public.g1
    assert g2_of(view.pkG2) == keys.public.g2
    assert view.endpoint == ""


def test_registry_views_list_the_registered_operators(net):
    operators = net.register_many([MIN_STAKE] * 3)
    assert list(net.center.activeOperatorIds()) == [1, 2, 3]
    assert tuple(net.center.operatorCount()) == (3, 3)
    ids, stakes = net.center.operatorSetMembers(0)
    assert list(ids) == [1, 2, 3] and list(stakes) == [MIN_STAKE] * 3
    for op in operators:
        assert net.center.isActiveOperator(op.account)
        assert net.center.isSetMember(0, op.id)
        owner = net.center.keyOwner(op.keys.public.g2.solidity())
        assert (owner.operatorId, owner.retiredAtBlock) == (op.id, 0) and owner.addedAtBlock > 0
        record = net.center.keyRecord(op.keys.public.g2.solidity())
        assert (record.operatorId, record.account, record.addedAtBlock) == (op.id, op.address, owner.addedAtBlock)
        assert (record.retiredAtBlock, record.addedAtTaskCount, record.retiredAtTaskCount) == (0, 0, 0)
    assert tuple(net.center.keyOwner(net.key_pool[FRESH].public.g2.solidity())) == (0, 0, 0)
    assert tuple(net.center.keyRecord(net.key_pool[FRESH].public.g2.solidity())) == (0, ZERO_ADDRESS, 0, 0, 0, 0)
    assert not net.center.isActiveOperator(net.admin)
    assert net.center.operatorIdOf(net.admin) == 0


def test_getOperator_reverts_UnknownOperator_for_an_id_never_assigned(net, reverts_with):
    net.register()
    with reverts_with(net.center.UnknownOperator, 2):
        net.center.getOperator.transact(2, sender=net.admin, skip_trace=True)


def test_getOperatorSet_reverts_UnknownOperatorSet_for_a_set_never_created(net, reverts_with):
    with reverts_with(net.center.UnknownOperatorSet, 1):
        net.center.getOperatorSet.transact(1, sender=net.admin, skip_trace=True)


@PROPERTY
@given(
    picks=st.lists(st.tuples(st.integers(0, 11), st.integers(0, 5)), min_size=1, max_size=5, unique_by=lambda p: p[0]),
    leaving=st.lists(st.integers(0, 4), max_size=3, unique=True),
)
def test_set_0_aggregate_key_and_power_are_the_sums_over_a_random_subset_of_pool_keys(net, chain, picks, leaving):
    with _Bookkeeping(chain, net):
        stakes = {index: MIN_STAKE + extra * TOKEN for index, extra in picks}
        operators = {index: net.register(stakes[index], keys=net.key_pool[index]) for index in stakes}
        assert apk(net) == key_sum(net.key_pool[i] for i in stakes)
        assert total_power(net) == sum(stakes.values())

        gone = {list(stakes)[k] for k in leaving if k < len(stakes)}
        for index in gone:
            net.center.leave(sender=operators[index].account)
        staying = [i for i in stakes if i not in gone]
        view = net.center.getOperatorSet(0)
        assert g1_of(view.apkG1) == key_sum(net.key_pool[i] for i in staying)
        assert view.totalPower == sum(stakes[i] for i in staying)
        assert view.memberCount == len(staying)
        assert sorted(net.center.activeOperatorIds()) == sorted(operators[i].id for i in staying)


# --- registerOperator: reverts -------------------------------------------------------------------


def test_registerOperator_reverts_FlowPaused_while_registrations_are_paused(net, reverts_with):
    net.center.pause(FLOW_REGISTRATIONS, sender=net.admin)
    account = net.new_account()
    with reverts_with(net.center.FlowPaused, FLOW_REGISTRATIONS):
        register_raw(net, account, net.key_pool[FRESH], skip_trace=True)
    net.center.unpause(FLOW_REGISTRATIONS, sender=net.admin)
    register_raw(net, account, net.key_pool[FRESH], fund=False)
    assert net.center.isActiveOperator(account)


def test_registerOperator_reverts_AlreadyRegistered_for_an_active_operator(net, reverts_with):
    net.register()
    operator = net.register()
    with reverts_with(net.center.AlreadyRegistered, operator.address, 2):
        register_raw(net, operator.account, net.key_pool[FRESH], skip_trace=True)


def test_registerOperator_reverts_StakeBelowMinimum_when_stake_is_one_wei_short(net, reverts_with):
    account = net.new_account()
    with reverts_with(net.center.StakeBelowMinimum, MIN_STAKE - 1, MIN_STAKE):
        register_raw(net, account, net.key_pool[FRESH], MIN_STAKE - 1, skip_trace=True)


def test_registerOperator_accepts_a_stake_of_exactly_uint96_max(net):
    account = net.new_account()
    register_raw(net, account, net.key_pool[FRESH], UINT96_MAX)
    assert net.center.getOperator(1).stake == UINT96_MAX
    assert total_power(net) == UINT96_MAX


def _accepted_with_exact_power_or_StakeTooLarge(net, send, expected_power: int) -> None:
    """Each stake is within the documented bound (uint96), but the set's total is not: the registry
    must either keep the exact total or refuse with its StakeTooLarge error, never a bare panic."""
    try:
        send()
    except VirtualMachineError as raised:
        assert_reverted_with(raised, net.center.StakeTooLarge, any_args=True)
        return
    assert total_power(net) == expected_power


def test_registerOperator_with_set_total_past_uint96_keeps_exact_power_or_reverts_StakeTooLarge(net):
    net.register(MIN_STAKE)
    account = net.new_account()
    net.fund_stake(account, UINT96_MAX)
    send = lambda: register_raw(net, account, net.key_pool[FRESH], UINT96_MAX, fund=False, skip_trace=True)  # noqa: E731
    _accepted_with_exact_power_or_StakeTooLarge(net, send, MIN_STAKE + UINT96_MAX)


def test_increaseStake_with_set_total_past_uint96_keeps_exact_power_or_reverts_StakeTooLarge(net):
    _, operator = net.register_many([MIN_STAKE, MIN_STAKE])
    amount = UINT96_MAX - MIN_STAKE
    net.fund_stake(operator.account, amount)
    send = lambda: net.center.increaseStake(amount, sender=operator.account, skip_trace=True)  # noqa: E731
    _accepted_with_exact_power_or_StakeTooLarge(net, send, MIN_STAKE + UINT96_MAX)


def test_registerOperator_reverts_StakeTooLarge_above_uint96_max(net, reverts_with):
    account = net.new_account()
    with reverts_with(net.center.StakeTooLarge, UINT96_MAX + 1):
        register_raw(net, account, net.key_pool[FRESH], UINT96_MAX + 1, skip_trace=True)


def test_registerOperator_reverts_OperatorLimitReached_at_the_configured_limit(net, reverts_with):
    net.register_many([MIN_STAKE] * 2)
    net.center.setRegistryConfig(RegistryConfig(MIN_STAKE, 2, UNBONDING).abi(), sender=net.admin)
    account = net.new_account()
    with reverts_with(net.center.OperatorLimitReached, 2):
        register_raw(net, account, net.key_pool[FRESH], skip_trace=True)


def test_registerOperator_limit_counts_active_operators_only(net):
    first, _ = net.register_many([MIN_STAKE] * 2)
    net.center.setRegistryConfig(RegistryConfig(MIN_STAKE, 2, UNBONDING).abi(), sender=net.admin)
    net.center.leave(sender=first.account)
    register_raw(net, net.new_account(), net.key_pool[FRESH])
    assert tuple(net.center.operatorCount()) == (3, 2)


def test_registerOperator_reverts_InvalidPublicKey_for_a_g1_key_off_the_curve(net, reverts_with):
    account = net.new_account()
    with reverts_with(net.center.InvalidPublicKey):
        register_raw(net, account, net.key_pool[FRESH], pk_g1=(1, 3), skip_trace=True)


def test_registerOperator_reverts_InvalidPublicKey_for_a_g1_coordinate_not_below_p(net, reverts_with):
    keys = net.key_pool[FRESH]
    account = net.new_account()
    with reverts_with(net.center.InvalidPublicKey):
        register_raw(net, account, keys, pk_g1=(keys.public.g1.x, keys.public.g1.y + P), skip_trace=True)


def test_registerOperator_reverts_InvalidPublicKey_for_the_g1_point_at_infinity(net, reverts_with):
    account = net.new_account()
    with reverts_with(net.center.InvalidPublicKey):
        register_raw(net, account, net.key_pool[FRESH], pk_g1=(0, 0), skip_trace=True)


def test_registerOperator_reverts_InvalidPublicKey_for_the_g2_point_at_infinity(net, reverts_with):
    account = net.new_account()
    with reverts_with(net.center.InvalidPublicKey):
        register_raw(net, account, net.key_pool[FRESH], pk_g2=((0, 0), (0, 0)), skip_trace=True)


def test_registerOperator_reverts_KeyAlreadyRegistered_for_a_key_of_another_account(net, reverts_with):
    net.register()
    owner = net.register()
    account = net.new_account()
    with reverts_with(net.center.KeyAlreadyRegistered, owner.id):
        register_raw(net, account, owner.keys, skip_trace=True)


def test_registerOperator_reverts_KeyAlreadyRegistered_for_the_key_of_a_departed_operator(net, reverts_with):
    operator = net.register()
    net.center.leave(sender=operator.account)
    with reverts_with(net.center.KeyAlreadyRegistered, operator.id):
        register_raw(net, operator.account, operator.keys, skip_trace=True)


def test_registerOperator_reverts_InvalidProofOfPossession_for_a_proof_made_for_another_account(net, reverts_with):
    account, other = net.new_account(), net.new_account()
    keys = net.key_pool[FRESH]
    proof = net.pop(other, keys)
    with reverts_with(net.center.InvalidProofOfPossession):
        register_raw(net, account, keys, proof=proof, skip_trace=True)


def test_registerOperator_reverts_InvalidProofOfPossession_for_a_proof_made_for_another_center(net, reverts_with):
    account = net.new_account()
    keys = net.key_pool[FRESH]
    proof = keys.proof_of_possession(str(account.address), net.registry_module.address, CHAIN_ID)
    with reverts_with(net.center.InvalidProofOfPossession):
        register_raw(net, account, keys, proof=proof, skip_trace=True)


def test_registerOperator_reverts_InvalidProofOfPossession_for_a_proof_made_for_another_chain(net, reverts_with):
    account = net.new_account()
    keys = net.key_pool[FRESH]
    proof = keys.proof_of_possession(str(account.address), net.center.address, CHAIN_ID + 1)
    with reverts_with(net.center.InvalidProofOfPossession):
        register_raw(net, account, keys, proof=proof, skip_trace=True)


def test_registerOperator_reverts_InvalidProofOfPossession_for_a_proof_signed_by_another_key(net, reverts_with):
    account = net.new_account()
    keys, signer = net.key_pool[FRESH], net.key_pool[FRESH + 1]
    digest = pop_hash(str(account.address), net.center.address, CHAIN_ID, keys.public.g1, keys.public.g2)
    with reverts_with(net.center.InvalidProofOfPossession):
        register_raw(net, account, keys, proof=signer.sign(digest), skip_trace=True)


def test_registerOperator_reverts_InvalidProofOfPossession_for_g1_and_g2_keys_of_different_secrets(net, reverts_with):
    """The proof binds pkG1 to pkG2: a G1 key of one secret with the G2 key of another fails."""
    account = net.new_account()
    a, b = net.key_pool[FRESH], net.key_pool[FRESH + 1]
    digest = pop_hash(str(account.address), net.center.address, CHAIN_ID, a.public.g1, b.public.g2)
    for signer in (a, b):
        with reverts_with(net.center.InvalidProofOfPossession):
            register_raw(
                net, account, a, pk_g1=a.public.g1.words(), pk_g2=b.public.g2.solidity(),
                proof=signer.sign(digest), skip_trace=True,
            )


def test_registerOperator_refuses_a_rogue_key_that_cancels_a_victims_key(net, reverts_with):
    """Rogue-key attack: pk = a*G - pk_victim makes an aggregate with the victim equal a*G, which the
    attacker could sign alone. Nobody knows that key's secret, so no proof of possession exists."""
    victim = net.register()
    attacker = net.new_account()
    own = net.key_pool[FRESH]
    rogue_g1 = own.public.g1 - victim.keys.public.g1
    rogue_g2 = own.public.g2 - victim.keys.public.g2
    digest = pop_hash(str(attacker.address), net.center.address, CHAIN_ID, rogue_g1, rogue_g2)
    with reverts_with(net.center.InvalidProofOfPossession):
        register_raw(
            net, attacker, own, pk_g1=rogue_g1.words(), pk_g2=rogue_g2.solidity(),
            proof=own.sign(digest), skip_trace=True,
        )
    assert apk(net) == victim.keys.public.g1


def test_registerOperator_reverts_PairingFailed_for_a_g2_key_with_unswapped_coordinates(net, reverts_with, bls_errors):
    account = net.new_account()
    keys = net.key_pool[FRESH]
    bad_g2 = unswapped(keys.public.g2)
    digest = pop_hash(str(account.address), net.center.address, CHAIN_ID, keys.public.g1, G2Point.from_words([*bad_g2[0], *bad_g2[1]]))
    with reverts_with(bls_errors.PairingFailed, any_args=True):
        register_raw(net, account, keys, pk_g2=bad_g2, proof=keys.sign(digest), skip_trace=True)


def test_registerOperator_failure_leaves_no_trace(net, reverts_with):
    net.register()
    account = net.new_account()
    keys = net.key_pool[FRESH]
    with reverts_with(net.center.InvalidProofOfPossession):
        register_raw(net, account, keys, proof=net.pop(net.admin, keys), skip_trace=True)
    assert tuple(net.center.operatorCount()) == (1, 1)
    assert tuple(net.center.keyOwner(keys.public.g2.solidity())) == (0, 0, 0)
    assert balance(net, account) == MIN_STAKE


# --- modules refuse direct calls -----------------------------------------------------------------


def test_registry_module_reverts_NotDelegated_on_registerOperator_called_directly(net, reverts_with):
    account = net.new_account()
    keys = net.key_pool[FRESH]
    proof = keys.proof_of_possession(str(account.address), net.registry_module.address, CHAIN_ID)
    with reverts_with(net.registry_module.NotDelegated):
        net.registry_module.registerOperator(
            MIN_STAKE, keys.public.g1.words(), keys.public.g2.solidity(), proof.words(), sender=account, skip_trace=True
        )


def test_registry_module_reverts_NotDelegated_on_increaseStake_called_directly(net, reverts_with):
    operator = net.register()
    with reverts_with(net.registry_module.NotDelegated):
        net.registry_module.increaseStake(TOKEN, sender=operator.account, skip_trace=True)


def test_registry_module_reverts_NotDelegated_on_withdraw_called_directly(net, reverts_with):
    operator = net.register()
    with reverts_with(net.registry_module.NotDelegated):
        net.registry_module.withdraw(operator.account, sender=operator.account, skip_trace=True)


# --- increaseStake -------------------------------------------------------------------------------


def test_increaseStake_reverts_ZeroAmount(net, reverts_with):
    operator = net.register()
    with reverts_with(net.center.ZeroAmount):
        net.center.increaseStake(0, sender=operator.account, skip_trace=True)


def test_increaseStake_reverts_NotRegistered_for_an_account_that_never_registered(net, reverts_with):
    account = net.new_account()
    net.fund_stake(account, TOKEN)
    with reverts_with(net.center.NotRegistered, account.address):
        net.center.increaseStake(TOKEN, sender=account, skip_trace=True)


def test_increaseStake_reverts_NotRegistered_after_leaving(net, reverts_with):
    operator = net.register()
    net.center.leave(sender=operator.account)
    net.fund_stake(operator.account, TOKEN)
    with reverts_with(net.center.NotRegistered, operator.address):
        net.center.increaseStake(TOKEN, sender=operator.account, skip_trace=True)


def test_increaseStake_reverts_StakeTooLarge_when_the_sum_exceeds_uint96_max(net, reverts_with):
    operator = net.register()
    amount = UINT96_MAX - MIN_STAKE + 1
    net.fund_stake(operator.account, amount)
    with reverts_with(net.center.StakeTooLarge, UINT96_MAX + 1):
        net.center.increaseStake(amount, sender=operator.account, skip_trace=True)
    net.center.increaseStake(amount - 1, sender=operator.account)
    assert net.center.getOperator(operator.id).stake == UINT96_MAX


def test_increaseStake_emits_StakeIncreased_and_raises_stake_and_total_power(net):
    other, operator = net.register_many([MIN_STAKE, MIN_STAKE])
    net.fund_stake(operator.account, 3 * TOKEN)
    center_before = balance(net, net.center.address)
    receipt = net.center.increaseStake(3 * TOKEN, sender=operator.account)
    (event,) = events(receipt, net.center.StakeIncreased)
    assert (event.operatorId, event.amount, event.stake) == (operator.id, 3 * TOKEN, MIN_STAKE + 3 * TOKEN)
    assert net.center.getOperator(operator.id).stake == MIN_STAKE + 3 * TOKEN
    assert total_power(net) == 2 * MIN_STAKE + 3 * TOKEN
    assert balance(net, net.center.address) == center_before + 3 * TOKEN
    assert balance(net, operator.account) == 0
    assert membership_events(net, receipt) == [(0, operator.id, 1, 2 * MIN_STAKE + 3 * TOKEN)]
    assert apk(net) == key_sum([other.keys, operator.keys])


# --- requestWithdrawal ---------------------------------------------------------------------------


def test_requestWithdrawal_reverts_ZeroAmount(net, reverts_with):
    operator = net.register(stake=2 * MIN_STAKE)
    with reverts_with(net.center.ZeroAmount):
        net.center.requestWithdrawal(0, sender=operator.account, skip_trace=True)


def test_requestWithdrawal_reverts_NotRegistered_for_a_stranger(net, reverts_with):
    account = net.new_account()
    with reverts_with(net.center.NotRegistered, account.address):
        net.center.requestWithdrawal(TOKEN, sender=account, skip_trace=True)


def test_requestWithdrawal_reverts_StakeBelowMinimum_when_the_rest_is_one_wei_under_the_minimum(net, reverts_with):
    operator = net.register(stake=MIN_STAKE + 5 * TOKEN)
    with reverts_with(net.center.StakeBelowMinimum, MIN_STAKE - 1, MIN_STAKE):
        net.center.requestWithdrawal(5 * TOKEN + 1, sender=operator.account, skip_trace=True)
    net.center.requestWithdrawal(5 * TOKEN, sender=operator.account)
    assert net.center.getOperator(operator.id).stake == MIN_STAKE


def test_requestWithdrawal_reverts_StakeBelowMinimum_with_zero_when_asking_more_than_the_stake(net, reverts_with):
    operator = net.register(stake=MIN_STAKE + 5 * TOKEN)
    with reverts_with(net.center.StakeBelowMinimum, 0, MIN_STAKE):
        net.center.requestWithdrawal(MIN_STAKE + 5 * TOKEN + 1, sender=operator.account, skip_trace=True)
    with reverts_with(net.center.StakeBelowMinimum, 0, MIN_STAKE):
        net.center.requestWithdrawal(MIN_STAKE + 5 * TOKEN, sender=operator.account, skip_trace=True)


def test_requestWithdrawal_emits_WithdrawalRequested_with_the_unlock_block(net):
    operator = net.register(stake=MIN_STAKE + 5 * TOKEN)
    receipt = net.center.requestWithdrawal(2 * TOKEN, sender=operator.account)
    (event,) = events(receipt, net.center.WithdrawalRequested)
    unlock = receipt.block_number + UNBONDING
    assert event.operatorId == operator.id
    assert event.account == operator.address
    assert event.amount == 2 * TOKEN
    assert event.stake == MIN_STAKE + 3 * TOKEN
    assert event.unlockBlock == unlock
    assert tuple(net.center.pendingWithdrawal(operator.account)) == (2 * TOKEN, unlock)


def test_requestWithdrawal_drops_voting_power_at_once(net):
    other, operator = net.register_many([MIN_STAKE, MIN_STAKE + 5 * TOKEN])
    center_before = balance(net, net.center.address)
    receipt = net.center.requestWithdrawal(4 * TOKEN, sender=operator.account)
    assert net.center.getOperator(operator.id).stake == MIN_STAKE + TOKEN
    assert total_power(net) == 2 * MIN_STAKE + TOKEN
    assert membership_events(net, receipt) == [(0, operator.id, 1, 2 * MIN_STAKE + TOKEN)]
    # still a member with the same key; the tokens stay in the center until withdrawn
    assert net.center.isSetMember(0, operator.id)
    assert apk(net) == key_sum([other.keys, operator.keys])
    assert balance(net, net.center.address) == center_before


def test_requestWithdrawal_twice_adds_up_and_restarts_the_delay(net):
    operator = net.register(stake=MIN_STAKE + 5 * TOKEN)
    net.center.requestWithdrawal(TOKEN, sender=operator.account)
    receipt = net.center.requestWithdrawal(2 * TOKEN, sender=operator.account)
    assert tuple(net.center.pendingWithdrawal(operator.account)) == (3 * TOKEN, receipt.block_number + UNBONDING)


# --- withdraw ------------------------------------------------------------------------------------


def test_withdraw_reverts_NothingToWithdraw_without_a_pending_withdrawal(net, reverts_with):
    operator = net.register()
    with reverts_with(net.center.NothingToWithdraw, operator.address):
        net.center.withdraw(operator.account, sender=operator.account, skip_trace=True)


def test_withdraw_reverts_ZeroAddress_for_recipient_zero(net, chain, reverts_with):
    operator = net.register(stake=2 * MIN_STAKE)
    net.center.requestWithdrawal(TOKEN, sender=operator.account)
    chain.mine(UNBONDING)
    with reverts_with(net.center.ZeroAddress):
        net.center.withdraw(ZERO_ADDRESS, sender=operator.account, skip_trace=True)


def test_withdraw_reverts_WithdrawalLocked_one_block_before_the_unlock_block(net, chain, reverts_with):
    operator = net.register(stake=2 * MIN_STAKE)
    receipt = net.center.requestWithdrawal(TOKEN, sender=operator.account)
    unlock = receipt.block_number + UNBONDING
    with reverts_with(net.center.WithdrawalLocked, unlock, chain.blocks.head.number + 1):
        net.center.withdraw(operator.account, sender=operator.account, skip_trace=True)
    chain.mine(unlock - chain.blocks.head.number - 2)  # the next transaction lands in block unlock - 1
    with reverts_with(net.center.WithdrawalLocked, unlock, unlock - 1):
        net.center.withdraw(operator.account, sender=operator.account, skip_trace=True)
    chain.mine(max(0, unlock - chain.blocks.head.number - 1))  # the next one lands in block unlock
    receipt = net.center.withdraw(operator.account, sender=operator.account)
    assert receipt.block_number == unlock


def test_withdraw_after_the_unbonding_delay_pays_to_and_emits_Withdrawn(net, chain):
    operator = net.register(stake=2 * MIN_STAKE)
    to = net.new_account()
    net.center.requestWithdrawal(3 * TOKEN, sender=operator.account)
    chain.mine(UNBONDING)
    center_before = balance(net, net.center.address)
    receipt = net.center.withdraw(to, sender=operator.account)
    (event,) = events(receipt, net.center.Withdrawn)
    assert (event.account, event.to, event.amount) == (operator.address, to.address, 3 * TOKEN)
    assert balance(net, to) == 3 * TOKEN
    assert balance(net, operator.account) == 0
    assert balance(net, net.center.address) == center_before - 3 * TOKEN
    assert tuple(net.center.pendingWithdrawal(operator.account)) == (0, 0)
    assert net.center.getOperator(operator.id).stake == 2 * MIN_STAKE - 3 * TOKEN


def test_withdraw_twice_reverts_NothingToWithdraw(net, chain, reverts_with):
    operator = net.register(stake=2 * MIN_STAKE)
    net.center.requestWithdrawal(TOKEN, sender=operator.account)
    chain.mine(UNBONDING)
    net.center.withdraw(operator.account, sender=operator.account)
    with reverts_with(net.center.NothingToWithdraw, operator.address):
        net.center.withdraw(operator.account, sender=operator.account, skip_trace=True)


# --- leave ---------------------------------------------------------------------------------------


def test_leave_emits_OperatorLeft_and_removes_the_operator_from_set_0(net):
    first, leaver, third = net.register_many([MIN_STAKE, 2 * MIN_STAKE, MIN_STAKE])
    receipt = net.center.leave(sender=leaver.account)
    (event,) = events(receipt, net.center.OperatorLeft)
    assert (event.operatorId, event.account) == (leaver.id, leaver.address)
    assert membership_events(net, receipt) == [(0, leaver.id, 0, 2 * MIN_STAKE)]
    view = net.center.getOperatorSet(0)
    assert g1_of(view.apkG1) == key_sum([first.keys, third.keys])
    assert (view.totalPower, view.memberCount) == (2 * MIN_STAKE, 2)
    assert sorted(net.center.activeOperatorIds()) == [first.id, third.id]
    assert tuple(net.center.operatorCount()) == (3, 2)
    assert not net.center.isActiveOperator(leaver.account)
    assert not net.center.isSetMember(0, leaver.id)
    operator = net.center.getOperator(leaver.id)
    assert not operator.active
    assert operator.stake == 0
    assert operator.exitedAtBlock == receipt.block_number
    # the key stays on record as the operator's, retired at the block it left
    owner = net.center.keyOwner(leaver.keys.public.g2.solidity())
    assert (owner.operatorId, owner.retiredAtBlock) == (leaver.id, receipt.block_number)


def test_leave_retires_the_key_after_the_tasks_landed_so_far(net):
    """The key of an id that left answers for the tasks that landed before it left and no later one
    (retiredAtTaskCount is the task count at the exit)."""
    first, leaver, _ = net.register_many([MIN_STAKE] * 3)
    for _ in range(2):
        task = net.task(first)
        net.submit(task)
    receipt = net.center.leave(sender=leaver.account)
    record = net.center.keyRecord(leaver.keys.public.g2.solidity())
    assert (record.operatorId, record.account) == (leaver.id, leaver.address)
    assert (record.retiredAtBlock, record.addedAtTaskCount, record.retiredAtTaskCount) == (receipt.block_number, 0, 2)


def test_leave_of_the_last_operator_resets_the_aggregate_to_infinity(net):
    operator = net.register()
    net.center.leave(sender=operator.account)
    view = net.center.getOperatorSet(0)
    assert g1_of(view.apkG1) == G1Point.infinity()
    assert (view.totalPower, view.memberCount) == (0, 0)


def test_leave_queues_the_whole_stake_for_withdrawal(net, chain, reverts_with):
    operator = net.register(stake=MIN_STAKE + 4 * TOKEN)
    receipt = net.center.leave(sender=operator.account)
    unlock = receipt.block_number + UNBONDING
    assert tuple(net.center.pendingWithdrawal(operator.account)) == (MIN_STAKE + 4 * TOKEN, unlock)
    with reverts_with(net.center.WithdrawalLocked, unlock, chain.blocks.head.number + 1):
        net.center.withdraw(operator.account, sender=operator.account, skip_trace=True)
    chain.mine(UNBONDING)
    net.center.withdraw(operator.account, sender=operator.account)
    assert balance(net, operator.account) == MIN_STAKE + 4 * TOKEN


def test_leave_adds_the_stake_to_an_earlier_pending_withdrawal(net):
    operator = net.register(stake=MIN_STAKE + 4 * TOKEN)
    net.center.requestWithdrawal(4 * TOKEN, sender=operator.account)
    net.center.leave(sender=operator.account)
    assert net.center.pendingWithdrawal(operator.account).amount == MIN_STAKE + 4 * TOKEN


def test_leave_twice_reverts_NotRegistered(net, reverts_with):
    operator = net.register()
    net.center.leave(sender=operator.account)
    with reverts_with(net.center.NotRegistered, operator.address):
        net.center.leave(sender=operator.account, skip_trace=True)


# --- ejectOperator -------------------------------------------------------------------------------


def test_ejectOperator_by_the_admin_emits_OperatorEjected_and_removes_the_operator(net):
    first, ejected = net.register_many([MIN_STAKE, 2 * MIN_STAKE])
    receipt = net.center.ejectOperator(ejected.id, sender=net.admin)
    (event,) = events(receipt, net.center.OperatorEjected)
    assert (event.operatorId, event.account, event.by) == (ejected.id, ejected.address, net.admin.address)
    assert membership_events(net, receipt) == [(0, ejected.id, 0, MIN_STAKE)]
    assert apk(net) == first.keys.public.g1
    assert not net.center.isActiveOperator(ejected.account)
    assert list(net.center.activeOperatorIds()) == [first.id]
    assert tuple(net.center.pendingWithdrawal(ejected.account)) == (2 * MIN_STAKE, receipt.block_number + UNBONDING)


def test_ejectOperator_retires_the_ejected_key(net):
    first, ejected = net.register_many([MIN_STAKE, MIN_STAKE])
    net.submit(net.task(first))
    receipt = net.center.ejectOperator(ejected.id, sender=net.admin)
    record = net.center.keyRecord(ejected.keys.public.g2.solidity())
    assert (record.operatorId, record.retiredAtBlock, record.retiredAtTaskCount) == (ejected.id, receipt.block_number, 1)
    assert tuple(net.center.keyOwner(ejected.keys.public.g2.solidity()))[2] == receipt.block_number


def test_ejectOperator_by_an_EJECTOR_ROLE_holder(net):
    operator = net.register()
    ejector = net.new_account()
    grant(net, EJECTOR_ROLE, ejector)
    receipt = net.center.ejectOperator(operator.id, sender=ejector)
    (event,) = events(receipt, net.center.OperatorEjected)
    assert (event.operatorId, event.account, event.by) == (operator.id, operator.address, ejector.address)
    assert not net.center.getOperator(operator.id).active


def test_ejectOperator_reverts_AccessControlUnauthorizedAccount_for_other_accounts(net, reverts_with):
    target, other_operator = net.register_many([MIN_STAKE, MIN_STAKE])
    stranger = net.new_account()
    grant(net, SLASHER_ROLE, stranger)  # another role does not help
    for caller in (stranger, other_operator.account, target.account):
        with reverts_with(net.center.AccessControlUnauthorizedAccount, caller.address, DEFAULT_ADMIN_ROLE):
            net.center.ejectOperator(target.id, sender=caller, skip_trace=True)


def test_ejectOperator_reverts_OperatorNotActive_for_a_departed_id_and_UnknownOperator_for_an_unknown_id(
    net, reverts_with
):
    operator = net.register()
    net.center.leave(sender=operator.account)
    with reverts_with(net.center.OperatorNotActive, operator.id):
        net.center.ejectOperator(operator.id, sender=net.admin, skip_trace=True)
    with reverts_with(net.center.UnknownOperator, 9):
        net.center.ejectOperator(9, sender=net.admin, skip_trace=True)


def test_ejectOperator_twice_reverts_OperatorNotActive(net, reverts_with):
    operator = net.register()
    net.center.ejectOperator(operator.id, sender=net.admin)
    with reverts_with(net.center.OperatorNotActive, operator.id):
        net.center.ejectOperator(operator.id, sender=net.admin, skip_trace=True)


# --- updateBlsKey --------------------------------------------------------------------------------


def test_updateBlsKey_swaps_the_key_in_the_set_aggregate(net):
    first, operator, third = net.register_many([MIN_STAKE] * 3)
    new = net.key_pool[FRESH]
    receipt = update_key(net, operator, new)
    view = net.center.getOperatorSet(0)
    assert g1_of(view.apkG1) == key_sum([first.keys, new, third.keys])
    assert (view.totalPower, view.memberCount) == (3 * MIN_STAKE, 3)
    assert membership_events(net, receipt) == []
    stored = net.center.getOperator(operator.id)
    assert g1_of(stored.pkG1) == new.public.g1
    assert g2_of(stored.pkG2) == new.public.g2


def test_updateBlsKey_retires_the_old_key_in_keyOwner(net):
    operator = net.register()
    old = operator.keys
    registered_at = int(net.center.getOperator(operator.id).registeredAtBlock)
    receipt = update_key(net, operator, net.key_pool[FRESH])
    assert tuple(net.center.keyOwner(old.public.g2.solidity())) == (operator.id, registered_at, receipt.block_number)
    assert tuple(net.center.keyOwner(net.key_pool[FRESH].public.g2.solidity())) == (
        operator.id, receipt.block_number, 0)


def test_updateBlsKey_hands_the_tasks_from_now_on_to_the_new_key(net):
    operator, other = net.register_many([MIN_STAKE] * 2)
    old, new = operator.keys, net.key_pool[FRESH]
    net.submit(net.task(other))
    update_key(net, operator, new)
    old_record = net.center.keyRecord(old.public.g2.solidity())
    new_record = net.center.keyRecord(new.public.g2.solidity())
    assert (old_record.addedAtTaskCount, old_record.retiredAtTaskCount) == (0, 1)  # answers for task 1
    assert (new_record.addedAtTaskCount, new_record.retiredAtBlock) == (1, 0)  # answers from task 2 on


def test_updateBlsKey_emits_BlsKeyUpdated(net):
    operator = net.register()
    new = net.key_pool[FRESH]
    receipt = update_key(net, operator, new)
    (event,) = events(receipt, net.center.BlsKeyUpdated)
    assert event.operatorId == operator.id
    assert G1Point(*event.pkG1) == new.public.g1
    assert [tuple(c) for c in event.pkG2] == list(new.public.g2.solidity())


def test_updateBlsKey_reverts_KeyAlreadyRegistered_for_any_key_ever_registered(net, reverts_with):
    operator, other, departed = net.register_many([MIN_STAKE] * 3)
    net.center.leave(sender=departed.account)
    old = operator.keys
    update_key(net, operator, net.key_pool[FRESH])
    for keys, owner in ((net.key_pool[FRESH], operator), (old, operator), (other.keys, other), (departed.keys, departed)):
        with reverts_with(net.center.KeyAlreadyRegistered, owner.id):
            update_key(net, operator, keys, skip_trace=True)


def test_registerOperator_reverts_KeyAlreadyRegistered_for_a_retired_key(net, reverts_with):
    operator = net.register()
    update_key(net, operator, net.key_pool[FRESH])
    account = net.new_account()
    with reverts_with(net.center.KeyAlreadyRegistered, operator.id):
        register_raw(net, account, operator.keys, skip_trace=True)


def test_updateBlsKey_reverts_InvalidProofOfPossession_for_a_proof_made_for_another_account(net, reverts_with):
    operator = net.register()
    new = net.key_pool[FRESH]
    proof = net.pop(net.admin, new)
    with reverts_with(net.center.InvalidProofOfPossession):
        net.center.updateBlsKey(
            new.public.g1.words(), new.public.g2.solidity(), proof.words(), sender=operator.account, skip_trace=True
        )


def test_updateBlsKey_reverts_InvalidProofOfPossession_for_a_proof_signed_by_the_old_key(net, reverts_with):
    operator = net.register()
    new = net.key_pool[FRESH]
    digest = pop_hash(operator.address, net.center.address, CHAIN_ID, new.public.g1, new.public.g2)
    with reverts_with(net.center.InvalidProofOfPossession):
        net.center.updateBlsKey(
            new.public.g1.words(), new.public.g2.solidity(), operator.keys.sign(digest).words(),
            sender=operator.account, skip_trace=True,
        )


def test_updateBlsKey_reverts_InvalidPublicKey_for_a_g1_key_off_the_curve(net, reverts_with):
    operator = net.register()
    new = net.key_pool[FRESH]
    with reverts_with(net.center.InvalidPublicKey):
        net.center.updateBlsKey(
            (1, 3), new.public.g2.solidity(), net.pop(operator.account, new).words(),
            sender=operator.account, skip_trace=True,
        )


def test_updateBlsKey_reverts_NotRegistered_for_a_stranger(net, reverts_with):
    account = net.new_account()
    new = net.key_pool[FRESH]
    with reverts_with(net.center.NotRegistered, account.address):
        net.center.updateBlsKey(
            new.public.g1.words(), new.public.g2.solidity(), net.pop(account, new).words(), sender=account, skip_trace=True
        )


# --- setOperatorEndpoint -------------------------------------------------------------------------


def test_setOperatorEndpoint_stores_the_endpoint_and_emits_OperatorEndpointUpdated(net):
    operator = net.register()
    receipt = net.center.setOperatorEndpoint("https://attester.example:8545/rpc", sender=operator.account)
    (event,) = events(receipt, net.center.OperatorEndpointUpdated)
    assert (event.operatorId, event.endpoint) == (operator.id, "https://attester.example:8545/rpc")
    assert net.center.getOperator(operator.id).endpoint == "https://attester.example:8545/rpc"
    net.center.setOperatorEndpoint("", sender=operator.account)
    assert net.center.getOperator(operator.id).endpoint == ""


def test_setOperatorEndpoint_accepts_exactly_256_bytes(net):
    operator = net.register()
    endpoint = "h" * MAX_ENDPOINT_LENGTH
    net.center.setOperatorEndpoint(endpoint, sender=operator.account)
    assert net.center.getOperator(operator.id).endpoint == endpoint


def test_setOperatorEndpoint_reverts_EndpointTooLong_at_257_bytes(net, reverts_with):
    operator = net.register()
    with reverts_with(net.center.EndpointTooLong, 257, MAX_ENDPOINT_LENGTH):
        net.center.setOperatorEndpoint("h" * 257, sender=operator.account, skip_trace=True)


def test_setOperatorEndpoint_counts_bytes_not_characters(net, reverts_with):
    operator = net.register()
    endpoint = "é" * 129  # 129 characters, 258 bytes in UTF-8
    with reverts_with(net.center.EndpointTooLong, 258, MAX_ENDPOINT_LENGTH):
        net.center.setOperatorEndpoint(endpoint, sender=operator.account, skip_trace=True)


def test_setOperatorEndpoint_reverts_NotRegistered_for_a_stranger(net, reverts_with):
    account = net.new_account()
    with reverts_with(net.center.NotRegistered, account.address):
        net.center.setOperatorEndpoint("https://x", sender=account, skip_trace=True)


# --- setRegistryConfig ---------------------------------------------------------------------------


def test_registryConfig_is_the_deployment_config(net):
    assert tuple(net.center.registryConfig()) == (MIN_STAKE, 100, UNBONDING)


def test_setRegistryConfig_emits_RegistryConfigUpdated_and_stores_the_config(net):
    config = RegistryConfig(2 * MIN_STAKE, 7, UNBONDING + 5)
    receipt = net.center.setRegistryConfig(config.abi(), sender=net.admin)
    (event,) = events(receipt, net.center.RegistryConfigUpdated)
    assert tuple(event.config) == config.abi()
    assert tuple(net.center.registryConfig()) == config.abi()


def test_setRegistryConfig_reverts_AccessControlUnauthorizedAccount_for_non_admins(net, reverts_with):
    operator = net.register()
    for caller in (operator.account, net.new_account()):
        with reverts_with(net.center.AccessControlUnauthorizedAccount, caller.address, DEFAULT_ADMIN_ROLE):
            net.center.setRegistryConfig(RegistryConfig(1, 1, 1).abi(), sender=caller, skip_trace=True)


def test_setRegistryConfig_reverts_InvalidRegistryConfig_for_a_zero_minimum_stake(net, reverts_with):
    with reverts_with(net.center.InvalidRegistryConfig):
        net.center.setRegistryConfig(RegistryConfig(0, 100, UNBONDING).abi(), sender=net.admin, skip_trace=True)


def test_setRegistryConfig_reverts_InvalidRegistryConfig_for_a_zero_operator_limit(net, reverts_with):
    with reverts_with(net.center.InvalidRegistryConfig):
        net.center.setRegistryConfig(RegistryConfig(MIN_STAKE, 0, UNBONDING).abi(), sender=net.admin, skip_trace=True)


def test_setRegistryConfig_higher_minimum_binds_new_registrations_and_withdrawals_only(net, reverts_with):
    operator = net.register(stake=MIN_STAKE + 5 * TOKEN)
    net.center.setRegistryConfig(RegistryConfig(MIN_STAKE + 4 * TOKEN, 100, UNBONDING).abi(), sender=net.admin)
    assert net.center.isActiveOperator(operator.account)
    with reverts_with(net.center.StakeBelowMinimum, MIN_STAKE, MIN_STAKE + 4 * TOKEN):
        register_raw(net, net.new_account(), net.key_pool[FRESH], MIN_STAKE, skip_trace=True)
    with reverts_with(net.center.StakeBelowMinimum, MIN_STAKE + 3 * TOKEN, MIN_STAKE + 4 * TOKEN):
        net.center.requestWithdrawal(2 * TOKEN, sender=operator.account, skip_trace=True)


def test_setRegistryConfig_lower_limit_removes_nobody_but_refuses_new_operators(net, reverts_with):
    net.register_many([MIN_STAKE] * 3)
    net.center.setRegistryConfig(RegistryConfig(MIN_STAKE, 1, UNBONDING).abi(), sender=net.admin)
    assert tuple(net.center.operatorCount()) == (3, 3)
    with reverts_with(net.center.OperatorLimitReached, 1):
        register_raw(net, net.new_account(), net.key_pool[FRESH], skip_trace=True)


def test_setRegistryConfig_new_unbonding_delay_applies_to_the_next_withdrawal(net):
    operator = net.register(stake=2 * MIN_STAKE)
    net.center.setRegistryConfig(RegistryConfig(MIN_STAKE, 100, 12).abi(), sender=net.admin)
    receipt = net.center.requestWithdrawal(TOKEN, sender=operator.account)
    assert net.center.pendingWithdrawal(operator.account).unlockBlock == receipt.block_number + 12


def test_setRegistryConfig_reverts_DisputePeriodNotBelowUnbondingDelay_unless_longer_than_every_dispute_period(
    net, reverts_with
):
    """A delay equal to a dispute period would let a withdrawal unlock in the last block in which a
    report is accepted: it must be strictly longer."""
    dispute = DEFINITION_0.dispute_period_blocks
    for delay in (dispute - 1, dispute):
        with reverts_with(net.center.DisputePeriodNotBelowUnbondingDelay, dispute, delay):
            net.center.setRegistryConfig(RegistryConfig(MIN_STAKE, 100, delay).abi(), sender=net.admin, skip_trace=True)
    net.center.setRegistryConfig(RegistryConfig(MIN_STAKE, 100, dispute + 1).abi(), sender=net.admin)
    assert net.center.registryConfig().unbondingDelayBlocks == dispute + 1


def test_setRegistryConfig_reverts_SupersededDisputePeriodStillOpen_while_an_old_dispute_period_runs(
    net, chain, reverts_with
):
    """Definition 0's dispute period (10) is shortened to 2 after a task landed: that task can be
    reported for 10 blocks still, so a shorter unbonding delay is refused until a withdrawal requested
    now would unlock after them."""
    performer = net.register()
    net.submit(net.task(performer))
    shorter = replace(DEFINITION_0, dispute_period_blocks=2)
    receipt = net.center.updateTaskDefinition(0, shorter.abi(), sender=net.admin)
    open_until = receipt.block_number + DEFINITION_0.dispute_period_blocks
    delay = 3  # longer than every current dispute period
    with reverts_with(net.center.SupersededDisputePeriodStillOpen, open_until, delay):
        net.center.setRegistryConfig(RegistryConfig(MIN_STAKE, 100, delay).abi(), sender=net.admin, skip_trace=True)
    # The reverted transaction was mined: the next block is head + 1.
    chain.mine(open_until - delay - chain.blocks.head.number - 1)
    with reverts_with(net.center.SupersededDisputePeriodStillOpen, open_until, delay):
        net.center.setRegistryConfig(RegistryConfig(MIN_STAKE, 100, delay).abi(), sender=net.admin, skip_trace=True)
    assert chain.blocks.head.number + delay == open_until
    receipt = net.center.setRegistryConfig(RegistryConfig(MIN_STAKE, 100, delay).abi(), sender=net.admin)
    assert receipt.block_number + delay == open_until + 1


# --- setTreasury ---------------------------------------------------------------------------------


def test_treasury_is_the_admin_at_deployment(net):
    assert net.center.treasury() == net.admin.address


def test_setTreasury_emits_TreasuryUpdated_and_stores_it(net):
    treasury = net.new_account()
    receipt = net.center.setTreasury(treasury, sender=net.admin)
    (event,) = events(receipt, net.center.TreasuryUpdated)
    assert event.treasury == treasury.address
    assert net.center.treasury() == treasury.address


def test_setTreasury_reverts_ZeroAddress(net, reverts_with):
    with reverts_with(net.center.ZeroAddress):
        net.center.setTreasury(ZERO_ADDRESS, sender=net.admin, skip_trace=True)


def test_setTreasury_reverts_AccessControlUnauthorizedAccount_for_non_admins(net, reverts_with):
    caller = net.new_account()
    with reverts_with(net.center.AccessControlUnauthorizedAccount, caller.address, DEFAULT_ADMIN_ROLE):
        net.center.setTreasury(caller, sender=caller, skip_trace=True)


# --- slashOperator -------------------------------------------------------------------------------


@pytest.fixture
def slashing(net):
    """A slasher account holding SLASHER_ROLE, a fresh treasury and a reporter."""
    slasher, treasury, reporter = net.new_account(), net.new_account(), net.new_account()
    grant(net, SLASHER_ROLE, slasher)
    net.center.setTreasury(treasury, sender=net.admin)
    return slasher, treasury, reporter


def test_slashOperator_reverts_AccessControlUnauthorizedAccount_without_SLASHER_ROLE(net, reverts_with):
    operator = net.register()
    ejector = net.new_account()
    grant(net, EJECTOR_ROLE, ejector)
    for caller in (net.admin, ejector, operator.account):
        with reverts_with(net.center.AccessControlUnauthorizedAccount, caller.address, SLASHER_ROLE):
            net.center.slashOperator(operator.id, 1_000, 0, ZERO_ADDRESS, sender=caller, skip_trace=True)


def test_slashOperator_reverts_InvalidSlashBps_above_10000(net, slashing, reverts_with):
    slasher, _, reporter = slashing
    operator = net.register()
    with reverts_with(net.center.InvalidSlashBps, 10_001, 0):
        net.center.slashOperator(operator.id, 10_001, 0, reporter, sender=slasher, skip_trace=True)


def test_slashOperator_reverts_ReporterShareTooLarge_above_half_of_the_slash(net, slashing, reverts_with):
    """The offender could report itself: the reporter never gets more than half of a slash."""
    slasher, treasury, reporter = slashing
    operator = net.register(stake=2 * MIN_STAKE)
    for reporter_bps in (5_001, 10_000, 10_001):
        with reverts_with(net.center.ReporterShareTooLarge, reporter_bps, 5_000):
            net.center.slashOperator(operator.id, 1_000, reporter_bps, reporter, sender=slasher, skip_trace=True)
    net.center.slashOperator(operator.id, 1_000, 5_000, reporter, sender=slasher)
    slashed = 2 * MIN_STAKE // 10
    assert (balance(net, reporter), balance(net, treasury)) == (slashed // 2, slashed - slashed // 2)


def test_slashOperator_reverts_UnknownOperator_for_an_id_never_assigned(net, slashing, reverts_with):
    slasher, _, reporter = slashing
    net.register()
    for operator_id in (0, 2):
        with reverts_with(net.center.UnknownOperator, operator_id):
            net.center.slashOperator(operator_id, 1_000, 0, reporter, sender=slasher, skip_trace=True)


def test_slashOperator_takes_from_active_stake_and_pays_reporter_and_treasury(net, slashing):
    slasher, treasury, reporter = slashing
    other, operator = net.register_many([MIN_STAKE, 2 * MIN_STAKE])
    center_before = balance(net, net.center.address)
    receipt = net.center.slashOperator(operator.id, 1_000, 2_000, reporter, sender=slasher)
    slashed = 2 * MIN_STAKE // 10
    reward = slashed // 5
    assert receipt.return_value == slashed
    assert balance(net, reporter) == reward
    assert balance(net, treasury) == slashed - reward
    assert balance(net, net.center.address) == center_before - slashed
    assert net.center.getOperator(operator.id).stake == 2 * MIN_STAKE - slashed
    assert net.center.isActiveOperator(operator.account)
    view = net.center.getOperatorSet(0)
    assert view.totalPower == 3 * MIN_STAKE - slashed
    assert g1_of(view.apkG1) == key_sum([other.keys, operator.keys])
    assert membership_events(net, receipt) == [(0, operator.id, 1, 3 * MIN_STAKE - slashed)]
    assert events(receipt, net.center.OperatorEjected) == []
    assert tuple(net.center.pendingWithdrawal(operator.account)) == (0, 0)


def test_slashOperator_emits_OperatorSlashed(net, slashing):
    slasher, _, reporter = slashing
    operator = net.register(stake=2 * MIN_STAKE)
    receipt = net.center.slashOperator(operator.id, 1_000, 2_000, reporter, sender=slasher)
    (event,) = events(receipt, net.center.OperatorSlashed)
    slashed = 2 * MIN_STAKE // 10
    assert event.operatorId == operator.id
    assert event.account == operator.address
    assert event.amount == slashed
    assert event.reporter == reporter.address
    assert event.reporterReward == slashed // 5


def test_slashOperator_without_reporter_pays_everything_to_the_treasury(net, slashing):
    slasher, treasury, _ = slashing
    operator = net.register(stake=2 * MIN_STAKE)
    receipt = net.center.slashOperator(operator.id, 500, 5_000, ZERO_ADDRESS, sender=slasher)
    slashed = 2 * MIN_STAKE * 500 // 10_000
    assert balance(net, treasury) == slashed
    (event,) = events(receipt, net.center.OperatorSlashed)
    assert (event.amount, event.reporter, event.reporterReward) == (slashed, ZERO_ADDRESS, 0)


def test_slashOperator_below_the_minimum_ejects_and_queues_the_rest(net, slashing):
    slasher, treasury, reporter = slashing
    other, operator = net.register_many([MIN_STAKE, MIN_STAKE])
    receipt = net.center.slashOperator(operator.id, 1_000, 0, reporter, sender=slasher)
    slashed = MIN_STAKE // 10
    (ejected,) = events(receipt, net.center.OperatorEjected)
    assert (ejected.operatorId, ejected.account, ejected.by) == (operator.id, operator.address, slasher.address)
    assert not net.center.isActiveOperator(operator.account)
    assert list(net.center.activeOperatorIds()) == [other.id]
    view = net.center.getOperatorSet(0)
    assert g1_of(view.apkG1) == other.keys.public.g1
    assert (view.totalPower, view.memberCount) == (MIN_STAKE, 1)
    assert membership_events(net, receipt) == [
        (0, operator.id, 1, 2 * MIN_STAKE - slashed),
        (0, operator.id, 0, MIN_STAKE),
    ]
    assert tuple(net.center.pendingWithdrawal(operator.account)) == (MIN_STAKE - slashed, receipt.block_number + UNBONDING)
    assert balance(net, treasury) == slashed
    assert balance(net, reporter) == 0
    assert net.center.keyOwner(operator.keys.public.g2.solidity()).retiredAtBlock == receipt.block_number


def test_slashOperator_then_takes_from_the_unbonding_withdrawal(net, chain, slashing):
    slasher, treasury, reporter = slashing
    net.register()
    operator = net.register()
    net.center.slashOperator(operator.id, 1_000, 0, reporter, sender=slasher)
    pending = MIN_STAKE - MIN_STAKE // 10
    unlock = net.center.pendingWithdrawal(operator.account).unlockBlock
    receipt = net.center.slashOperator(operator.id, 1_000, 2_000, reporter, sender=slasher)
    second = pending // 10
    (event,) = events(receipt, net.center.OperatorSlashed)
    assert (event.amount, event.reporterReward) == (second, second // 5)
    assert events(receipt, net.center.OperatorEjected) == []
    assert membership_events(net, receipt) == []
    assert tuple(net.center.pendingWithdrawal(operator.account)) == (pending - second, unlock)
    assert balance(net, reporter) == second // 5
    assert balance(net, treasury) == MIN_STAKE // 10 + second - second // 5
    chain.mine(UNBONDING)
    net.center.withdraw(operator.account, sender=operator.account)
    assert balance(net, operator.account) == pending - second


def test_slashOperator_reaches_the_stake_of_an_operator_that_left(net, slashing):
    slasher, treasury, _ = slashing
    operator = net.register(stake=2 * MIN_STAKE)
    net.center.leave(sender=operator.account)
    receipt = net.center.slashOperator(operator.id, 5_000, 0, ZERO_ADDRESS, sender=slasher)
    assert events(receipt, net.center.OperatorSlashed)[0].amount == MIN_STAKE
    assert net.center.pendingWithdrawal(operator.account).amount == MIN_STAKE
    assert balance(net, treasury) == MIN_STAKE


def test_slashOperator_takes_active_stake_first_then_the_pending_withdrawal(net, slashing):
    slasher, treasury, _ = slashing
    operator = net.register(stake=3 * MIN_STAKE)
    net.center.requestWithdrawal(MIN_STAKE // 2, sender=operator.account)
    active = 3 * MIN_STAKE - MIN_STAKE // 2
    receipt = net.center.slashOperator(operator.id, 9_000, 0, ZERO_ADDRESS, sender=slasher)
    slashed = 3 * MIN_STAKE * 9_000 // 10_000
    assert events(receipt, net.center.OperatorSlashed)[0].amount == slashed
    assert len(events(receipt, net.center.OperatorEjected)) == 1
    assert net.center.getOperator(operator.id).stake == 0
    assert net.center.pendingWithdrawal(operator.account).amount == MIN_STAKE // 2 - (slashed - active)
    assert balance(net, treasury) == slashed
    assert total_power(net) == 0


def test_slashOperator_at_10000_bps_takes_everything(net, slashing, reverts_with):
    slasher, treasury, reporter = slashing
    operator = net.register(stake=2 * MIN_STAKE)
    net.center.requestWithdrawal(MIN_STAKE // 2, sender=operator.account)
    net.center.slashOperator(operator.id, 10_000, 5_000, reporter, sender=slasher)
    assert balance(net, reporter) == MIN_STAKE
    assert balance(net, treasury) == MIN_STAKE
    assert not net.center.isActiveOperator(operator.account)
    with reverts_with(net.center.NothingToWithdraw, operator.address):
        net.center.withdraw(operator.account, sender=operator.account, skip_trace=True)


@PROPERTY
@given(
    extra=st.integers(0, 40 * TOKEN),
    pending=st.integers(0, 10 * TOKEN),
    slash_bps=st.integers(0, 10_000),
    reporter_bps=st.integers(0, 5_000),
)
def test_slashOperator_conserves_tokens_and_ejects_exactly_below_the_minimum(
    net, chain, extra, pending, slash_bps, reporter_bps
):
    with _Bookkeeping(chain, net):
        slasher, treasury, reporter = net.new_account(), net.new_account(), net.new_account()
        grant(net, SLASHER_ROLE, slasher)
        net.center.setTreasury(treasury, sender=net.admin)
        other = net.register()
        stake = MIN_STAKE + extra
        operator = net.register(stake=stake + pending)
        if pending:
            net.center.requestWithdrawal(pending, sender=operator.account)
        center_before = balance(net, net.center.address)

        receipt = net.center.slashOperator(operator.id, slash_bps, reporter_bps, reporter, sender=slasher)

        slashed = (stake + pending) * slash_bps // 10_000
        from_stake = min(slashed, stake)
        left = stake - from_stake
        ejected = left < MIN_STAKE
        reward = slashed * reporter_bps // 10_000
        assert balance(net, reporter) == reward
        assert balance(net, treasury) == slashed - reward
        assert balance(net, net.center.address) == center_before - slashed
        assert net.center.isActiveOperator(operator.account) == (not ejected)
        assert len(events(receipt, net.center.OperatorEjected)) == int(ejected)
        assert net.center.getOperator(operator.id).stake == (0 if ejected else left)
        queued = pending - (slashed - from_stake) + (left if ejected else 0)
        assert net.center.pendingWithdrawal(operator.account).amount == queued
        view = net.center.getOperatorSet(0)
        assert view.totalPower == MIN_STAKE + (0 if ejected else left)
        assert g1_of(view.apkG1) == (other.keys.public.g1 if ejected else key_sum([other.keys, operator.keys]))


# --- OperatorSetMembershipChanged beyond set 0 ---------------------------------------------------


def test_stake_changes_move_an_operator_in_and_out_of_a_minimum_stake_set(net):
    small, big = net.register_many([MIN_STAKE, 2 * MIN_STAKE])
    receipt = net.center.createTaskDefinition(
        TaskDefinitionParams(name="big stakers", minimum_voting_power=MIN_STAKE + 5 * TOKEN).abi(), sender=net.admin
    )
    set_id = int(events(receipt, net.center.TaskDefinitionCreated)[0].operatorSetId)
    assert set_id != 0
    assert membership_events(net, receipt) == [(set_id, big.id, 1, 2 * MIN_STAKE)]

    net.fund_stake(small.account, 5 * TOKEN)
    receipt = net.center.increaseStake(5 * TOKEN, sender=small.account)
    assert membership_events(net, receipt) == [
        (0, small.id, 1, 3 * MIN_STAKE + 5 * TOKEN),
        (set_id, small.id, 1, 3 * MIN_STAKE + 5 * TOKEN),
    ]
    assert apk(net, set_id) == key_sum([small.keys, big.keys])

    receipt = net.center.requestWithdrawal(1, sender=small.account)
    assert membership_events(net, receipt) == [
        (0, small.id, 1, 3 * MIN_STAKE + 5 * TOKEN - 1),
        (set_id, small.id, 0, 2 * MIN_STAKE),
    ]
    assert apk(net, set_id) == big.keys.public.g1

    receipt = net.center.leave(sender=big.account)
    assert membership_events(net, receipt) == [
        (0, big.id, 0, MIN_STAKE + 5 * TOKEN - 1),
        (set_id, big.id, 0, 0),
    ]
    assert apk(net, set_id) == G1Point.infinity()


def test_key_update_and_leave_are_applied_to_a_restricted_set(net):
    first, listed, _ = net.register_many([MIN_STAKE] * 3)
    receipt = net.center.createTaskDefinition(
        TaskDefinitionParams(name="restricted", restricted_attester_ids=(first.id, listed.id)).abi(), sender=net.admin
    )
    set_id = int(events(receipt, net.center.TaskDefinitionCreated)[0].operatorSetId)
    assert apk(net, set_id) == key_sum([first.keys, listed.keys])

    new = net.key_pool[FRESH]
    update_key(net, listed, new)
    assert apk(net, set_id) == key_sum([first.keys, new])

    receipt = net.center.leave(sender=listed.account)
    assert membership_events(net, receipt) == [(0, listed.id, 0, 2 * MIN_STAKE), (set_id, listed.id, 0, MIN_STAKE)]
    assert apk(net, set_id) == first.keys.public.g1
