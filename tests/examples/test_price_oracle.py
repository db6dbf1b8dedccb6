"""examples/price_oracle: the drifting price source, the data encoding, execute and validate.

Everything runs for real on 127.0.0.1: the price source app behind a TCP port (with a clock the
test moves), and the proof store (``LocalProofStore`` in a temporary folder, served by
``start_proof_server``, reached through ``ProofStoreClient``) that execute writes the observation to
and validate reads it back from.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from decimal import Decimal

import aiohttp
import pytest
from eth_abi import encode

import othentic_offchain.examples.price_oracle.avs as price_oracle
from othentic_offchain.avs import Avs, Task
from othentic_offchain.examples.price_oracle.avs import (
    DEFAULT_MAX_FUTURE_SKEW,
    DEFAULT_MAX_OBSERVATION_AGE,
    DEFAULT_TOLERANCE,
    UNITS,
    decode_price,
    encode_price,
    install,
    pair_id,
)
from othentic_offchain.examples.price_oracle.price_source import BASES, build_app, price_at
from tests.examples._examples_support import STRANGER, proof_store, serving

DEFINITION = 1
T0 = 1_764_000_000.0  # a fixed moment for the test clock


class Clock:
    """The price source's clock, moved by the test: by default the current second, because the
    attesters bound an observation's time by their own clock (``time.time()``)."""

    def __init__(self, now: float | None = None) -> None:
        self.now = float(int(time.time())) if now is None else now

    def __call__(self) -> float:
        return self.now


async def _close_price_sessions() -> None:
    # The example keeps one keep-alive session per event loop and never closes it (a services
    # process has one loop for its whole life); each test here has its own loop, so close them.
    for session in list(price_oracle._sessions.values()):
        await session.close()
    price_oracle._sessions.clear()


def run(coro):
    async def wrapped():
        try:
            return await coro
        finally:
            await _close_price_sessions()

    return asyncio.run(wrapped())


# -- the price source ---------------------------------------------------------------------------------


@pytest.mark.parametrize("pair", sorted(BASES))
def test_two_readings_a_second_apart_differ_by_far_less_than_the_tolerance(pair):
    worst = 0.0
    for step in range(1_500):  # 1,500 moments spread over ~25 minutes, off the waves' periods
        at = T0 + step * 0.997
        before, after = float(price_at(pair, at)), float(price_at(pair, at + 1))
        worst = max(worst, abs(after - before) / before)
    assert worst < DEFAULT_TOLERANCE / 4


@pytest.mark.parametrize("pair", sorted(BASES))
def test_over_minutes_the_price_moves_by_more_than_the_tolerance(pair):
    readings = [float(price_at(pair, T0 + second)) for second in range(0, 300, 5)]
    assert (max(readings) - min(readings)) / min(readings) > 2 * DEFAULT_TOLERANCE
    assert all(abs(r - BASES[pair]) / BASES[pair] < 0.05 for r in readings)  # around its base price


def test_prices_are_cents_and_differ_per_pair_at_one_moment():
    prices = {pair: price_at(pair, T0) for pair in BASES}
    assert all(p == p.quantize(Decimal("0.01")) for p in prices.values())
    assert len(set(p / Decimal(repr(BASES[pair])) for pair, p in prices.items())) == len(BASES)  # own phases


def test_price_at_refuses_an_unknown_pair():
    with pytest.raises(KeyError):
        price_at("DOGE-USD", T0)


def test_the_price_source_answers_the_price_of_its_clock_and_404s_unknown_pairs():
    clock = Clock(T0)

    async def scenario():
        async with serving(build_app(clock=clock)) as url, aiohttp.ClientSession() as http:
            async with http.get(f"{url}/price/ETH-USD") as response:
                assert response.status == 200
                first = await response.json()
            clock.now += 120
            async with http.get(f"{url}/price/eth-usd") as response:  # any case
                later = await response.json()
            async with http.get(f"{url}/price/DOGE-USD") as response:
                assert response.status == 404
                unknown = await response.json()
            async with http.get(f"{url}/health") as response:
                health = await response.json()
        return first, later, unknown, health

    first, later, unknown, health = run(scenario())
    assert first == {"pair": "ETH-USD", "price": str(price_at("ETH-USD", T0)), "timestamp": int(T0)}
    assert later == {"pair": "ETH-USD", "price": str(price_at("ETH-USD", T0 + 120)), "timestamp": int(T0) + 120}
    assert later["price"] != first["price"]
    assert unknown["error"] == "unknown_pair"
    assert "DOGE-USD" in unknown["message"] and "ETH-USD" in unknown["message"]
    assert health == {"status": "ok", "pairs": sorted(BASES)}


def test_read_price_gives_1e8_units_and_the_source_timestamp():
    clock = Clock(T0)

    async def scenario():
        async with serving(build_app(clock=clock)) as url:
            return await price_oracle.read_price(url, "BTC-USD")

    price, observed_at = run(scenario())
    assert price == int(price_at("BTC-USD", T0) * UNITS)
    assert observed_at == int(T0)


# -- the data encoding --------------------------------------------------------------------------------


def test_encode_price_round_trips_through_decode_price():
    data = encode_price("eth-usd", 3_150_42000000, 1_764_000_123)
    assert len(data) == 96
    pair = b"ETH-USD".ljust(32, b"\0")
    assert data == encode(["bytes32", "uint256", "uint64"], [pair, 3_150_42000000, 1_764_000_123])
    assert decode_price(data) == ("ETH-USD", 3_150_42000000, 1_764_000_123)


def test_a_pair_name_is_uppercased_and_at_most_32_bytes():
    assert pair_id("sol-usd") == b"SOL-USD".ljust(32, b"\0")
    assert decode_price(encode_price("X" * 32, 1, 2)) == ("X" * 32, 1, 2)
    with pytest.raises(ValueError, match="longer than 32 bytes"):
        encode_price("X" * 33, 1, 2)


@pytest.mark.parametrize("length", [0, 32, 64, 95, 97, 128])
def test_decode_price_rejects_data_of_the_wrong_length(length):
    with pytest.raises(ValueError, match=f"must be 96 bytes, got {length}"):
        decode_price(b"\x01" * length)


def test_decode_price_rejects_a_pair_that_is_not_utf8():
    data = encode(["bytes32", "uint256", "uint64"], [b"\xff\xfe".ljust(32, b"\0"), 1, 2])
    with pytest.raises(UnicodeDecodeError):
        decode_price(data)


def test_decode_price_rejects_a_time_beyond_uint64():
    bad_time = encode(["bytes32", "uint256", "uint256"], [pair_id("ETH-USD"), 1, 2**64])  # 96 bytes, dirty padding
    with pytest.raises(Exception, match="Padding bytes"):
        decode_price(bad_time)


# -- execute and validate, with a real proof store -------------------------------------------------------


def _oracle(store, source_url: str, **config) -> Avs:
    return install(Avs("price-oracle", proofs=store.client, config={"price_source": source_url, **config}), DEFINITION)


def _task(result, performer: str = STRANGER, data: bytes | None = None, proof: str | None = None) -> Task:
    return Task(
        proof_of_task=proof or result.proof_of_task,
        data=result.data if data is None else data,
        task_definition_id=DEFINITION,
        performer=performer,
    )


def test_execute_stores_the_observation_and_submits_it_as_data(tmp_path):
    clock = Clock(T0)

    async def scenario():
        async with serving(build_app(clock=clock)) as source, proof_store(tmp_path) as store:
            oracle = _oracle(store, source)
            result = await oracle.run_execute(DEFINITION, {"pair": "sol-usd"})
            again = await oracle.run_execute(DEFINITION, {"pair": "SOL-USD"})
            stored = json.loads(await store.client.get(result.proof_of_task))
            return result, again, stored, store.local.has(result.proof_of_task), source

    result, again, stored, on_disk, source = run(scenario())
    price = int(price_at("SOL-USD", T0) * UNITS)
    assert decode_price(result.data) == ("SOL-USD", price, int(T0))
    assert result.task_definition_id == DEFINITION
    assert result.proof_of_task.startswith("bafkrei") and on_disk
    assert {k: stored[k] for k in ("pair", "price", "units", "observedAt", "source")} == {
        "pair": "SOL-USD",
        "price": price,
        "units": UNITS,
        "observedAt": int(T0),
        "source": source,
    }
    # The nonce keeps two observations of one price in one second two distinct tasks.
    assert again.data == result.data and again.proof_of_task != result.proof_of_task


def test_validate_approves_an_honest_observation_also_a_second_later(tmp_path):
    clock = Clock()

    async def scenario():
        async with serving(build_app(clock=clock)) as source, proof_store(tmp_path) as store:
            oracle = _oracle(store, source)
            result = await oracle.run_execute(DEFINITION, {"pair": "ETH-USD"})
            same_moment = await oracle.run_validate(_task(result))
            clock.now += 1  # the attesters read the source a moment after the performer
            a_second_later = await oracle.run_validate(_task(result))
            return same_moment, a_second_later

    assert run(scenario()) == (True, True)


@pytest.mark.parametrize(("lie_percent", "approved"), [(0.2, True), (0.4, True), (0.6, False), (5, False), (-5, False)])
def test_validate_rejects_a_price_that_lies_by_more_than_the_tolerance(tmp_path, lie_percent, approved):
    clock = Clock()

    async def scenario():
        async with serving(build_app(clock=clock)) as source, proof_store(tmp_path) as store:
            oracle = _oracle(store, source)
            result = await oracle.run_execute(DEFINITION, {"pair": "BTC-USD", "lie_percent": lie_percent})
            return result, await oracle.run_validate(_task(result))

    result, verdict = run(scenario())
    honest = int(price_at("BTC-USD", clock.now) * UNITS)
    assert decode_price(result.data)[1] == int(honest * (1 + lie_percent / 100))
    assert verdict is approved


def test_a_lying_performer_can_be_configured_and_a_stricter_tolerance_rejects_smaller_lies(tmp_path):
    clock = Clock()

    async def scenario():
        async with serving(build_app(clock=clock)) as source, proof_store(tmp_path) as store:
            liar = _oracle(store, source, lie_percent=0.3)
            result = await liar.run_execute(DEFINITION, {"pair": "ETH-USD"})
            lenient = await _oracle(store, source).run_validate(_task(result))
            strict = await _oracle(store, source, tolerance=0.001).run_validate(_task(result))
            return lenient, strict

    assert run(scenario()) == (True, False)


def test_validate_rejects_data_that_does_not_match_the_stored_proof(tmp_path):
    clock = Clock()

    async def scenario():
        async with serving(build_app(clock=clock)) as source, proof_store(tmp_path) as store:
            oracle = _oracle(store, source)
            result = await oracle.run_execute(DEFINITION, {"pair": "ETH-USD"})
            pair, price, observed_at = decode_price(result.data)
            other = await oracle.run_execute(DEFINITION, {"pair": "BTC-USD"})
            return [
                # the same price, a second off: within tolerance, but not what the proof records
                await oracle.run_validate(_task(result, data=encode_price(pair, price, observed_at + 1))),
                # one unit off: the proof says otherwise
                await oracle.run_validate(_task(result, data=encode_price(pair, price + 1, observed_at))),
                # another pair's (honest) data behind this proof
                await oracle.run_validate(_task(result, data=other.data)),
                # the honest task itself, for contrast
                await oracle.run_validate(_task(result)),
            ]

    assert run(scenario()) == [False, False, False, True]


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\x01" * 95,
        encode(["bytes32", "uint256", "uint64"], [b"\xff".ljust(32, b"\0"), 1, 2]),
        # 96 bytes whose last word does not fit observedAt's uint64: PriceOracleLogic's abi.decode
        # would revert on it, so attesters must reject it (and not fail to answer, which leaves a lying
        # performer unpunished by the rejected-task penalty).
        encode(["bytes32", "uint256", "uint256"], [pair_id("ETH-USD"), 1, 2**64]),
    ],
    ids=["empty", "95-bytes", "pair-not-utf8", "time-beyond-uint64"],
)
def test_validate_rejects_malformed_data_without_reading_the_proof(tmp_path, data):
    async def scenario():
        async with proof_store(tmp_path) as store:
            oracle = _oracle(store, "http://127.0.0.1:9")  # never reached
            task = Task(proof_of_task="not a cid", data=data, task_definition_id=DEFINITION, performer=STRANGER)
            return await oracle.run_validate(task)

    assert run(scenario()) is False


# -- the time window: an observation dated far ahead would freeze the pair on-chain ------------------------


def _observe_at(tmp_path, moments: list[float], **config) -> list[bool]:
    """Execute at each moment of the source's clock and validate at once (the attester's reading of
    the source at the same moment, so only the observation's time can make it fail)."""
    clock = Clock()

    async def scenario():
        verdicts = []
        async with serving(build_app(clock=clock)) as source, proof_store(tmp_path) as store:
            oracle = _oracle(store, source, **config)
            for moment in moments:
                clock.now = moment
                result = await oracle.run_execute(DEFINITION, {"pair": "ETH-USD"})
                assert decode_price(result.data)[2] == int(moment)
                verdicts.append(await oracle.run_validate(_task(result)))
        return verdicts

    return run(scenario())


def test_validate_rejects_a_far_future_observation_naming_max_future_skew(tmp_path, caplog):
    now = time.time()
    with caplog.at_level(logging.INFO, logger="othentic.avs.price-oracle"):
        verdicts = _observe_at(tmp_path, [now + 365 * 86_400, now + DEFAULT_MAX_FUTURE_SKEW + 10])
    assert verdicts == [False, False]
    reasons = [r.getMessage() for r in caplog.records if "rejects" in r.getMessage()]
    assert len(reasons) == 2 and all("max_future_skew 30 s" in reason for reason in reasons)


def test_validate_rejects_an_observation_older_than_max_observation_age_naming_it(tmp_path, caplog):
    now = time.time()
    with caplog.at_level(logging.INFO, logger="othentic.avs.price-oracle"):
        verdicts = _observe_at(tmp_path, [now - DEFAULT_MAX_OBSERVATION_AGE - 10, now - 86_400])
    assert verdicts == [False, False]
    reasons = [r.getMessage() for r in caplog.records if "rejects" in r.getMessage()]
    assert len(reasons) == 2 and all("max_observation_age 120 s" in reason for reason in reasons)


def test_validate_accepts_observations_inside_the_window(tmp_path):
    now = time.time()
    moments = [now, now + DEFAULT_MAX_FUTURE_SKEW - 10, now - DEFAULT_MAX_OBSERVATION_AGE + 10]
    assert _observe_at(tmp_path, moments) == [True, True, True]


def test_the_window_follows_max_future_skew_and_max_observation_age_from_the_config(tmp_path):
    now = time.time()
    wide = _observe_at(tmp_path / "wide", [now + 3_000, now - 3_000], max_future_skew=3_600, max_observation_age=3_600)
    narrow = _observe_at(tmp_path / "narrow", [now + 20, now - 20], max_future_skew=5, max_observation_age=10)
    assert (wide, narrow) == ([True, True], [False, False])


def test_the_beacons_max_age_in_a_shared_config_does_not_change_the_window(tmp_path):
    # The devnet serves every example with one config; the beacon's max_age counts blocks.
    now = time.time()
    assert _observe_at(tmp_path, [now - 60], max_age=5) == [True]
