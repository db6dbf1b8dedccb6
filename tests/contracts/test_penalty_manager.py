"""contracts/PenaltyManager.sol: offences proven on-chain from signatures, and the slashing they trigger.

An offence needs a task that landed, within its dispute period and with the switch for that offence
on, both as its definition had them when the task landed. The PenaltyManager holds the center's
SLASHER_ROLE: a proven offence slashes ``slashBps`` of the offender's stake (active + unbonding),
pays ``reporterBps`` (at most half) of it to the reporter and the rest to the treasury (the admin by
default), and ejects an operator whose stake falls below the minimum. A rejected task punishes its
performer or its approvers only if more than two thirds of the power rejected it. A key answers
for the tasks that landed while it was current; an account is punished once per offence and task.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from othentic_offchain.chain.types import PenaltyConfig, TaskDefinitionParams
from othentic_offchain.crypto import aggregate_g1
from tests.contracts.network import CHAIN_ID, DEFINITION_0, MIN_STAKE, TOKEN, UNBONDING, Operator, deploy_network

STAKE = 20 * TOKEN  # slashing 10% leaves 18 TOKEN: still above the minimum
DISPUTE = 10  # DEFINITION_0's dispute period
SLASH_BPS = 1_000
REPORTER_BPS = 2_000

DOUBLE, INCORRECT, REJECTED = 0, 1, 2  # IPenaltyManager.Offence

NEVER_REGISTERED_KEY = 23  # key_pool index no test registers
ROTATION_KEY = 20  # key_pool index for updateBlsKey
RETURN_KEY = 21  # key_pool index for an account that registers again


@pytest.fixture(scope="module")
def pnet(project, accounts, key_pool):
    """Four operators with 20 TOKEN each (ids 1 to 4), a funded vault, DEFINITION_0."""
    network = deploy_network(project, accounts, key_pool)
    network.register_many([STAKE] * 4)
    network.fund_rewards(1_000 * TOKEN)
    return network


def _keep_operators(network):
    """The Net helper's Python-side operator list outlives the chain revert after each test."""
    saved = list(network.operators)
    yield network
    network.operators[:] = saved


@pytest.fixture
def pn(pnet):
    yield from _keep_operators(pnet)


@pytest.fixture
def n4(net4):
    """net4: four operators with exactly the minimum stake, so any slash ejects."""
    yield from _keep_operators(net4)


# --- helpers ------------------------------------------------------------------------------------


def vote_signature(net, keys, task, approve: bool):
    """One operator's individual BLS signature on one side's vote of a task."""
    return keys.sign(task.vote_hash(net.center.address, CHAIN_ID, approve)).words()


def land(net, performer=None, *, approve=True, signers=None, definition_id=0, sender=None):
    """Submit a task signed by `signers` (all members by default); returns (task, receipt)."""
    performer = performer or net.operators[0]
    task = net.task(performer, definition_id)
    receipt = net.submit(task, signers=signers, approve=approve, sender=sender)
    return task, receipt


def report_double(net, op, task, *, sender, keys=None, approve_sig=None, reject_sig=None, **kwargs):
    keys = keys or op.keys
    approve_sig = approve_sig if approve_sig is not None else vote_signature(net, keys, task, True)
    reject_sig = reject_sig if reject_sig is not None else vote_signature(net, keys, task, False)
    return net.penalties.reportDoubleAttestation(
        task.abi(), keys.public.g2.solidity(), approve_sig, reject_sig, sender=sender, **kwargs
    )


def report_incorrect(net, op, task, side: bool, *, sender, keys=None, **kwargs):
    keys = keys or op.keys
    return net.penalties.reportIncorrectAttestation(
        task.abi(), keys.public.g2.solidity(), vote_signature(net, keys, task, side), sender=sender, **kwargs
    )


def stake_of(net, op) -> int:
    return int(net.center.getOperator(op.id).stake)


def set_state(net, set_id=0):
    view = net.center.getOperatorSet(set_id)
    return int(view.totalPower), int(view.memberCount)


def rotate_key(net, op, key_index: int) -> Operator:
    """updateBlsKey to key_pool[key_index]; replaces the operator in the Net's list."""
    keys = net.key_pool[key_index]
    net.center.updateBlsKey(
        keys.public.g1.words(), keys.public.g2.solidity(), net.pop(op.account, keys).words(), sender=op.account
    )
    rotated = Operator(op.account, keys, op.id)
    net.operators[net.operators.index(op)] = rotated
    return rotated


def slashed_amount(stake: int, bps: int = SLASH_BPS) -> int:
    return stake * bps // 10_000


# --- reportDoubleAttestation --------------------------------------------------------------------


def test_double_attestation_slashes_stake_and_pays_reporter_and_treasury(pn):
    offender = pn.operators[1]
    task, _ = land(pn)
    reporter = pn.new_account()
    treasury = pn.center.treasury()
    assert treasury == pn.admin.address
    center_before = pn.stake_token.balanceOf(pn.center.address)
    treasury_before = pn.stake_token.balanceOf(treasury)

    report_double(pn, offender, task, sender=reporter)

    slashed = slashed_amount(STAKE)
    to_reporter = slashed * REPORTER_BPS // 10_000
    assert stake_of(pn, offender) == STAKE - slashed
    assert pn.stake_token.balanceOf(reporter) == to_reporter == 4 * TOKEN // 10
    assert pn.stake_token.balanceOf(treasury) - treasury_before == slashed - to_reporter
    assert center_before - pn.stake_token.balanceOf(pn.center.address) == slashed
    assert pn.center.isActiveOperator(offender.account)
    for other in pn.operators:
        if other is not offender:
            assert stake_of(pn, other) == STAKE


def test_double_attestation_lowers_total_power_of_every_set_holding_the_operator(pn):
    restricted = pn.create_definition(
        TaskDefinitionParams(name="restricted", dispute_period_blocks=DISPUTE, restricted_attester_ids=(1, 2, 3))
    )
    restricted_set = int(pn.center.getTaskDefinition(restricted).operatorSetId)
    offender = pn.by_id(2)
    apk_before = pn.center.getOperatorSet(0).apkG1
    task, _ = land(pn)

    report_double(pn, offender, task, sender=pn.new_account())

    slashed = slashed_amount(STAKE)
    assert set_state(pn, 0) == (4 * STAKE - slashed, 4)
    assert set_state(pn, restricted_set) == (3 * STAKE - slashed, 3)
    assert pn.center.getOperatorSet(0).apkG1 == apk_before  # same members, same keys
    ids, stakes = pn.center.taskDefinitionMembers(0)
    assert dict(zip(map(int, ids), map(int, stakes)))[2] == STAKE - slashed
    # The next task is weighed against the lowered total.
    _, receipt = land(pn)
    assert receipt.events.filter(pn.center.TaskSubmitted)[0].totalPower == 4 * STAKE - slashed


def test_double_attestation_emits_offence_punished_and_operator_slashed(pn):
    offender = pn.operators[2]
    task, _ = land(pn)
    reporter = pn.new_account()

    receipt = report_double(pn, offender, task, sender=reporter)

    slashed = slashed_amount(STAKE)
    [punished] = receipt.events.filter(pn.penalties.OffencePunished)
    assert punished.offence == DOUBLE
    assert bytes(punished.taskHash) == task.task_hash()
    assert punished.operatorId == offender.id
    assert punished.reporter == reporter.address
    assert punished.slashed == slashed
    [event] = receipt.events.filter(pn.center.OperatorSlashed)
    assert event.operatorId == offender.id
    assert event.account == offender.address
    assert event.amount == slashed
    assert event.reporter == reporter.address
    assert event.reporterReward == slashed * REPORTER_BPS // 10_000
    assert not receipt.events.filter(pn.center.OperatorEjected)


def test_double_attestation_by_an_operator_outside_the_aggregate_is_still_punished(pn):
    """The evidence is the operator's own two signatures: whether it was among the signers of the
    landed aggregate does not matter."""
    offender = pn.operators[3]
    task, _ = land(pn, signers=pn.operators[:3])
    report_double(pn, offender, task, sender=pn.new_account())
    assert stake_of(pn, offender) == STAKE - slashed_amount(STAKE)


def test_double_attestation_on_a_rejected_task_is_punished(pn):
    offender = pn.operators[0]
    task, _ = land(pn, approve=False, signers=pn.operators[:2])
    report_double(pn, offender, task, sender=pn.new_account())
    assert stake_of(pn, offender) == STAKE - slashed_amount(STAKE)


def test_second_report_of_the_same_double_attestation_reverts_already_punished(pn, reverts_with):
    offender = pn.operators[1]
    task, _ = land(pn)
    report_double(pn, offender, task, sender=pn.new_account())
    with reverts_with(pn.penalties.AlreadyPunished, DOUBLE, task.task_hash(), offender.address):
        report_double(pn, offender, task, sender=pn.new_account())
    assert stake_of(pn, offender) == STAKE - slashed_amount(STAKE)


def test_reports_for_other_operators_and_other_tasks_are_independent(pn):
    first, second = pn.operators[1], pn.operators[2]
    task_a, _ = land(pn)
    task_b, _ = land(pn)
    reporter = pn.new_account()

    report_double(pn, first, task_a, sender=reporter)
    report_double(pn, second, task_a, sender=reporter)
    report_double(pn, first, task_b, sender=reporter)

    after_one = STAKE - slashed_amount(STAKE)
    assert stake_of(pn, first) == after_one - slashed_amount(after_one)
    assert stake_of(pn, second) == after_one
    assert pn.penalties.isPunished(DOUBLE, task_a.task_hash(), first.address)
    assert pn.penalties.isPunished(DOUBLE, task_a.task_hash(), second.address)
    assert pn.penalties.isPunished(DOUBLE, task_b.task_hash(), first.address)
    assert not pn.penalties.isPunished(DOUBLE, task_b.task_hash(), second.address)


def test_is_punished_is_per_task_and_account_with_one_record_for_both_signature_offences(pn, reverts_with):
    offender = pn.operators[1]
    task, _ = land(pn)
    task_hash = task.task_hash()
    for offence in (DOUBLE, INCORRECT, REJECTED):
        assert not pn.penalties.isPunished(offence, task_hash, offender.address)

    report_double(pn, offender, task, sender=pn.new_account())

    # A double attestation always holds a signature on the losing side: its signatures on this
    # task are punished once, whichever offence is reported first.
    assert pn.penalties.isPunished(DOUBLE, task_hash, offender.address)
    assert pn.penalties.isPunished(INCORRECT, task_hash, offender.address)
    assert not pn.penalties.isPunished(REJECTED, task_hash, offender.address)
    assert not pn.penalties.isPunished(DOUBLE, task_hash, pn.operators[0].address)
    with reverts_with(pn.penalties.AlreadyPunished, INCORRECT, task_hash, offender.address):
        report_incorrect(pn, offender, task, False, sender=pn.new_account())


def test_an_incorrect_attestation_already_punished_blocks_a_double_attestation_report(pn, reverts_with):
    offender = pn.operators[1]
    task, _ = land(pn)
    report_incorrect(pn, offender, task, False, sender=pn.new_account())
    with reverts_with(pn.penalties.AlreadyPunished, DOUBLE, task.task_hash(), offender.address):
        report_double(pn, offender, task, sender=pn.new_account())


def test_a_key_registered_after_the_task_landed_is_not_blamed_for_it(pn, key_pool, reverts_with):
    task, receipt = land(pn)
    late = pn.register(stake=STAKE, keys=key_pool[-1])
    added_at = int(pn.center.keyOwner(late.keys.public.g2.solidity()).addedAtBlock)
    with reverts_with(pn.penalties.KeyAddedAfterTask, late.id, added_at, receipt.block_number):
        report_incorrect(pn, late, task, False, sender=pn.new_account())


def test_slash_pays_a_treasury_the_admin_set(pn):
    treasury = pn.new_account()
    pn.center.setTreasury(treasury, sender=pn.admin)
    admin_before = pn.stake_token.balanceOf(pn.admin)
    task, _ = land(pn)
    report_double(pn, pn.operators[1], task, sender=pn.new_account())
    slashed = slashed_amount(STAKE)
    assert pn.stake_token.balanceOf(treasury) == slashed - slashed * REPORTER_BPS // 10_000
    assert pn.stake_token.balanceOf(pn.admin) == admin_before


def test_reporter_share_zero_sends_everything_to_the_treasury(project, accounts, key_pool):
    network = deploy_network(
        project,
        accounts,
        key_pool,
        definition0=TaskDefinitionParams(
            name="no reporter share",
            dispute_period_blocks=DISPUTE,
            penalties=PenaltyConfig(slash_bps=5_000, reporter_bps=0),
        ),
    )
    network.register_many([STAKE] * 3)
    task, _ = land(network)
    reporter = network.new_account()
    treasury_before = network.stake_token.balanceOf(network.admin)
    receipt = report_double(network, network.operators[1], task, sender=reporter)
    assert receipt.events.filter(network.center.OperatorSlashed)[0].reporterReward == 0
    assert network.stake_token.balanceOf(reporter) == 0
    assert network.stake_token.balanceOf(network.admin) - treasury_before == STAKE // 2
    assert stake_of(network, network.operators[1]) == STAKE // 2


# --- reportIncorrectAttestation -----------------------------------------------------------------


def test_incorrect_attestation_on_the_losing_side_of_an_approved_task_is_slashed(pn):
    offender = pn.operators[3]
    task, _ = land(pn, signers=pn.operators[:3])
    reporter = pn.new_account()

    receipt = report_incorrect(pn, offender, task, False, sender=reporter)

    slashed = slashed_amount(STAKE)
    assert stake_of(pn, offender) == STAKE - slashed
    assert pn.stake_token.balanceOf(reporter) == slashed * REPORTER_BPS // 10_000
    assert set_state(pn) == (4 * STAKE - slashed, 4)
    [punished] = receipt.events.filter(pn.penalties.OffencePunished)
    assert (punished.offence, bytes(punished.taskHash)) == (INCORRECT, task.task_hash())
    assert punished.operatorId == offender.id
    assert (punished.reporter, punished.slashed) == (reporter.address, slashed)
    [event] = receipt.events.filter(pn.center.OperatorSlashed)
    assert (event.operatorId, event.account, event.amount) == (offender.id, offender.address, slashed)
    assert pn.penalties.isPunished(INCORRECT, task.task_hash(), offender.address)


def test_incorrect_attestation_on_the_losing_side_of_a_rejected_task_is_slashed(pn):
    offender = pn.operators[2]
    rejecters = [op for op in pn.operators if op is not offender]  # three of four: more than 2/3
    task, _ = land(pn, approve=False, signers=rejecters)
    report_incorrect(pn, offender, task, True, sender=pn.new_account())
    assert stake_of(pn, offender) == STAKE - slashed_amount(STAKE)


def test_incorrect_attestation_with_a_signature_on_the_winning_side_reverts(pn, reverts_with):
    honest = pn.operators[0]
    task, _ = land(pn)
    with reverts_with(pn.penalties.InvalidEvidenceSignature):
        report_incorrect(pn, honest, task, True, sender=pn.new_account())
    rejected, _ = land(pn, approve=False, signers=pn.operators[:3])
    with reverts_with(pn.penalties.InvalidEvidenceSignature):
        report_incorrect(pn, honest, rejected, False, sender=pn.new_account())
    assert stake_of(pn, honest) == STAKE


def test_second_report_of_the_same_incorrect_attestation_reverts_already_punished(pn, reverts_with):
    offender = pn.operators[3]
    task, _ = land(pn, signers=pn.operators[:3])
    report_incorrect(pn, offender, task, False, sender=pn.new_account())
    with reverts_with(pn.penalties.AlreadyPunished, INCORRECT, task.task_hash(), offender.address):
        report_incorrect(pn, offender, task, False, sender=pn.new_account())


# --- reportRejectedTask -------------------------------------------------------------------------


def test_rejected_task_slashes_its_performer(pn):
    performer = pn.operators[2]
    task, _ = land(pn, performer, approve=False, signers=pn.operators[:3])
    reporter = pn.new_account()

    receipt = pn.penalties.reportRejectedTask(task.abi(), sender=reporter)

    slashed = slashed_amount(STAKE)
    assert stake_of(pn, performer) == STAKE - slashed
    assert pn.stake_token.balanceOf(reporter) == slashed * REPORTER_BPS // 10_000
    [punished] = receipt.events.filter(pn.penalties.OffencePunished)
    assert (punished.offence, bytes(punished.taskHash)) == (REJECTED, task.task_hash())
    assert punished.operatorId == performer.id
    assert (punished.reporter, punished.slashed) == (reporter.address, slashed)
    [event] = receipt.events.filter(pn.center.OperatorSlashed)
    assert (event.operatorId, event.account, event.amount, event.reporter) == (
        performer.id,
        performer.address,
        slashed,
        reporter.address,
    )
    assert pn.penalties.isPunished(REJECTED, task.task_hash(), performer.address)


def test_rejected_task_for_an_approved_task_reverts_task_not_rejected(pn, reverts_with):
    task, _ = land(pn, pn.operators[1])
    with reverts_with(pn.penalties.TaskNotRejected, task.task_hash()):
        pn.penalties.reportRejectedTask(task.abi(), sender=pn.new_account())


def test_second_report_of_the_same_rejected_task_reverts_already_punished(pn, reverts_with):
    performer = pn.operators[1]
    task, _ = land(pn, performer, approve=False, signers=pn.operators[1:])
    pn.penalties.reportRejectedTask(task.abi(), sender=pn.new_account())
    with reverts_with(pn.penalties.AlreadyPunished, REJECTED, task.task_hash(), performer.address):
        pn.penalties.reportRejectedTask(task.abi(), sender=pn.new_account())


def test_a_definition_that_punishes_rejected_tasks_refuses_a_bare_performer_signature(pn, reverts_with):
    """An Othentic-style signature names no center and no chain: it may have been replayed here from
    another AVS, so it cannot be held against its signer, and where rejected tasks are punished the
    performer must not escape that by signing the bare hash: the task does not land."""
    performer = pn.operators[2]
    task = pn.task(performer)
    bare = task.sign_bare(performer.account.private_key)
    with reverts_with(pn.center.PerformerSignatureNotDomainBound, task.task_hash(), 0):
        pn.submit(task, approve=False, signers=pn.operators[:3], tp_signature=bare)
    assert pn.center.taskRecord(task.task_hash()).taskNumber == 0


def lenient_definition(pn) -> int:
    """A definition that punishes double attestations only (Othentic performers welcome)."""
    return pn.create_definition(
        TaskDefinitionParams(
            name="othentic-performers",
            dispute_period_blocks=DISPUTE,
            penalties=PenaltyConfig(True, False, False, SLASH_BPS, REPORTER_BPS),
        )
    )


def test_a_bare_signed_rejection_lands_where_rejected_tasks_go_unpunished_and_costs_nothing(pn, reverts_with):
    definition = lenient_definition(pn)
    performer = pn.operators[2]
    task = pn.task(performer, definition_id=definition)
    bare = task.sign_bare(performer.account.private_key)
    pn.submit(task, approve=False, signers=pn.operators[:3], tp_signature=bare)
    terms = pn.center.taskPenaltyTerms(task.abi())
    assert (terms.isApproved, terms.supermajority, terms.performerBound) == (False, True, False)
    with reverts_with(pn.penalties.PenaltyDisabled, definition, REJECTED):
        pn.penalties.reportRejectedTask(task.abi(), sender=pn.new_account())
    assert stake_of(pn, performer) == STAKE


def test_attesters_of_a_bare_signed_task_are_still_punishable(pn):
    """Only the performer's offence needs a bound signature: the attesters' votes name the center."""
    definition = lenient_definition(pn)
    task = pn.task(pn.operators[0], definition_id=definition)
    pn.submit(task, tp_signature=task.sign_bare(pn.operators[0].account.private_key))
    offender = pn.operators[1]
    report_double(pn, offender, task, sender=pn.new_account())
    assert stake_of(pn, offender) == STAKE - slashed_amount(STAKE)


# --- the task must have landed, within the dispute period -----------------------------------------


def test_every_report_on_a_task_that_never_landed_reverts_task_not_submitted(pn, reverts_with):
    op = pn.operators[1]
    task = pn.task(pn.operators[0])
    reporter = pn.new_account()
    with reverts_with(pn.penalties.TaskNotSubmitted, task.task_hash()):
        report_double(pn, op, task, sender=reporter)
    with reverts_with(pn.penalties.TaskNotSubmitted, task.task_hash()):
        report_incorrect(pn, op, task, False, sender=reporter)
    with reverts_with(pn.penalties.TaskNotSubmitted, task.task_hash()):
        pn.penalties.reportRejectedTask(task.abi(), sender=reporter)


def test_a_task_with_other_data_than_the_landed_one_is_not_submitted(pn, reverts_with):
    task, _ = land(pn)
    altered = type(task)(task.proof_of_task, b"\x02" * 32, task.performer, task.task_definition_id)
    with reverts_with(pn.penalties.TaskNotSubmitted, altered.task_hash()):
        report_double(pn, pn.operators[1], altered, sender=pn.new_account())


def test_report_on_the_last_block_of_the_dispute_period_succeeds(pn, chain):
    offender = pn.operators[1]
    reporter = pn.new_account()  # may fund a fresh account: one block, so before the count
    task, receipt = land(pn)
    landed = int(pn.center.taskRecord(task.task_hash()).submittedAtBlock)
    assert landed == receipt.block_number
    chain.mine(landed + DISPUTE - 1 - chain.blocks.head.number)  # the report lands at landed + DISPUTE
    receipt = report_double(pn, offender, task, sender=reporter)
    assert receipt.block_number == landed + DISPUTE
    assert stake_of(pn, offender) == STAKE - slashed_amount(STAKE)


def test_every_report_after_the_dispute_period_reverts_dispute_period_over(pn, chain, reverts_with):
    op = pn.operators[1]
    reporter = pn.new_account()
    approved, _ = land(pn)
    rejected, receipt = land(pn, pn.operators[2], approve=False, signers=pn.operators[:2])
    landed_approved = int(pn.center.taskRecord(approved.task_hash()).submittedAtBlock)
    landed_rejected = receipt.block_number
    chain.mine(landed_approved + DISPUTE - chain.blocks.head.number)
    # The first block after the approved task's deadline (a reverted transaction is still mined).
    with reverts_with(pn.penalties.DisputePeriodOver, approved.task_hash(), landed_approved + DISPUTE):
        report_double(pn, op, approved, sender=reporter)
    assert chain.blocks.head.number == landed_approved + DISPUTE + 1
    chain.mine(landed_rejected + DISPUTE - chain.blocks.head.number)
    with reverts_with(pn.penalties.DisputePeriodOver, approved.task_hash(), landed_approved + DISPUTE):
        report_incorrect(pn, op, approved, False, sender=reporter)
    with reverts_with(pn.penalties.DisputePeriodOver, rejected.task_hash(), landed_rejected + DISPUTE):
        pn.penalties.reportRejectedTask(rejected.abi(), sender=reporter)
    assert stake_of(pn, op) == STAKE
    assert stake_of(pn, pn.operators[2]) == STAKE


# --- per-definition switches ----------------------------------------------------------------------


def test_default_penalty_config_punishes_double_attestation_only():
    config = PenaltyConfig()
    assert (config.double_attestation, config.incorrect_attestation, config.rejected_task) == (True, False, False)


def test_definition_with_default_penalties_stores_them_and_refuses_the_other_offences(pn, reverts_with):
    definition = pn.create_definition(TaskDefinitionParams(name="defaults", dispute_period_blocks=DISPUTE))
    stored = PenaltyConfig.from_abi(pn.center.getTaskDefinition(definition).params.penalties)
    assert stored == PenaltyConfig()
    performer, offender = pn.operators[0], pn.operators[3]
    approved, _ = land(pn, performer, definition_id=definition, signers=pn.operators[:3])
    rejected, _ = land(pn, performer, approve=False, signers=pn.operators[:2], definition_id=definition)
    reporter = pn.new_account()

    with reverts_with(pn.penalties.PenaltyDisabled, definition, INCORRECT):
        report_incorrect(pn, offender, approved, False, sender=reporter)
    with reverts_with(pn.penalties.PenaltyDisabled, definition, REJECTED):
        pn.penalties.reportRejectedTask(rejected.abi(), sender=reporter)
    assert stake_of(pn, performer) == STAKE
    assert stake_of(pn, offender) == STAKE

    report_double(pn, offender, approved, sender=reporter)
    assert stake_of(pn, offender) == STAKE - slashed_amount(STAKE, PenaltyConfig().slash_bps)


def test_definition_with_double_attestation_off_reverts_penalty_disabled(pn, reverts_with):
    definition = pn.create_definition(
        TaskDefinitionParams(
            name="lenient", dispute_period_blocks=DISPUTE, penalties=PenaltyConfig(double_attestation=False)
        )
    )
    task, _ = land(pn, definition_id=definition)
    with reverts_with(pn.penalties.PenaltyDisabled, definition, DOUBLE):
        report_double(pn, pn.operators[1], task, sender=pn.new_account())


# --- evidence: keys and signatures --------------------------------------------------------------


def test_key_never_registered_reverts_unknown_key(pn, reverts_with):
    stranger = pn.key_pool[NEVER_REGISTERED_KEY]
    task, _ = land(pn)
    reporter = pn.new_account()
    with reverts_with(pn.penalties.UnknownKey):
        report_double(pn, None, task, keys=stranger, sender=reporter)
    with reverts_with(pn.penalties.UnknownKey):
        report_incorrect(pn, None, task, False, keys=stranger, sender=reporter)


def test_signatures_over_the_wrong_sides_revert_invalid_evidence_signature(pn, reverts_with):
    op = pn.operators[1]
    task, _ = land(pn)
    approve_sig = vote_signature(pn, op.keys, task, True)
    reject_sig = vote_signature(pn, op.keys, task, False)
    reporter = pn.new_account()
    for approve, reject in [(reject_sig, approve_sig), (approve_sig, approve_sig), (reject_sig, reject_sig)]:
        with reverts_with(pn.penalties.InvalidEvidenceSignature):
            report_double(pn, op, task, approve_sig=approve, reject_sig=reject, sender=reporter)
    assert stake_of(pn, op) == STAKE


def test_signatures_over_another_task_revert_invalid_evidence_signature(pn, reverts_with):
    op = pn.operators[1]
    task, _ = land(pn)
    other, _ = land(pn)
    reporter = pn.new_account()
    with reverts_with(pn.penalties.InvalidEvidenceSignature):
        report_double(pn, op, task, approve_sig=vote_signature(pn, op.keys, other, True), sender=reporter)
    with reverts_with(pn.penalties.InvalidEvidenceSignature):
        report_double(pn, op, task, reject_sig=vote_signature(pn, op.keys, other, False), sender=reporter)
    with reverts_with(pn.penalties.InvalidEvidenceSignature):
        pn.penalties.reportIncorrectAttestation(
            task.abi(),
            op.keys.public.g2.solidity(),
            vote_signature(pn, op.keys, other, False),
            sender=reporter,
        )
    assert stake_of(pn, op) == STAKE


def test_two_signatures_by_different_keys_revert_invalid_evidence_signature(pn, reverts_with):
    """Operator 2 signed approve, operator 3 signed reject: nobody signed both sides."""
    first, second = pn.operators[1], pn.operators[2]
    task, _ = land(pn)
    reporter = pn.new_account()
    for keys in (first.keys, second.keys):
        with reverts_with(pn.penalties.InvalidEvidenceSignature):
            report_double(
                pn,
                None,
                task,
                keys=keys,
                approve_sig=vote_signature(pn, first.keys, task, True),
                reject_sig=vote_signature(pn, second.keys, task, False),
                sender=reporter,
            )
    assert stake_of(pn, first) == STAKE
    assert stake_of(pn, second) == STAKE


def test_key_rotated_before_the_task_landed_reverts_key_retired_before_task(pn, reverts_with):
    op = pn.operators[1]
    old_keys = op.keys
    rotation = rotate_key(pn, op, ROTATION_KEY)
    retired_at = int(pn.center.keyOwner(old_keys.public.g2.solidity()).retiredAtBlock)
    task, receipt = land(pn)  # signed with the new key
    assert retired_at < receipt.block_number
    with reverts_with(pn.penalties.KeyRetiredBeforeTask, op.id, retired_at, receipt.block_number):
        report_double(pn, op, task, keys=old_keys, sender=pn.new_account())
    with reverts_with(pn.penalties.KeyRetiredBeforeTask, op.id, retired_at, receipt.block_number):
        report_incorrect(pn, op, task, False, keys=old_keys, sender=pn.new_account())
    assert stake_of(pn, op) == STAKE
    # The current key is the one that answers for this task.
    report_double(pn, rotation, task, sender=pn.new_account())
    assert stake_of(pn, op) == STAKE - slashed_amount(STAKE)


def test_key_rotated_after_the_task_landed_still_counts(pn):
    op = pn.operators[1]
    old_keys = op.keys
    task, receipt = land(pn)
    rotate_key(pn, op, ROTATION_KEY)
    owner = pn.center.keyOwner(old_keys.public.g2.solidity())
    assert int(owner.operatorId) == op.id
    assert int(owner.retiredAtBlock) > receipt.block_number

    punished = report_double(pn, op, task, keys=old_keys, sender=pn.new_account())

    assert punished.events.filter(pn.penalties.OffencePunished)[0].operatorId == op.id
    assert stake_of(pn, op) == STAKE - slashed_amount(STAKE)


# --- slashing below the minimum stake -------------------------------------------------------------


def test_slash_below_minimum_stake_ejects_and_a_second_offence_takes_from_the_withdrawal(n4):
    offender = n4.by_id(2)
    first, _ = land(n4)
    second, _ = land(n4)
    others_apk = n4.center.getOperatorSet(0).apkG1
    reporter = n4.new_account()

    receipt = report_double(n4, offender, first, sender=reporter)

    slashed = slashed_amount(MIN_STAKE)
    left = MIN_STAKE - slashed
    [ejected] = receipt.events.filter(n4.center.OperatorEjected)
    assert (ejected.operatorId, ejected.account, ejected.by) == (offender.id, offender.address, n4.penalties.address)
    assert receipt.events.filter(n4.center.OperatorSlashed)[0].amount == slashed
    assert not n4.center.isActiveOperator(offender.account)
    view = n4.center.getOperator(offender.id)
    assert (view.active, view.stake, view.exitedAtBlock) == (False, 0, receipt.block_number)
    assert set_state(n4) == (3 * MIN_STAKE, 3)
    assert n4.members() == [1, 3, 4]
    assert n4.center.getOperatorSet(0).apkG1 != others_apk
    amount, unlock = n4.center.pendingWithdrawal(offender.account)
    assert (amount, unlock) == (left, receipt.block_number + UNBONDING)

    receipt = report_double(n4, offender, second, sender=reporter)

    second_slash = slashed_amount(left)
    assert receipt.events.filter(n4.center.OperatorSlashed)[0].amount == second_slash
    assert not receipt.events.filter(n4.center.OperatorEjected)
    assert n4.center.pendingWithdrawal(offender.account) == (left - second_slash, unlock)
    assert set_state(n4) == (3 * MIN_STAKE, 3)
    assert n4.stake_token.balanceOf(reporter) == (slashed + second_slash) * REPORTER_BPS // 10_000


def test_ejected_operator_set_key_is_the_sum_of_the_remaining_keys(n4):
    offender = n4.by_id(3)
    task, _ = land(n4)
    report_double(n4, offender, task, sender=n4.new_account())
    expected = aggregate_g1(n4.by_id(i).keys.public.g1 for i in (1, 2, 4))
    assert tuple(n4.center.getOperatorSet(0).apkG1) == expected.words()
    # The remaining three still land tasks on their own.
    _, receipt = land(n4, n4.by_id(1), signers=[n4.by_id(i) for i in (1, 2, 4)])
    assert receipt.events.filter(n4.center.TaskSubmitted)[0].nonSignerIds == []


def test_performer_of_a_rejected_task_below_minimum_is_ejected(n4):
    performer = n4.by_id(4)
    task, _ = land(n4, performer, approve=False, signers=[n4.by_id(1), n4.by_id(2), n4.by_id(3)])
    receipt = n4.penalties.reportRejectedTask(task.abi(), sender=n4.new_account())
    assert receipt.events.filter(n4.center.OperatorEjected)[0].operatorId == performer.id
    assert not n4.center.isActiveOperator(performer.account)
    assert n4.center.pendingWithdrawal(performer.account)[0] == MIN_STAKE - slashed_amount(MIN_STAKE)


# --- a key answers for the tasks that landed while it was current -----------------------------------


def in_one_block(chain, *calls):
    """Mines `calls` ((method, args, sender), in this order) in one block; returns their receipts."""
    web3 = chain.provider.web3
    chain.provider.make_request("evm_setAutomine", [False])
    try:
        hashes = []
        for method, args, sender in calls:
            tx = method.as_transaction(*args, sender=sender, gas=3_000_000)
            hashes.append(web3.eth.send_raw_transaction(sender.sign_transaction(tx).serialize_transaction()))
        chain.provider.make_request("evm_mine", [])
    finally:
        chain.provider.make_request("evm_setAutomine", [True])
    receipts = [web3.eth.get_transaction_receipt(h) for h in hashes]
    assert [r["status"] for r in receipts] == [1] * len(calls)
    assert len({r["blockNumber"] for r in receipts}) == 1
    assert [r["transactionIndex"] for r in receipts] == list(range(len(calls)))
    return receipts


def register_again(net, op, key_index: int) -> Operator:
    """The account of `op` registers a new id with another key (after leaving or being ejected)."""
    return net.register(stake=STAKE, keys=net.key_pool[key_index], account=op.account)


def test_a_key_that_left_answers_for_no_task_landed_after_it_left(pn, reverts_with):
    """A leaked key of an id that left cannot prove double attestations on later tasks, so it can
    slash neither the account's unbonding stake nor the new id the account registered."""
    leaver = pn.operators[1]
    receipt = pn.center.leave(sender=leaver.account)
    left_at = receipt.block_number
    pn.operators.remove(leaver)
    comeback = register_again(pn, leaver, RETURN_KEY)
    task, landed = land(pn)
    with reverts_with(pn.penalties.KeyRetiredBeforeTask, leaver.id, left_at, landed.block_number):
        report_double(pn, leaver, task, sender=pn.new_account())
    assert stake_of(pn, comeback) == STAKE
    assert pn.center.pendingWithdrawal(leaver.account).amount == STAKE


def test_an_ejected_key_answers_for_no_task_landed_after_the_ejection(pn, reverts_with):
    ejected = pn.operators[3]
    receipt = pn.center.ejectOperator(ejected.id, sender=pn.admin)
    pn.operators.remove(ejected)
    task, landed = land(pn)
    with reverts_with(pn.penalties.KeyRetiredBeforeTask, ejected.id, receipt.block_number, landed.block_number):
        report_double(pn, ejected, task, sender=pn.new_account())
    with reverts_with(pn.penalties.KeyRetiredBeforeTask, ejected.id, receipt.block_number, landed.block_number):
        report_incorrect(pn, ejected, task, False, sender=pn.new_account())
    assert pn.center.pendingWithdrawal(ejected.account).amount == STAKE


def test_a_key_ejected_by_a_slash_answers_for_no_later_task(n4, reverts_with):
    offender = n4.by_id(2)
    first, _ = land(n4)
    receipt = report_double(n4, offender, first, sender=n4.new_account())  # below the minimum: ejected
    assert receipt.events.filter(n4.center.OperatorEjected)
    n4.operators.remove(offender)
    later, landed = land(n4)
    with reverts_with(n4.penalties.KeyRetiredBeforeTask, offender.id, receipt.block_number, landed.block_number):
        report_double(n4, offender, later, sender=n4.new_account())


def test_a_key_that_left_still_answers_for_the_tasks_landed_before_it_left(pn):
    leaver = pn.operators[1]
    task, _ = land(pn)
    pn.center.leave(sender=leaver.account)
    report_double(pn, leaver, task, sender=pn.new_account())
    assert pn.center.pendingWithdrawal(leaver.account).amount == STAKE - slashed_amount(STAKE)


def test_a_key_retired_in_the_block_of_a_task_answers_for_it_only_if_the_task_came_first(pn, chain, reverts_with):
    """Blocks cannot tell the order of a leave and a task landing in the same block; task numbers
    can: the key answers for the task that landed before the leave, not for the one after it."""
    performer, leaver, aggregator, fourth = pn.operators
    before = pn.task(performer)
    before_submission = pn.submission(before)
    after = pn.task(performer)
    after_submission = pn.submission(
        after, members=[performer.id, aggregator.id, fourth.id], signers=[performer, aggregator, fourth]
    )
    in_one_block(
        chain,
        (pn.center.submitTask, (before.abi(), before_submission.abi()), aggregator.account),
        (pn.center.leave, (), leaver.account),
        (pn.center.submitTask, (after.abi(), after_submission.abi()), fourth.account),  # one tx per sender
    )
    block = int(pn.center.taskRecord(after.task_hash()).submittedAtBlock)
    assert int(pn.center.keyOwner(leaver.keys.public.g2.solidity()).retiredAtBlock) == block
    with reverts_with(pn.penalties.KeyRetiredBeforeTask, leaver.id, block, block):
        report_double(pn, leaver, after, sender=pn.new_account())
    report_double(pn, leaver, before, sender=pn.new_account())
    assert pn.center.pendingWithdrawal(leaver.account).amount == STAKE - slashed_amount(STAKE)


def test_a_key_registered_in_the_block_of_a_task_answers_for_it_only_if_it_came_first(pn, chain, reverts_with):
    performer, _, aggregator, _ = pn.operators
    task = pn.task(performer)
    submission = pn.submission(task)
    newcomer_account = pn.new_account()
    keys = pn.key_pool[RETURN_KEY]
    pn.fund_stake(newcomer_account, STAKE)
    register = (
        pn.center.registerOperator,
        (STAKE, keys.public.g1.words(), keys.public.g2.solidity(), pn.pop(newcomer_account, keys).words()),
        newcomer_account,
    )
    in_one_block(chain, (pn.center.submitTask, (task.abi(), submission.abi()), aggregator.account), register)
    newcomer = Operator(newcomer_account, keys, int(pn.center.operatorIdOf(newcomer_account)))
    block = int(pn.center.taskRecord(task.task_hash()).submittedAtBlock)
    with reverts_with(pn.penalties.KeyAddedAfterTask, newcomer.id, block, block):
        report_double(pn, newcomer, task, sender=pn.new_account())


# --- one punishment per account, offence and task -----------------------------------------------------


def test_an_account_is_punished_once_for_a_rejected_task_whatever_ids_it_held(pn, reverts_with):
    """Leaving and registering again gives the performer a new id, not a second punishment."""
    performer = pn.operators[2]
    task, _ = land(pn, performer, approve=False, signers=pn.operators[:3])
    pn.penalties.reportRejectedTask(task.abi(), sender=pn.new_account())
    pn.center.leave(sender=performer.account)
    pn.operators.remove(performer)
    comeback = register_again(pn, performer, RETURN_KEY)
    assert comeback.id != performer.id
    with reverts_with(pn.penalties.AlreadyPunished, REJECTED, task.task_hash(), performer.address):
        pn.penalties.reportRejectedTask(task.abi(), sender=pn.new_account())
    assert stake_of(pn, comeback) == STAKE
    assert pn.center.pendingWithdrawal(performer.account).amount == STAKE - slashed_amount(STAKE)
    assert pn.penalties.isPunished(REJECTED, task.task_hash(), performer.address)


def test_a_double_attestation_under_an_old_id_is_paid_once_from_the_accounts_current_stake(pn, reverts_with):
    offender = pn.operators[1]
    task, _ = land(pn)
    pn.center.leave(sender=offender.account)
    pn.operators.remove(offender)
    comeback = register_again(pn, offender, RETURN_KEY)
    receipt = report_double(pn, offender, task, sender=pn.new_account())
    # Active stake first: the new id pays.
    assert receipt.events.filter(pn.penalties.OffencePunished)[0].operatorId == offender.id
    assert stake_of(pn, comeback) == STAKE - slashed_amount(2 * STAKE)
    with reverts_with(pn.penalties.AlreadyPunished, DOUBLE, task.task_hash(), offender.address):
        report_double(pn, offender, task, sender=pn.new_account())


# --- a task is judged by the settings it landed under -----------------------------------------------


def update_definition(net, definition_id: int, params: TaskDefinitionParams):
    return net.center.updateTaskDefinition(definition_id, params.abi(), sender=net.admin)


def test_a_penalty_switched_on_after_a_task_landed_does_not_apply_to_it(pn, reverts_with):
    lenient = TaskDefinitionParams(
        name="lenient",
        dispute_period_blocks=DISPUTE,
        penalties=PenaltyConfig(True, False, False, SLASH_BPS, REPORTER_BPS),
    )
    definition = pn.create_definition(lenient)
    performer = pn.operators[3]
    before, _ = land(pn, performer, approve=False, signers=pn.operators[:3], definition_id=definition)
    update_definition(
        pn, definition, replace(lenient, penalties=PenaltyConfig(True, True, True, SLASH_BPS, REPORTER_BPS))
    )
    with reverts_with(pn.penalties.PenaltyDisabled, definition, REJECTED):
        pn.penalties.reportRejectedTask(before.abi(), sender=pn.new_account())
    assert stake_of(pn, performer) == STAKE
    # A task landed after the change is judged by the new settings.
    after, _ = land(pn, performer, approve=False, signers=pn.operators[:3], definition_id=definition)
    pn.penalties.reportRejectedTask(after.abi(), sender=pn.new_account())
    assert stake_of(pn, performer) == STAKE - slashed_amount(STAKE)


def test_a_penalty_switched_off_after_a_task_landed_still_applies_to_it(pn):
    performer = pn.operators[3]
    task, _ = land(pn, performer, approve=False, signers=pn.operators[:3])
    update_definition(pn, 0, replace(DEFINITION_0, penalties=PenaltyConfig(False, False, False, 0, 0)))
    pn.penalties.reportRejectedTask(task.abi(), sender=pn.new_account())
    assert stake_of(pn, performer) == STAKE - slashed_amount(STAKE)


def test_a_dispute_period_lengthened_after_a_task_landed_does_not_reopen_it(pn, chain, reverts_with):
    task, landed = land(pn)
    update_definition(pn, 0, replace(DEFINITION_0, dispute_period_blocks=UNBONDING - 1))
    chain.mine(landed.block_number + DISPUTE - chain.blocks.head.number)
    with reverts_with(pn.penalties.DisputePeriodOver, task.task_hash(), landed.block_number + DISPUTE):
        report_double(pn, pn.operators[1], task, sender=pn.new_account())
    assert stake_of(pn, pn.operators[1]) == STAKE


def test_slash_and_reporter_shares_changed_after_a_task_landed_do_not_apply_to_it(pn):
    offender = pn.operators[1]
    task, _ = land(pn)
    update_definition(pn, 0, replace(DEFINITION_0, penalties=PenaltyConfig(True, True, True, 5_000, 0)))
    reporter = pn.new_account()
    report_double(pn, offender, task, sender=reporter)
    slashed = slashed_amount(STAKE)
    assert stake_of(pn, offender) == STAKE - slashed
    assert pn.stake_token.balanceOf(reporter) == slashed * REPORTER_BPS // 10_000


def test_settings_replaced_before_any_task_landed_under_them_leave_no_trace(pn):
    """Two updates with no task in between: the task that lands next is judged by the last one."""
    definition = pn.create_definition(TaskDefinitionParams(name="draft", dispute_period_blocks=2))
    update_definition(pn, definition, TaskDefinitionParams(name="draft", dispute_period_blocks=3))
    final = PenaltyConfig(True, True, True, 700, 100)
    update_definition(pn, definition, TaskDefinitionParams(name="final", dispute_period_blocks=4, penalties=final))
    task, landed = land(pn, definition_id=definition)
    terms = pn.center.taskPenaltyTerms(task.abi())
    assert (terms.disputePeriodBlocks, PenaltyConfig.from_abi(terms.penalties)) == (4, final)


def test_taskPenaltyTerms_reads_the_record_and_the_settings_a_task_landed_under(pn):
    never = pn.task(pn.operators[0])
    terms = pn.center.taskPenaltyTerms(never.abi())
    assert bytes(terms.taskHash) == never.task_hash()
    assert (terms.taskNumber, terms.submittedAtBlock, terms.isApproved, terms.supermajority) == (0, 0, False, False)
    assert not terms.performerBound
    assert (terms.disputePeriodBlocks, PenaltyConfig.from_abi(terms.penalties)) == (
        0,
        PenaltyConfig(False, False, False, 0, 0),
    )

    approved, receipt = land(pn, signers=pn.operators[:3])
    rejected, _ = land(pn, approve=False, signers=pn.operators[:2])
    update_definition(pn, 0, replace(DEFINITION_0, dispute_period_blocks=3, penalties=PenaltyConfig()))
    terms = pn.center.taskPenaltyTerms(approved.abi())
    assert bytes(terms.taskHash) == approved.task_hash()
    assert (terms.taskNumber, terms.submittedAtBlock, terms.isApproved) == (1, receipt.block_number, True)
    assert terms.supermajority and terms.performerBound
    assert (terms.disputePeriodBlocks, PenaltyConfig.from_abi(terms.penalties)) == (DISPUTE, DEFINITION_0.penalties)
    terms = pn.center.taskPenaltyTerms(rejected.abi())
    assert (terms.taskNumber, terms.isApproved, terms.supermajority) == (2, False, False)
    assert terms.disputePeriodBlocks == DISPUTE
    later, _ = land(pn)
    terms = pn.center.taskPenaltyTerms(later.abi())
    assert (terms.disputePeriodBlocks, PenaltyConfig.from_abi(terms.penalties)) == (3, PenaltyConfig())


# --- the reporter's share ---------------------------------------------------------------------------


def test_an_offender_reporting_itself_loses_at_least_half_of_its_slash(pn):
    update_definition(pn, 0, replace(DEFINITION_0, penalties=PenaltyConfig(True, True, True, SLASH_BPS, 5_000)))
    offender = pn.operators[1]
    task, _ = land(pn)
    before = pn.stake_token.balanceOf(offender.account)
    report_double(pn, offender, task, sender=offender.account)
    slashed = slashed_amount(STAKE)
    assert stake_of(pn, offender) == STAKE - slashed
    assert pn.stake_token.balanceOf(offender.account) - before == slashed // 2  # it gets half back, no more


# --- a rejection by a third of the power is no verdict to punish on ----------------------------------


def test_a_rejection_by_at_most_two_thirds_punishes_neither_the_performer_nor_the_approvers(pn, reverts_with):
    """A third of the power may reject a task; if that were enough to slash, a third could reject a
    valid task and slash its performer and every approver whose signature the aggregator holds."""
    performer, approver = pn.operators[0], pn.operators[3]
    task, _ = land(pn, performer, approve=False, signers=pn.operators[1:3])  # half of the power
    reporter = pn.new_account()
    with reverts_with(pn.penalties.RejectionWithoutSupermajority, task.task_hash()):
        pn.penalties.reportRejectedTask(task.abi(), sender=reporter)
    with reverts_with(pn.penalties.RejectionWithoutSupermajority, task.task_hash()):
        report_incorrect(pn, approver, task, True, sender=reporter)
    assert stake_of(pn, performer) == STAKE
    assert stake_of(pn, approver) == STAKE


def test_a_rejection_by_exactly_two_thirds_is_no_supermajority(pn, reverts_with):
    definition = pn.create_definition(
        TaskDefinitionParams(
            name="three",
            dispute_period_blocks=DISPUTE,
            restricted_attester_ids=(1, 2, 3),
            penalties=PenaltyConfig(True, True, True, SLASH_BPS, REPORTER_BPS),
        )
    )
    task, _ = land(pn, pn.operators[3], approve=False, signers=pn.operators[:2], definition_id=definition)
    assert not pn.center.taskPenaltyTerms(task.abi()).supermajority
    with reverts_with(pn.penalties.RejectionWithoutSupermajority, task.task_hash()):
        pn.penalties.reportRejectedTask(task.abi(), sender=pn.new_account())
    decisive, _ = land(pn, pn.operators[3], approve=False, signers=pn.operators[:3], definition_id=definition)
    assert pn.center.taskPenaltyTerms(decisive.abi()).supermajority
    pn.penalties.reportRejectedTask(decisive.abi(), sender=pn.new_account())
    assert stake_of(pn, pn.operators[3]) == STAKE - slashed_amount(STAKE)
