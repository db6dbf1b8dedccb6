"""othentic_offchain.chain.build: the contract project's build (development tools), and the packaged
artifacts it exports, which must equal a fresh compile."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from othentic_offchain.chain import build
from othentic_offchain.chain.artifacts import ARTIFACTS_DIR, PACKAGED_CONTRACTS, ArtifactsNotFound, ContractNotFound
from othentic_offchain.chain.build import (
    build_artifact,
    ensure_compiled,
    expected_artifacts,
    export_artifacts,
    find_project_root,
    is_stale,
    load_manifest,
    manifest_path,
)

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def no_root_override(monkeypatch):
    monkeypatch.delenv(build.ROOT_ENV, raising=False)


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
    monkeypatch.setenv(build.ROOT_ENV, str(tmp_path))
    assert find_project_root() == tmp_path.resolve()
    monkeypatch.setenv(build.ROOT_ENV, str(tmp_path / "nowhere"))
    with pytest.raises(ArtifactsNotFound, match=build.ROOT_ENV):
        find_project_root()


def test_manifest_path():
    assert manifest_path(ROOT) == ROOT / ".build" / "__local__.json"
    assert manifest_path() == ROOT / ".build" / "__local__.json"


# -- loading --------------------------------------------------------------------------------------


def test_build_artifact_includes_test_contracts():
    harness = build_artifact("BN254Harness")
    assert harness.deployable and harness.source_id == "contracts/test/BN254Harness.sol"


def test_unknown_contract_lists_what_was_compiled():
    with pytest.raises(ContractNotFound, match="BLSVerifier") as info:
        build_artifact("NoSuchContract")
    assert "NoSuchContract" in str(info.value)


def test_not_compiled_is_a_clear_error(tmp_path):
    fake_project(tmp_path)
    with pytest.raises(ArtifactsNotFound, match="ape compile"):
        build_artifact("BLSVerifier", root=tmp_path)


def test_reads_bytecode_with_or_without_0x(tmp_path):
    fake_project(
        tmp_path,
        {
            "A": {"abi": [], "deploymentBytecode": {"bytecode": "6080"}, "runtimeBytecode": {"bytecode": "0x6080"}},
            "I": {"abi": [{"type": "function", "name": "f", "inputs": [], "outputs": []}], "deploymentBytecode": {}},
        },
    )
    a = build_artifact("A", root=tmp_path)
    assert a.bytecode == "0x6080" == a.runtime_bytecode
    i = build_artifact("I", root=tmp_path)
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
    monkeypatch.setattr(build, "_ape_command", lambda: "false")
    with pytest.raises(ArtifactsNotFound, match="ape compile"):
        ensure_compiled(tmp_path)


def test_project_build_is_up_to_date():
    assert ensure_compiled() == ROOT / ".build" / "__local__.json"
    assert not is_stale()


# -- the packaged artifacts ------------------------------------------------------------------------


def test_packaged_artifacts_equal_a_fresh_compile():
    """The JSON files shipped in the package are exactly what `contracts/` compiles to now: after a
    change to a contract, `make artifacts` must be run (and its output committed)."""
    ensure_compiled()
    expected = expected_artifacts()
    shipped = {p.name: json.loads(p.read_text()) for p in ARTIFACTS_DIR.glob("*.json")}
    assert sorted(shipped) == sorted(expected), "run `make artifacts`: the set of packaged contracts changed"
    drifted = [name for name in expected if shipped[name] != expected[name]]
    assert not drifted, f"packaged artifacts differ from a fresh compile: {drifted}; run `make artifacts`"


def test_every_deployable_production_contract_is_packaged():
    """A new contract under contracts/ (outside test/) is shipped, or the package cannot deploy it."""
    types = load_manifest()["contractTypes"]
    internal = ("contracts/test/", "contracts/libraries/", "contracts/core/")  # tests, internal libraries
    production = {
        name
        for name, t in types.items()
        if not t.get("sourceId", "").startswith(internal)
        and (t.get("deploymentBytecode") or {}).get("bytecode") not in (None, "", "0x")
    }
    assert production - set(PACKAGED_CONTRACTS) == set()


def test_export_writes_exactly_the_packaged_set(tmp_path):
    (tmp_path / "Stale.json").write_text("{}")
    written = export_artifacts(dest=tmp_path)
    assert sorted(p.name for p in tmp_path.glob("*.json")) == sorted(p.name for p in written)
    assert {p.stem for p in written} == set(PACKAGED_CONTRACTS)
