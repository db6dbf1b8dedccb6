"""How the dashboard turns event arguments into JSON the page can show (as text)."""

from __future__ import annotations

import json

from web3.datastructures import AttributeDict

from othentic_offchain.dashboard.source import MAX_BYTES, MAX_TEXT, _plain, _public_url


def test_an_event_struct_becomes_an_object_with_large_numbers_as_text_and_long_values_cut():
    params = AttributeDict(
        {"name": "n" * 1000, "reward": 5 * 10**18, "expiry": 7, "ids": (1, 2), "flag": True, "data": b"\xab" * 100}
    )
    plain = _plain(params)
    assert plain == {
        "name": "n" * MAX_TEXT,
        "reward": str(5 * 10**18),
        "expiry": 7,
        "ids": [1, 2],
        "flag": True,
        "data": "0x" + "ab" * MAX_BYTES + "…",
    }
    json.dumps(plain)  # JSON as it is


def test_the_rpc_url_shown_keeps_scheme_host_and_port_only():
    assert _public_url("https://user:secret@rpc.example.org:8443/v2/KEY?x=1,http://b") == "https://rpc.example.org:8443"
