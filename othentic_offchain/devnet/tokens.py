"""The devnet's mintable tokens.

Production code binds the stake and reward tokens through the ERC-20 interface only. On a devnet
(and in tests and benches) they are ``TestToken`` contracts, whose ``mint`` anyone may call: bind
them through :func:`mintable` to get at it.
"""

from __future__ import annotations

from typing import Any

from othentic_offchain.chain.artifacts import load_artifact

DEVNET_TOKEN = "TestToken"


def mintable(token: Any) -> Any:
    """The same token contract (a web3 contract object) bound with the devnet token's ABI."""
    return load_artifact(DEVNET_TOKEN).contract(token.w3, token.address)
