"""The contracts' ABIs and bytecode, shipped inside this package, and plain web3.py deployment.

The JSON files in ``othentic_offchain/chain/contracts/`` are produced from ``contracts/`` by the
build (``make artifacts``, see :mod:`othentic_offchain.chain.build`), and a test fails when they
differ from a fresh compile. Nothing here reads a checkout, so an installed package works anywhere:

    artifact = load_artifact("BLSVerifier")                 # ABI + bytecode
    deployment = deploy(w3, artifact, private_key)          # one signed transaction
    deployment.contract.functions.hashToG1(digest).call()
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

ARTIFACTS_DIR = Path(__file__).with_name("contracts")

#: What the package ships: the deployable contracts, the interfaces off-chain code binds, the BN254
#: library (for its custom errors), the example AVSs' hooks, the devnet's mintable token and
#: OpenZeppelin's ERC-20 interface (how the stake and reward tokens are bound on any network).
PACKAGED_CONTRACTS = (
    "AttestationCenter",
    "OperatorRegistry",
    "TaskDefinitions",
    "RewardsVault",
    "PenaltyManager",
    "AvsLogicRouter",
    "BLSVerifier",
    "BN254",
    "IAttestationCenter",
    "IAvsLogic",
    "IFeeCalculator",
    "IOperatorRegistry",
    "IPenaltyManager",
    "IRewardsVault",
    "ITaskDefinitions",
    "PriceOracleLogic",
    "RandomnessBeaconLogic",
    "TestToken",
    "IERC20",
)


class ArtifactsNotFound(FileNotFoundError):
    """No compiled contracts where they were looked for."""


class ContractNotFound(LookupError):
    """No contract of that name (or it cannot be deployed: interface, unlinked library)."""


class DeploymentFailed(RuntimeError):
    """The deployment transaction was mined but reverted."""


@dataclass(frozen=True)
class ContractArtifact:
    name: str
    abi: list[dict[str, Any]] = field(repr=False)
    bytecode: str = field(repr=False)
    runtime_bytecode: str = field(repr=False)
    source_id: str | None = None

    @property
    def deployable(self) -> bool:
        return bool(self.bytecode) and "__$" not in self.bytecode

    def function_names(self) -> list[str]:
        return [item["name"] for item in self.abi if item.get("type") == "function"]

    def contract(self, w3, address: str | None = None):
        """A web3 contract object: the factory (no address) or an instance at ``address``."""
        if address is None:
            return w3.eth.contract(abi=self.abi, bytecode=self.bytecode)
        return w3.eth.contract(address=w3.to_checksum_address(address), abi=self.abi)

    def to_json(self) -> dict[str, Any]:
        return {
            "contractName": self.name,
            "abi": self.abi,
            "bytecode": self.bytecode,
            "runtimeBytecode": self.runtime_bytecode,
            "sourceId": self.source_id,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ContractArtifact:
        return cls(
            name=data["contractName"],
            abi=data["abi"],
            bytecode=data.get("bytecode", ""),
            runtime_bytecode=data.get("runtimeBytecode", ""),
            source_id=data.get("sourceId"),
        )


def contract_names() -> list[str]:
    """The contracts this package ships."""
    return sorted(p.stem for p in ARTIFACTS_DIR.glob("*.json"))


@cache
def load_artifact(name: str) -> ContractArtifact:
    """ABI and bytecode of contract ``name``, as shipped in this package."""
    path = ARTIFACTS_DIR / f"{name}.json"
    if not path.is_file():
        raise ContractNotFound(
            f"no contract {name!r} in this package; it ships: {', '.join(contract_names()) or 'none'}"
        )
    return ContractArtifact.from_json(json.loads(path.read_text()))


# -- deployment ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deployment:
    name: str
    address: str
    contract: Any = field(repr=False)  # web3.contract.Contract
    receipt: Any = field(repr=False)

    @property
    def gas_used(self) -> int:
        return int(self.receipt["gasUsed"])


def deploy(
    w3,
    artifact: ContractArtifact | str,
    private_key: str | bytes,
    *constructor_args,
    value: int = 0,
    gas: int | None = None,
    timeout: float = 120.0,
) -> Deployment:
    """Deploy with one transaction signed locally by ``private_key``; wait for it to be mined."""
    from eth_account import Account

    if isinstance(artifact, str):
        artifact = load_artifact(artifact)
    if not artifact.bytecode:
        raise ContractNotFound(f"{artifact.name} has no deployment bytecode (an interface or abstract contract?)")
    if "__$" in artifact.bytecode:
        raise ContractNotFound(f"{artifact.name} needs linked libraries, which deploy() does not link")
    account = Account.from_key(private_key)
    params: dict[str, Any] = {
        "from": account.address,
        "nonce": w3.eth.get_transaction_count(account.address, "pending"),
        "value": value,
        "chainId": w3.eth.chain_id,
    }
    if gas is not None:
        params["gas"] = gas
    tx = artifact.contract(w3).constructor(*constructor_args).build_transaction(params)
    signed = account.sign_transaction(tx)
    tx_hash = w3.eth.send_raw_transaction(signed.raw_transaction)
    receipt = w3.eth.wait_for_transaction_receipt(tx_hash, timeout=timeout)
    if receipt["status"] != 1 or not receipt.get("contractAddress"):
        raise DeploymentFailed(f"deployment of {artifact.name} reverted (transaction {tx_hash.hex()})")
    address = receipt["contractAddress"]
    return Deployment(artifact.name, address, artifact.contract(w3, address), receipt)
