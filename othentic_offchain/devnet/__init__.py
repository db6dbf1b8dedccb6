"""Local development networks: an anvil process the tooling starts and stops itself."""

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
