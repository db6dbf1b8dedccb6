"""A performer's configuration: its account, its services, the definition it performs, its triggers."""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account

from othentic_offchain.chain.deploy import DeploymentRecord
from othentic_offchain.crypto.bls import KeyPair
from othentic_offchain.nodes.common.paths import node_db_path
from othentic_offchain.nodes.common.ratelimit import LOOPBACK
from othentic_offchain.nodes.performer.triggers import EventTrigger

__all__ = ["ELECTION_MODES", "RESERVED_PARAMS", "ROUND_SIGNATURE_PARAM", "PerformerConfig", "aggregator_urls"]

ELECTION_MODES = ("none", "round-robin", "stake")
#: Parameter names a task's params must not hold: the definition id is the node's to set.
RESERVED_PARAMS = frozenset({"taskDefinitionId", "taskDefinitionID"})
#: The parameter a performer with a BLS key adds for a task that has a block (the block it was
#: elected for, ``blockNumber``): its BLS signature over ``round_hash(center, chain id, definition,
#: block)`` as 0x-hex of the two 32-byte coordinates. Unique per operator and round, and checkable
#: against the operator's registered key: a value nobody can choose (the randomness beacon's).
ROUND_SIGNATURE_PARAM = "roundSignature"


@dataclass
class PerformerConfig:
    """One performer: its account, its Execution Service, the aggregator, the definition it
    performs and its triggers. ``params`` are passed to every execution (a trigger's own
    parameters override them). ``bls``, the operator's registered BLS key (an attester's performer
    has it), makes the node sign each task's round: see :data:`ROUND_SIGNATURE_PARAM`.
    ``trusted_clients`` (addresses or networks, default loopback) may trigger tasks on demand and
    send custom messages unsigned; a custom message from anywhere else must be signed by an active
    operator (every triggered task is signed by this operator and can cost it a penalty).

    ``aggregator_url``: one URL, several separated by commas, or a list; ``sendTask`` goes to the
    first that takes the task (:class:`~.aggregator.Aggregators`). Every signed task is first
    written to the outbox (``outbox_path``, default a fixed file per chain and account, see
    :attr:`outbox_file`) and retried, with a backoff from ``retry_backoff`` doubling up to
    ``retry_backoff_max`` seconds, until an aggregator takes it, refuses it for good, or
    ``task_deadline`` seconds passed since it was signed."""

    rpc_url: str
    deployment: DeploymentRecord
    ecdsa_key: str
    execution_url: str
    aggregator_url: str | Sequence[str]
    task_definition_id: int = 0
    election: str = "none"
    host: str = "127.0.0.1"
    port: int = 0
    name: str = "performer"
    params: dict[str, Any] = field(default_factory=dict)
    every_seconds: float | None = None
    every_blocks: int | None = None
    event: EventTrigger | None = None
    on_message: bool = False
    round_robin_period: int = 1
    poll_interval: float = 0.5
    execution_timeout: float = 30.0
    aggregator_timeout: float = 30.0
    chain_refresh: float = 0.5
    bls: KeyPair | None = field(default=None, repr=False)
    trusted_clients: tuple[str, ...] = LOOPBACK
    #: Blocks on top of a block before the chain triggers (every N blocks, events) act on it: 0 on a
    #: devnet, more on real chains (see :mod:`.triggers`).
    confirmations: int = 0
    outbox_path: str | os.PathLike | None = None
    task_deadline: float = 600.0
    retry_backoff: float = 0.5
    retry_backoff_max: float = 30.0
    #: ``aggregator_url`` as a tuple of URLs, in the order they are tried.
    aggregator_urls: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        self.aggregator_urls = aggregator_urls(self.aggregator_url)
        if self.election not in ELECTION_MODES:
            raise ValueError(f"election must be one of {', '.join(ELECTION_MODES)}, got {self.election!r}")
        if not 0 <= int(self.task_definition_id) < 2**16:
            raise ValueError(f"task_definition_id must fit in uint16, got {self.task_definition_id}")
        if self.every_seconds is not None and not self.every_seconds > 0:
            raise ValueError(f"every_seconds must be positive, got {self.every_seconds}")
        if self.every_blocks is not None and self.every_blocks < 1:
            raise ValueError(f"every_blocks must be at least 1, got {self.every_blocks}")
        if self.round_robin_period < 1:
            raise ValueError(f"round_robin_period must be at least 1, got {self.round_robin_period}")
        if self.confirmations < 0:
            raise ValueError(f"confirmations must be 0 or more, got {self.confirmations}")
        if not self.poll_interval > 0:
            raise ValueError(f"poll_interval must be positive, got {self.poll_interval}")
        if not self.task_deadline > 0:
            raise ValueError(f"task_deadline must be positive seconds, got {self.task_deadline}")
        if not 0 < self.retry_backoff <= self.retry_backoff_max:
            raise ValueError(
                f"retry_backoff must be positive and at most retry_backoff_max, got {self.retry_backoff} "
                f"and {self.retry_backoff_max}"
            )
        for network in self.trusted_clients:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"trusted_clients: {network!r} is not an IP address or network") from None
        clash = RESERVED_PARAMS & set(self.params)
        if clash:
            raise ValueError(f"params must not hold {', '.join(sorted(clash))}: set task_definition_id instead")

    @property
    def address(self) -> str:
        return Account.from_key(self.ecdsa_key).address

    @property
    def outbox_file(self) -> Path:
        """``outbox_path``, else ``$XDG_DATA_HOME/othentic/performer-<chain id>-<address>.sqlite3``."""
        return node_db_path(self.outbox_path, "performer", self.deployment.chain_id, self.address)

    @property
    def triggers(self) -> list[str]:
        """The triggers this configuration turns on (``demand`` always)."""
        kinds = ["demand"]
        if self.every_seconds is not None:
            kinds.append("seconds")
        if self.every_blocks is not None:
            kinds.append("blocks")
        if self.event is not None:
            kinds.append("event")
        if self.on_message:
            kinds.append("message")
        return kinds


def aggregator_urls(value: str | Sequence[str]) -> tuple[str, ...]:
    """Aggregator URLs from one string (commas separate several) or a list of them; each must be
    http(s), and there must be at least one. Duplicates are dropped, the order is kept."""
    items = [value] if isinstance(value, str) else list(value)
    urls: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"aggregator URLs must be strings, got {type(item).__name__}")
        for url in (part.strip() for part in item.split(",")):
            if not url:
                continue
            if not url.startswith(("http://", "https://")):
                raise ValueError(f"aggregator URL must start with http:// or https://, got {url!r}")
            if url not in urls:
                urls.append(url)
    if not urls:
        raise ValueError("at least one aggregator URL is needed")
    return tuple(urls)
