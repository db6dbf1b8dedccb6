"""The aggregator: accepts tasks, collects votes, submits the aggregate on-chain, recovers."""

from othentic_offchain.nodes.aggregator.node import AggregatorConfig, AggregatorNode

__all__ = ["AggregatorConfig", "AggregatorNode"]
