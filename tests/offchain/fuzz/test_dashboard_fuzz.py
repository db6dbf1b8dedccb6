"""The dashboard server, fuzzed: every file name under /static/ is one of its files or a JSON 404;
other methods and routes are JSON refusals; /api/state keeps answering (its aggregator down here:
the chain's parts and the error saying so); never a 5xx or a text page."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from othentic_offchain.dashboard import DashboardServer, DashboardSource
from othentic_offchain.dashboard.server import STATIC_FILES
from tests.offchain.fuzz.fuzz_harness import FUZZ, assert_error_body, other_methods, send
from tests.offchain.nodes.node_harness import closed_url


@pytest.fixture(scope="module")
def dashboard(loop, devnet):
    server = DashboardServer(DashboardSource(closed_url(), devnet.record, devnet.anvil.rpc_url))
    url = loop.run(server.start())
    yield url.rstrip("/")
    loop.run(server.stop())


def assert_still_serving(url: str) -> None:
    state = send(url + "/api/state", method="GET", content_type=None)
    assert state.status == 200 and state.json["chainId"] == 31337, state
    assert any("aggregator" in error for error in state.json["errors"]), state


@FUZZ
@given(name=st.one_of(st.text(min_size=1, max_size=40), st.sampled_from([*STATIC_FILES, "../server.py", "%2e%2e"])))
def test_a_static_name_is_one_of_the_page_files_or_a_json_404(dashboard, name):
    answer = send(dashboard + "/static/" + quote(name, safe=""), method="GET", content_type=None)
    if answer.status == 200:
        assert name in STATIC_FILES, answer
    else:
        assert assert_error_body(answer, statuses=range(404, 405))["error"] == "not_found"
    assert_still_serving(dashboard)


@FUZZ
@given(method=other_methods.filter(lambda m: m != "GET"), path=st.sampled_from(["/", "/api/state", "/health"]))
def test_another_http_method_is_a_json_405(dashboard, method, path):
    answer = send(dashboard + path, method=method)
    assert assert_error_body(answer, statuses=range(405, 406))["error"] == "method_not_allowed"


@FUZZ
@given(path=st.text(alphabet=st.characters(min_codepoint=33, max_codepoint=126), min_size=1, max_size=30))
def test_an_unknown_route_is_a_json_404(dashboard, path):
    assume(all(segment not in (".", "..") for segment in path.split("/")))  # the client resolves those
    assume(path.lstrip("/") not in ("", "health") and not path.lstrip("/").startswith(("api/state", "static/")))
    answer = send(dashboard + "/" + quote(path.lstrip("/"), safe="/"), method="GET", content_type=None)
    assert answer.status in (404, 400), answer
    assert_error_body(answer, statuses=range(400, 405))
