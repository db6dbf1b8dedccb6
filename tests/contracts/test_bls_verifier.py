"""contracts/BLSVerifier.sol (BN254 + ProtocolHashes behind external functions), on anvil;
plus one test on eth-tester (py-evm) to show the contract and the Python signatures agree there too.
"""

from __future__ import annotations

import ape
from eth_utils import keccak
from hypothesis import given, settings
from hypothesis import strategies as st

from othentic_offchain.crypto import (
    G1Point,
    G2Point,
    PublicKey,
    aggregate_g1,
    aggregate_g2,
    aggregate_signatures,
    hash_to_g1,
    performer_hash,
    verify_aggregate,
)
from othentic_offchain.crypto.bn254 import P

ANVIL_CHAIN_ID = 31337
OFF_CURVE = G1Point(1, 3)
INFINITY_G2 = ((0, 0), (0, 0))


def _args(digest, apk_g1: G1Point, apk_g2: G2Point, sigma: G1Point):
    """verifyAggregate's arguments: the structs as ABI tuples, G2 in precompile order."""
    return (digest, apk_g1.words(), apk_g2.solidity(), sigma.words())


def _vector_args(vectors, digest: str, apk_g1: list, apk_g2: list, sigma: list) -> tuple:
    """The same from the vectors' hex words."""
    return _args(digest, vectors.g1(apk_g1), vectors.g2(apk_g2), vectors.g1(sigma))


def _unswapped(point: G2Point) -> tuple:
    return ((point.x_real, point.x_imag), (point.y_real, point.y_imag))


def _aggregate(keypairs, signers, digest):
    return (
        aggregate_g1(keypairs[i].public.g1 for i in signers),
        aggregate_g2(keypairs[i].public.g2 for i in signers),
        aggregate_signatures(keypairs[i].sign(digest) for i in signers),
    )


@ape.fixture(scope="module", chain_isolation=False)
def vote(keypairs):
    """A fresh (not a vector) aggregate of three pool keys over one vote digest."""
    digest = keccak(b"test_bls_verifier vote")
    return (digest, *_aggregate(keypairs, [0, 1, 2], digest))


# --- digests against the vectors ----------------------------------------------------------------


def test_hashToG1_matches_every_message_vector(verifier, vectors):
    for message in vectors["messages"]:
        assert G1Point(*verifier.hashToG1(message["digest"])) == vectors.g1(message["hash_to_g1"])


def test_taskHash_matches_every_vector(verifier, vectors):
    for case in vectors["task_hashes"]:
        task = (case["proof_of_task"], case["data"], case["performer"], case["task_definition_id"])
        assert "0x" + bytes(verifier.taskHash(task)).hex() == case["task_hash"], case


def test_voteHash_matches_every_vector(verifier, vectors):
    for case in vectors["vote_hashes"]:
        task = (case["proof_of_task"], case["data"], case["performer"], case["task_definition_id"])
        result = verifier.voteHash(task, case["attestation_center"], case["chain_id"], case["is_approved"])
        assert "0x" + bytes(result).hex() == case["vote_hash"], case


@settings(max_examples=25, deadline=None)
@given(
    task_hash=st.binary(min_size=32, max_size=32),
    center=st.binary(min_size=20, max_size=20),
    chain_id=st.integers(0, 2**256 - 1),
)
def test_performerHash_agrees_with_python(verifier, task_hash, center, chain_id):
    center_address = "0x" + center.hex()
    expected = performer_hash(task_hash, center_address, chain_id)
    assert bytes(verifier.performerHash(task_hash, center_address, chain_id)) == expected


def test_popHash_matches_every_vector(verifier, vectors):
    for case in vectors["proofs_of_possession"]:
        result = verifier.popHash(
            case["operator"], case["registry"], case["chain_id"],
            vectors.g1(case["pk_g1"]).words(), vectors.g2(case["pk_g2"]).solidity(),
        )
        assert "0x" + bytes(result).hex() == case["pop_hash"], case


# --- verifyAggregate against the vectors -------------------------------------------------------


def test_verifyAggregate_accepts_every_signature_vector(verifier, vectors):
    for entry in vectors["signatures"]:
        key = vectors["keys"][entry["key"]]
        digest = vectors["messages"][entry["message"]]["digest"]
        args = _vector_args(vectors, digest, key["pk_g1"], key["pk_g2"], entry["signature"])
        assert verifier.verifyAggregate(*args) is True, entry


def test_verifyAggregate_accepts_every_aggregate_vector(verifier, vectors):
    for entry in vectors["aggregates"]:
        digest = vectors["messages"][entry["message"]]["digest"]
        args = _vector_args(vectors, digest, entry["apk_g1"], entry["apk_g2"], entry["signature"])
        assert verifier.verifyAggregate(*args) is True, entry["signers"]


def test_verifyAggregate_accepts_every_proof_of_possession_over_its_pop_hash(verifier, vectors):
    # Whatever the chain of the vector: verifyAggregate takes the digest as given.
    for case in vectors["proofs_of_possession"]:
        args = _vector_args(vectors, case["pop_hash"], case["pk_g1"], case["pk_g2"], case["signature"])
        assert verifier.verifyAggregate(*args) is True, case


def test_verifyAggregate_fails_every_invalid_vector_as_labelled(verifier, vectors, reverts_with):
    for case in vectors["invalid_aggregates"]:
        args = _vector_args(vectors, case["digest"], case["apk_g1"], case["apk_g2"], case["signature"])
        if case["evm"] == "false":
            assert verifier.verifyAggregate(*args) is False, case["name"]
        else:
            with reverts_with(getattr(verifier, case["evm"])):
                verifier.verifyAggregate(*args, skip_trace=True)


# --- verifyPossession (uses block.chainid: 31337 on anvil) --------------------------------------


def test_verifyPossession_accepts_the_vectors_for_this_chain(verifier, vectors, chain):
    assert chain.chain_id == ANVIL_CHAIN_ID
    cases = [c for c in vectors["proofs_of_possession"] if c["chain_id"] == ANVIL_CHAIN_ID]
    assert len(cases) >= 4
    for case in cases:
        args = _vector_args(vectors, "", case["pk_g1"], case["pk_g2"], case["signature"])[1:]
        assert verifier.verifyPossession(case["operator"], case["registry"], *args) is True, case


def test_verifyPossession_rejects_a_proof_made_for_another_chain(verifier, vectors):
    case = next(c for c in vectors["proofs_of_possession"] if c["chain_id"] != ANVIL_CHAIN_ID)
    args = _vector_args(vectors, "", case["pk_g1"], case["pk_g2"], case["signature"])[1:]
    assert verifier.verifyPossession(case["operator"], case["registry"], *args) is False


def test_verifyPossession_rejects_another_operator_or_registry(verifier, keypairs, accounts):
    keys = keypairs[3]
    operator, registry, stranger = accounts[1].address, accounts[2].address, accounts[3].address
    proof = keys.proof_of_possession(operator, registry, ANVIL_CHAIN_ID)
    pk = (keys.public.g1.words(), keys.public.g2.solidity())
    assert verifier.verifyPossession(operator, registry, *pk, proof.words()) is True
    assert verifier.verifyPossession(stranger, registry, *pk, proof.words()) is False
    assert verifier.verifyPossession(operator, stranger, *pk, proof.words()) is False


def test_verifyPossession_rejects_a_proof_for_another_key(verifier, keypairs, accounts):
    operator, registry = accounts[1].address, accounts[2].address
    proof = keypairs[3].proof_of_possession(operator, registry, ANVIL_CHAIN_ID)
    other = (keypairs[4].public.g1.words(), keypairs[4].public.g2.solidity())
    assert verifier.verifyPossession(operator, registry, *other, proof.words()) is False


def test_verifyPossession_rejects_a_vote_signature(verifier, vote, keypairs, accounts):
    keys = keypairs[0]
    sig = keys.sign(vote[0])
    args = (keys.public.g1.words(), keys.public.g2.solidity(), sig.words())
    assert verifier.verifyPossession(accounts[1].address, accounts[2].address, *args) is False


# --- fresh Python signatures -------------------------------------------------------------------


def test_verifyAggregate_accepts_a_fresh_python_aggregate(verifier, vote):
    assert verifier.verifyAggregate(*_args(*vote)) is True


def test_verifyAggregate_accepts_each_fresh_single_signature(verifier, keypairs, vote):
    digest = vote[0]
    for keys in keypairs[:3]:
        assert verifier.verifyAggregate(*_args(digest, keys.public.g1, keys.public.g2, keys.sign(digest))) is True


def test_verifyAggregate_rejects_a_wrong_message(verifier, vote):
    _, apk_g1, apk_g2, sigma = vote
    assert verifier.verifyAggregate(*_args(keccak(b"another vote"), apk_g1, apk_g2, sigma)) is False


def test_verifyAggregate_rejects_signature_by_other_key(verifier, keypairs, vote):
    digest = vote[0]
    sig = keypairs[0].sign(digest)
    other = keypairs[5].public
    assert verifier.verifyAggregate(*_args(digest, other.g1, other.g2, sig)) is False


def test_verifyAggregate_rejects_a_wrong_signer_set(verifier, keypairs, vote):
    digest, apk_g1, apk_g2, _ = vote
    _, _, sigma_two = _aggregate(keypairs, [0, 1], digest)
    assert verifier.verifyAggregate(*_args(digest, apk_g1, apk_g2, sigma_two)) is False
    g1_four, g2_four, _ = _aggregate(keypairs, [0, 1, 2, 3], digest)
    assert verifier.verifyAggregate(*_args(digest, g1_four, g2_four, vote[3])) is False


def test_verifyAggregate_rejects_g2_aggregate_of_another_signer_set(verifier, keypairs, vote):
    digest, apk_g1, apk_g2, sigma = vote
    other_g2 = aggregate_g2(keypairs[i].public.g2 for i in (0, 1, 3))
    other_g1 = aggregate_g1(keypairs[i].public.g1 for i in (0, 1, 3))
    assert verifier.verifyAggregate(*_args(digest, apk_g1, other_g2, sigma)) is False
    assert verifier.verifyAggregate(*_args(digest, other_g1, apk_g2, sigma)) is False


_subsets = st.lists(st.integers(0, 7), min_size=1, max_size=8, unique=True)  # of the 8-key pool


@settings(max_examples=12, deadline=None)
@given(signers=_subsets, data=st.data())
def test_verifyAggregate_agrees_with_python(verifier, keypairs, precompile_backend, signers, data):
    # Signatures of ``signers`` against the keys of ``keys_of``: the same set half of the time.
    keys_of = data.draw(st.one_of(st.just(signers), _subsets), label="keys_of")
    digest = data.draw(st.binary(min_size=32, max_size=32), label="digest")
    apk_g1, apk_g2, _ = _aggregate(keypairs, keys_of, digest)
    sigma = aggregate_signatures(keypairs[i].sign(digest) for i in signers)
    expected = set(signers) == set(keys_of)
    assert verify_aggregate(apk_g1, apk_g2, digest, sigma, precompile_backend) is expected
    assert verifier.verifyAggregate(*_args(digest, apk_g1, apk_g2, sigma)) is expected


# --- malformed input ---------------------------------------------------------------------------


def test_verifyAggregate_reverts_EcAddFailed_when_sigma_is_off_the_curve(verifier, vote, reverts_with):
    digest, apk_g1, apk_g2, _ = vote
    with reverts_with(verifier.EcAddFailed):
        verifier.verifyAggregate(*_args(digest, apk_g1, apk_g2, OFF_CURVE), skip_trace=True)


def test_verifyAggregate_reverts_EcMulFailed_when_the_g1_key_is_off_the_curve(verifier, vote, reverts_with):
    digest, _, apk_g2, sigma = vote
    with reverts_with(verifier.EcMulFailed):
        verifier.verifyAggregate(*_args(digest, OFF_CURVE, apk_g2, sigma), skip_trace=True)


def test_verifyAggregate_reverts_PairingFailed_on_unswapped_g2_key(verifier, vote, reverts_with):
    digest, apk_g1, apk_g2, sigma = vote
    with reverts_with(verifier.PairingFailed):
        verifier.verifyAggregate(digest, apk_g1.words(), _unswapped(apk_g2), sigma.words(), skip_trace=True)


def test_verifyAggregate_reverts_on_coordinates_not_below_p(verifier, vote, reverts_with):
    digest, apk_g1, apk_g2, sigma = vote
    with reverts_with(verifier.EcAddFailed):
        verifier.verifyAggregate(*_args(digest, apk_g1, apk_g2, G1Point(sigma.x, sigma.y + P)), skip_trace=True)
    with reverts_with(verifier.EcMulFailed):
        verifier.verifyAggregate(*_args(digest, G1Point(apk_g1.x + P, apk_g1.y), apk_g2, sigma), skip_trace=True)
    big_g2 = G2Point(apk_g2.x_real, apk_g2.x_imag, apk_g2.y_real + P, apk_g2.y_imag)
    with reverts_with(verifier.PairingFailed):
        verifier.verifyAggregate(*_args(digest, apk_g1, big_g2, sigma), skip_trace=True)


def test_verifyAggregate_returns_false_for_infinity_points(verifier, vote):
    digest, apk_g1, apk_g2, sigma = vote
    assert verifier.verifyAggregate(digest, apk_g1.words(), apk_g2.solidity(), (0, 0)) is False
    assert verifier.verifyAggregate(digest, (0, 0), apk_g2.solidity(), sigma.words()) is False
    assert verifier.verifyAggregate(digest, apk_g1.words(), INFINITY_G2, sigma.words()) is False
    assert verifier.verifyAggregate(digest, (0, 0), INFINITY_G2, (0, 0)) is False


# --- gas -------------------------------------------------------------------------------------

# Whole-transaction gas estimate (eth_estimateGas: 21,000 base + calldata + execution; anvil 1.7.1,
# evm_version prague) of verifyAggregate for a valid single-key signature, by the number of
# try-and-increment steps of hash-to-G1 (one more modexp each). Measured with the vector keys:
#   0 steps: 160,045 / 160,057     1 step: 161,431 / 161,815     6 steps: 170,605
# i.e. ~160,050 + 1,758 per step. Gas *used* is 1,615 lower (158,442 at 0 steps): the estimate
# includes gas that must be available to the precompile calls under the 63/64 rule but is returned.
# Breakdown of the 158,442: pairing 113,000 + two ecMul 12,000 + two ecAdd 300 + one modexp 1,338
# + 21,000 base + 4,660 calldata (292 bytes) + ~6,150 Solidity (ABI decoding, copies, keccak).
# So a valid verification does NOT fit under 160,000 gas, the ceiling first asked for; the ceiling
# below is pinned a little above the measurement to catch regressions.
GAS_CEILING_AT_ZERO_STEPS = 160_600
GAS_CEILING_PER_STEP = 1_800


def test_verifyAggregate_gas_estimate_stays_under_the_pinned_ceiling(verifier, vectors, accounts):
    measured = []
    for entry in vectors["signatures"]:
        if entry["key"] != 0:
            continue
        message = vectors["messages"][entry["message"]]
        key = vectors["keys"][0]
        args = _vector_args(vectors, message["digest"], key["pk_g1"], key["pk_g2"], entry["signature"])
        gas = verifier.verifyAggregate.estimate_gas_cost(*args, sender=accounts[0])
        steps = message["increments"]
        measured.append((steps, gas))
        assert gas <= GAS_CEILING_AT_ZERO_STEPS + GAS_CEILING_PER_STEP * steps, (steps, gas)
    assert {steps for steps, _ in measured} >= {0, 1, 6}


# --- eth-tester (py-evm) -----------------------------------------------------------------------


def test_verifyAggregate_on_eth_tester_accepts_a_python_signature_and_rejects_a_bad_one(project, keypairs):
    """The same contract on py-evm through web3.py alone (~1 s per verification there)."""
    from web3 import EthereumTesterProvider, Web3

    w3 = Web3(EthereumTesterProvider())
    contract_type = project.BLSVerifier.contract_type
    abi = [entry.model_dump(mode="json", by_alias=True, exclude_none=True) for entry in contract_type.abi]
    factory = w3.eth.contract(abi=abi, bytecode=contract_type.deployment_bytecode.bytecode)
    receipt = w3.eth.wait_for_transaction_receipt(factory.constructor().transact({"from": w3.eth.accounts[0]}))
    verifier = w3.eth.contract(address=receipt.contractAddress, abi=abi)

    keys = keypairs[0]
    digest = keccak(b"eth-tester vote")
    sig = keys.sign(digest)
    assert hash_to_g1(digest) == G1Point(*verifier.functions.hashToG1(digest).call())
    pk = PublicKey(keys.public.g1, keys.public.g2)
    assert verifier.functions.verifyAggregate(*_args(digest, pk.g1, pk.g2, sig)).call() is True
    assert verifier.functions.verifyAggregate(*_args(keccak(b"other vote"), pk.g1, pk.g2, sig)).call() is False
