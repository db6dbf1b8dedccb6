"""The price-oracle example's price source (what its Execution Service reads), fuzzed: any text for
a pair is a price (200) or a JSON 404 ``{"error", "message"}``; never a 5xx or a text page."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from othentic_offchain.avs import ServiceRunner
from othentic_offchain.examples.price_oracle.price_source import BASES, build_app
from tests.offchain.fuzz.fuzz_harness import FUZZ, assert_error_body, send


@pytest.fixture(scope="module")
def source(loop):
    runner = ServiceRunner(build_app())
    url = loop.run(runner.start())
    yield url
    loop.run(runner.stop())


@FUZZ
@given(pair=st.one_of(st.text(min_size=1, max_size=40), st.sampled_from([*BASES, "eth-usd", "ETH-USD\x00", "%ff"])))
def test_any_pair_is_a_price_or_a_json_404(source, pair):
    answer = send(source + "/price/" + quote(pair, safe=""), method="GET", content_type=None)
    if answer.status == 200:
        body = answer.json
        assert body["pair"] in BASES and float(body["price"]) > 0, answer
    else:
        assert assert_error_body(answer, statuses=range(404, 405))["error"] in {"unknown_pair", "not_found"}
    wrong = send(source + "/price/ETH-USD", method="POST")
    assert assert_error_body(wrong, statuses=range(405, 406))["error"] == "method_not_allowed"
    health = send(source + "/health", method="GET", content_type=None)
    assert health.status == 200 and health.json["status"] == "ok", health
