"""Testing an AVS: its functions alone (:class:`AvsHarness`), or on a throwaway network (pytest).

The package registers a pytest plugin (entry point ``pytest11``: :mod:`othentic_offchain.testing.plugin`)
whose fixtures a project made by ``othentic init`` uses, the way Ape's plugin provides ``accounts``:

* ``avs_project``: the project (``othentic.toml`` found upward from pytest's root folder);
* ``avs_local``: an :class:`AvsHarness` of the project's AVS: run execute and validate by
  definition name, no chain, proofs kept in memory;
* ``avs_network``: the project on a local network of its own (anvil, the contracts, the declared
  definitions, operators and nodes; one per test session), a
  :class:`~othentic_offchain.project.devnet.ProjectDevnet`: ``avs_network.send("name", {...})``
  returns the task's landed outcome.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from othentic_offchain.avs import Avs, ExecutionResult, Task
from othentic_offchain.proofs import compute_cid

__all__ = ["AvsHarness", "MemoryProofStore", "DEFAULT_PERFORMER"]

#: The performer tasks are attributed to (anvil's public development account 1).
DEFAULT_PERFORMER = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"


class MemoryProofStore:
    """A proof store in memory, with the same CIDs as the real one (``othentic proofs serve``)."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}

    async def put(self, content: bytes) -> str:
        cid = compute_cid(bytes(content))
        self.blobs[cid] = bytes(content)
        return cid

    async def get(self, cid: str) -> bytes:
        try:
            return self.blobs[cid]
        except KeyError:
            raise LookupError(f"no proof {cid} in the store") from None


class AvsHarness:
    """An AVS's execute and validate functions called by definition name, synchronously, through
    the same checks the services apply (timeouts, return types). Each definition name gets an id
    (1, 2, ... in the order the AVS registers them) unless ``definitions`` gives them."""

    def __init__(
        self,
        avs: Avs,
        *,
        config: Mapping[str, Any] | None = None,
        definitions: Mapping[str, int] | None = None,
        performer: str = DEFAULT_PERFORMER,
    ):
        self.avs = avs
        self.proofs = MemoryProofStore()
        avs.proofs = self.proofs
        avs.config.update(config or {})
        self.definitions = dict(definitions or {name: i + 1 for i, name in enumerate(avs.definition_names)})
        avs.bind(self.definitions)
        self.performer = performer

    def execute(self, definition: str, params: Mapping[str, Any] | None = None) -> ExecutionResult:
        """Run the execute function of ``definition`` (its proof goes to :attr:`proofs`)."""
        return asyncio.run(self.avs.run_execute(definition, params or {}))

    def validate(
        self,
        definition: str,
        result: ExecutionResult | None = None,
        *,
        proof_of_task: str | None = None,
        data: bytes | None = None,
    ) -> bool:
        """Run the validate function of ``definition`` on an execution's result, or on the
        ``proof_of_task`` and ``data`` given (each replaces the result's, to try a lie)."""
        if result is None and (proof_of_task is None or data is None):
            raise TypeError("give an ExecutionResult, or proof_of_task and data")
        task = Task(
            proof_of_task=proof_of_task if proof_of_task is not None else result.proof_of_task,  # type: ignore[union-attr]
            data=data if data is not None else result.data,  # type: ignore[union-attr]
            task_definition_id=self.definitions[definition],
            performer=self.performer,
        )
        return asyncio.run(self.avs.run_validate(task))
