"""CIDs of proofs: known answers from real IPFS tools, and the properties verification rests on."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from multiformats import CID, multihash

from othentic_offchain.proofs import (
    CHUNK_SIZE,
    CidMismatch,
    InvalidCid,
    ProofError,
    ProofTooLarge,
    UnsupportedCid,
    compute_cid,
    compute_cid_v0,
    parse_cid,
    unixfs_file_node,
    verify_cid,
)

HELLO = b"hello world\n"
HELLO_V0 = "QmT78zSuBmuS4z925WZfrqQ1qHaJ56DQaTfyMUF7F8ff5o"
HELLO_V1_RAW = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"
EMPTY_V0 = "QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH"
# sha2-256 of nothing (e3b0c442...) as a raw CIDv1
EMPTY_V1_RAW = "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"


# --- known answers ------------------------------------------------------------------------------


def test_empty_file_has_the_cidv0_that_ipfs_add_prints():
    assert compute_cid_v0(b"") == EMPTY_V0


def test_hello_world_has_the_cidv0_that_ipfs_add_prints():
    assert compute_cid_v0(HELLO) == HELLO_V0


def test_hello_world_has_the_raw_cidv1_that_ipfs_add_raw_leaves_prints():
    assert compute_cid(HELLO) == HELLO_V1_RAW


def test_empty_file_has_the_raw_cidv1_of_the_empty_sha256():
    assert compute_cid(b"") == EMPTY_V1_RAW


def test_unixfs_node_is_the_byte_encoding_go_ipfs_writes():
    # PBNode.Data(1) { Type(1)=File(2), Data(2)=content, filesize(3)=12 }
    inner = b"\x08\x02" + b"\x12\x0c" + HELLO + b"\x18\x0c"
    assert unixfs_file_node(HELLO) == b"\x0a" + bytes([len(inner)]) + inner
    assert unixfs_file_node(b"") == b"\x0a\x04\x08\x02\x18\x00"


def test_unixfs_node_uses_multibyte_varints_for_lengths_over_127():
    content = b"a" * 300
    node = unixfs_file_node(content)
    # inner message: 2 (Type) + 1 + 2 + 300 (Data) + 1 + 2 (filesize) = 308 bytes, varint b4 02
    assert node[:3] == b"\x0a\xb4\x02"
    assert len(node) == 3 + 308
    assert b"\x12\xac\x02" + content + b"\x18\xac\x02" in node


def test_known_cids_verify_against_their_content():
    for cid, content in [(HELLO_V0, HELLO), (HELLO_V1_RAW, HELLO), (EMPTY_V0, b""), (EMPTY_V1_RAW, b"")]:
        verify_cid(cid, content)


# --- size limit -----------------------------------------------------------------------------------


def test_compute_cid_refuses_content_over_one_chunk_by_default():
    with pytest.raises(ProofTooLarge) as info:
        compute_cid(b"\0" * (CHUNK_SIZE + 1))
    assert info.value.size == CHUNK_SIZE + 1 and info.value.limit == CHUNK_SIZE
    assert str(CHUNK_SIZE) in str(info.value)
    with pytest.raises(ProofTooLarge):
        compute_cid_v0(b"\0" * (CHUNK_SIZE + 1))


def test_content_of_exactly_one_chunk_gets_both_cids_that_verify():
    content = bytes(range(256)) * (CHUNK_SIZE // 256)
    assert len(content) == CHUNK_SIZE
    verify_cid(compute_cid(content), content)
    verify_cid(compute_cid_v0(content), content)


def test_compute_cid_without_limit_names_large_content_by_its_hash():
    content = b"\1" * (CHUNK_SIZE + 10)
    cid = compute_cid(content, max_size=None)
    assert parse_cid(cid).raw_digest == hashlib.sha256(content).digest()
    verify_cid(cid, content)


# --- other spellings of the same CID -----------------------------------------------------------


def test_dag_pb_cidv1_spelling_of_a_cidv0_verifies():
    as_v1 = str(parse_cid(HELLO_V0).set(version=1, base="base32"))
    assert as_v1.startswith("bafybei")
    verify_cid(as_v1, HELLO)


@pytest.mark.parametrize("base", ["base58btc", "base16", "base32upper", "base36"])
def test_raw_cid_in_any_multibase_verifies(base):
    spelled = str(parse_cid(HELLO_V1_RAW).set(base=base))
    assert spelled != HELLO_V1_RAW
    verify_cid(spelled, HELLO)


# --- what is refused ----------------------------------------------------------------------------


def test_other_codec_is_unsupported_and_says_what_is():
    dag_cbor = str(CID("base32", 1, "dag-cbor", multihash.digest(HELLO, "sha2-256")))
    with pytest.raises(UnsupportedCid, match="dag-cbor") as info:
        verify_cid(dag_cbor, HELLO)
    assert "supported: CIDv1 raw + sha2-256" in str(info.value)


def test_other_hash_function_is_unsupported():
    blake = str(CID("base32", 1, "raw", multihash.digest(HELLO, "blake2b-256")))
    with pytest.raises(UnsupportedCid, match="blake2b-256"):
        verify_cid(blake, HELLO)


def test_truncated_sha256_digest_is_unsupported():
    truncated = str(CID("base32", 1, "raw", ("sha2-256", hashlib.sha256(HELLO).digest()[:20])))
    with pytest.raises(UnsupportedCid, match="truncated"):
        verify_cid(truncated, HELLO)


def test_dag_pb_cid_of_content_over_one_chunk_is_reported_as_multi_chunk():
    content = b"\2" * (CHUNK_SIZE + 1)
    with pytest.raises(UnsupportedCid, match="more than one chunk"):
        verify_cid(HELLO_V0, content)


def test_dag_pb_cid_of_small_other_content_is_a_mismatch_not_unsupported():
    with pytest.raises(CidMismatch):
        verify_cid(HELLO_V0, b"hello world!")


def test_mismatch_message_names_the_cid_and_the_content_real_cid():
    with pytest.raises(CidMismatch) as info:
        verify_cid(HELLO_V1_RAW, b"other")
    assert HELLO_V1_RAW in str(info.value)
    assert compute_cid(b"other") in str(info.value)


def test_all_cid_errors_are_value_errors_and_proof_errors():
    for kind in (InvalidCid, UnsupportedCid, CidMismatch, ProofTooLarge):
        assert issubclass(kind, ValueError) and issubclass(kind, ProofError)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "hello",
        "Qm",
        "bafkrei",
        HELLO_V1_RAW[:-1] + "5",  # nonzero pad bits
        HELLO_V0[:-1] + "0",  # '0' is not in base58
        "ipfs://",
        "/ipfs/",
        "https://gateway.example/not-ipfs/" + HELLO_V1_RAW,
        f"ipfs://{HELLO_V1_RAW}/readme.txt",
        f"/ipfs/{HELLO_V0}/a/b",
    ],
)
def test_parse_cid_rejects_text_that_is_not_a_cid(text):
    with pytest.raises(InvalidCid):
        parse_cid(text)


@pytest.mark.parametrize("prefix", ["z", "0", "f", "u", "m", "k", "9"])
def test_parse_cid_rejects_a_multibase_prefix_with_nothing_after_it(prefix):
    with pytest.raises(InvalidCid, match="not a CID"):
        parse_cid(prefix)


def test_parse_cid_rejects_non_text():
    with pytest.raises(InvalidCid):
        parse_cid(b"bafk")  # type: ignore[arg-type]


def test_verify_of_malformed_cid_raises_invalid_cid():
    with pytest.raises(InvalidCid):
        verify_cid("not-a-cid", HELLO)


# --- properties ---------------------------------------------------------------------------------

contents = st.binary(max_size=2048)


@given(contents)
def test_computed_cids_verify_their_own_content(content):
    verify_cid(compute_cid(content), content)
    verify_cid(compute_cid_v0(content), content)


@given(contents.filter(bool), st.data())
def test_any_single_byte_change_fails_verification(content, data):
    index = data.draw(st.integers(0, len(content) - 1), label="index")
    flip = data.draw(st.integers(1, 255), label="xor")
    changed = bytearray(content)
    changed[index] ^= flip
    for cid in (compute_cid(content), compute_cid_v0(content)):
        with pytest.raises(CidMismatch):
            verify_cid(cid, bytes(changed))


@given(contents, st.binary(min_size=1, max_size=4))
def test_appended_or_truncated_content_fails_verification(content, extra):
    for cid in (compute_cid(content), compute_cid_v0(content)):
        with pytest.raises(CidMismatch):
            verify_cid(cid, content + extra)
        if content:
            with pytest.raises(CidMismatch):
                verify_cid(cid, content[:-1])


@given(contents, st.sampled_from(["raw", "v0"]))
@settings(max_examples=50)
def test_parse_cid_reads_bare_ipfs_scheme_ipfs_path_and_gateway_url_alike(content, kind):
    cid = compute_cid(content) if kind == "raw" else compute_cid_v0(content)
    forms = [
        cid,
        f"  {cid}\n",
        f"ipfs://{cid}",
        f"IPFS://{cid}/",
        f"/ipfs/{cid}",
        f"https://ipfs.io/ipfs/{cid}",
        f"http://127.0.0.1:8080/ipfs/{cid}?filename=proof.json#top",
    ]
    parsed = {str(parse_cid(form)) for form in forms}
    assert parsed == {cid}
    for form in forms:
        verify_cid(form, content)
