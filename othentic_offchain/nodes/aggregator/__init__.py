"""The aggregator: accepts tasks, collects votes, submits the aggregate on-chain, recovers.

:class:`AggregatorNode` (:mod:`.node`) wires the parts together; :class:`AggregatorConfig` and the
JSON-RPC application error codes are in :mod:`.config`.
"""

from othentic_offchain.nodes.aggregator.config import (
    BUSY,
    CHAIN_UNAVAILABLE,
    DEFINITION_EXPIRED,
    INVALID_SIGNATURE,
    PERFORMER_NOT_ACTIVE,
    UNKNOWN_DEFINITION,
    UNKNOWN_TASK,
    UNSUPPORTED_SIGNATURE_TYPE,
    WRONG_CHAIN,
    AggregatorConfig,
)
from othentic_offchain.nodes.aggregator.node import AggregatorNode

__all__ = [
    "BUSY",
    "CHAIN_UNAVAILABLE",
    "DEFINITION_EXPIRED",
    "INVALID_SIGNATURE",
    "PERFORMER_NOT_ACTIVE",
    "UNKNOWN_DEFINITION",
    "UNKNOWN_TASK",
    "UNSUPPORTED_SIGNATURE_TYPE",
    "WRONG_CHAIN",
    "AggregatorConfig",
    "AggregatorNode",
]
