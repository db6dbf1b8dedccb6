"""Randomness beacon: every N blocks the elected operator contributes 32 random bytes.

* Election: round robin over the definition's attesters by block: the performer of round `b` is
  `members[(b // period) % len(members)]` (`othentic_offchain.nodes.performer.election.round_robin`); the
  performer node runs with `--election round-robin` and a trigger every `period` blocks.
* execute(params): `params["blockNumber"]` is the round (the block the performer was elected
  for, passed by the performer node); the contribution is 32
  fresh random bytes; data = `abi.encode(uint64 round, bytes32 value)`; the proof records both.
* validate(task): the data is well formed, the value is not zero, the round is recent (at most
  `max_age` blocks old, not in the future), and the performer is the operator elected for it.
* On-chain, `contracts/examples/RandomnessBeaconLogic.sol` mixes each approved contribution (and
  the aggregate BLS signature) into its random value, and refuses rounds that do not move forward.

Config: `rpc_url`, `attestation_center` (to read the attesters and the chain head), `period`
(default 5 blocks), `max_age` (default 20 blocks).
"""

from __future__ import annotations

import json
import os
import secrets

from eth_abi import decode, encode
from eth_abi.exceptions import DecodingError

from othentic_offchain.avs import Avs, Execution, Task
from othentic_offchain.nodes.performer.election import round_robin

DEFAULT_PERIOD = 5
DEFAULT_MAX_AGE = 20


def encode_contribution(round_: int, value: bytes) -> bytes:
    return encode(["uint64", "bytes32"], [round_, value])


def decode_contribution(data: bytes) -> tuple[int, bytes]:
    if len(data) != 64:
        raise ValueError(f"beacon data must be 64 bytes, got {len(data)}")
    try:
        round_, value = decode(["uint64", "bytes32"], data)
    except DecodingError as exc:  # e.g. a round word beyond uint64
        raise ValueError(f"beacon data does not decode: {exc}") from exc
    return int(round_), bytes(value)


class _Chain:
    """The two reads validation needs, through web3 (cached per AVS object)."""

    def __init__(self, rpc_url: str, center: str):
        from web3 import AsyncHTTPProvider, AsyncWeb3

        from othentic_offchain.chain.artifacts import load_artifact

        self.w3 = AsyncWeb3(AsyncHTTPProvider(rpc_url))
        self.center = self.w3.eth.contract(
            address=AsyncWeb3.to_checksum_address(center), abi=load_artifact("IAttestationCenter").abi
        )

    async def head(self) -> int:
        return int(await self.w3.eth.block_number)

    async def members(self, definition_id: int) -> list[int]:
        ids, _stakes = await self.center.functions.taskDefinitionMembers(definition_id).call()
        return [int(i) for i in ids]

    async def operator_id(self, account: str) -> int:
        return int(await self.center.functions.operatorIdOf(account).call())


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
        # The performer passes the block it was elected for; without one (a manual call), the head.
        round_ = int(params["blockNumber"]) if "blockNumber" in params else await chain(ctx).head()
        value = secrets.token_bytes(32)
        proof = {"round": round_, "value": "0x" + value.hex()}
        return Execution(proof=json.dumps(proof, sort_keys=True).encode(), data=encode_contribution(round_, value))

    @avs.validate(definition_id)
    async def check(task: Task, ctx) -> bool:
        try:
            round_, value = decode_contribution(task.data)
        except ValueError:
            return False
        if value == bytes(32):
            return False
        view = chain(ctx)
        head = await view.head()
        if round_ > head or head - round_ > int(ctx.config.get("max_age", DEFAULT_MAX_AGE)):
            return False
        members = await view.members(task.task_definition_id)
        if not members:
            return False
        elected = round_robin(members, round_, int(ctx.config.get("period", DEFAULT_PERIOD)))
        return elected == await view.operator_id(task.performer)

    return avs


avs = install(Avs("randomness-beacon"), int(os.environ.get("BEACON_DEFINITION", "2")))
