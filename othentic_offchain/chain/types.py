"""Python twins of the contracts' structs, with their ABI tuples.

One place converts between Python values and what the contracts take, so that tests, benchmarks,
nodes and the CLI agree with ``contracts/interfaces/*.sol`` field for field:

* :class:`TaskInfo` (``ProtocolHashes.TaskInfo``) with its ``taskHash`` and ``voteHash``;
* :class:`TaskSubmission` (``IAttestationCenterTypes.TaskSubmission``);
* :class:`TaskDefinitionParams` and :class:`PenaltyConfig` (``ITaskDefinitionsTypes``);
* :class:`RegistryConfig` (``IOperatorRegistryTypes.RegistryConfig``).

A struct is passed to web3.py or Ape as the tuple :meth:`abi` returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from eth_utils import to_checksum_address

from othentic_offchain.crypto.bls import KeyPair, aggregate_g2, aggregate_signatures
from othentic_offchain.crypto.bn254 import G1Point, G2Point
from othentic_offchain.crypto.ecdsa import sign_task_hash
from othentic_offchain.crypto.hashes import performer_hash, task_hash, vote_hash

UINT96_MAX = 2**96 - 1
UINT128_MAX = 2**128 - 1


def _bytes(value: bytes | str) -> bytes:
    if isinstance(value, str):
        return bytes.fromhex(value.removeprefix("0x"))
    return bytes(value)


@dataclass(frozen=True)
class TaskInfo:
    """A task as the performer signs it: ``(proofOfTask, data, performer, taskDefinitionId)``."""

    proof_of_task: str
    data: bytes
    performer: str
    task_definition_id: int = 0

    def __post_init__(self) -> None:
        object.__setattr__(self, "data", _bytes(self.data))
        object.__setattr__(self, "performer", to_checksum_address(self.performer))
        if not 0 <= int(self.task_definition_id) < 2**16:
            raise ValueError(f"taskDefinitionId must fit in uint16, got {self.task_definition_id}")

    def abi(self) -> tuple:
        return (self.proof_of_task, self.data, self.performer, self.task_definition_id)

    @classmethod
    def from_abi(cls, value: Sequence[Any]) -> TaskInfo:
        proof_of_task, data, performer, definition_id = value
        return cls(proof_of_task, bytes(data), performer, int(definition_id))

    def task_hash(self) -> bytes:
        """The replay key on-chain, and what an Othentic performer signs (ECDSA, raw digest)."""
        return task_hash(self.proof_of_task, self.data, self.performer, self.task_definition_id)

    def performer_hash(self, attestation_center: str, chain_id: int) -> bytes:
        """What our performers sign: the taskHash bound to one center on one chain."""
        return performer_hash(self.task_hash(), attestation_center, chain_id)

    def vote_hash(self, attestation_center: str, chain_id: int, is_approved: bool) -> bytes:
        """What attesters BLS-sign: bound to one center, one chain and one side."""
        return vote_hash(
            self.proof_of_task,
            self.data,
            self.performer,
            self.task_definition_id,
            attestation_center,
            chain_id,
            is_approved,
        )

    def sign(self, performer_private_key: str | bytes, attestation_center: str, chain_id: int) -> bytes:
        """The performer's 65-byte signature over :meth:`performer_hash`: the form every signer of
        this package uses. It lands on this center of this chain only, and only it lets a rejected
        task be reported against its performer."""
        return sign_task_hash(performer_private_key, self.performer_hash(attestation_center, chain_id))

    def sign_bare(self, performer_private_key: str | bytes) -> bytes:
        """An Othentic performer's signature, over the bare :meth:`task_hash`: accepted everywhere
        (it names no center), so it can never cost its signer a slash."""
        return sign_task_hash(performer_private_key, self.task_hash())


@dataclass(frozen=True)
class TaskSubmission:
    """What the aggregator adds to a task: side, performer signature, aggregate BLS signature,
    the signers' aggregate G2 key and the set members who did not sign (increasing ids)."""

    is_approved: bool
    tp_signature: bytes
    ta_signature: G1Point
    signers_apk_g2: G2Point
    non_signer_ids: tuple[int, ...] = ()

    def abi(self) -> tuple:
        return (
            self.is_approved,
            bytes(self.tp_signature),
            self.ta_signature.words(),
            self.signers_apk_g2.solidity(),
            list(self.non_signer_ids),
        )


def build_submission(
    task: TaskInfo,
    *,
    is_approved: bool,
    tp_signature: bytes,
    attestation_center: str,
    chain_id: int,
    members: Iterable[int],
    signers: Mapping[int, KeyPair],
) -> TaskSubmission:
    """Sign the vote with every key in ``signers`` and aggregate; everyone else in ``members`` is a
    non-signer. Test and benchmark helper: a real aggregator collects signatures from attesters."""
    digest = task.vote_hash(attestation_center, chain_id, is_approved)
    signatures = [keys.sign(digest) for keys in signers.values()]
    return TaskSubmission(
        is_approved=is_approved,
        tp_signature=tp_signature,
        ta_signature=aggregate_signatures(signatures),
        signers_apk_g2=aggregate_g2(keys.public.g2 for keys in signers.values()),
        non_signer_ids=tuple(sorted(set(members) - set(signers))),
    )


@dataclass(frozen=True)
class PenaltyConfig:
    """Which offences a definition punishes and how hard (basis points)."""

    double_attestation: bool = True
    incorrect_attestation: bool = False
    rejected_task: bool = False
    slash_bps: int = 1_000
    reporter_bps: int = 1_000

    def abi(self) -> tuple:
        return (
            self.double_attestation,
            self.incorrect_attestation,
            self.rejected_task,
            self.slash_bps,
            self.reporter_bps,
        )

    @classmethod
    def from_abi(cls, value: Sequence[Any]) -> PenaltyConfig:
        double, incorrect, rejected, slash_bps, reporter_bps = value
        return cls(bool(double), bool(incorrect), bool(rejected), int(slash_bps), int(reporter_bps))


@dataclass(frozen=True)
class TaskDefinitionParams:
    """A task definition's parameters (``ITaskDefinitionsTypes.TaskDefinitionParams``)."""

    name: str
    block_expiry: int = 0
    attester_reward: int = 0
    performer_reward: int = 0
    aggregator_reward: int = 0
    dispute_period_blocks: int = 0
    minimum_voting_power: int = 0
    restricted_attester_ids: tuple[int, ...] = ()
    maximum_number_of_attesters: int = 0
    penalties: PenaltyConfig = field(default_factory=PenaltyConfig)

    def abi(self) -> tuple:
        return (
            self.name,
            self.block_expiry,
            self.attester_reward,
            self.performer_reward,
            self.aggregator_reward,
            self.dispute_period_blocks,
            self.minimum_voting_power,
            list(self.restricted_attester_ids),
            self.maximum_number_of_attesters,
            self.penalties.abi(),
        )

    @classmethod
    def from_abi(cls, value: Sequence[Any]) -> TaskDefinitionParams:
        (name, expiry, attester, performer, aggregator, dispute, minimum, restricted, maximum, penalties) = value
        return cls(
            name=name,
            block_expiry=int(expiry),
            attester_reward=int(attester),
            performer_reward=int(performer),
            aggregator_reward=int(aggregator),
            dispute_period_blocks=int(dispute),
            minimum_voting_power=int(minimum),
            restricted_attester_ids=tuple(int(i) for i in restricted),
            maximum_number_of_attesters=int(maximum),
            penalties=PenaltyConfig.from_abi(penalties),
        )


@dataclass(frozen=True)
class RegistryConfig:
    minimum_stake: int
    max_operators: int = 100
    unbonding_delay_blocks: int = 100

    def abi(self) -> tuple:
        return (self.minimum_stake, self.max_operators, self.unbonding_delay_blocks)


def g1_from_abi(value: Sequence[int]) -> G1Point:
    return G1Point(int(value[0]), int(value[1]))


def g2_from_abi(value: Sequence[Sequence[int]]) -> G2Point:
    (x_imag, x_real), (y_imag, y_real) = value
    return G2Point.from_words([x_imag, x_real, y_imag, y_real])
