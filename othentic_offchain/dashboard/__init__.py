"""The live dashboard: a web page of a running network (``othentic dashboard``, and ``othentic devnet``).

* :mod:`.source`: the aggregator's tasks and the chain's operators, definitions and events, in one
  JSON snapshot (cached, rebuilt at most every refresh interval);
* :mod:`.server`: the aiohttp server of the page (``static/``: plain HTML, JavaScript and CSS,
  shipped as package data, no build step) and of ``GET /api/state``.
"""

from othentic_offchain.dashboard.server import DashboardServer
from othentic_offchain.dashboard.source import DashboardOptions, DashboardSource

__all__ = ["DashboardOptions", "DashboardServer", "DashboardSource"]
