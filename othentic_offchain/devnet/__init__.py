"""Local development networks, started and stopped by the tooling itself.

* :mod:`.anvil`: one anvil process (exported here);
* :mod:`.network`: :class:`~othentic_offchain.devnet.network.LocalNetwork`, the one builder of a
  whole network (anvil, the deployment, operators, the node processes) that ``othentic devnet``,
  the end-to-end tests and the benches share;
* :mod:`.processes`: the Supervisor of the nodes' OS processes; :mod:`.tokens`: the mintable
  test tokens;
* ``othentic devnet`` itself: :mod:`.devnet` (the run), :mod:`.examples` (the example AVSs'
  contracts and definitions), :mod:`.workload`, :mod:`.report`, :mod:`.stats` (percentiles);
* the chaos runs (``bench/chaos.py``, ``tests/e2e/test_chaos.py``): :mod:`.chaos` (the network,
  the faults, the account of every task from the chain), :mod:`.chaos_avs` (their AVS),
  :mod:`.rpc_relay` (a JSON-RPC relay in front of anvil that fails on command).
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
