"""The attester: re-checks tasks through the AVS's validation service and signs BLS votes.

* :mod:`.node`: :class:`AttesterNode`, its HTTP API and the path of one vote;
* :mod:`.config`: :class:`AttesterConfig`;
* :mod:`.checks`: the checks of a request on its own, and :class:`~.checks.Refusal`;
* :mod:`.membership`: whether the chain lets this operator attest a definition;
* :mod:`.votes`: the vote record that keeps the node from ever signing both sides of a task.
"""

from othentic_offchain.nodes.attester.config import AttesterConfig
from othentic_offchain.nodes.attester.node import AttesterNode

__all__ = ["AttesterConfig", "AttesterNode"]
