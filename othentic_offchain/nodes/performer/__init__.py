"""The performer: runs the AVS's execution service on a trigger and sends the signed task.

* :mod:`.node`: :class:`PerformerNode`, its HTTP API and one task's path (elect, execute, sign, send);
* :mod:`.config`: :class:`PerformerConfig`;
* :mod:`.triggers`: the timer, block and event triggers (:class:`EventTrigger`);
* :mod:`.election`: which operator performs at a block;
* :mod:`.aggregator`: ``sendTask`` to the aggregators (failing over) and its failures;
* :mod:`.outbox`: :class:`Outbox`, every signed task kept until an aggregator takes it;
* :mod:`.outcome`: :class:`TaskOutcome`, what became of one task.
"""

from othentic_offchain.nodes.performer.aggregator import (
    AggregatorClient,
    AggregatorError,
    Aggregators,
    AggregatorUnavailable,
)
from othentic_offchain.nodes.performer.config import ELECTION_MODES, PerformerConfig
from othentic_offchain.nodes.performer.node import TRIGGER_PATH, PerformerNode
from othentic_offchain.nodes.performer.outbox import Outbox, OutboxEntry, OutboxError
from othentic_offchain.nodes.performer.outcome import TaskOutcome
from othentic_offchain.nodes.performer.triggers import EventTrigger

__all__ = [
    "ELECTION_MODES",
    "TRIGGER_PATH",
    "AggregatorClient",
    "AggregatorError",
    "AggregatorUnavailable",
    "Aggregators",
    "EventTrigger",
    "Outbox",
    "OutboxEntry",
    "OutboxError",
    "PerformerConfig",
    "PerformerNode",
    "TaskOutcome",
]
