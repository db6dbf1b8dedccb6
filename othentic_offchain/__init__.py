"""Off-chain half of the AVS task network: crypto, chain client, nodes, CLI."""

__version__ = "0.1.0"
