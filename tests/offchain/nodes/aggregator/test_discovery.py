"""othentic_offchain.nodes.aggregator.discovery: which URL reaches which attester.

The chain is a stand-in with ChainView's ``operator(id)`` shape; the aggregator tests cover the
real on-chain endpoints (``setOperatorEndpoint``).
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from othentic_offchain.nodes.aggregator.discovery import (
    AttesterDirectory,
    InvalidAttesterSpec,
    normalize_url,
    parse_attester_spec,
    parse_attester_specs,
)

ALICE = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"
BOB = "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"


class FakeChain:
    """Operators 1 (Alice) and 2 (Bob) with published endpoints; 3 with none; 4 with a bad one."""

    def __init__(self):
        self.asked: list[int] = []
        self.operators = {
            1: SimpleNamespace(account=ALICE, endpoint="http://alice.example:9000/"),
            2: SimpleNamespace(account=BOB, endpoint="https://bob.example"),
            3: SimpleNamespace(account="0x" + "33" * 20, endpoint=""),
            4: SimpleNamespace(account="0x" + "44" * 20, endpoint="ftp://nope"),
        }

    async def operator(self, operator_id: int):
        self.asked.append(operator_id)
        return self.operators[operator_id]


def url_for(directory: AttesterDirectory, operator_id: int):
    return asyncio.run(directory.url_for(operator_id))


def test_spec_with_an_operator_id():
    assert parse_attester_spec("3=http://127.0.0.1:9001/") == (3, "http://127.0.0.1:9001")


def test_spec_with_an_address_is_checksummed():
    assert parse_attester_spec(f"{ALICE.lower()}=https://a.example") == (ALICE, "https://a.example")


@pytest.mark.parametrize(
    "spec",
    [
        "http://127.0.0.1:9001",  # no key
        "0=http://x",  # ids start at 1
        "three=http://x",
        "3=127.0.0.1:9001",  # no scheme
        "3=ftp://x",
        "0x70997970C51812dc3A010C7d01b50e0d17dc79c8=http://x",  # wrong EIP-55 checksum
    ],
)
def test_bad_specs_are_refused_with_the_spec_in_the_message(spec):
    with pytest.raises(InvalidAttesterSpec) as caught:
        parse_attester_spec(spec)
    assert spec.split("=")[0] in str(caught.value)


def test_the_same_operator_given_twice_is_refused():
    assert parse_attester_specs(["1=http://a", f"{BOB}=http://b"]) == {1: "http://a", BOB: "http://b"}
    with pytest.raises(InvalidAttesterSpec, match="twice"):
        parse_attester_specs(["1=http://a", "1=http://b"])


def test_static_id_wins_over_the_published_endpoint():
    chain = FakeChain()
    directory = AttesterDirectory(chain, {1: "http://10.0.0.1:7000"})
    assert url_for(directory, 1) == "http://10.0.0.1:7000"
    assert chain.asked == []  # the chain is not even asked


def test_static_address_wins_over_the_published_endpoint():
    directory = AttesterDirectory(FakeChain(), {BOB.lower(): "http://10.0.0.2:7000/"})
    assert url_for(directory, 2) == "http://10.0.0.2:7000"


def test_published_endpoint_is_used_without_a_static_entry():
    directory = AttesterDirectory(FakeChain(), {"1": "http://10.0.0.1:7000"})
    assert url_for(directory, 2) == "https://bob.example"
    assert url_for(AttesterDirectory(FakeChain()), 1) == "http://alice.example:9000"


def test_operator_without_a_usable_endpoint_has_no_url():
    directory = AttesterDirectory(FakeChain())
    assert url_for(directory, 3) is None
    assert url_for(directory, 4) is None


def test_without_a_chain_only_static_entries_answer():
    directory = AttesterDirectory(None, {1: "http://a:1"})
    assert url_for(directory, 1) == "http://a:1"
    assert url_for(directory, 2) is None
    assert directory.static_urls() == ["http://a:1"]


def test_urls_for_answers_every_operator():
    directory = AttesterDirectory(FakeChain(), {2: "http://static-bob"})
    assert asyncio.run(directory.urls_for([1, 2, 3])) == {
        1: "http://alice.example:9000",
        2: "http://static-bob",
        3: None,
    }


def test_bad_static_map_is_refused_at_construction():
    with pytest.raises(InvalidAttesterSpec):
        AttesterDirectory(None, {1: "not a url"})
    with pytest.raises(InvalidAttesterSpec):
        AttesterDirectory(None, {"bob": "http://x"})


def test_normalize_url_strips_the_trailing_slash_and_spaces():
    assert normalize_url(" http://h:1/ ") == "http://h:1"
    with pytest.raises(ValueError):
        normalize_url("http://")
