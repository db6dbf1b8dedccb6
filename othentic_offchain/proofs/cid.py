"""Content identifiers for proofs of task, compatible with what IPFS tools print.

Two kinds of CID name the same bytes, and both are accepted because both circulate:

* **CIDv1 raw** (``bafk...``): codec ``raw``, sha2-256 of the bytes themselves, base32. It is what
  ``ipfs add --cid-version=1 --raw-leaves`` prints for a file of one chunk, and the cheapest to
  check. This package produces it.
* **CIDv0** (``Qm...``), or the same hash as CIDv1 ``dag-pb`` (``bafybei...``): what a plain
  ``ipfs add`` and Pinata's pin endpoints print. It hashes a dag-pb node wrapping the bytes in a
  UnixFS ``File`` record, so checking it means rebuilding that node; this is only possible for a
  file of one chunk (256 KiB with the default chunker), because a bigger file becomes a tree of
  nodes whose root alone says nothing about the bytes.

Multibase, multihash, multicodec and varints come from the pinned ``multiformats`` library; only the
two tiny protobuf messages of a single-chunk UnixFS file are encoded here, since that library has
no dag-pb codec.
"""

from __future__ import annotations

import hashlib
from urllib.parse import urlsplit

from multiformats import CID, multihash, varint

from othentic_offchain.proofs.errors import CidMismatch, InvalidCid, ProofTooLarge, UnsupportedCid

#: Size of one chunk of ``ipfs add``'s default chunker (``size-262144``). A file up to this size is
#: a single block, so its CID is a function of its bytes that this module can recompute.
CHUNK_SIZE = 256 * 1024

SUPPORTED = (
    "CIDv1 raw + sha2-256 (bafk...), and CIDv0 (Qm...) or CIDv1 dag-pb + sha2-256 (bafybei...) "
    f"of a single-chunk UnixFS file (at most {CHUNK_SIZE} bytes)"
)

_SHA2_256_LENGTH = 32
_UNIXFS_FILE = 2  # UnixFS Data.DataType.File

__all__ = [
    "CHUNK_SIZE",
    "SUPPORTED",
    "compute_cid",
    "compute_cid_v0",
    "unixfs_file_node",
    "parse_cid",
    "verify_cid",
    "ensure_supported",
    "is_raw",
    "raw_cid_text",
    "dag_pb_cid_text",
]


# --- dag-pb / UnixFS, by hand -------------------------------------------------------------------


def _varint_field(number: int, value: int) -> bytes:
    # wire type 0 (varint); protobuf varints are unsigned LEB128, which is what multiformats encodes
    return varint.encode(number << 3) + varint.encode(value)


def _bytes_field(number: int, value: bytes) -> bytes:
    # wire type 2 (length-delimited)
    return varint.encode(number << 3 | 2) + varint.encode(len(value)) + value


def unixfs_file_node(content: bytes) -> bytes:
    """The dag-pb block ``ipfs add`` writes for a single-chunk file without raw leaves.

    ``PBNode{Data: UnixFS.Data{Type: File, Data: content, filesize: len(content)}}``, with no links.
    Fields are written in field-number order and an empty ``Data`` is left out, as go-ipfs's
    protobuf encoder does; that is what makes the hash match its ``Qm...`` byte for byte.
    """
    content = bytes(content)
    unixfs = _varint_field(1, _UNIXFS_FILE)
    if content:
        unixfs += _bytes_field(2, content)
    unixfs += _varint_field(3, len(content))
    return _bytes_field(1, unixfs)


def _check_size(content: bytes, max_size: int | None) -> None:
    if max_size is not None and len(content) > max_size:
        raise ProofTooLarge(len(content), max_size, "content")


# --- computing ---------------------------------------------------------------------------------


def compute_cid(content: bytes, *, max_size: int | None = CHUNK_SIZE) -> str:
    """The CIDv1 (raw, sha2-256, base32 ``bafk...``) that names ``content`` as a proof of task.

    The default limit is one chunk (256 KiB): up to that size the result is exactly what
    ``ipfs add --cid-version=1 --raw-leaves`` prints, so a proof can be pinned to real IPFS and
    keep its name. Above it IPFS would build a tree with another root CID; pass ``max_size=None``
    to name larger content anyway (still verifiable here, but not what ``ipfs add`` prints).
    """
    content = bytes(content)
    _check_size(content, max_size)
    return str(CID("base32", 1, "raw", multihash.digest(content, "sha2-256")))


def compute_cid_v0(content: bytes, *, max_size: int | None = CHUNK_SIZE) -> str:
    """The CIDv0 (``Qm...``) that plain ``ipfs add`` and Pinata give for ``content``.

    Offered so that a performer's proof can be looked up by the name IPFS users already have.
    Only meaningful for a single chunk (the default limit): a larger file is chunked by IPFS into a
    tree whose root is not this hash.
    """
    content = bytes(content)
    _check_size(content, max_size)
    node = unixfs_file_node(content)
    return str(CID("base58btc", 0, "dag-pb", multihash.digest(node, "sha2-256")))


# --- parsing -----------------------------------------------------------------------------------


def _decode(text: str) -> CID:
    try:
        return CID.decode(text)
    # multibase/multihash/multicodec errors derive from ValueError or KeyError; a multibase prefix
    # with nothing after it ("z", "0") raises IndexError
    except (ValueError, KeyError, IndexError) as exc:
        raise InvalidCid(f"not a CID: {text!r} ({exc})") from exc


def _cid_text_from(text: str) -> str:
    """Strip the ``ipfs://``, ``/ipfs/`` and gateway-URL wrappers around a CID."""
    if text.lower().startswith("ipfs://"):
        rest = text[len("ipfs://") :]
    elif text.startswith("/ipfs/"):
        rest = text[len("/ipfs/") :]
    elif text.lower().startswith(("http://", "https://")):
        path = urlsplit(text).path
        marker = path.rfind("/ipfs/")
        if marker < 0:
            raise InvalidCid(f"URL has no /ipfs/<cid> path: {text!r}")
        rest = path[marker + len("/ipfs/") :]
    else:
        return text
    rest = rest.split("?", 1)[0].split("#", 1)[0].rstrip("/")
    if "/" in rest:
        raise InvalidCid(f"paths inside a DAG are not supported, give the file's own CID: {text!r}")
    return rest


def parse_cid(text: str | CID) -> CID:
    """Read a CID given bare, as ``ipfs://<cid>``, as ``/ipfs/<cid>`` or as a gateway URL.

    ``proofOfTask`` is free text in Othentic's wire format and performers write it in all of these
    forms, so every consumer should go through here. Raises :class:`InvalidCid` for anything that
    does not decode; whether the CID is one this package can verify is a separate question
    (:func:`ensure_supported`).
    """
    if isinstance(text, CID):
        return text
    if not isinstance(text, str):
        raise InvalidCid(f"a CID must be given as text, got {type(text).__name__}")
    cid_text = _cid_text_from(text.strip())
    if not cid_text:
        raise InvalidCid(f"no CID in {text!r}")
    return _decode(cid_text)


def ensure_supported(cid: str | CID) -> CID:
    """Parse ``cid`` and raise :class:`UnsupportedCid` unless its content can be checked here.

    Lets a caller refuse early (before fetching anything) a CID that could never be verified.
    """
    parsed = parse_cid(cid)
    codec = parsed.codec.name
    if codec not in ("raw", "dag-pb"):
        raise UnsupportedCid(f"CID {parsed} has codec {codec!r}; supported: {SUPPORTED}")
    if parsed.hashfun.name != "sha2-256":
        raise UnsupportedCid(f"CID {parsed} uses hash function {parsed.hashfun.name!r}; supported: {SUPPORTED}")
    if len(parsed.raw_digest) != _SHA2_256_LENGTH:
        raise UnsupportedCid(
            f"CID {parsed} has a truncated {len(parsed.raw_digest)}-byte digest; supported: {SUPPORTED}"
        )
    return parsed


def is_raw(cid: str | CID) -> bool:
    """Whether the CID hashes the bytes directly (``raw`` codec) rather than a dag-pb node."""
    return ensure_supported(cid).codec.name == "raw"


def raw_cid_text(cid: str | CID) -> str:
    """Canonical text of a raw CID (CIDv1, base32, lower case), whatever base it came in."""
    parsed = ensure_supported(cid)
    if parsed.codec.name != "raw":
        raise ValueError(f"{parsed} is not a raw CID")
    return str(parsed.set(base="base32"))


def dag_pb_cid_text(cid: str | CID) -> str:
    """Canonical text of a dag-pb CID: its CIDv0 form, since a ``bafybei...`` is the same hash."""
    parsed = ensure_supported(cid)
    if parsed.codec.name != "dag-pb":
        raise ValueError(f"{parsed} is not a dag-pb CID")
    return str(CID("base58btc", 0, "dag-pb", parsed.digest))


# --- verifying ---------------------------------------------------------------------------------


def verify_cid(cid: str | CID, content: bytes) -> None:
    """Raise unless ``content`` is exactly the bytes that ``cid`` names.

    This is the attester's guarantee that the proof it validates is the one the performer
    committed to in the task: a store or gateway that serves other bytes is caught here.
    Raises :class:`InvalidCid` (not a CID), :class:`UnsupportedCid` (a CID this package cannot
    check, including a dag-pb CID of content larger than one chunk whose single-node hash does not
    match, which is how a multi-chunk file looks) or :class:`CidMismatch`.
    """
    parsed = ensure_supported(cid)
    content = bytes(content)
    if parsed.codec.name == "raw":
        actual = hashlib.sha256(content).digest()
    else:
        actual = hashlib.sha256(unixfs_file_node(content)).digest()
    if actual == parsed.raw_digest:
        return
    if parsed.codec.name == "dag-pb" and len(content) > CHUNK_SIZE:
        raise UnsupportedCid(
            f"CID {parsed} does not hash {len(content)} bytes as a single UnixFS node; a file of "
            f"more than one chunk is a tree of blocks, which is not supported: {SUPPORTED}"
        )
    raise CidMismatch(
        f"content of {len(content)} bytes does not match CID {parsed} "
        f"(its raw CID would be {compute_cid(content, max_size=None)})"
    )
