"""Deploying a whole AVS network: the plan once, two ways to carry it out.

:func:`deploy_system` holds the order and the wiring (tokens, vault, the two modules, the center,
the penalty manager, roles); a :class:`Backend` turns each step into a transaction. Two backends
exist: :class:`Web3Backend` here (a private key and web3.py: benchmarks, the devnet, tests) and
the Ape one in ``scripts/deploy.py`` (``ape run deploy`` with any Ape account and network).

The result is a :class:`DeploymentRecord`, saved as JSON: what every off-chain command reads to
find the contracts (``--deployment FILE``, ``$OTHENTIC_DEPLOYMENT``, or ``deployments/<chain id>.json``).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from eth_utils import keccak

from othentic_offchain.chain.artifacts import load_artifact
from othentic_offchain.chain.types import PenaltyConfig, RegistryConfig, TaskDefinitionParams

DEPLOYMENT_ENV = "OTHENTIC_DEPLOYMENT"
SLASHER_ROLE = keccak(text="SLASHER_ROLE")
TOKEN = 10**18

#: Definition 0, as every deployment creates it unless told otherwise: open to every operator,
#: modest rewards, double attestation punished.
DEFAULT_DEFINITION_0 = TaskDefinitionParams(
    name="generic",
    attester_reward=TOKEN // 100,
    performer_reward=TOKEN // 50,
    aggregator_reward=TOKEN // 100,
    dispute_period_blocks=50,
    penalties=PenaltyConfig(double_attestation=True, incorrect_attestation=False, rejected_task=False),
)
DEFAULT_REGISTRY = RegistryConfig(minimum_stake=TOKEN, max_operators=100, unbonding_delay_blocks=100)


class DeploymentExists(RuntimeError):
    """The chain already has a deployment recorded in the file; pass ``redeploy`` to replace it."""


class DeploymentNotFound(FileNotFoundError):
    """No deployment file, or its contracts are not on the connected chain."""


class Backend(Protocol):
    """Carries out one deployment step at a time; returns addresses."""

    chain_id: int
    deployer: str

    def deploy(self, name: str, *args: Any) -> str: ...

    def transact(self, name: str, address: str, function: str, *args: Any) -> None: ...

    def block_number(self) -> int: ...

    def has_code(self, address: str) -> bool: ...


@dataclass
class DeploymentRecord:
    chain_id: int
    contracts: dict[str, str]
    deployer: str
    block_number: int
    registry: dict[str, int] = field(default_factory=dict)
    rpc_url: str | None = None
    created_at: float = field(default_factory=time.time)
    # Task definition name -> id, for the definitions created by name (an AVS project's devnet):
    # commands and tests refer to definitions by name and look their id up here.
    definitions: dict[str, int] = field(default_factory=dict)

    @property
    def attestation_center(self) -> str:
        return self.contracts["AttestationCenter"]

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=2, sort_keys=True) + "\n")
        tmp.replace(path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> DeploymentRecord:
        path = Path(path)
        if not path.is_file():
            raise DeploymentNotFound(f"no deployment file at {path}: deploy first (`ape run deploy`)")
        data = json.loads(path.read_text())
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


def default_deployment_path(chain_id: int, root: str | os.PathLike | None = None) -> Path:
    """``$OTHENTIC_DEPLOYMENT`` if set, else ``<root>/deployments/<chain id>.json`` (root: the current folder)."""
    env = os.environ.get(DEPLOYMENT_ENV)
    if env:
        return Path(env).expanduser()
    return (Path(root) if root is not None else Path.cwd()) / "deployments" / f"{chain_id}.json"


def existing_deployment(path: str | os.PathLike, backend: Backend) -> DeploymentRecord | None:
    """The deployment recorded at ``path`` if it is on the connected chain (same chain id and the
    center's code present), else None (no file, another chain, or a chain that was reset)."""
    try:
        record = DeploymentRecord.load(path)
    except DeploymentNotFound:
        return None
    if record.chain_id != backend.chain_id:
        return None
    return record if backend.has_code(record.attestation_center) else None


def deploy_system(
    backend: Backend,
    *,
    admin: str | None = None,
    stake_token: str | None = None,
    reward_token: str | None = None,
    registry: RegistryConfig = DEFAULT_REGISTRY,
    definition0: TaskDefinitionParams = DEFAULT_DEFINITION_0,
) -> DeploymentRecord:
    """Deploy and wire every contract; returns the record (not yet saved).

    Tokens: without addresses, mintable test tokens are deployed (a devnet); on a real network
    pass the AVS's stake and reward token addresses.
    """
    admin = admin or backend.deployer
    contracts: dict[str, str] = {}
    contracts["StakeToken"] = stake_token or backend.deploy("TestToken", "Othentic Stake", "oSTAKE")
    contracts["RewardToken"] = reward_token or backend.deploy("TestToken", "Othentic Reward", "oREWARD")
    contracts["RewardsVault"] = backend.deploy("RewardsVault", contracts["RewardToken"])
    contracts["OperatorRegistry"] = backend.deploy("OperatorRegistry")
    contracts["TaskDefinitions"] = backend.deploy("TaskDefinitions")
    contracts["AttestationCenter"] = backend.deploy(
        "AttestationCenter",
        contracts["StakeToken"],
        contracts["RewardsVault"],
        admin,
        registry.abi(),
        definition0.abi(),
        (contracts["OperatorRegistry"], contracts["TaskDefinitions"]),
    )
    backend.transact("RewardsVault", contracts["RewardsVault"], "setAttestationCenter", contracts["AttestationCenter"])
    contracts["PenaltyManager"] = backend.deploy("PenaltyManager", contracts["AttestationCenter"])
    if admin == backend.deployer:
        backend.transact(
            "IAttestationCenter", contracts["AttestationCenter"], "grantRole", SLASHER_ROLE, contracts["PenaltyManager"]
        )
    return DeploymentRecord(
        chain_id=backend.chain_id,
        contracts=contracts,
        deployer=backend.deployer,
        block_number=backend.block_number(),
        registry=asdict(registry),
    )


def deploy_to_file(
    backend: Backend, path: str | os.PathLike, *, redeploy: bool = False, rpc_url: str | None = None, **plan: Any
) -> tuple[DeploymentRecord, bool, str]:
    """Carry out :func:`deploy_system` and save the record at ``path``, unless ``path`` records a
    deployment that is live on the backend's chain and ``redeploy`` is false.

    Returns the record (the new one, or the existing one), whether anything was deployed, and the
    report both ``othentic deploy`` and ``ape run deploy`` print."""
    existing = existing_deployment(path, backend)
    if existing and not redeploy:
        return (
            existing,
            False,
            (
                f"A deployment already exists on chain {existing.chain_id} (recorded in {path}):\n"
                f"  AttestationCenter {existing.attestation_center} (block {existing.block_number}).\n"
                "Nothing was deployed. Pass --redeploy to deploy a new one and overwrite the file."
            ),
        )
    record = deploy_system(backend, **plan)
    record.rpc_url = rpc_url
    saved = record.save(path)
    lines = [f"Deployed on chain {record.chain_id} by {record.deployer} (block {record.block_number}):"]
    lines += [f"  {name:18s} {address}" for name, address in record.contracts.items()]
    lines.append(f"Deployment file: {saved}")
    return record, True, "\n".join(lines)


class Web3Backend:
    """Deploys from the compiled build with web3.py and one private key."""

    def __init__(self, w3, private_key: str, *, timeout: float = 120.0):
        from eth_account import Account

        self.w3 = w3
        self._account = Account.from_key(private_key)
        self._timeout = timeout
        self.chain_id = int(w3.eth.chain_id)
        self.deployer = self._account.address

    def _send(self, tx: dict) -> dict:
        tx.setdefault("from", self.deployer)
        tx["nonce"] = self.w3.eth.get_transaction_count(self.deployer, "pending")
        tx["chainId"] = self.chain_id
        signed = self._account.sign_transaction(tx)
        tx_hash = self.w3.eth.send_raw_transaction(signed.raw_transaction)
        receipt = self.w3.eth.wait_for_transaction_receipt(tx_hash, timeout=self._timeout)
        if receipt["status"] != 1:
            raise RuntimeError(f"transaction {tx_hash.hex()} reverted")
        return receipt

    def deploy(self, name: str, *args: Any) -> str:
        artifact = load_artifact(name)
        tx = artifact.contract(self.w3).constructor(*args).build_transaction({"from": self.deployer})
        return self._send(tx)["contractAddress"]

    def transact(self, name: str, address: str, function: str, *args: Any) -> None:
        contract = load_artifact(name).contract(self.w3, address)
        tx = getattr(contract.functions, function)(*args).build_transaction({"from": self.deployer})
        self._send(tx)

    def block_number(self) -> int:
        return int(self.w3.eth.block_number)

    def has_code(self, address: str) -> bool:
        return len(self.w3.eth.get_code(self.w3.to_checksum_address(address))) > 0
