"""Attacks a hostile aggregator or operator could try on the attestation center, on anvil.

Each test builds the attack from honest material (the operators' real keys and signatures) plus
what an attacker can compute on its own, and checks that the contract refuses it with the error
that names the defence: proofs of possession against rogue keys, the bound aggregate check against
forged G2 keys and omitted non-signers, the vote digest's binding to chain, center and side, the
replay record, the performer's signature, and operator sets.
"""

from __future__ import annotations

import dataclasses

import pytest
from eth_keys import keys as eth_keys

from othentic_offchain.chain.types import TaskSubmission
from othentic_offchain.crypto import (
    G1Point,
    G2Point,
    KeyPair,
    aggregate_g1,
    aggregate_g2,
    aggregate_signatures,
    hash_to_g1,
    pop_hash,
    recover_task_signer,
)
from othentic_offchain.crypto.bn254 import P, R
from tests.contracts.network import BARE_SIGNATURES_LAND, CHAIN_ID, DEFINITION_0, MIN_STAKE, deploy_network

ZERO_ADDRESS = "0x" + "00" * 20
G1 = G1Point.generator()
G2 = G2Point.generator()
#: Order of secp256k1: a signature (r, s) has the malleable twin (r, N - s).
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def submit(network, task, submission: TaskSubmission, sender):
    account = getattr(sender, "account", sender)
    return network.center.submitTask(task.abi(), submission.abi(), sender=account, skip_trace=True)


def vote_signature(task, signers, center: str, chain_id: int = CHAIN_ID, approve: bool = True) -> G1Point:
    digest = task.vote_hash(center, chain_id, approve)
    return aggregate_signatures(op.keys.sign(digest) for op in signers)


def g2_of(operators) -> G2Point:
    return aggregate_g2(op.keys.public.g2 for op in operators)


def cache_set_key(network):
    """An honest all-signing task: the set's aggregate G2 key is cached from now on."""
    performer = network.operators[0]
    task = network.task(performer)
    submit(network, task, network.submission(task), performer)


# --- rogue keys and proofs of possession ----------------------------------------------------------


def test_rogue_key_registration_fails_InvalidProofOfPossession(net4, harness, reverts_with):
    """pk' = x*G - sum(honest keys) would make the set's aggregate x*G, a key the attacker alone
    signs for. The attacker knows x but not the secret of pk', so it cannot prove possession."""
    x = 0xA77AC4E5 % R
    honest_g1 = aggregate_g1(op.keys.public.g1 for op in net4.operators)
    rogue_g1, rogue_g2 = G1 * x - honest_g1, G2 * x - g2_of(net4.operators)
    attacker = net4.new_account()
    net4.fund_stake(attacker, MIN_STAKE)

    # The attack is real: were pk' registered, x alone would sign for all five operators.
    digest = net4.task(net4.operators[0]).vote_hash(net4.center.address, CHAIN_ID, True)
    assert harness.verifyBound(
        digest, (honest_g1 + rogue_g1).words(), (G2 * x).solidity(), (hash_to_g1(digest) * x).words()
    )

    # Its best try at a proof: sign the registration digest with the secret it knows.
    proof = hash_to_g1(pop_hash(attacker.address, net4.center.address, CHAIN_ID, rogue_g1, rogue_g2)) * x
    with reverts_with(net4.center.InvalidProofOfPossession):
        net4.center.registerOperator(
            MIN_STAKE, rogue_g1.words(), rogue_g2.solidity(), proof.words(), sender=attacker, skip_trace=True
        )
    # Nor can it pair the rogue G1 key with a G2 key it knows (x*G2): the proof binds the two.
    proof = hash_to_g1(pop_hash(attacker.address, net4.center.address, CHAIN_ID, rogue_g1, G2 * x)) * x
    with reverts_with(net4.center.InvalidProofOfPossession):
        net4.center.registerOperator(
            MIN_STAKE, rogue_g1.words(), (G2 * x).solidity(), proof.words(), sender=attacker, skip_trace=True
        )
    assert net4.center.operatorCount() == (4, 4)


def test_a_proof_of_possession_copied_from_another_account_fails(net4, reverts_with):
    """Front-running an honest registration with its key and proof: the proof names the honest
    account, so the copy fails; a key already registered is refused outright."""
    honest, attacker = net4.new_account(), net4.new_account()
    victim_keys = net4.key_pool[12]
    copied = net4.pop(honest, victim_keys)
    net4.fund_stake(attacker, MIN_STAKE)
    with reverts_with(net4.center.InvalidProofOfPossession):
        net4.center.registerOperator(
            MIN_STAKE,
            victim_keys.public.g1.words(),
            victim_keys.public.g2.solidity(),
            copied.words(),
            sender=attacker,
            skip_trace=True,
        )
    registered = net4.operators[1]
    with reverts_with(net4.center.KeyAlreadyRegistered, registered.id):
        net4.center.registerOperator(
            MIN_STAKE,
            registered.keys.public.g1.words(),
            registered.keys.public.g2.solidity(),
            net4.pop(attacker, registered.keys).words(),
            sender=attacker,
            skip_trace=True,
        )


# --- forged aggregates ----------------------------------------------------------------------------


def test_a_forged_aggregate_g2_key_fails_InvalidAggregateSignature(net4, reverts_with):
    """sigma = x*H(m) with apkG2 = x*G2 passes a plain BLS check; the bound check ties apkG2 to the
    set's stored G1 key, which is not x*G1."""
    ops = net4.operators
    task = net4.task(ops[0])
    x = KeyPair.from_seed(b"adversarial forged aggregate key")
    digest = task.vote_hash(net4.center.address, CHAIN_ID, True)
    forged = dataclasses.replace(net4.submission(task), ta_signature=x.sign(digest), signers_apk_g2=x.public.g2)
    with reverts_with(net4.center.InvalidAggregateSignature):
        submit(net4, task, forged, ops[0])
    cache_set_key(net4)
    with reverts_with(net4.center.InvalidAggregateSignature):
        submit(net4, task, forged, ops[0])
    # With a non-signer listed, the forged key meets the bound check in its other branch.
    with reverts_with(net4.center.InvalidAggregateSignature):
        submit(net4, task, dataclasses.replace(forged, non_signer_ids=(ops[3].id,)), ops[0])


def test_an_attacker_key_added_to_the_honest_aggregate_fails(net4, reverts_with):
    """The honest signers' signatures and G2 key plus the attacker's own share: still not the set."""
    ops = net4.operators
    task = net4.task(ops[0])
    x = KeyPair.from_seed(b"adversarial extra share key")
    digest = task.vote_hash(net4.center.address, CHAIN_ID, True)
    honest = net4.submission(task, signers=ops[:3])
    padded = dataclasses.replace(
        honest, ta_signature=honest.ta_signature + x.sign(digest), signers_apk_g2=honest.signers_apk_g2 + x.public.g2
    )
    with reverts_with(net4.center.InvalidAggregateSignature):
        submit(net4, task, padded, ops[0])
    with reverts_with(net4.center.InvalidAggregateSignature):
        submit(net4, task, dataclasses.replace(padded, non_signer_ids=()), ops[0])


def test_counting_one_signature_twice_in_place_of_a_missing_one_fails(net4, reverts_with):
    ops = net4.operators
    task = net4.task(ops[0])
    doubled = [ops[0], ops[0], ops[1], ops[2]]  # operator 1 twice, operator 4 never signed
    submission = dataclasses.replace(
        net4.submission(task),
        ta_signature=vote_signature(task, doubled, net4.center.address),
        signers_apk_g2=g2_of(doubled),
    )
    with reverts_with(net4.center.InvalidAggregateSignature):
        submit(net4, task, submission, ops[0])


def test_omitting_a_non_signer_fails(net4, reverts_with):
    """Operators 1-3 signed; the submission claims all four did (no non-signer listed)."""
    ops = net4.operators
    task = net4.task(ops[0])
    signed_by_three = net4.submission(task, signers=ops[:3])
    omitted = dataclasses.replace(signed_by_three, non_signer_ids=())
    with reverts_with(net4.center.InvalidAggregateSignature):
        submit(net4, task, omitted, ops[0])  # the signers' own G2 key
    with_set_key = dataclasses.replace(omitted, signers_apk_g2=g2_of(ops))
    with reverts_with(net4.center.InvalidAggregateSignature):
        submit(net4, task, with_set_key, ops[0])  # the whole set's G2 key, not yet cached
    cache_set_key(net4)
    with reverts_with(net4.center.InvalidAggregateSignature):
        submit(net4, task, with_set_key, ops[0])  # the whole set's G2 key, cached: the plain check
    submit(net4, task, signed_by_three, ops[0])  # the honest submission still lands


def test_the_trivial_forgery_with_points_at_infinity_fails(net4, reverts_with):
    """sigma = O with apkG2 = O satisfies e(sigma, -G2) * e(H(m), apkG2) == 1 for every message:
    a plain pairing check would accept it. The library refuses infinity keys and signatures."""
    ops = net4.operators
    task = net4.task(ops[0])
    trivial = dataclasses.replace(
        net4.submission(task), ta_signature=G1Point.infinity(), signers_apk_g2=G2Point.infinity()
    )
    with reverts_with(net4.center.InvalidAggregateSignature):
        submit(net4, task, trivial, ops[0])
    cache_set_key(net4)
    with reverts_with(net4.center.InvalidAggregateSignature):
        submit(net4, task, trivial, ops[0])
    with reverts_with(net4.center.InvalidAggregateSignature):  # with the set's real key
        submit(net4, task, dataclasses.replace(trivial, signers_apk_g2=g2_of(ops)), ops[0])


def test_a_signature_off_the_curve_or_not_reduced_mod_p_reverts_in_the_precompiles(net4, project, reverts_with):
    # BN254's library errors, from the harness's ABI (the `bls_errors` fixture, requested this late in
    # a module, makes Ape rebase its chain snapshots: InvalidIsolationWarning).
    bls_errors = project.BN254Harness
    ops = net4.operators
    task = net4.task(ops[0])
    honest = net4.submission(task)
    off_curve = dataclasses.replace(honest, ta_signature=G1Point(1, 3))
    unreduced = dataclasses.replace(honest, ta_signature=G1Point(honest.ta_signature.x + P, honest.ta_signature.y))
    for malformed in (off_curve, unreduced):
        with reverts_with(bls_errors.EcAddFailed):  # bound check: sigma + gamma*apk
            submit(net4, task, malformed, ops[0])
    cache_set_key(net4)
    for malformed in (off_curve, unreduced):
        with reverts_with(bls_errors.PairingFailed):  # cached key: sigma goes straight to the pairing
            submit(net4, task, malformed, ops[0])
    submit(net4, task, honest, ops[0])


@pytest.mark.parametrize("non_signers", [(4, 4), (4, 3)], ids=["duplicate", "unsorted"])
def test_a_non_signer_list_with_duplicates_or_out_of_order_fails(net4, reverts_with, non_signers):
    """A duplicate would subtract one operator's power and key twice; order makes duplicates
    impossible to hide."""
    ops = net4.operators
    task = net4.task(ops[0])
    submission = dataclasses.replace(net4.submission(task, signers=ops[:2], approve=False), non_signer_ids=non_signers)
    with reverts_with(net4.center.NonSignersNotSorted, 1):
        submit(net4, task, submission, ops[0])


# --- votes bound to their chain, center and side -----------------------------------------------------


def test_an_expired_definition_takes_no_more_tasks(net4, chain, reverts_with):
    expiry = chain.blocks.height + 3
    definition_id = net4.create_definition(dataclasses.replace(DEFINITION_0, name="short lived", block_expiry=expiry))
    task = net4.task(net4.operators[0], definition_id=definition_id)
    submission = net4.submission(task)
    chain.mine(3)
    with reverts_with(net4.center.TaskDefinitionExpired, definition_id, expiry):
        submit(net4, task, submission, net4.operators[0])


def test_votes_signed_for_another_chain_id_fail(net4, reverts_with):
    ops = net4.operators
    task = net4.task(ops[0])
    other_chain = dataclasses.replace(
        net4.submission(task), ta_signature=vote_signature(task, ops, net4.center.address, chain_id=1)
    )
    with reverts_with(net4.center.InvalidAggregateSignature):
        submit(net4, task, other_chain, ops[0])
    cache_set_key(net4)
    with reverts_with(net4.center.InvalidAggregateSignature):
        submit(net4, task, other_chain, ops[0])


def _twin_network(net4, project, accounts, key_pool):
    """A second AVS where net4's operators are operators too, with the same accounts and keys."""
    other = deploy_network(project, accounts, key_pool)
    for op in net4.operators:
        other.register(MIN_STAKE, keys=op.keys, account=op.account)
    assert [op.id for op in other.operators] == [op.id for op in net4.operators]
    return other


def test_a_submission_replayed_on_another_attestation_center_fails(net4, project, accounts, key_pool, reverts_with):
    """Same operators, same keys, same performer signature (a bare one, valid on any center) on a
    second deployment: only the vote digest (which names the center) differs, and that is enough."""
    ops = net4.operators
    other = _twin_network(net4, project, accounts, key_pool)
    definition = net4.create_definition(BARE_SIGNATURES_LAND)
    assert other.create_definition(BARE_SIGNATURES_LAND) == definition
    task = net4.task(ops[0], definition_id=definition)
    original = net4.submission(task, tp_signature=task.sign_bare(ops[0].account.private_key))
    with reverts_with(other.center.InvalidAggregateSignature):
        submit(other, task, original, ops[0])
    submit(net4, task, original, ops[0])  # where it was meant to go, it lands
    submit(other, task, other.submission(task), ops[0])  # and the other center takes its own votes


def test_a_performer_signature_bound_to_one_center_is_refused_by_another(
    net4, project, accounts, key_pool, reverts_with
):
    """The other AVS's own operators vote (a valid aggregate signature there), but the performer
    signed for net4's center: the task cannot land on the other one at all."""
    ops = net4.operators
    other = _twin_network(net4, project, accounts, key_pool)
    task = net4.task(ops[0])
    signature = net4.sign_performer(task, ops[0])
    replayed = other.submission(task, ops[1:], approve=False, tp_signature=signature)
    recovered = recover_task_signer(task.performer_hash(other.center.address, CHAIN_ID), signature)
    with reverts_with(other.center.InvalidPerformerSignature, ops[0].address, recovered):
        submit(other, task, replayed, ops[1])
    submit(net4, task, net4.submission(task, tp_signature=signature), ops[1])  # where it was meant to go


def test_a_bare_performer_signature_replayed_on_another_center_costs_its_performer_nothing(
    net4, project, accounts, key_pool, reverts_with
):
    """The finding: a bare taskHash signature names no center, so colluding operators of another AVS
    could land it there as a rejection with more than two thirds of the power. Where that AVS punishes
    rejected tasks the replay does not land at all; where it does not, it lands and costs nothing."""
    ops = net4.operators
    other = _twin_network(net4, project, accounts, key_pool)
    lenient = other.create_definition(BARE_SIGNATURES_LAND)
    for definition in (0, lenient):
        task = net4.task(ops[0], definition_id=definition)
        bare = task.sign_bare(ops[0].account.private_key)
        replayed = other.submission(task, ops[1:], approve=False, tp_signature=bare)
        if definition == 0:  # other's definition 0 punishes rejected tasks
            with reverts_with(other.center.PerformerSignatureNotDomainBound, task.task_hash(), 0):
                submit(other, task, replayed, ops[1])
            continue
        submit(other, task, replayed, ops[1])
        terms = other.center.taskPenaltyTerms(task.abi())
        assert (terms.isApproved, terms.supermajority, terms.performerBound) == (False, True, False)
        with reverts_with(other.penalties.PenaltyDisabled, lenient, 2):
            other.penalties.reportRejectedTask(task.abi(), sender=other.new_account(), skip_trace=True)
    assert other.center.getOperator(ops[0].id).stake == MIN_STAKE


def test_approve_votes_cannot_be_submitted_as_a_rejection(net4, reverts_with):
    """Two approve votes reach the 1/3 reject quorum by power: relabelled as a rejection they would
    sink a good task, but the vote digest names the side."""
    ops = net4.operators
    task = net4.task(ops[0])
    relabelled = dataclasses.replace(net4.submission(task, signers=ops[:2], approve=True), is_approved=False)
    with reverts_with(net4.center.InvalidAggregateSignature):
        submit(net4, task, relabelled, ops[0])


def test_a_task_replayed_after_success_fails(net4, reverts_with):
    ops = net4.operators
    task = net4.task(ops[0])
    submission = net4.submission(task)
    submit(net4, task, submission, ops[0])
    for sender in ops:  # any aggregator, either side
        with reverts_with(net4.center.TaskAlreadySubmitted, task.task_hash()):
            submit(net4, task, submission, sender)
    with reverts_with(net4.center.TaskAlreadySubmitted, task.task_hash()):
        submit(net4, task, net4.submission(task, approve=False), ops[1])
    assert net4.center.taskCount() == 1


# --- the performer's signature --------------------------------------------------------------------


def test_an_aggregator_cannot_change_the_task_after_the_performer_signed(net4, reverts_with):
    performer, aggregator = net4.operators[:2]
    task = net4.task(performer, data=b"price=100")
    signature = net4.sign_performer(task, performer)
    tampered = dataclasses.replace(task, data=b"price=999")
    recovered = recover_task_signer(tampered.performer_hash(net4.center.address, CHAIN_ID), signature)
    assert recovered != performer.address
    with reverts_with(net4.center.InvalidPerformerSignature, performer.address, recovered):
        submit(net4, tampered, net4.submission(tampered, tp_signature=signature), aggregator)


def test_an_aggregator_cannot_claim_the_performer_reward_by_naming_itself(net4, reverts_with):
    performer, aggregator = net4.operators[:2]
    task = net4.task(performer)
    signature = net4.sign_performer(task, performer)
    stolen = dataclasses.replace(task, performer=aggregator.address)
    recovered = recover_task_signer(stolen.performer_hash(net4.center.address, CHAIN_ID), signature)
    with reverts_with(net4.center.InvalidPerformerSignature, aggregator.address, recovered):
        submit(net4, stolen, net4.submission(stolen, tp_signature=signature), aggregator)


def test_a_malleated_high_s_performer_signature_is_refused(net4, reverts_with):
    """(r, N - s) with the other recovery id recovers the same address; OpenZeppelin's ECDSA
    refuses the high-s form, so a signature has one accepted encoding."""
    performer = net4.operators[0]
    task = net4.task(performer)
    signature = net4.sign_performer(task, performer)
    r, s, v = signature[:32], int.from_bytes(signature[32:64], "big"), signature[64]
    malleated = r + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - v])  # 27 <-> 28
    twin = eth_keys.Signature(malleated[:64] + bytes([malleated[64] - 27]))
    signed = task.performer_hash(net4.center.address, CHAIN_ID)
    assert twin.recover_public_key_from_msg_hash(signed).to_checksum_address() == performer.address
    with reverts_with(net4.center.InvalidPerformerSignature, performer.address, ZERO_ADDRESS):
        submit(net4, task, net4.submission(task, tp_signature=malleated), performer)


# --- operator sets -----------------------------------------------------------------------------------


@pytest.fixture
def restricted(net4):
    """A definition open to operators 1-3 only; operator 4 is the outsider."""
    ops = net4.operators
    params = dataclasses.replace(
        DEFINITION_0, name="members only", restricted_attester_ids=(ops[0].id, ops[1].id, ops[2].id)
    )
    definition_id = net4.create_definition(params)
    return definition_id, int(net4.center.getTaskDefinition(definition_id).operatorSetId)


def test_an_outsider_cannot_be_listed_as_a_non_signer_of_a_restricted_definition(net4, restricted, reverts_with):
    definition_id, set_id = restricted
    ops = net4.operators
    task = net4.task(ops[0], definition_id=definition_id)
    submission = dataclasses.replace(net4.submission(task, signers=ops[:3]), non_signer_ids=(ops[3].id,))
    with reverts_with(net4.center.NonSignerNotInSet, ops[3].id, set_id):
        submit(net4, task, submission, ops[0])


def test_an_outsider_signature_in_the_aggregate_breaks_verification(net4, restricted, reverts_with):
    definition_id, _ = restricted
    ops = net4.operators
    task = net4.task(ops[0], definition_id=definition_id)
    members_only = net4.submission(task, signers=ops[:3])
    assert members_only.non_signer_ids == ()
    with_outsider = dataclasses.replace(
        members_only,
        ta_signature=vote_signature(task, ops, net4.center.address),
        signers_apk_g2=g2_of(ops),
    )
    with reverts_with(net4.center.InvalidAggregateSignature):
        submit(net4, task, with_outsider, ops[0])
    # Nor can the outsider stand in for a member who did not sign (a rejection: two of three suffice).
    stand_in = dataclasses.replace(
        net4.submission(task, signers=ops[:2], approve=False),
        ta_signature=vote_signature(task, [ops[0], ops[1], ops[3]], net4.center.address, approve=False),
        signers_apk_g2=g2_of([ops[0], ops[1], ops[3]]),
    )
    assert stand_in.non_signer_ids == (ops[2].id,)
    with reverts_with(net4.center.InvalidAggregateSignature):
        submit(net4, task, stand_in, ops[0])
    submit(net4, task, members_only, ops[3])  # the outsider may still aggregate the members' votes
