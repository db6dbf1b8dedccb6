"""Local development networks, started and stopped by the tooling itself.

* :mod:`.anvil`: one anvil process (exported here);
* :mod:`.network`: :class:`~othentic_offchain.devnet.network.LocalNetwork`, the one builder of a
  whole network (anvil, the deployment, operators, the node processes) that ``othentic devnet``,
  the end-to-end tests and the benches share;
* :mod:`.processes`: the Supervisor of the nodes' OS processes; :mod:`.tokens`: the mintable
  test tokens;
* ``othentic devnet`` itself: :mod:`.devnet` (the run), :mod:`.examples` (the example AVSs'
  contracts and definitions), :mod:`.workload`, :mod:`.report`, :mod:`.stats` (percentiles).
"""

from othentic_offchain.devnet.anvil import (
    DEV_ACCOUNTS,
    DEV_PRIVATE_KEYS,
    Anvil,
    AnvilError,
    AnvilNotFound,
    find_anvil,
    free_port,
)

__all__ = ["Anvil", "AnvilError", "AnvilNotFound", "DEV_ACCOUNTS", "DEV_PRIVATE_KEYS", "find_anvil", "free_port"]
