"""Price oracle: the performer reports a price, attesters check it against their own observation.

* execute(params): read the pair's price from the price source, store the observation (JSON) in the
  proof store (its CID is the proof of task), and submit `abi.encode(bytes32 pair, uint256 price,
  uint64 observedAt)` as data, the price in 1e8 units. `params["lie_percent"]` (or config
  `lie_percent`) makes a lying performer: it inflates the price by that much.
* validate(task): the data must decode, be dated inside a window around the attester's clock (at
  most `max_future_skew` seconds ahead, default 30, and at most `max_observation_age` seconds old,
  default 120), match the stored observation, and lie within `tolerance` (default 0.5 %) of the attester's
  own reading of the source. A lie beyond it is rejected, and with the definition's `rejectedTask`
  penalty on, its performer can be slashed. Each refusal is logged with its reason.
* On-chain, `contracts/examples/PriceOracleLogic.sol` stores each approved price that is newer than
  the pair's stored one, and refuses (`ObservationFromTheFuture`) an approved observation dated more
  than `MAX_FUTURE_DRIFT` (5 minutes) after the block: the time window is what keeps one observation
  dated far ahead from freezing a pair, and the contract's bound holds even if a quorum approved it.

Config (``othentic services ... --avs-config '{...}'`` or `Avs(config=...)`): `price_source` (URL),
`tolerance`, `max_future_skew`, `max_observation_age`, `lie_percent`. (The window's names differ
from the beacon's `max_age`, which counts blocks: the devnet serves both examples with one config.)
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import time
from decimal import Decimal

import aiohttp
from eth_abi import decode, encode
from eth_abi.exceptions import DecodingError

from othentic_offchain.avs import Avs, Execution, Task

DEFAULT_SOURCE = "http://127.0.0.1:4200"
DEFAULT_TOLERANCE = 0.005
#: Seconds an observation may be dated ahead of the attester's clock (clocks a little apart).
DEFAULT_MAX_FUTURE_SKEW = 30
#: Seconds an observation may be old when an attester checks it.
DEFAULT_MAX_OBSERVATION_AGE = 120
UNITS = 10**8


def pair_id(pair: str) -> bytes:
    """The pair as the contract keys it: its name, left-aligned in 32 bytes."""
    raw = pair.upper().encode()
    if len(raw) > 32:
        raise ValueError(f"pair name {pair!r} longer than 32 bytes")
    return raw.ljust(32, b"\0")


def encode_price(pair: str, price_units: int, observed_at: int) -> bytes:
    return encode(["bytes32", "uint256", "uint64"], [pair_id(pair), price_units, observed_at])


def decode_price(data: bytes) -> tuple[str, int, int]:
    if len(data) != 96:
        raise ValueError(f"price data must be 96 bytes, got {len(data)}")
    try:
        pair, price, observed_at = decode(["bytes32", "uint256", "uint64"], data)
    except DecodingError as exc:  # e.g. a time word beyond uint64: not a price record
        raise ValueError(f"price data does not decode: {exc}") from exc
    return pair.rstrip(b"\0").decode(), int(price), int(observed_at)


_sessions: dict[int, aiohttp.ClientSession] = {}


def _session() -> aiohttp.ClientSession:
    """One keep-alive session per event loop: a validation is one small GET, not a TCP handshake."""
    loop = asyncio.get_running_loop()
    session = _sessions.get(id(loop))
    if session is None or session.closed:
        session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5))
        _sessions[id(loop)] = session
    return session


async def read_price(source: str, pair: str) -> tuple[int, int]:
    """(price in 1e8 units, timestamp) from the price source."""
    async with _session().get(f"{source.rstrip('/')}/price/{pair}") as response:
        response.raise_for_status()
        body = await response.json()
    return int(Decimal(body["price"]) * UNITS), int(body["timestamp"])


def outside_window(observed_at: int, now: float, config) -> str | None:
    """Why ``observed_at`` is outside the window around ``now`` that ``config`` allows, or None."""
    skew = float(config.get("max_future_skew", DEFAULT_MAX_FUTURE_SKEW))
    max_observation_age = float(config.get("max_observation_age", DEFAULT_MAX_OBSERVATION_AGE))
    if observed_at > now + skew:
        return f"dated {observed_at - now:.0f} s ahead of this attester's clock (max_future_skew {skew:g} s)"
    if observed_at < now - max_observation_age:
        return f"{now - observed_at:.0f} s old (max_observation_age {max_observation_age:g} s)"
    return None


def install(avs: Avs, definition_id: int) -> Avs:
    """Add the price oracle's functions for ``definition_id`` to ``avs``."""

    @avs.execute(definition_id)
    async def observe(params: dict, ctx) -> Execution:
        source = params.get("source") or ctx.config.get("price_source", DEFAULT_SOURCE)
        pair = str(params.get("pair", "ETH-USD")).upper()
        price, observed_at = await read_price(source, pair)
        lie = float(params.get("lie_percent", ctx.config.get("lie_percent", 0)) or 0)
        if lie:
            price = int(price * (1 + lie / 100))
        # The nonce keeps two observations of one price in one second two distinct tasks.
        observation = {
            "pair": pair,
            "price": price,
            "units": UNITS,
            "observedAt": observed_at,
            "source": source,
            "nonce": secrets.token_hex(8),
        }
        return Execution(
            proof=json.dumps(observation, sort_keys=True).encode(), data=encode_price(pair, price, observed_at)
        )

    @avs.validate(definition_id)
    async def check(task: Task, ctx) -> bool:
        try:
            pair, price, observed_at = decode_price(task.data)
        except (ValueError, UnicodeDecodeError):
            return False
        too_far = outside_window(observed_at, time.time(), ctx.config)
        if too_far:
            # The contract keeps only observations newer than the stored one: one approved far
            # ahead would freeze the pair until that moment, so the attesters bound the time.
            ctx.logger.info("price-oracle rejects %s observed at %d: %s", pair, observed_at, too_far)
            return False
        if ctx.proofs is not None:
            stored = json.loads(await ctx.proofs.get(task.proof_of_task))
            if (stored.get("pair"), stored.get("price"), stored.get("observedAt")) != (pair, price, observed_at):
                return False
        own, _ = await read_price(ctx.config.get("price_source", DEFAULT_SOURCE), pair)
        tolerance = float(ctx.config.get("tolerance", DEFAULT_TOLERANCE))
        return abs(price - own) <= tolerance * own

    return avs


#: Standalone: `othentic services othentic_offchain.examples.price_oracle.avs:avs` (definition id from
#: $PRICE_ORACLE_DEFINITION, default 1).
avs = install(Avs("price-oracle"), int(os.environ.get("PRICE_ORACLE_DEFINITION", "1")))
