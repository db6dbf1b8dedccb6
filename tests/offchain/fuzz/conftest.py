"""The node tests' harness fixtures (an event loop in a thread, anvil with the system deployed),
reused by the fuzz modules."""

from tests.offchain.nodes.conftest import devnet, loop  # noqa: F401  (fixtures)
