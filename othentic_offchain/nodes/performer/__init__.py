"""The performer: runs the AVS's execution service on a trigger and sends the signed task."""

from othentic_offchain.nodes.performer.node import PerformerConfig, PerformerNode

__all__ = ["PerformerConfig", "PerformerNode"]
