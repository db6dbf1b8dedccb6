"""Randomness beacon: every N blocks the elected operator contributes a value nobody can choose.

* Election: round robin over the definition's attesters by block: the performer of round `b` is
  `members[(b // period) % len(members)]` (`othentic_offchain.nodes.performer.election.round_robin`); the
  performer runs inside its operator's attester (`othentic node attester --performer-definition`),
  with `--election round-robin --round-robin-period P --every-blocks P`, P the `period` below.
* The contribution of round `b` is the performer's BLS signature over
  `round_hash(attestation center, chain id, definition id, b)` (`othentic_offchain.crypto.hashes`).
  The performer node makes it with the operator's registered BLS key and passes it to execute as the
  `roundSignature` parameter, next to `blockNumber` (the round). A BLS signature is unique per key
  and message: the performer cannot pick another value for its round, and nobody without its key can
  compute it in advance.
* execute(params): data = `abi.encode(uint64 round, uint256 x, uint256 y)`, the signature's
  coordinates; the proof records both. Without `blockNumber` and `roundSignature` it fails with a
  message saying so (a standalone performer has no BLS key, so it cannot perform this definition).
* validate(task): the data is well formed, the round is recent (at most `max_age` blocks old, not in
  the future) and the first block of a turn (a multiple of `period`: one round per turn, so the
  performer has one contribution to give, not one per block of its turn), the performer is the
  operator elected for it, and the signature verifies against that operator's BLS key registered
  on-chain (one call to the pairing precompile).
* On-chain, `contracts/examples/RandomnessBeaconLogic.sol` mixes `keccak256(signature)` into the
  previous output, and refuses rounds that do not move forward. The output depends on nothing the
  aggregator picks (not the signer subset, not the block it lands in).

What it does not prevent: the elected performer learns its round's output first and may withhold
its round (the beacon then simply skips it; the next performer's round follows). See
docs/examples/randomness_beacon.md.

Config: `rpc_url`, `attestation_center` (to read the attesters, their keys and the chain head),
`period` (default 5 blocks), `max_age` (default 20 blocks).
"""

from __future__ import annotations

import asyncio
import json
import os

from eth_abi import decode, encode
from eth_abi.exceptions import DecodingError

from othentic_offchain.avs import Avs, Execution, Task
from othentic_offchain.avs.models import to_hex
from othentic_offchain.crypto.bn254 import G1Point, InvalidPoint
from othentic_offchain.crypto.hashes import round_hash
from othentic_offchain.crypto.verify import PrecompileBackend, verify
from othentic_offchain.nodes.performer.config import ROUND_SIGNATURE_PARAM
from othentic_offchain.nodes.performer.election import round_robin

DEFAULT_PERIOD = 5
DEFAULT_MAX_AGE = 20


def encode_contribution(round_: int, signature: G1Point) -> bytes:
    return encode(["uint64", "uint256", "uint256"], [round_, signature.x, signature.y])


def decode_contribution(data: bytes) -> tuple[int, G1Point]:
    if len(data) != 96:
        raise ValueError(f"beacon data must be 96 bytes, got {len(data)}")
    try:
        round_, x, y = decode(["uint64", "uint256", "uint256"], data)
    except DecodingError as exc:  # e.g. a round word beyond uint64
        raise ValueError(f"beacon data does not decode: {exc}") from exc
    return int(round_), G1Point(int(x), int(y))


def parse_round_signature(value: object) -> G1Point:
    """The ``roundSignature`` parameter (0x-hex of two 32-byte coordinates) as a point of G1."""
    if not isinstance(value, str) or not value.startswith("0x") or len(value) != 130:
        raise ValueError(f"{ROUND_SIGNATURE_PARAM} must be 0x and 128 hex digits (x and y), got {value!r:.80}")
    try:
        raw = bytes.fromhex(value[2:])
    except ValueError as exc:
        raise ValueError(f"{ROUND_SIGNATURE_PARAM} is not hex: {exc}") from exc
    point = G1Point(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        point.validate()
    except InvalidPoint as exc:
        raise ValueError(f"{ROUND_SIGNATURE_PARAM} is not a point of G1: {exc}") from exc
    if point.is_infinity:
        raise ValueError(f"{ROUND_SIGNATURE_PARAM} is the point at infinity")
    return point


class _Chain:
    """What validation reads, through web3 (cached per AVS object)."""

    def __init__(self, rpc_url: str, center: str):
        from web3 import AsyncHTTPProvider, AsyncWeb3

        from othentic_offchain.chain.artifacts import load_artifact
        from othentic_offchain.chain.rpc import sync_web3

        self.w3 = AsyncWeb3(AsyncHTTPProvider(rpc_url))
        self.address = AsyncWeb3.to_checksum_address(center)
        self.center = self.w3.eth.contract(address=self.address, abi=load_artifact("IAttestationCenter").abi)
        self.pairing = PrecompileBackend(sync_web3(rpc_url))
        self._chain_id: int | None = None

    async def head(self) -> int:
        return int(await self.w3.eth.block_number)

    async def chain_id(self) -> int:
        if self._chain_id is None:
            self._chain_id = int(await self.w3.eth.chain_id)
        return self._chain_id

    async def members(self, definition_id: int) -> list[int]:
        ids, _stakes = await self.center.functions.taskDefinitionMembers(definition_id).call()
        return [int(i) for i in ids]

    async def operator_id(self, account: str) -> int:
        return int(await self.center.functions.operatorIdOf(account).call())

    async def signed_by(self, operator_id: int, digest: bytes, signature: G1Point) -> bool:
        """Whether ``signature`` is ``operator_id``'s BLS signature over ``digest`` (its registered key)."""
        from othentic_offchain.chain.types import g2_from_abi

        operator = await self.center.functions.getOperator(operator_id).call()
        public_g2 = g2_from_abi(operator[7])
        # web3's blocking client in a worker thread: one eth_call to the pairing precompile.
        return await asyncio.to_thread(verify, public_g2, digest, signature, self.pairing)


def install(avs: Avs, definition_id: int) -> Avs:
    """Add the beacon's functions for ``definition_id`` to ``avs``."""
    chains: dict[tuple[str, str], _Chain] = {}

    def chain(ctx) -> _Chain:
        key = (ctx.config["rpc_url"], ctx.config["attestation_center"])
        if key not in chains:
            chains[key] = _Chain(*key)
        return chains[key]

    @avs.execute(definition_id)
    async def contribute(params: dict, ctx) -> Execution:
        if "blockNumber" not in params or ROUND_SIGNATURE_PARAM not in params:
            raise ValueError(
                f"the beacon needs blockNumber and {ROUND_SIGNATURE_PARAM} (the performer's BLS signature "
                "over its round): run its performer inside the operator's attester "
                "(othentic node attester --performer-definition), which holds the BLS key"
            )
        round_ = int(params["blockNumber"])
        signature = parse_round_signature(params[ROUND_SIGNATURE_PARAM])
        proof = {
            "round": round_,
            "signature": to_hex(signature.x.to_bytes(32, "big") + signature.y.to_bytes(32, "big")),
        }
        return Execution(proof=json.dumps(proof, sort_keys=True).encode(), data=encode_contribution(round_, signature))

    @avs.validate(definition_id)
    async def check(task: Task, ctx) -> bool:
        try:
            round_, signature = decode_contribution(task.data)
        except ValueError:
            return False
        view = chain(ctx)
        head = await view.head()
        if round_ > head or head - round_ > int(ctx.config.get("max_age", DEFAULT_MAX_AGE)):
            return False
        members = await view.members(task.task_definition_id)
        if not members:
            return False
        period = int(ctx.config.get("period", DEFAULT_PERIOD))
        if round_ % period:
            # One round per turn (its first block, where the blocks trigger fires): a performer that
            # could sign any block of its turn would have `period` contributions to choose from.
            return False
        elected = round_robin(members, round_, period)
        if elected != await view.operator_id(task.performer):
            return False
        digest = round_hash(view.address, await view.chain_id(), task.task_definition_id, round_)
        if not await view.signed_by(elected, digest, signature):
            ctx.logger.info("randomness-beacon rejects round %d: not operator %d's round signature", round_, elected)
            return False
        return True

    return avs


avs = install(Avs("randomness-beacon"), int(os.environ.get("BEACON_DEFINITION", "2")))
