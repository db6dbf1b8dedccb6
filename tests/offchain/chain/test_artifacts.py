"""othentic_offchain.chain.artifacts: the contracts shipped in the package, deployed with web3.py."""

from __future__ import annotations

import pytest
from eth_utils import is_checksum_address, keccak

from othentic_offchain.chain.artifacts import (
    PACKAGED_CONTRACTS,
    ContractArtifact,
    ContractNotFound,
    contract_names,
    deploy,
    load_artifact,
)
from othentic_offchain.crypto import hash_to_g1
from othentic_offchain.devnet.anvil import DEV_PRIVATE_KEYS, Anvil


@pytest.fixture(scope="module")
def w3():
    with Anvil() as node:
        yield node.web3()


def test_load_bls_verifier_from_the_package():
    artifact = load_artifact("BLSVerifier")
    assert artifact.name == "BLSVerifier"
    assert {"verifyAggregate", "verifyPossession", "hashToG1", "voteHash"} <= set(artifact.function_names())
    assert artifact.bytecode.startswith("0x60") and artifact.deployable
    assert artifact.runtime_bytecode.startswith("0x60")
    assert artifact.source_id == "contracts/BLSVerifier.sol"
    assert "bytecode" not in repr(artifact)  # no 20 kB reprs in tracebacks


def test_the_package_ships_every_listed_contract():
    assert contract_names() == sorted(PACKAGED_CONTRACTS)
    for name in PACKAGED_CONTRACTS:
        assert load_artifact(name).abi, name


def test_the_erc20_interface_binds_any_token():
    names = set(load_artifact("IERC20").function_names())
    assert names == {"allowance", "approve", "balanceOf", "totalSupply", "transfer", "transferFrom"}
    assert "mint" in load_artifact("TestToken").function_names()  # the devnet's token only


def test_unknown_contract_lists_what_the_package_ships():
    with pytest.raises(ContractNotFound, match="BLSVerifier") as info:
        load_artifact("NoSuchContract")
    assert "NoSuchContract" in str(info.value)


def test_test_only_contracts_are_not_shipped():
    for name in ("BN254Harness", "TestAvsLogic", "TestFeeCalculator"):
        with pytest.raises(ContractNotFound):
            load_artifact(name)


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
