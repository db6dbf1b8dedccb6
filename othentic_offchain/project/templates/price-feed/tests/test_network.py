"""End to end: the project on a throwaway local network (the avs_network fixture, one per session)."""

from avs import decode_price


def test_an_honest_price_is_approved_despite_the_lying_attester(avs_network):
    outcome = avs_network.send("price", {"pair": "ETH-USD"})
    assert outcome.landed, outcome.error
    assert outcome.side == "approve"
    assert decode_price(outcome.data_bytes)[0] == "ETH-USD"
    # The devnet's lying attester (othentic.toml: lying = 1) answered reject, if its vote came in time.
    assert set(outcome.disagreed) <= set(avs_network.lying)


def test_a_lying_performer_is_rejected(avs_network):
    outcome = avs_network.send("price", {"pair": "ETH-USD", "lie_percent": 5})
    assert outcome.landed, outcome.error
    assert outcome.side == "reject"
