"""A project's devnet (ProjectDevnet, the avs_network fixture's network) with the price-feed
template: its opt-in on-chain hook compiled and set, a lying attester's dissent in the outcome, a
lying performer rejected, and the services restarted on the same port after an edit."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from eth_abi import decode

from othentic_offchain.project import ProjectError, load_project
from othentic_offchain.project.devnet import ProjectDevnet
from othentic_offchain.project.scaffold import create_project

pytestmark = pytest.mark.slow


def solc() -> str:
    found = sorted(Path(os.environ.get("SOLCX_BINARY_PATH", ".solcx")).glob("solc-v*"))
    assert found, "no solc in $SOLCX_BINARY_PATH (make setup installs it)"
    return str(found[-1])


def with_hook(tmp_path: Path) -> Path:
    folder = create_project("feed", "price-feed", tmp_path)
    toml = folder / "othentic.toml"
    text = toml.read_text()
    for line in ("[hook]", 'source = "contracts/PriceFeedHook.sol"', 'contract = "PriceFeedHook"'):
        assert f"# {line}\n" in text
        text = text.replace(f"# {line}\n", f"{line}\n")
    toml.write_text(text.replace('contract = "PriceFeedHook"\n', f'contract = "PriceFeedHook"\nsolc = "{solc()}"\n'))
    return folder


def test_the_price_feed_with_its_hook_stores_approved_prices_and_shows_the_liars_dissent(tmp_path):
    project = load_project(with_hook(tmp_path))
    with ProjectDevnet(project, state_dir=tmp_path / "state") as net:
        net.start()
        assert net.net.record.definitions == {"price": 1}
        assert net.lying and not net.offline

        honest = net.send("price", {"pair": "BTC-USD"})
        assert honest.approved, honest
        assert set(honest.disagreed) <= set(net.lying)  # only the lying attester may answer reject
        assert all(side == "approve" for i, side in honest.votes.items() if i not in net.lying)
        pair, units, at = decode(["bytes32", "uint256", "uint64"], honest.data_bytes)
        assert tuple(net.hook.functions.latest(pair).call()) == (units, at)  # the hook stored it
        assert honest.gas and honest.block

        lie = net.send("price", {"pair": "SOL-USD", "lie_percent": 5})
        assert lie.landed and lie.side == "reject", lie
        assert net.hook.functions.latest(b"SOL-USD".ljust(32, b"\0")).call()[0] == 0  # a rejection stores nothing

        url = net.services_url()
        (project.root / "avs.py").write_text((project.root / "avs.py").read_text() + "\n# edited\n")
        assert [p.name for p in net.changed_files()] == ["avs.py"]
        assert net.restart_services().url == url  # the same port: attesters and performer still find it
        assert net.send("price", {"pair": "ETH-USD"}).approved


def test_a_hook_without_a_compiler_is_a_clear_error(tmp_path, monkeypatch):
    folder = with_hook(tmp_path)
    toml = folder / "othentic.toml"
    toml.write_text("\n".join(line for line in toml.read_text().splitlines() if not line.startswith("solc =")))
    monkeypatch.setenv("SOLC", str(tmp_path / "no-such-solc"))
    monkeypatch.setenv("PATH", "/nonexistent")
    with ProjectDevnet(load_project(folder), state_dir=tmp_path / "state") as net:
        with pytest.raises(ProjectError, match=r"\[hook\] needs a Solidity compiler"):
            net.start()
