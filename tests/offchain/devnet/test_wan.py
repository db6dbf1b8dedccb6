"""othentic_offchain.devnet.wan: simulated hosts in network namespaces, and the relay that gives
their links wide-area delay, dropped connections and partitions.

Real namespaces and veths (root only: skipped elsewhere, with the reason), a real HTTP server in
one host and a real client in another."""

from __future__ import annotations

import subprocess
import sys

import pytest

from othentic_offchain.devnet.wan import (
    MAX_HOSTS,
    Hosts,
    LinkProfile,
    WanRelay,
    wait_listening,
)
from tests.namespaces import needs_namespaces

PORT = 18080

#: A GET from inside a host: prints the seconds it took, or the error's class name.
CLIENT = """
import sys, time, urllib.request
start = time.monotonic()
try:
    body = urllib.request.urlopen(sys.argv[1], timeout=5).read()
    print("ok", time.monotonic() - start, len(body))
except Exception as exc:
    print("error", type(exc).__name__)
"""


def get(hosts: Hosts, host: int, url: str) -> tuple[str, float | None]:
    out = hosts.run(host, [sys.executable, "-c", CLIENT, url], capture_output=True, text=True, timeout=30).stdout
    parts = out.split()
    return (parts[0], float(parts[1])) if parts[0] == "ok" else (parts[0], None)


def namespaces() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout


def links() -> str:
    return subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout


@needs_namespaces
def test_a_request_between_hosts_takes_the_links_round_trip_and_a_partition_cuts_it_until_healed():
    profile = LinkProfile(60, 60)  # one way 60 ms between every pair
    with Hosts(3, tag="t1") as hosts:
        server = hosts.popen(
            1, [sys.executable, "-m", "http.server", str(PORT)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            wait_listening(hosts, 1, PORT)
            with WanRelay(hosts, profile) as wan:
                url = wan.expose(1, PORT)
                first = get(hosts, 0, url)
                wan.partition(1)
                cut = get(hosts, 0, url)
                also_cut = get(hosts, 2, url)
                wan.heal(1)
                healed = get(hosts, 2, url)
                counts = dict(wan.counts)
        finally:
            server.kill()
            server.wait()
        inside = namespaces()
    assert first[0] == "ok" and first[1] is not None and first[1] >= 0.12 * 0.95, first  # two one-way delays
    assert cut[0] == "error" and also_cut[0] == "error"
    assert healed[0] == "ok"
    assert counts["refused"] == 2 and counts["relayed"] == 2
    assert "othentic-t1-1" in inside
    assert "othentic-t1" not in namespaces() and "otht1" not in links()  # everything removed


@needs_namespaces
def test_a_host_reaches_no_other_host_directly_only_through_the_relay():
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        if f.read().strip() != "0":
            pytest.skip("this machine forwards between interfaces: direct routes exist")
    with Hosts(2, tag="t2") as hosts:
        server = hosts.popen(
            1, [sys.executable, "-m", "http.server", str(PORT)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            wait_listening(hosts, 1, PORT)
            direct = get(hosts, 0, f"http://{hosts.address(1)}:{PORT}/")
        finally:
            server.kill()
            server.wait()
    assert direct[0] == "error"


@needs_namespaces
def test_dropped_connections_are_counted_and_the_rest_get_through():
    profile = LinkProfile(1, 1, drop_rate=0.5, seed=7)
    with Hosts(2, tag="t3") as hosts:
        server = hosts.popen(
            1, [sys.executable, "-m", "http.server", str(PORT)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            wait_listening(hosts, 1, PORT)
            with WanRelay(hosts, profile) as wan:
                url = wan.expose(1, PORT)
                results = [get(hosts, 0, url)[0] for _ in range(12)]
                counts = dict(wan.counts)
        finally:
            server.kill()
            server.wait()
    assert counts["dropped"] >= 1 and counts["relayed"] >= 1
    assert results.count("ok") >= counts["relayed"] - counts["dropped"]
    assert "ok" in results and "error" in results


@needs_namespaces
def test_leftovers_of_a_killed_run_are_removed_before_a_new_one():
    subprocess.run(["ip", "netns", "add", "othentic-t4-0"], check=True)
    try:
        with Hosts(1, tag="t4") as hosts:
            assert "othentic-t4-0" in hosts.created
    finally:
        subprocess.run(["ip", "netns", "delete", "othentic-t4-0"], capture_output=True)
    assert "othentic-t4" not in namespaces()


def test_each_pairs_delay_is_drawn_once_within_the_range_and_is_the_same_both_ways():
    profile = LinkProfile(20, 150, seed=3)
    delays = {(a, b): profile.delay_ms(a, b) for a in range(5) for b in range(5) if a != b}
    assert all(20 <= d <= 150 for d in delays.values())
    assert all(delays[(a, b)] == delays[(b, a)] for a, b in delays)
    assert len(set(delays.values())) > 1
    assert LinkProfile(20, 150, seed=3).delay_ms(1, 4) == profile.delay_ms(1, 4)  # reproducible
    assert profile.delay_ms(2, 2) == 0 and 20 <= profile.delay_ms(None, 3) <= 150


def test_the_machine_link_has_its_own_delay_when_given():
    profile = LinkProfile(20, 150, machine_ms=5, seed=3)
    assert profile.delay_ms(None, 3) == profile.delay_ms(0, None) == 5
    assert 20 <= profile.delay_ms(0, 3) <= 150
    assert profile.delay_ms(None, None) == 0


@pytest.mark.parametrize(
    "kwargs",
    [dict(min_ms=-1), dict(min_ms=50, max_ms=10), dict(jitter_ms=-1), dict(drop_rate=1.5), dict(machine_ms=-1)],
)
def test_a_link_profile_out_of_range_is_refused(kwargs):
    with pytest.raises(ValueError):
        LinkProfile(**kwargs)


@pytest.mark.parametrize("count, tag", [(0, "ok"), (MAX_HOSTS + 1, "ok"), (2, "Bad-Tag"), (2, "waytoolongtag")])
def test_host_counts_and_tags_are_bounded(count, tag):
    with pytest.raises(ValueError):
        Hosts(count, tag=tag)


def test_only_our_addresses_map_to_hosts():
    hosts = Hosts(3, tag="t5")
    assert [hosts.host_of(hosts.address(i)) for i in range(3)] == [0, 1, 2]
    assert hosts.host_of("10.213.3.2") is None and hosts.host_of("10.213.1.1") is None
    assert hosts.host_of("127.0.0.1") is None and hosts.host_of("nonsense") is None
