"""contracts/PenaltyManager.sol: offences proven on-chain from signatures, and the slashing they trigger.

An offence needs a task that landed, within its definition's dispute period, with the definition's
switch for that offence on. The PenaltyManager holds the center's SLASHER_ROLE: a proven offence
slashes ``slashBps`` of the offender's stake (active + unbonding), pays ``reporterBps`` of it to the
reporter and the rest to the treasury (the admin by default), and ejects an operator whose stake
falls below the minimum.
"""

from __future__ import annotations

import pytest

from othentic_offchain.chain.types import PenaltyConfig, TaskDefinitionParams
from othentic_offchain.crypto import aggregate_g1
from tests.contracts.network import CHAIN_ID, MIN_STAKE, TOKEN, UNBONDING, Operator, deploy_network

STAKE = 20 * TOKEN  # slashing 10% leaves 18 TOKEN: still above the minimum
DISPUTE = 10  # DEFINITION_0's dispute period
SLASH_BPS = 1_000
REPORTER_BPS = 2_000

DOUBLE, INCORRECT, REJECTED = 0, 1, 2  # IPenaltyManager.Offence

NEVER_REGISTERED_KEY = 23  # key_pool index no test registers
ROTATION_KEY = 20  # key_pool index for updateBlsKey


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
    with reverts_with(pn.penalties.AlreadyPunished, DOUBLE, task.task_hash(), offender.id):
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
    assert pn.penalties.isPunished(DOUBLE, task_a.task_hash(), first.id)
    assert pn.penalties.isPunished(DOUBLE, task_a.task_hash(), second.id)
    assert pn.penalties.isPunished(DOUBLE, task_b.task_hash(), first.id)
    assert not pn.penalties.isPunished(DOUBLE, task_b.task_hash(), second.id)


def test_is_punished_is_per_task_and_operator_with_one_record_for_both_signature_offences(pn, reverts_with):
    offender = pn.operators[1]
    task, _ = land(pn)
    task_hash = task.task_hash()
    for offence in (DOUBLE, INCORRECT, REJECTED):
        assert not pn.penalties.isPunished(offence, task_hash, offender.id)

    report_double(pn, offender, task, sender=pn.new_account())

    # A double attestation always holds a signature on the losing side: its signatures on this
    # task are punished once, whichever offence is reported first.
    assert pn.penalties.isPunished(DOUBLE, task_hash, offender.id)
    assert pn.penalties.isPunished(INCORRECT, task_hash, offender.id)
    assert not pn.penalties.isPunished(REJECTED, task_hash, offender.id)
    assert not pn.penalties.isPunished(DOUBLE, task_hash, pn.operators[0].id)
    with reverts_with(pn.penalties.AlreadyPunished, INCORRECT, task_hash, offender.id):
        report_incorrect(pn, offender, task, False, sender=pn.new_account())


def test_an_incorrect_attestation_already_punished_blocks_a_double_attestation_report(pn, reverts_with):
    offender = pn.operators[1]
    task, _ = land(pn)
    report_incorrect(pn, offender, task, False, sender=pn.new_account())
    with reverts_with(pn.penalties.AlreadyPunished, DOUBLE, task.task_hash(), offender.id):
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
    assert pn.penalties.isPunished(INCORRECT, task.task_hash(), offender.id)


def test_incorrect_attestation_on_the_losing_side_of_a_rejected_task_is_slashed(pn):
    offender = pn.operators[2]
    task, _ = land(pn, approve=False, signers=pn.operators[:2])
    report_incorrect(pn, offender, task, True, sender=pn.new_account())
    assert stake_of(pn, offender) == STAKE - slashed_amount(STAKE)


def test_incorrect_attestation_with_a_signature_on_the_winning_side_reverts(pn, reverts_with):
    honest = pn.operators[0]
    task, _ = land(pn)
    with reverts_with(pn.penalties.InvalidEvidenceSignature):
        report_incorrect(pn, honest, task, True, sender=pn.new_account())
    rejected, _ = land(pn, approve=False, signers=pn.operators[:2])
    with reverts_with(pn.penalties.InvalidEvidenceSignature):
        report_incorrect(pn, honest, rejected, False, sender=pn.new_account())
    assert stake_of(pn, honest) == STAKE


def test_second_report_of_the_same_incorrect_attestation_reverts_already_punished(pn, reverts_with):
    offender = pn.operators[3]
    task, _ = land(pn, signers=pn.operators[:3])
    report_incorrect(pn, offender, task, False, sender=pn.new_account())
    with reverts_with(pn.penalties.AlreadyPunished, INCORRECT, task.task_hash(), offender.id):
        report_incorrect(pn, offender, task, False, sender=pn.new_account())


# --- reportRejectedTask -------------------------------------------------------------------------


def test_rejected_task_slashes_its_performer(pn):
    performer = pn.operators[2]
    task, _ = land(pn, performer, approve=False, signers=pn.operators[:2])
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
        performer.id, performer.address, slashed, reporter.address
    )
    assert pn.penalties.isPunished(REJECTED, task.task_hash(), performer.id)


def test_rejected_task_for_an_approved_task_reverts_task_not_rejected(pn, reverts_with):
    task, _ = land(pn, pn.operators[1])
    with reverts_with(pn.penalties.TaskNotRejected, task.task_hash()):
        pn.penalties.reportRejectedTask(task.abi(), sender=pn.new_account())


def test_second_report_of_the_same_rejected_task_reverts_already_punished(pn, reverts_with):
    performer = pn.operators[1]
    task, _ = land(pn, performer, approve=False, signers=pn.operators[2:])
    pn.penalties.reportRejectedTask(task.abi(), sender=pn.new_account())
    with reverts_with(pn.penalties.AlreadyPunished, REJECTED, task.task_hash(), performer.id):
        pn.penalties.reportRejectedTask(task.abi(), sender=pn.new_account())


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
        report_double(
            pn, op, task, approve_sig=vote_signature(pn, op.keys, other, True), sender=reporter
        )
    with reverts_with(pn.penalties.InvalidEvidenceSignature):
        report_double(
            pn, op, task, reject_sig=vote_signature(pn, op.keys, other, False), sender=reporter
        )
    with reverts_with(pn.penalties.InvalidEvidenceSignature):
        pn.penalties.reportIncorrectAttestation(
            task.abi(), op.keys.public.g2.solidity(), vote_signature(pn, op.keys, other, False),
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
                pn, None, task, keys=keys,
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
    task, _ = land(n4, performer, approve=False, signers=[n4.by_id(1), n4.by_id(2)])
    receipt = n4.penalties.reportRejectedTask(task.abi(), sender=n4.new_account())
    assert receipt.events.filter(n4.center.OperatorEjected)[0].operatorId == performer.id
    assert not n4.center.isActiveOperator(performer.account)
    assert n4.center.pendingWithdrawal(performer.account)[0] == MIN_STAKE - slashed_amount(MIN_STAKE)
