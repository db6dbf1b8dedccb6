"""The proof-of-task store: content-addressed blobs whose CID goes in a task's ``proofOfTask``.

A performer puts the full result of a task here and sends only its CID; attesters fetch the bytes
by CID from the performer's proof server or any IPFS gateway and check that they hash to it.

Compatibility choices:

* **The CID this package produces is CIDv1 raw, sha2-256, base32** (``bafk...``), the same string
  ``ipfs add --cid-version=1 --raw-leaves`` prints for a file of one chunk. It is the simplest CID
  to verify (a plain hash of the bytes) and a proof stored here can be pinned on IPFS unchanged.
* **CIDv0 (``Qm...``) is accepted too**, since it is what plain ``ipfs add`` and Pinata return and
  what existing Othentic performers put in ``proofOfTask``. It hashes a dag-pb node wrapping the
  bytes in a UnixFS file record, which this package rebuilds to check it; that is only possible for
  a single-chunk file, so **proofs are limited to 256 KiB by default** (one chunk of IPFS's default
  chunker). A proof that large belongs in a proper IPFS deployment; a CID of a multi-chunk file,
  another codec or another hash function raises :class:`UnsupportedCid` rather than being trusted.
* **The HTTP server speaks the gateway path** ``GET /ipfs/<cid>``, so the client that reads the
  local store reads public gateways the same way, and a performer's store could be replaced by a
  real IPFS gateway without attesters changing anything. Uploads are ``POST /proofs`` (raw body).
* **Nothing is trusted**: every read, local or remote, re-hashes the bytes against the CID asked
  for, and an upload's CID is recomputed by the client.
"""

from othentic_offchain.proofs.cid import (
    CHUNK_SIZE,
    compute_cid,
    compute_cid_v0,
    ensure_supported,
    parse_cid,
    unixfs_file_node,
    verify_cid,
)
from othentic_offchain.proofs.client import DEFAULT_TIMEOUT, PUBLIC_GATEWAYS, ProofStoreClient, fetch_proof
from othentic_offchain.proofs.errors import (
    CidMismatch,
    InvalidCid,
    ProofError,
    ProofNotFound,
    ProofStoreFull,
    ProofStoreUnavailable,
    ProofTooLarge,
    UnsupportedCid,
)
from othentic_offchain.proofs.server import RunningProofServer, build_proof_app, serve_proofs, start_proof_server
from othentic_offchain.proofs.store import DEFAULT_MAX_SIZE, LocalProofStore

__all__ = [
    "CHUNK_SIZE",
    "DEFAULT_MAX_SIZE",
    "DEFAULT_TIMEOUT",
    "PUBLIC_GATEWAYS",
    "compute_cid",
    "compute_cid_v0",
    "unixfs_file_node",
    "parse_cid",
    "verify_cid",
    "ensure_supported",
    "LocalProofStore",
    "build_proof_app",
    "start_proof_server",
    "serve_proofs",
    "RunningProofServer",
    "ProofStoreClient",
    "fetch_proof",
    "ProofError",
    "InvalidCid",
    "UnsupportedCid",
    "CidMismatch",
    "ProofTooLarge",
    "ProofNotFound",
    "ProofStoreFull",
    "ProofStoreUnavailable",
]
