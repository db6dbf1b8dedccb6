"""Unit tests of the AVS's functions: no chain, proofs in memory, the fake price source."""

from avs import decode_price


def test_execute_stores_the_observation_and_encodes_the_price(prices):
    result = prices.execute("price", {"pair": "eth-usd"})
    pair, price, _at = decode_price(result.data)
    assert pair == "ETH-USD" and 2900 < price < 3100
    assert b'"pair": "ETH-USD"' in prices.proofs.blobs[result.proof_of_task]


def test_validate_approves_an_honest_price_and_rejects_a_lie(prices):
    assert prices.validate("price", prices.execute("price", {"pair": "BTC-USD"})) is True
    assert prices.validate("price", prices.execute("price", {"pair": "BTC-USD", "lie_percent": 5})) is False


def test_validate_rejects_data_that_is_not_the_stored_observation(prices):
    honest = prices.execute("price", {"pair": "ETH-USD"})
    other = prices.execute("price", {"pair": "SOL-USD"})
    assert prices.validate("price", honest, data=other.data) is False
    assert prices.validate("price", honest, data=b"not a price") is False
