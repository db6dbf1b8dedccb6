"""The proof store server fuzzed: ``POST /proofs`` (any bytes are a proof up to the limit),
``GET /ipfs/{cid}`` with any text for a CID, ``GET /health``, other methods and routes. Refusals
are JSON ``{"error", "message"}`` with a 4xx; what is stored is served back unchanged."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import given
from hypothesis import strategies as st

from othentic_offchain.proofs import LocalProofStore, compute_cid, start_proof_server
from tests.offchain.fuzz.fuzz_harness import (
    FUZZ,
    assert_error_body,
    assert_refused_or_closed,
    content_types,
    garbage_heads,
    other_methods,
    send,
)

LIMIT = 4096


@pytest.fixture(scope="module")
def server(loop, tmp_path_factory):
    store = LocalProofStore(tmp_path_factory.mktemp("proofs"), max_size=LIMIT, durable=False)
    running = loop.run(start_proof_server(store))
    yield running.url
    loop.run(running.close())


@pytest.fixture
def url(server):
    yield server
    health = send(server + "/health", method="GET", content_type=None)
    assert health.status == 200 and health.json == {"status": "ok", "maxSize": LIMIT}, health
    stored = send(server + "/proofs", b"still serving", content_type="application/octet-stream")
    assert stored.status == 201 and stored.json["cid"] == compute_cid(b"still serving"), stored


@FUZZ
@given(content=st.binary(max_size=LIMIT), kind=content_types)
def test_any_bytes_up_to_the_limit_are_stored_and_served_back_unchanged(url, content, kind):
    stored = send(url + "/proofs", content, content_type=kind)
    assert stored.status == 201 and stored.json["size"] == len(content), stored
    served = send(url + "/ipfs/" + stored.json["cid"], method="GET", content_type=None)
    assert served.status == 200 and served.body == content, served


@FUZZ
@given(extra=st.integers(1, 3 * LIMIT), chunked=st.booleans())
def test_a_body_over_the_limit_is_refused_with_413(url, extra, chunked):
    body = b"\x00" * (LIMIT + extra)
    answer = send(url + "/proofs", iter([body]) if chunked else body, content_type="application/octet-stream")
    assert assert_error_body(answer, statuses=range(413, 414))["error"] == "too_large"


@FUZZ
@given(
    cid=st.one_of(
        st.text(min_size=1, max_size=80),
        st.sampled_from(["bafk", "Qm", "bafybei", "b" * 1000, "Qm" + "1" * 44, "bafkrei" + "a" * 52, "z" * 59]),
    )
)
def test_any_text_for_a_cid_is_refused_with_400_or_404(url, cid):
    answer = send(url + "/ipfs/" + quote(cid, safe=""), method="GET", content_type=None)
    if answer.status == 200:  # the text named a proof stored by an earlier example
        return
    assert assert_error_body(answer, statuses=range(400, 405))["error"] in {
        "invalid_cid",
        "unsupported_cid",
        "not_found",
    }


@FUZZ
@given(method=other_methods, path=st.sampled_from(["/proofs", "/ipfs/x", "/health", "/", "/ipfs", "/proofs/1"]))
def test_a_method_or_route_the_server_lacks_is_an_error_body(url, method, path):
    if (method, path) in {("POST", "/proofs"), ("GET", "/ipfs/x"), ("GET", "/health")}:
        return
    assert_error_body(send(url + path, b"{}", method=method), statuses=range(400, 406))


def test_a_truncated_upload_is_refused_or_dropped_and_the_server_keeps_serving(url):
    host = url.removeprefix("http://")
    head = f"POST /proofs HTTP/1.1\r\nHost: {host}\r\nContent-Length: 1000".encode()
    assert_refused_or_closed(url, head, b"only part of it")


@FUZZ
@given(head=garbage_heads)
def test_bytes_that_are_not_an_http_request_are_refused_or_closed(url, head):
    assert_refused_or_closed(url, head)
