"""The aggregator's configuration and the application error codes of its JSON-RPC."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from eth_account import Account

from othentic_offchain.chain.deploy import DeploymentRecord
from othentic_offchain.nodes.common.paths import node_db_path
from othentic_offchain.nodes.common.protocol import (
    MAX_MESSAGE_DATA_BYTES,
    MAX_PROOF_OF_TASK_LENGTH,
    MESSAGE_MAX_AGE,
    VOTE_TIMEOUT,
)
from othentic_offchain.nodes.common.ratelimit import LOOPBACK

# Application error codes of the aggregator's JSON-RPC (-32000..-32099).
INVALID_SIGNATURE = -32001  #: the signature does not recover to performerAddress
UNKNOWN_DEFINITION = -32002  #: no task definition with that id on-chain
DEFINITION_EXPIRED = -32003  #: the definition's blockExpiry has passed
PERFORMER_NOT_ACTIVE = -32004  #: performerAddress is not an active operator
WRONG_CHAIN = -32005  #: targetChainId is not the chain this aggregator submits to
UNSUPPORTED_SIGNATURE_TYPE = -32006  #: signatureType "bls": performers sign with ECDSA here
UNKNOWN_TASK = -32010  #: taskStatus of a hash this aggregator never accepted
BUSY = -32029  #: too many tasks open: retry later
RATE_LIMITED = -32030  #: sendCustomMessage too often (from this client, or from everyone): retry later
UNAUTHENTICATED = -32031  #: sendCustomMessage unsigned from an untrusted address, or a bad or stale signature
NOT_AN_OPERATOR = -32032  #: sendCustomMessage signed by an account that is not an active operator
CHAIN_UNAVAILABLE = -32050  #: the RPC endpoint failed while checking the task: retry later


@dataclass
class AggregatorConfig:
    """Everything one aggregator needs.

    ``ecdsa_key`` is the account that submits (it must be an active operator: the contract checks
    it). ``attesters`` maps operator ids or addresses to URLs and wins over the endpoints published
    on-chain. ``delay`` (seconds, Othentic's ``--delay``) is how long to wait for more votes once a
    side reached its threshold: more signers means fewer non-signers to pay for and more rewards
    for the honest. ``vote_timeout`` bounds one request to one attester (longer than the attesters'
    ``service_timeout``: see :data:`~othentic_offchain.nodes.common.protocol.VOTE_TIMEOUT`),
    ``task_timeout`` the time a task may spend collecting votes before it fails with ``no_quorum``.
    ``max_requests_per_attester`` bounds the vote requests in flight to one attester: under a burst
    the requests wait here, where ``vote_timeout`` is not yet running, instead of piling up at the
    attester until they all time out.
    ``sendCustomMessage`` reaches every attester, so it is bounded: ``max_message_bytes`` of data,
    ``messages_per_request`` calls in one HTTP request (a batch), and token buckets per client
    address (``message_rate_per_client`` a second, bursts of ``message_burst_per_client``) and for
    everyone together (``message_rate_total``, ``message_burst_total``). Callers authenticate:
    a call is signed by an active operator (``signer``, ``signature``, ``timestamp`` at most
    ``message_max_age`` seconds from this node's clock), and is then limited per signer; only a
    client whose address is in ``trusted_clients`` (addresses or networks; default: loopback, so
    a local execution service keeps working) may send Othentic's unsigned form, limited per
    address. A signed call's signature is recovered only within ``message_auth_rate_per_client``
    (``message_auth_burst_per_client``) per client address, so that garbage cannot burn CPU.
    ``max_fee_per_gas`` (wei; None: no ceiling) caps what a transaction may offer per gas: while
    the chain asks more, submissions wait (``fee_ceiling``). A transaction not mined within
    ``replace_after_blocks`` blocks or ``replace_after_seconds`` seconds (whichever comes first:
    a chain that mines on demand makes no blocks while our nonce is the one missing) is looked at:
    sent again if the node lost it; replaced on its nonce with fees raised 13 % only when it is the
    next to mine and either offers less than the chain asks now or ``replace_after_blocks`` blocks
    passed without it; a replacement offers at most twice a fresh transaction's fees. After
    ``stuck_after_rounds`` such rounds with nothing replaced the task is reported stuck (metric
    ``submissions{result="stuck"}``, its error) and stays ``submitting``.
    ``finality`` is when a landed task is final: after that many blocks on top of its landing block
    (0: at once, the devnet's setting), or ``"finalized"`` (the chain's finalized block reached it).
    Until then it is re-checked every ``finality_interval`` seconds, and a reorganisation that
    removes it opens it again (see :mod:`~othentic_offchain.nodes.aggregator.finality`).
    With aggregators listed on-chain (:mod:`~othentic_offchain.nodes.aggregator.turns`), a task a
    client sent is forwarded to the other listed aggregators (``forward_timeout`` seconds each); a
    node waiting for its turn looks for the task's landing every ``landing_poll_interval`` seconds;
    a task decided in the last ``turn_margin`` seconds of this node's turn waits for its next turn
    (the next aggregator lands it as its own turn starts: two do not send it at once);
    the schedule is read again at the latest every ``schedule_ttl`` seconds (at once after an
    aggregator event).
    """

    rpc_url: str
    deployment: DeploymentRecord
    ecdsa_key: str
    host: str = "127.0.0.1"
    port: int = 0
    db_path: str | Path | None = None  # None: store_path, a fixed file per chain and account
    attesters: Mapping[int | str, str] = field(default_factory=dict)
    delay: float = 0.0
    vote_timeout: float = VOTE_TIMEOUT
    task_timeout: float = 60.0
    max_proof_length: int = MAX_PROOF_OF_TASK_LENGTH
    max_concurrent_tasks: int = 256
    max_open_tasks: int = 100_000
    max_connections: int = 512
    max_requests_per_attester: int = 16
    max_request_bytes: int = 1 << 20
    max_batch: int = 100
    max_message_bytes: int = MAX_MESSAGE_DATA_BYTES
    messages_per_request: int = 1
    message_rate_per_client: float = 1.0
    message_burst_per_client: float = 5.0
    message_rate_total: float = 10.0
    message_burst_total: float = 20.0
    trusted_clients: tuple[str, ...] = LOOPBACK
    message_max_age: float = MESSAGE_MAX_AGE
    message_auth_rate_per_client: float = 20.0
    message_auth_burst_per_client: float = 40.0
    submit_retries: int = 3
    retry_interval: float = 0.5
    receipt_timeout: float = 120.0
    max_fee_per_gas: int | None = None
    replace_after_blocks: int = 3
    replace_after_seconds: float = 30.0
    stuck_after_rounds: int = 10
    finality: int | str = 0
    finality_interval: float = 1.0
    receipt_poll_interval: float = 0.05
    chain_refresh_interval: float = 0.5
    forward_timeout: float = 5.0
    landing_poll_interval: float = 1.0
    turn_margin: float = 0.3
    schedule_ttl: float = 5.0
    db_synchronous: str = "FULL"
    name: str = "aggregator"

    @property
    def address(self) -> str:
        return Account.from_key(self.ecdsa_key).address

    @property
    def store_path(self) -> Path:
        """``db_path``, else ``$XDG_DATA_HOME/othentic/aggregator-<chain id>-<address>.sqlite3``."""
        return node_db_path(self.db_path, "aggregator", self.deployment.chain_id, self.address)
