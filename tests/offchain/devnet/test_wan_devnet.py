"""othentic_offchain.devnet.wan_devnet: where a devnet's processes run when its operators' hosts are
apart, and the URLs they publish and are reached at. The rewriting of commands runs anywhere; the
parts that make namespaces and a relay are root only (skipped elsewhere, with the reason)."""

from __future__ import annotations

import subprocess

import pytest

from othentic_offchain.devnet.wan import RELAY_ADDRESS, LinkProfile
from othentic_offchain.devnet.wan_devnet import DEFAULT_PROFILE, WanLayout
from tests.namespaces import needs_namespaces


def test_the_default_profile_puts_the_wide_area_between_operators_and_the_chain_close_by():
    assert (DEFAULT_PROFILE.min_ms, DEFAULT_PROFILE.max_ms, DEFAULT_PROFILE.machine_ms) == (20, 150, 5)


def test_an_unplaced_process_runs_on_the_machine_as_it_is():
    layout = WanLayout(2, tag="u1")
    command = ["othentic", "dashboard", "--rpc", "http://127.0.0.1:8545"]
    assert layout.wrap("dashboard", command) == command
    assert layout.host_of("dashboard") is None
    assert layout.reachable("dashboard", "http://127.0.0.1:9000") == "http://127.0.0.1:9000"


def test_a_placed_process_is_reached_by_the_machine_at_its_hosts_address():
    layout = WanLayout(3, tag="u2")
    layout.place("performer-generic", 2)
    assert layout.host_of("performer-generic") == 2
    assert layout.reachable("performer-generic", "http://0.0.0.0:4321") == "http://10.213.2.2:4321"
    assert layout.direct(1, 80) == "http://10.213.1.2:80"


def test_a_process_cannot_be_placed_on_a_host_that_does_not_exist():
    layout = WanLayout(2, tag="u3")
    with pytest.raises(ValueError, match="no host 2"):
        layout.place("attester-1", 2)


def test_addresses_through_the_relay_need_the_hosts_up():
    with pytest.raises(RuntimeError, match="call start first"):
        WanLayout(1, tag="u4").published(0, 80)


@needs_namespaces
def test_a_placed_command_runs_in_its_namespace_on_every_address_reaching_the_chain_directly_and_the_rest_through_the_relay():
    layout = WanLayout(2, LinkProfile(1, 1, machine_ms=1), tag="u5").start()
    try:
        layout.chain_port = 8545
        assert layout.anvil_args() == ["--host", RELAY_ADDRESS]
        layout.place("attester-7", 1)
        command = [
            "othentic",
            "node",
            "attester",
            "--rpc",
            "http://127.0.0.1:8545",
            "--validation-service",
            "http://127.0.0.1:9001/path",
            "--db",
            "x.sqlite3",
        ]
        wrapped = layout.wrap("attester-7", command)
        assert wrapped[:4] == ["ip", "netns", "exec", "othentic-u5-1"]
        assert wrapped[-2:] == ["--host", "0.0.0.0"]
        rpc = wrapped[wrapped.index("--rpc") + 1]
        service = wrapped[wrapped.index("--validation-service") + 1]
        assert rpc == f"http://{RELAY_ADDRESS}:8545" == layout.chain(8545)  # anvil listens there too
        assert service == layout.machine(9001) + "/path"
        published = layout.published(1, 7000)
        assert published.startswith(f"http://{RELAY_ADDRESS}:") and published == layout.endpoint(1, 7000)
        assert "othentic-u5-1" in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    finally:
        layout.stop()
    assert "othentic-u5" not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    layout.stop()  # idempotent
