"""The digests nodes sign to authenticate their requests to each other (docs/architecture.md,
"Authenticated requests").

An aggregator asking an attester for a vote, relaying a custom message to it, or a client calling
the aggregator's ``sendCustomMessage`` signs, with its operator's ECDSA key, the digest

    keccak256(abi.encode(bytes32 tag, uint256 chainId, address attestationCenter,
                         bytes32 subject, uint256 timestamp))

``tag`` says what kind of request it is (one of the ``*_TAG`` constants: a signature for one kind
is never valid for another, nor a task signature, whose digest has another layout), ``chainId``
and ``attestationCenter`` bind it to one deployment, ``subject`` to one request (a ``taskHash``,
the hash of a message), ``timestamp`` (unix seconds, 0 when the kind has none) bounds how long a
captured request can be replayed. The signature is the raw 65-byte ``r || s || v`` of the digest
(no EIP-191 prefix), made and recovered by the same helpers as a performer's task signature.
"""

from __future__ import annotations

from eth_abi import encode
from eth_utils import keccak, to_canonical_address

from othentic_offchain.crypto.ecdsa import recover_task_signer, sign_task_hash

#: An aggregator asking an attester for its vote on ``taskHash`` (the subject).
ATTEST_REQUEST_TAG = keccak(b"othentic-py.auth.attest-request.v1")
#: An aggregator relaying a custom message to an attester (subject: keccak of the body relayed).
P2P_MESSAGE_TAG = keccak(b"othentic-py.auth.p2p-message.v1")
#: An operator sending a custom message to a performer, which triggers a task the performer signs
#: (subject: keccak of the body). A tag of its own: a message relayed to an attester cannot be
#: replayed to a performer.
PERFORMER_MESSAGE_TAG = keccak(b"othentic-py.auth.performer-message.v1")
#: A client calling the aggregator's ``sendCustomMessage`` (subject: :func:`custom_message_subject`).
CUSTOM_MESSAGE_TAG = keccak(b"othentic-py.auth.custom-message.v1")

AUTH_TYPES = ["bytes32", "uint256", "address", "bytes32", "uint256"]

#: The ``taskDefinitionId`` of a custom message sent without one (outside uint16: never a real id).
NO_DEFINITION = 2**16


def auth_digest(
    tag: bytes, chain_id: int, attestation_center: str | bytes, subject: bytes, timestamp: int = 0
) -> bytes:
    """The 32-byte digest a node signs for one request (see the module). Every member is a static
    32-byte word, so the encoding is written out (a fifth of ``eth_abi.encode``'s cost)."""
    if len(tag) != 32 or len(subject) != 32:
        raise ValueError("tag and subject must be 32 bytes")
    words = (
        tag,
        int(chain_id).to_bytes(32, "big"),
        bytes(12) + to_canonical_address(attestation_center),
        subject,
        int(timestamp).to_bytes(32, "big"),
    )
    return keccak(b"".join(words))


def custom_message_subject(data: bytes, task_definition_id: int | None) -> bytes:
    """``keccak256(abi.encode(bytes data, uint256 definition))``; a message without a definition
    id uses :data:`NO_DEFINITION`."""
    definition = NO_DEFINITION if task_definition_id is None else int(task_definition_id)
    return keccak(encode(["bytes", "uint256"], [bytes(data), definition]))


def sign_auth(private_key: str | bytes, digest: bytes) -> bytes:
    """65 bytes ``r || s || v`` over ``digest`` (low s, ``v`` in {27, 28})."""
    return sign_task_hash(private_key, digest)


def recover_auth_signer(digest: bytes, signature: bytes) -> str:
    """The checksummed address that signed ``digest``; raises
    :class:`~othentic_offchain.crypto.ecdsa.InvalidTaskSignature` for a malformed signature."""
    return recover_task_signer(digest, signature)
