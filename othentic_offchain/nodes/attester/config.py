"""An attester's configuration: its operator account, its BLS key, its Validation Service, its vote record."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from eth_account import Account

from othentic_offchain.chain.deploy import DeploymentRecord
from othentic_offchain.crypto.bls import KeyPair
from othentic_offchain.nodes.common.paths import node_db_path
from othentic_offchain.nodes.common.protocol import SERVICE_TIMEOUT

__all__ = ["VALIDATE_PATH", "AttesterConfig"]

#: The Validation Service's route, as Othentic's services serve it.
VALIDATE_PATH = "/task/validate"


@dataclass
class AttesterConfig:
    """Everything one attester needs. ``ecdsa_key`` is the operator's account (its operator id is
    read from the chain); ``bls`` the key its votes are signed with (registered on-chain);
    ``validation_url`` the base URL of its Validation Service (or the full ``/task/validate`` URL).
    ``db_path`` defaults to ``$XDG_DATA_HOME/othentic/attester-<chain id>-<address>.sqlite3``
    (whatever the working folder): keep it across restarts, it is what stops the node from ever
    signing the other side of a task it voted on.

    Who may ask: only requests signed by an active operator (see
    :mod:`othentic_offchain.nodes.common.protocol`), and of those only the ``aggregators`` listed
    when the list is not empty; never the task's own performer unless
    ``allow_performer_as_aggregator`` (a performer asking early would fix this attester's side
    before the task reaches the real aggregator). ``peer_rate``/``peer_burst`` bound requests per
    client address before any signature is checked, ``signer_rate``/``signer_burst`` per signer
    (requests a second, bursts saved up)."""

    rpc_url: str
    deployment: DeploymentRecord
    ecdsa_key: str
    bls: KeyPair
    validation_url: str
    host: str = "127.0.0.1"
    port: int = 0
    db_path: str | os.PathLike | None = None
    service_timeout: float = SERVICE_TIMEOUT
    chain_refresh: float = 0.5
    name: str = "attester"
    aggregators: tuple[str, ...] = ()
    allow_performer_as_aggregator: bool = False
    peer_rate: float = 1000.0
    peer_burst: float = 2000.0
    signer_rate: float = 500.0
    signer_burst: float = 1000.0

    @property
    def address(self) -> str:
        """The operator's account address."""
        return Account.from_key(self.ecdsa_key).address

    @property
    def votes_path(self) -> Path:
        return node_db_path(self.db_path, "attester", self.deployment.chain_id, self.address)

    @property
    def service_base_url(self) -> str:
        """The Validation Service's base URL, whichever form was configured."""
        base = self.validation_url.rstrip("/")
        return base.removesuffix(VALIDATE_PATH)
