"""othentic_offchain.devnet.anvil: start, answer, stop, and never leave a process behind."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from eth_account import Account

from othentic_offchain.devnet import anvil as anvil_module
from othentic_offchain.devnet.anvil import (
    DEV_ACCOUNTS,
    DEV_PRIVATE_KEYS,
    Anvil,
    AnvilError,
    AnvilNotFound,
    find_anvil,
    free_port,
)

ROOT = Path(__file__).resolve().parents[3]


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (PID 1 of a container may never reap it)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def wait_until(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


@pytest.fixture(scope="module")
def node():
    with Anvil() as running:
        yield running


def test_start_answers_and_stop_kills():
    node = Anvil()
    assert not node.running
    node.start()
    try:
        pid, port = node.pid, node.port
        assert node.running and alive(pid)
        assert node.rpc_url == f"http://127.0.0.1:{port}"
        assert int(node.rpc("eth_chainId"), 16) == 31337 == node.chain_id
        assert port_open(port)
    finally:
        node.stop()
    assert not node.running and node.pid is None
    assert not alive(pid)
    assert not port_open(port)


def test_runs_prague_and_silent(node):
    assert node.rpc("anvil_nodeInfo")["hardFork"].lower() == "prague"
    assert "--silent" in node.command(node.port)
    assert node.output.strip() == ""


def test_dev_accounts_are_anvils(node):
    accounts = [a.lower() for a in node.rpc("eth_accounts")]
    assert accounts[: len(DEV_ACCOUNTS)] == [a.lower() for a in DEV_ACCOUNTS]
    for address, key in zip(DEV_ACCOUNTS, DEV_PRIVATE_KEYS):
        assert Account.from_key(key).address == address


def test_web3_client(node):
    w3 = node.web3()
    assert w3.is_connected()
    assert w3.eth.chain_id == 31337
    assert w3.eth.get_balance(DEV_ACCOUNTS[0]) == 10_000 * 10**18


def test_context_manager_stops_on_error():
    with pytest.raises(RuntimeError, match="boom"):
        with Anvil() as node:
            pid = node.pid
            assert alive(pid)
            raise RuntimeError("boom")
    assert not alive(pid)
    assert not node.running


def test_stop_is_idempotent_and_restart_works():
    node = Anvil()
    node.stop()  # never started: nothing to do
    with node:
        first = node.pid
    node.stop()
    with node:
        assert node.pid != first and node.running
    assert not node.running


def test_start_twice_is_an_error(node):
    with pytest.raises(AnvilError, match="already running"):
        node.start()


def test_fixed_port_and_two_nodes(node):
    port = free_port()
    with Anvil(port=port, chain_id=1337) as other:
        assert other.port == port != node.port
        assert int(other.rpc("eth_chainId"), 16) == 1337 == other.chain_id
        assert int(node.rpc("eth_chainId"), 16) == 31337


def test_port_in_use_is_a_clear_error():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        node = Anvil(port=port)
        with pytest.raises(AnvilError, match="in use"):
            node.start()
        assert not node.running


def test_missing_binary_tells_to_run_make_setup(tmp_path):
    with pytest.raises(AnvilNotFound, match="make setup"):
        Anvil(binary=tmp_path / "no-such-anvil").start()


def test_not_on_path_nor_in_node_modules(monkeypatch):
    monkeypatch.setattr(anvil_module.shutil, "which", lambda name: None)
    monkeypatch.setattr(anvil_module, "_npm_candidates", lambda: [])
    with pytest.raises(AnvilNotFound, match="make setup"):
        find_anvil()
    node = Anvil()
    with pytest.raises(AnvilNotFound):
        node.start()
    assert not node.running


def test_node_modules_fallback(monkeypatch):
    monkeypatch.setattr(anvil_module.shutil, "which", lambda name: None)
    found = Path(find_anvil())
    assert "node_modules" in found.parts
    version = subprocess.run([str(found), "--version"], capture_output=True, text=True, check=True).stdout
    assert version.startswith("anvil")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="PR_SET_PDEATHSIG is Linux only")
def test_anvil_dies_with_a_killed_parent():
    script = textwrap.dedent(
        """
        import sys, time
        from othentic_offchain.devnet.anvil import Anvil
        node = Anvil().start()
        print(node.pid, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        pid = int(parent.stdout.readline())
        assert alive(pid)
    finally:
        parent.kill()  # SIGKILL: no atexit, no finally in the parent
        parent.wait()
        parent.stdout.close()
    assert wait_until(lambda: not alive(pid)), f"anvil {pid} outlived its killed parent"


def test_atexit_stops_a_forgotten_node():
    # die_with_parent=False: only the atexit hook can stop this one.
    script = "from othentic_offchain.devnet.anvil import Anvil\nprint(Anvil(die_with_parent=False).start().pid)\n"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=ROOT)
    pid = int(out.stdout)
    assert wait_until(lambda: not alive(pid))


def test_repr_does_not_fail(node):
    assert "running at http://127.0.0.1:" in repr(node)
    assert "stopped" in repr(Anvil())
    assert os.getpid() != node.pid


def test_rpc_errors_raise_anvil_error_and_a_stopped_node_a_connection_error(node):
    with pytest.raises(AnvilError, match="no_such_method failed: .*'code'"):
        node.rpc("no_such_method")
    stopped = Anvil()
    stopped.port = free_port()  # nothing listens there
    with pytest.raises(ConnectionError, match="is unreachable"):
        stopped.rpc("eth_chainId", timeout=2)


def test_the_install_dir_of_othentic_install_anvil_is_looked_in(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert anvil_module.anvil_install_dir() == tmp_path / "othentic" / "anvil"
    assert tmp_path / "othentic" / "anvil" / "node_modules" / ".bin" / "anvil" in anvil_module._npm_candidates()


def test_install_anvil_without_npm_says_what_to_install(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    monkeypatch.setattr(anvil_module.shutil, "which", lambda name: None)
    with pytest.raises(AnvilNotFound, match="npm is not on PATH: install Node.js"):
        anvil_module.install_anvil()
    assert not (tmp_path / "othentic").exists()  # nothing created
