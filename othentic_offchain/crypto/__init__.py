"""BLS on BN254, the protocol hashes and the performer's ECDSA signature.

Import from here; the submodules hold the details:

* :mod:`.bn254`: points, encodings, hash to G1, pairing products;
* :mod:`.bls`: keys, signing, aggregation, proof of possession;
* :mod:`.verify`: the verification equations and the precompile / py_ecc backends;
* :mod:`.hashes`: ``taskHash``, the domain-bound performer digest, ``voteHash``, the
  proof-of-possession digest, a performer's round digest, ``gamma``;
* :mod:`.ecdsa`: the performer's task signature (bound or bare).
"""

from othentic_offchain.crypto.bls import (
    KeyPair,
    PublicKey,
    SecretKey,
    aggregate_g1,
    aggregate_g2,
    aggregate_public_keys,
    aggregate_signatures,
    prove_possession,
    sign,
)
from othentic_offchain.crypto.bn254 import G1Point, G2Point, InvalidPoint, hash_to_g1
from othentic_offchain.crypto.ecdsa import (
    InvalidTaskSignature,
    WrongTaskSigner,
    check_performer_signature,
    recover_task_signer,
    sign_task_hash,
)
from othentic_offchain.crypto.hashes import gamma, performer_hash, pop_hash, round_hash, task_hash, vote_hash
from othentic_offchain.crypto.verify import PrecompileBackend, PyEccBackend, verify, verify_aggregate, verify_possession

__all__ = [
    "G1Point",
    "G2Point",
    "InvalidPoint",
    "hash_to_g1",
    "KeyPair",
    "PublicKey",
    "SecretKey",
    "sign",
    "prove_possession",
    "aggregate_signatures",
    "aggregate_g1",
    "aggregate_g2",
    "aggregate_public_keys",
    "verify",
    "verify_aggregate",
    "verify_possession",
    "PrecompileBackend",
    "PyEccBackend",
    "task_hash",
    "performer_hash",
    "vote_hash",
    "pop_hash",
    "round_hash",
    "gamma",
    "sign_task_hash",
    "recover_task_signer",
    "check_performer_signature",
    "InvalidTaskSignature",
    "WrongTaskSigner",
]
