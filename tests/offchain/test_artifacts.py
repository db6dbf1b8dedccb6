"""othentic_offchain.chain.artifacts: the compiled build read without Ape, deployed with web3.py."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from eth_utils import is_checksum_address, keccak

from othentic_offchain.chain import artifacts
from othentic_offchain.chain.artifacts import (
    ArtifactsNotFound,
    ContractArtifact,
    ContractNotFound,
    contract_names,
    deploy,
    ensure_compiled,
    find_project_root,
    is_stale,
    load_artifact,
    manifest_path,
)
from othentic_offchain.crypto import hash_to_g1
from othentic_offchain.devnet.anvil import DEV_PRIVATE_KEYS, Anvil

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def no_root_override(monkeypatch):
    monkeypatch.delenv(artifacts.ROOT_ENV, raising=False)


@pytest.fixture(scope="module")
def w3():
    with Anvil() as node:
        yield node.web3()


def fake_project(folder: Path, contract_types: dict | None = None) -> Path:
    (folder / "ape-config.yaml").write_text("name: fake\n")
    if contract_types is not None:
        (folder / ".build").mkdir()
        (folder / ".build" / "__local__.json").write_text(json.dumps({"contractTypes": contract_types}))
    return folder


# -- locating -------------------------------------------------------------------------------------


def test_project_root_from_a_subfolder():
    assert find_project_root(ROOT / "tests" / "offchain") == ROOT
    assert find_project_root(ROOT) == ROOT


def test_project_root_from_cwd_or_package(monkeypatch, tmp_path):
    monkeypatch.chdir(ROOT / "contracts")
    assert find_project_root() == ROOT
    monkeypatch.chdir(tmp_path)  # outside any project: the checkout the package lives in
    assert find_project_root() == ROOT


def test_project_root_not_found(tmp_path):
    with pytest.raises(ArtifactsNotFound, match="ape-config.yaml"):
        find_project_root(tmp_path)


def test_project_root_from_environment(monkeypatch, tmp_path):
    fake_project(tmp_path)
    monkeypatch.setenv(artifacts.ROOT_ENV, str(tmp_path))
    assert find_project_root() == tmp_path.resolve()
    monkeypatch.setenv(artifacts.ROOT_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(ArtifactsNotFound, match=artifacts.ROOT_ENV):
        find_project_root()


def test_manifest_path():
    assert manifest_path(ROOT) == ROOT / ".build" / "__local__.json"
    assert manifest_path() == ROOT / ".build" / "__local__.json"


# -- loading --------------------------------------------------------------------------------------


def test_load_bls_verifier():
    artifact = load_artifact("BLSVerifier")
    assert artifact.name == "BLSVerifier"
    assert {"verifyAggregate", "verifyPossession", "hashToG1", "voteHash"} <= set(artifact.function_names())
    assert artifact.bytecode.startswith("0x60") and artifact.deployable
    assert artifact.runtime_bytecode.startswith("0x60")
    assert artifact.source_id == "contracts/BLSVerifier.sol"
    assert "BLSVerifier" in contract_names()
    assert "bytecode" not in repr(artifact)  # no 20 kB reprs in tracebacks


def test_unknown_contract_lists_what_exists():
    with pytest.raises(ContractNotFound, match="BLSVerifier") as info:
        load_artifact("NoSuchContract")
    assert "NoSuchContract" in str(info.value)


def test_not_compiled_is_a_clear_error(tmp_path):
    fake_project(tmp_path)
    with pytest.raises(ArtifactsNotFound, match="ape compile"):
        load_artifact("BLSVerifier", root=tmp_path)


def test_reads_bytecode_with_or_without_0x(tmp_path):
    fake_project(tmp_path, {
        "A": {"abi": [], "deploymentBytecode": {"bytecode": "6080"}, "runtimeBytecode": {"bytecode": "0x6080"}},
        "I": {"abi": [{"type": "function", "name": "f", "inputs": [], "outputs": []}], "deploymentBytecode": {}},
    })
    a = load_artifact("A", root=tmp_path)
    assert a.bytecode == "0x6080" == a.runtime_bytecode
    i = load_artifact("I", root=tmp_path)
    assert i.bytecode == "" and not i.deployable and i.function_names() == ["f"]


def test_staleness(tmp_path):
    fake_project(tmp_path)
    (tmp_path / "contracts").mkdir()
    source = tmp_path / "contracts" / "X.sol"
    source.write_text("contract X {}")
    assert is_stale(tmp_path)  # never compiled
    fake_project(tmp_path, {})
    manifest = manifest_path(tmp_path)
    os.utime(source, (1_000_000, 1_000_000))
    os.utime(manifest, (2_000_000, 2_000_000))
    assert not is_stale(tmp_path)
    assert ensure_compiled(tmp_path) == manifest  # up to date: nothing is run
    os.utime(source, (3_000_000, 3_000_000))
    assert is_stale(tmp_path)


def test_compile_failure_is_reported(tmp_path, monkeypatch):
    fake_project(tmp_path)
    monkeypatch.setattr(artifacts, "_ape_command", lambda: "false")
    with pytest.raises(ArtifactsNotFound, match="ape compile"):
        ensure_compiled(tmp_path)


def test_project_build_is_up_to_date():
    assert ensure_compiled() == ROOT / ".build" / "__local__.json"
    assert not is_stale()


# -- deploying ------------------------------------------------------------------------------------


def test_deploy_and_call(w3):
    artifact = load_artifact("BLSVerifier")
    deployment = deploy(w3, artifact, DEV_PRIVATE_KEYS[0])
    assert is_checksum_address(deployment.address)
    assert deployment.receipt["status"] == 1 and deployment.gas_used > 100_000
    assert w3.eth.get_code(deployment.address).hex().removeprefix("0x") == artifact.runtime_bytecode[2:]
    digest = keccak(b"artifacts test")
    assert tuple(deployment.contract.functions.hashToG1(digest).call()) == hash_to_g1(digest).words()


def test_deploy_by_name_and_attach(w3):
    first = deploy(w3, "BLSVerifier", DEV_PRIVATE_KEYS[1])
    second = deploy(w3, "BLSVerifier", DEV_PRIVATE_KEYS[1])
    assert first.address != second.address
    attached = load_artifact("BLSVerifier").contract(w3, first.address.lower())
    assert attached.address == first.address
    assert tuple(attached.functions.hashToG1(b"\x00" * 32).call()) == hash_to_g1(b"\x00" * 32).words()


def test_undeployable_artifacts_are_refused(w3):
    with pytest.raises(ContractNotFound, match="no deployment bytecode"):
        deploy(w3, ContractArtifact("I", [], "", ""), DEV_PRIVATE_KEYS[0])
    with pytest.raises(ContractNotFound, match="linked libraries"):
        deploy(w3, ContractArtifact("L", [], "0x6080__$abc$__", ""), DEV_PRIVATE_KEYS[0])
