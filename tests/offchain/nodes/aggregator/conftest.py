"""The aggregator tests' chain (``net``: anvil, the deployment, ten operators) for every module here."""

from tests.offchain.nodes.aggregator.test_node import net  # noqa: F401  (a fixture)
