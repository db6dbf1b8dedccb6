"""othentic_offchain.crypto.hashes: taskHash, voteHash, the proof-of-possession and round digests, gamma.

Fixed values are in the shared vectors (test_vectors.py); these tests check the definitions and
what each digest is bound to.
"""

from __future__ import annotations

import pytest
from eth_abi import encode
from eth_utils import keccak, to_canonical_address
from hypothesis import given
from hypothesis import strategies as st

from othentic_offchain.crypto import (
    G1Point,
    G2Point,
    gamma,
    hash_to_g1,
    performer_hash,
    pop_hash,
    round_hash,
    task_hash,
    vote_hash,
)
from othentic_offchain.crypto.bn254 import R
from othentic_offchain.crypto.hashes import PERFORMER_DOMAIN, POP_DOMAIN, ROUND_DOMAIN, encode_task, encode_vote

PERFORMER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
CENTER = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
TASK = ("QmProof", b"\x01\x02", PERFORMER, 3)
VOTE = (*TASK, CENTER, 31337, True)


def test_task_hash_is_keccak_of_the_abi_encoding():
    expected = encode(["string", "bytes", "address", "uint16"], ["QmProof", b"\x01\x02", PERFORMER, 3])
    assert encode_task(*TASK) == expected
    assert task_hash(*TASK) == keccak(expected)


def test_vote_hash_is_keccak_of_the_abi_encoding():
    expected = encode(
        ["string", "bytes", "address", "uint16", "address", "uint256", "bool"],
        ["QmProof", b"\x01\x02", PERFORMER, 3, CENTER, 31337, True],
    )
    assert encode_vote(*VOTE) == expected
    assert vote_hash(*VOTE) == keccak(expected)


@pytest.mark.parametrize(
    "index, other",
    [(0, "QmOther"), (1, b"\x01\x03"), (2, CENTER), (3, 4)],
    ids=["proofOfTask", "data", "performer", "taskDefinitionId"],
)
def test_task_hash_depends_on_every_field(index, other):
    changed = list(TASK)
    changed[index] = other
    assert task_hash(*changed) != task_hash(*TASK)


@pytest.mark.parametrize(
    "index, other",
    [(0, "QmOther"), (1, b""), (2, CENTER), (3, 0), (4, PERFORMER), (5, 1), (6, False)],
    ids=["proofOfTask", "data", "performer", "taskDefinitionId", "attestationCenter", "chainId", "isApproved"],
)
def test_vote_hash_depends_on_every_field(index, other):
    changed = list(VOTE)
    changed[index] = other
    assert vote_hash(*changed) != vote_hash(*VOTE)


def test_vote_hash_is_never_the_task_hash():
    assert vote_hash(*VOTE) != task_hash(*TASK)


@pytest.mark.parametrize("performer", [PERFORMER, PERFORMER.lower(), to_canonical_address(PERFORMER)])
def test_address_spellings_give_the_same_hash(performer):
    assert task_hash("QmProof", b"\x01\x02", performer, 3) == task_hash(*TASK)


@pytest.mark.parametrize("performer", ["0x1234", "not an address", b"\x00" * 19])
def test_malformed_addresses_are_rejected(performer):
    with pytest.raises((ValueError, TypeError)):
        task_hash("QmProof", b"", performer, 3)


@pytest.mark.parametrize("task_definition_id", [-1, 2**16, 2**32])
def test_task_definition_id_must_fit_uint16(task_definition_id):
    with pytest.raises(ValueError, match="uint16"):
        task_hash("QmProof", b"", PERFORMER, task_definition_id)
    with pytest.raises(ValueError, match="uint16"):
        vote_hash("QmProof", b"", PERFORMER, task_definition_id, CENTER, 1, True)


@pytest.mark.parametrize("task_definition_id", [0, 2**16 - 1])
def test_task_definition_id_bounds_are_accepted(task_definition_id):
    assert len(task_hash("QmProof", b"", PERFORMER, task_definition_id)) == 32


# --- the domain-bound performer digest --------------------------------------------------------

BOUND = (task_hash(*TASK), CENTER, 31337)


def test_performer_domain_is_the_keccak_of_its_tag():
    assert PERFORMER_DOMAIN == keccak(b"othentic-py.ecdsa.performer-task.v1")


def test_performer_hash_encodes_the_domain_chain_center_and_task_hash():
    expected = keccak(
        encode(["bytes32", "uint256", "address", "bytes32"], [PERFORMER_DOMAIN, 31337, CENTER, task_hash(*TASK)])
    )
    assert performer_hash(*BOUND) == expected


@pytest.mark.parametrize(
    "index, other",
    [(0, b"\x00" * 32), (1, PERFORMER), (2, 1)],
    ids=["taskHash", "attestationCenter", "chainId"],
)
def test_performer_hash_depends_on_every_field(index, other):
    changed = list(BOUND)
    changed[index] = other
    assert performer_hash(*changed) != performer_hash(*BOUND)


@given(task=st.binary(min_size=32, max_size=32), chain_id=st.integers(0, 2**256 - 1))
def test_performer_hash_is_never_its_task_hash_nor_a_vote_hash(task, chain_id):
    bound = performer_hash(task, CENTER, chain_id)
    assert bound != task
    assert bound not in (vote_hash(*VOTE), task_hash(*TASK))


@pytest.mark.parametrize("digest", [b"", b"\x01" * 31, b"\x01" * 33])
def test_performer_hash_takes_a_32_byte_task_hash_only(digest):
    with pytest.raises(ValueError, match="32 bytes"):
        performer_hash(digest, CENTER, 1)


# --- proof of possession ----------------------------------------------------------------------

G1 = G1Point.generator()
G2 = G2Point.generator()
POP = ("0x" + "01" * 20, "0x" + "02" * 20, 31337, G1, G2)


def test_pop_domain_is_the_keccak_of_its_tag():
    assert POP_DOMAIN == keccak(b"othentic-py.bls.proof-of-possession.v1")


def test_pop_hash_encodes_the_domain_operator_registry_chain_and_both_keys():
    expected = keccak(
        encode(
            ["bytes32", "address", "address", "uint256", "uint256[2]", "uint256[4]"],
            [POP_DOMAIN, "0x" + "01" * 20, "0x" + "02" * 20, 31337, [1, 2], list(G2.words())],
        )
    )
    assert pop_hash(*POP) == expected


@pytest.mark.parametrize(
    "index, other",
    [(0, "0x" + "03" * 20), (1, "0x" + "03" * 20), (2, 1), (3, G1 + G1), (4, G2 + G2)],
    ids=["operator", "registry", "chainId", "pkG1", "pkG2"],
)
def test_pop_hash_depends_on_every_field(index, other):
    changed = list(POP)
    changed[index] = other
    assert pop_hash(*changed) != pop_hash(*POP)


# --- gamma ------------------------------------------------------------------------------------


def test_gamma_is_keccak_of_the_packed_words_mod_r():
    h = hash_to_g1(bytes(32))
    sigma = G1 + G1
    words = [h.x, h.y, 1, 2, *G2.words(), sigma.x, sigma.y]
    packed = b"".join(w.to_bytes(32, "big") for w in words)
    assert gamma(h, G1, G2, sigma) == int.from_bytes(keccak(packed), "big") % R


def test_gamma_uses_the_precompile_order_of_g2():
    h = hash_to_g1(bytes(32))
    swapped = G2Point(x_real=G2.x_imag, x_imag=G2.x_real, y_real=G2.y_imag, y_imag=G2.y_real)
    assert gamma(h, G1, G2, G1) != gamma(h, G1, swapped, G1)


@pytest.mark.parametrize("position", range(4))
def test_gamma_depends_on_every_input(position):
    inputs = [hash_to_g1(bytes(32)), G1, G2, G1 + G1]
    base = gamma(*inputs)
    inputs[position] = inputs[position] + inputs[position]
    assert gamma(*inputs) != base
    assert 0 <= base < R


def test_round_hash_encodes_its_domain_the_center_the_chain_the_definition_and_the_block():
    assert ROUND_DOMAIN == keccak(b"othentic-py.bls.performer-round.v1") != POP_DOMAIN
    expected = encode(["bytes32", "address", "uint256", "uint16", "uint64"], [ROUND_DOMAIN, CENTER, 31337, 2, 40])
    assert round_hash(CENTER, 31337, 2, 40) == keccak(expected)


@pytest.mark.parametrize("index, other", [(0, PERFORMER), (1, 1), (2, 3), (3, 41)])
def test_round_hash_depends_on_every_field(index, other):
    fields = [CENTER, 31337, 2, 40]
    changed = list(fields)
    changed[index] = other
    assert round_hash(*changed) != round_hash(*fields)


def test_round_hash_refuses_a_definition_beyond_uint16():
    with pytest.raises(ValueError, match="uint16"):
        round_hash(CENTER, 31337, 2**16, 40)
