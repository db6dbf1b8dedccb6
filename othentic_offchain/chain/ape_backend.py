"""The Ape backend of :func:`othentic_offchain.chain.deploy.deploy_system` (``ape run deploy``, tests).

Imports Ape only when used, so that nodes and the CLI never pay Ape's start-up time.
"""

from __future__ import annotations

from typing import Any


class ApeBackend:
    """Deploys the project's contracts with an Ape account on Ape's connected network."""

    def __init__(self, project, account):
        from ape import chain

        self._project = project
        self._account = account
        self._chain = chain
        self.chain_id = int(chain.chain_id)
        self.deployer = str(account.address)

    def deploy(self, name: str, *args: Any) -> str:
        container = self._project.get_contract(name)
        return str(container.deploy(*args, sender=self._account).address)

    def transact(self, name: str, address: str, function: str, *args: Any) -> None:
        contract = self._project.get_contract(name).at(address)
        getattr(contract, function)(*args, sender=self._account)

    def block_number(self) -> int:
        return int(self._chain.blocks.height)

    def has_code(self, address: str) -> bool:
        return len(self._chain.provider.get_code(address)) > 0
