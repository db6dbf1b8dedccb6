"""contracts/examples/PriceOracleLogic.sol and contracts/AvsLogicRouter.sol, through real submissions.

The network (``hooked`` in conftest.py) is the devnet's layout: the attestation center calls an
AvsLogicRouter, which sends definition 1 to PriceOracleLogic and definition 2 to
RandomnessBeaconLogic. Tasks are signed by the operators' BLS keys and submitted with
``submitTask``, so every hook call below went through the quorum and signature checks.
"""

from __future__ import annotations

import ape

from othentic_offchain.crypto import G1Point
from othentic_offchain.examples.price_oracle.avs import encode_price, pair_id
from othentic_offchain.examples.randomness_beacon.avs import encode_contribution
from tests.examples._examples_support import BEACON, PRICE_ORACLE, TOKEN, submit_expecting_revert

ETH, BTC = "ETH-USD", "BTC-USD"
ZERO_ADDRESS = "0x" + "00" * 20


def price_task(net, pair: str, price: int, observed_at: int, performer=None):
    return net.task(performer or net.operators[1], PRICE_ORACLE, encode_price(pair, price, observed_at))


def latest(hooked, pair: str) -> tuple[int, int, int, str]:
    record = hooked.price.latest(pair_id(pair))
    return int(record.price), int(record.observedAt), int(record.updatedAtBlock), str(record.performer)


def landed(net, task) -> tuple[int, bool]:
    record = net.center.taskRecord(task.task_hash())
    return int(record.taskNumber), bool(record.isApproved)


# -- PriceOracleLogic ---------------------------------------------------------------------------------


def test_an_approved_task_stores_its_price_and_emits_PriceUpdated(hooked):
    net = hooked.net
    performer = net.operators[2]
    task = price_task(net, ETH, 3_150_42000000, 1_764_000_100, performer)
    receipt = net.submit(task)
    assert latest(hooked, ETH) == (3_150_42000000, 1_764_000_100, receipt.block_number, performer.address)
    assert hooked.price.updates() == 1
    events = receipt.events.filter(hooked.price.PriceUpdated)
    assert [(bytes(e.pair), e.price, e.observedAt, e.performer) for e in events] == [
        (pair_id(ETH), 3_150_42000000, 1_764_000_100, performer.address)
    ]
    assert latest(hooked, BTC) == (0, 0, 0, ZERO_ADDRESS)  # pairs are kept apart


def test_a_rejected_task_lands_but_stores_nothing(hooked):
    net = hooked.net
    task = price_task(net, ETH, 9_999_00000000, 1_764_000_100)
    receipt = net.submit(task, approve=False)
    assert landed(net, task) == (1, False)
    assert list(receipt.events.filter(net.center.TaskRejected))
    assert not list(receipt.events.filter(hooked.price.PriceUpdated))
    assert latest(hooked, ETH) == (0, 0, 0, ZERO_ADDRESS)
    assert hooked.price.updates() == 0


def test_an_older_or_equally_old_observation_is_ignored_and_a_newer_one_replaces_it(hooked):
    net = hooked.net
    net.submit(price_task(net, ETH, 3_000_00000000, 1_764_000_200))
    older = price_task(net, ETH, 2_000_00000000, 1_764_000_100)
    same_time = price_task(net, ETH, 2_500_00000000, 1_764_000_200)
    for task in (older, same_time):
        receipt = net.submit(task)
        assert landed(net, task)[1] is True  # the task itself is approved and paid for ...
        assert not list(receipt.events.filter(hooked.price.PriceUpdated))  # ... its price is just stale
    assert latest(hooked, ETH)[:2] == (3_000_00000000, 1_764_000_200)
    assert hooked.price.updates() == 1

    newer = price_task(net, ETH, 3_100_00000000, 1_764_000_201)
    net.submit(newer)
    assert latest(hooked, ETH)[:2] == (3_100_00000000, 1_764_000_201)
    assert hooked.price.updates() == 2
    # another pair's clock is its own: an early BTC observation still counts
    net.submit(price_task(net, BTC, 97_000_00000000, 1_764_000_001))
    assert latest(hooked, BTC)[:2] == (97_000_00000000, 1_764_000_001)


def test_malformed_price_data_makes_the_submission_revert_with_MalformedPriceData(hooked, reverts_with):
    net = hooked.net
    # one real transaction, then simulations of the same call (see submit_expecting_revert)
    for data, transact in ((b"\x01" * 64, True), (b"", False), (encode_price(ETH, 1, 2) + b"\x00", False)):
        task = net.task(net.operators[1], PRICE_ORACLE, data)
        with reverts_with(hooked.price.MalformedPriceData, len(data)):
            submit_expecting_revert(net, task, transact=transact)
        assert landed(net, task) == (0, False)
    # also on the reject side: nothing lands for data that is not one price record
    task = net.task(net.operators[1], PRICE_ORACLE, b"\x01" * 32)
    with reverts_with(hooked.price.MalformedPriceData, 32):
        submit_expecting_revert(net, task, approve=False)
    assert hooked.price.updates() == 0


def test_the_price_hooks_refuse_anyone_but_their_caller(hooked, accounts, reverts_with):
    net = hooked.net
    stranger = accounts[12]
    task = price_task(net, ETH, 1, 1).abi()
    with reverts_with(hooked.price.NotCaller, stranger.address):
        hooked.price.afterTaskSubmission(task, True, b"", (0, 0), [], sender=stranger, skip_trace=True)
    with reverts_with(hooked.price.NotCaller, stranger.address):
        hooked.price.beforeTaskSubmission(task, True, b"", (0, 0), [], sender=stranger)
    # not the attestation center either: only the router in front of it
    center = net.center.address
    with reverts_with(hooked.price.NotCaller, center):
        hooked.price.beforeTaskSubmission(task, True, b"", (0, 0), [], sender=center)
    assert hooked.price.caller() == hooked.router.address
    assert hooked.price.updates() == 0


def test_with_the_center_as_caller_the_price_hook_works_without_a_router(hooked, project, reverts_with):
    net = hooked.net
    direct = project.PriceOracleLogic.deploy(net.center.address, sender=net.admin)
    net.center.setAvsLogic(direct.address, sender=net.admin)
    task = price_task(net, BTC, 96_500_12345678, 1_764_000_050)
    net.submit(task)
    record = direct.latest(pair_id(BTC))
    assert (record.price, record.observedAt) == (96_500_12345678, 1_764_000_050)
    assert hooked.price.updates() == 0  # the router and its hooks are out of the loop now
    with reverts_with(direct.MalformedPriceData, 64):
        submit_expecting_revert(net, net.task(net.operators[1], PRICE_ORACLE, b"\x02" * 64))


def next_block_at(moment: int) -> int:
    """Make the next block's timestamp ``moment``, so that a bound on block.timestamp is exact."""
    ape.chain.pending_timestamp = moment
    return moment


def test_an_approved_observation_dated_beyond_the_drift_reverts_and_a_later_honest_one_updates(hooked, reverts_with):
    net = hooked.net
    drift = int(hooked.price.MAX_FUTURE_DRIFT())
    assert drift == 300
    now = ape.chain.blocks.head.timestamp
    net.submit(price_task(net, ETH, 3_000_00000000, now - 30))
    # Ten years ahead: approved, it would be the newest observation of the pair until then.
    far = price_task(net, ETH, 1, now + 10 * 365 * 86_400)
    at = next_block_at(now + 5)
    with reverts_with(hooked.price.ObservationFromTheFuture, now + 10 * 365 * 86_400, at + drift):
        submit_expecting_revert(net, far, transact=True)
    # one second beyond the drift is refused as well (simulated: any block time after this one)
    just_beyond = price_task(net, ETH, 2, ape.chain.blocks.head.timestamp + drift + 60)
    with reverts_with(hooked.price.ObservationFromTheFuture, any_args=True):
        submit_expecting_revert(net, just_beyond)
    for task in (far, just_beyond):
        assert landed(net, task) == (0, False)
    assert latest(hooked, ETH)[:2] == (3_000_00000000, now - 30) and hooked.price.updates() == 1
    # the pair is not frozen: the next honest observation replaces the stored one
    honest = price_task(net, ETH, 3_010_00000000, now + 4)
    net.submit(honest)
    assert latest(hooked, ETH)[:2] == (3_010_00000000, now + 4) and hooked.price.updates() == 2


def test_an_observation_dated_exactly_the_drift_ahead_is_stored(hooked):
    net = hooked.net
    at = next_block_at(ape.chain.blocks.head.timestamp + 2)
    edge = at + int(hooked.price.MAX_FUTURE_DRIFT())
    net.submit(price_task(net, BTC, 97_000_00000000, edge))
    assert latest(hooked, BTC)[:2] == (97_000_00000000, edge)


def test_a_rejected_far_future_observation_still_lands_so_its_performer_can_be_punished(hooked):
    net = hooked.net
    task = price_task(net, ETH, 1, ape.chain.blocks.head.timestamp + 10 * 365 * 86_400)
    receipt = net.submit(task, approve=False)
    assert landed(net, task) == (1, False)
    assert list(receipt.events.filter(net.center.TaskRejected))
    assert hooked.price.updates() == 0


# -- AvsLogicRouter -------------------------------------------------------------------------------------


def test_the_router_refuses_callers_other_than_the_center(hooked, accounts, reverts_with):
    stranger = accounts[12]
    task = price_task(hooked.net, ETH, 1, 1).abi()
    for hook in (hooked.router.beforeTaskSubmission, hooked.router.afterTaskSubmission):
        with reverts_with(hooked.router.NotAttestationCenter, stranger.address):
            hook(task, True, b"", (0, 0), [], sender=stranger, skip_trace=True)
    assert hooked.router.attestationCenter() == hooked.net.center.address


def test_the_router_routes_each_definition_to_its_own_hook(hooked):
    net = hooked.net
    # definition 0 has no hook: 32 bytes that neither example would accept land untouched
    generic = net.task(net.operators[1], 0, b"\x07" * 32)
    net.submit(generic)
    assert landed(net, generic) == (1, True)
    assert (hooked.price.updates(), hooked.beacon.contributions()) == (0, 0)

    net.submit(price_task(net, ETH, 3_000_00000000, 1_764_000_000))
    assert (hooked.price.updates(), hooked.beacon.contributions()) == (1, 0)

    head = ape.chain.blocks.head.number
    net.submit(net.task(net.operators[1], BEACON, encode_contribution(head, G1Point.generator())))
    assert (hooked.price.updates(), hooked.beacon.contributions()) == (1, 1)
    assert hooked.router.logicOf(PRICE_ORACLE) == hooked.price.address
    assert hooked.router.logicOf(BEACON) == hooked.beacon.address
    assert hooked.router.logicOf(0) == ZERO_ADDRESS


def test_only_the_owner_sets_a_route_and_an_unset_route_passes_tasks_through(hooked, accounts, reverts_with):
    net = hooked.net
    with reverts_with(hooked.router.OwnableUnauthorizedAccount, accounts[12].address):
        hooked.router.setLogic(PRICE_ORACLE, ZERO_ADDRESS, sender=accounts[12], skip_trace=True)
    receipt = hooked.router.setLogic(PRICE_ORACLE, ZERO_ADDRESS, sender=net.admin)
    assert [(e.taskDefinitionId, e.logic) for e in receipt.events.filter(hooked.router.LogicSet)] == [
        (PRICE_ORACLE, ZERO_ADDRESS)
    ]
    malformed = net.task(net.operators[1], PRICE_ORACLE, b"\x01" * 64)
    net.submit(malformed)  # no hook for definition 1 any more: nothing checks its data
    assert landed(net, malformed) == (1, True)
    assert hooked.price.updates() == 0


def test_rewards_accrue_for_hooked_definitions_as_for_any_other(hooked):
    net = hooked.net
    performer = net.operators[1]
    before = int(net.center.claimableRewards(performer.address))
    net.submit(price_task(net, ETH, 3_000_00000000, 1_764_000_000, performer))
    assert int(net.center.claimableRewards(performer.address)) - before >= 2 * TOKEN  # performer reward of DEFINITION_0
