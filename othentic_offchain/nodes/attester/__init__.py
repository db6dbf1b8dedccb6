"""The attester: re-checks tasks through the AVS's validation service and signs BLS votes."""

from othentic_offchain.nodes.attester.node import AttesterConfig, AttesterNode

__all__ = ["AttesterConfig", "AttesterNode"]
