"""The AVS: a price feed. Per task definition (by the name othentic.toml gives it), execute and validate.

price: the performer reads a pair's price from the source (ctx.config["price_source"]), stores the
observation (JSON) in the proof store and puts abi.encode(bytes32 pair, uint256 price, uint64 at)
on-chain, the price in 1e8 units. Every attester checks that the data matches the stored
observation, is recent (ctx.config["max_age"] seconds) and lies within ctx.config["tolerance"] of
its own reading of the source. params {"lie_percent": 5} makes a lying performer (for tests).
"""

import json
import secrets
import time

import aiohttp
from eth_abi import decode, encode
from eth_abi.exceptions import DecodingError

from othentic_offchain.avs import Avs, Execution, Task

avs = Avs("{{name}}")
UNITS = 10**8


async def read_price(source: str, pair: str) -> float:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session:
        async with session.get(f"{source}/price/{pair}") as response:
            response.raise_for_status()
            return float((await response.json())["price"])


def encode_price(pair: str, price: float, at: int) -> bytes:
    return encode(["bytes32", "uint256", "uint64"], [pair.encode().ljust(32, b"\0"), round(price * UNITS), at])


def decode_price(data: bytes) -> tuple[str, float, int]:
    pair, units, at = decode(["bytes32", "uint256", "uint64"], data)
    return pair.rstrip(b"\0").decode(), units / UNITS, at


@avs.execute("price")
async def observe(params: dict, ctx) -> Execution:
    pair = str(params.get("pair", "ETH-USD")).upper()
    price = await read_price(ctx.config["price_source"], pair)
    price *= 1 + float(params.get("lie_percent", 0)) / 100
    at = int(time.time())
    # The nonce makes each observation (and so each task) unique, even two in the same second.
    observation = {"pair": pair, "price": price, "at": at, "nonce": secrets.token_hex(8)}
    proof = json.dumps(observation, sort_keys=True).encode()
    return Execution(proof=proof, data=encode_price(pair, price, at))


@avs.validate("price")
async def check_price(task: Task, ctx) -> bool:
    try:
        pair, price, at = decode_price(task.data)
        stored = json.loads(await ctx.proofs.get(task.proof_of_task))
    except (ValueError, LookupError, DecodingError):  # data that does not decode, a proof nobody stored
        return False
    if encode_price(stored["pair"], stored["price"], stored["at"]) != task.data:
        return False  # the data is not the observation the performer stored
    if not -30 <= time.time() - at <= ctx.config.get("max_age", 120):
        return False
    ours = await read_price(ctx.config["price_source"], pair)  # raises if the source is down: no vote
    return abs(price - ours) <= ctx.config.get("tolerance", 0.01) * ours
