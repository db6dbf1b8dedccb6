"""othentic_offchain.crypto.ecdsa: the performer's raw ECDSA signature, over the domain-bound digest or
the bare taskHash."""

from __future__ import annotations

import pytest
from eth_account import Account
from eth_keys import keys
from eth_utils import keccak

from othentic_offchain.crypto import (
    InvalidTaskSignature,
    WrongTaskSigner,
    check_performer_signature,
    performer_hash,
    recover_task_signer,
    sign_task_hash,
    task_hash,
)

# Anvil's first two test accounts.
PRIVATE_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
OTHER_KEY = "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d"
ADDRESS = Account.from_key(PRIVATE_KEY).address
DIGEST = task_hash("QmProof", b"\x01", ADDRESS, 1)
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


@pytest.fixture(scope="module")
def signature() -> bytes:
    return sign_task_hash(PRIVATE_KEY, DIGEST)


def test_signature_is_65_bytes_with_v_27_or_28(signature):
    assert len(signature) == 65
    assert signature[64] in (27, 28)


def test_recovers_the_eth_account_address(signature):
    assert recover_task_signer(DIGEST, signature) == ADDRESS == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"


def test_private_key_as_bytes_signs_the_same(signature):
    assert sign_task_hash(bytes.fromhex(PRIVATE_KEY[2:]), DIGEST) == signature


def test_signature_is_over_the_raw_digest_without_eip191_prefix(signature):
    raw = keys.PrivateKey(bytes.fromhex(PRIVATE_KEY[2:])).sign_msg_hash(DIGEST)
    assert signature[:64] == raw.to_bytes()[:64]
    assert signature[64] == raw.v + 27


@pytest.mark.parametrize("offset", [0, 27])
def test_v_as_0_1_and_as_27_28_both_recover(signature, offset):
    v01 = signature[64] - 27
    assert recover_task_signer(DIGEST, signature[:64] + bytes([v01 + offset])) == ADDRESS


def test_other_key_recovers_another_address():
    other = sign_task_hash(OTHER_KEY, DIGEST)
    assert recover_task_signer(DIGEST, other) == Account.from_key(OTHER_KEY).address != ADDRESS


def test_wrong_digest_recovers_another_address(signature):
    assert recover_task_signer(keccak(b"other task"), signature) != ADDRESS


def test_flipped_v_recovers_another_address(signature):
    flipped = signature[:64] + bytes([55 - signature[64]])  # 27 <-> 28
    assert recover_task_signer(DIGEST, flipped) != ADDRESS


@pytest.mark.parametrize("length", [0, 64, 66, 130])
def test_wrong_signature_length_is_rejected(signature, length):
    malformed = (signature * 3)[:length]
    with pytest.raises(InvalidTaskSignature, match="65 bytes"):
        recover_task_signer(DIGEST, malformed)


@pytest.mark.parametrize("v", [2, 3, 26, 29, 30, 255])
def test_bad_v_is_rejected(signature, v):
    with pytest.raises(InvalidTaskSignature, match="recovery id"):
        recover_task_signer(DIGEST, signature[:64] + bytes([v]))


@pytest.mark.parametrize(
    "r, s",
    [(0, 1), (1, 0), (SECP256K1_N, 1), (1, SECP256K1_N), (2**256 - 1, 2**256 - 1)],
    ids=["r=0", "s=0", "r=n", "s=n", "all-ones"],
)
def test_signatures_that_do_not_recover_are_rejected(r, s):
    with pytest.raises(InvalidTaskSignature):
        recover_task_signer(DIGEST, r.to_bytes(32, "big") + s.to_bytes(32, "big") + b"\x1b")


@pytest.mark.parametrize("digest", [b"", b"\x01" * 31, b"\x01" * 33])
def test_digests_that_are_not_32_bytes_are_rejected(signature, digest):
    with pytest.raises(ValueError, match="32 bytes"):
        sign_task_hash(PRIVATE_KEY, digest)
    with pytest.raises(ValueError, match="32 bytes"):
        recover_task_signer(digest, signature)


def test_invalid_task_signature_is_a_value_error():
    assert issubclass(InvalidTaskSignature, ValueError)


def high_s_twin(signature: bytes) -> bytes:
    """The same signature with s' = n - s and v flipped: valid ECDSA, refused on-chain (EIP-2)."""
    s = int.from_bytes(signature[32:64], "big")
    return signature[:32] + (SECP256K1_N - s).to_bytes(32, "big") + bytes([55 - signature[64]])


def test_high_s_signature_is_refused_although_it_recovers(signature):
    twin = high_s_twin(signature)
    public_key = keys.Signature(twin[:64] + bytes([twin[64] - 27])).recover_public_key_from_msg_hash(DIGEST)
    assert public_key.to_checksum_address() == ADDRESS  # valid ECDSA: only the EIP-2 rule refuses it
    with pytest.raises(InvalidTaskSignature, match=r"high s \(s > secp256k1n/2\)"):
        recover_task_signer(DIGEST, twin)
    assert recover_task_signer(DIGEST, signature) == ADDRESS


# --- check_performer_signature: the bound digest or the bare taskHash ------------------------------

CENTER = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
CHAIN_ID = 31337


def test_a_signature_over_the_bound_digest_checks_as_bound():
    bound = sign_task_hash(PRIVATE_KEY, performer_hash(DIGEST, CENTER, CHAIN_ID))
    assert check_performer_signature(DIGEST, bound, ADDRESS, CENTER, CHAIN_ID) is True


def test_a_signature_over_the_bare_task_hash_checks_as_not_bound(signature):
    assert check_performer_signature(DIGEST, signature, ADDRESS.lower(), CENTER, CHAIN_ID) is False


@pytest.mark.parametrize(
    "center, chain_id", [("0x" + "42" * 20, CHAIN_ID), (CENTER, 1)], ids=["another center", "another chain"]
)
def test_a_signature_bound_elsewhere_is_refused_naming_both_recoveries(center, chain_id):
    elsewhere = sign_task_hash(PRIVATE_KEY, performer_hash(DIGEST, center, chain_id))
    with pytest.raises(WrongTaskSigner) as refused:
        check_performer_signature(DIGEST, elsewhere, ADDRESS, CENTER, CHAIN_ID)
    error = refused.value
    assert error.performer == ADDRESS
    assert error.recovered == recover_task_signer(performer_hash(DIGEST, CENTER, CHAIN_ID), elsewhere)
    assert error.recovered_bare == recover_task_signer(DIGEST, elsewhere)
    assert ADDRESS not in (error.recovered, error.recovered_bare)
    assert "domain-bound" in str(error) and isinstance(error, InvalidTaskSignature)


def test_another_keys_bound_signature_is_refused_naming_that_key():
    other = sign_task_hash(OTHER_KEY, performer_hash(DIGEST, CENTER, CHAIN_ID))
    with pytest.raises(WrongTaskSigner) as refused:
        check_performer_signature(DIGEST, other, ADDRESS, CENTER, CHAIN_ID)
    assert refused.value.recovered == Account.from_key(OTHER_KEY).address


def test_a_malformed_signature_is_refused_before_any_recovery(signature):
    with pytest.raises(InvalidTaskSignature, match="65 bytes"):
        check_performer_signature(DIGEST, signature[:64], ADDRESS, CENTER, CHAIN_ID)
