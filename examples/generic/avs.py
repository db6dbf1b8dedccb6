"""Generic tasks on definition 0: hash a text, let attesters recompute it.

* execute(params): the text (`params["text"]`) goes to the proof store; data = sha256(text).
* validate(task): fetch the text by its CID (the proof store verifies the content against it),
  recompute the hash, compare. Without a proof store, data must simply be 32 bytes.
"""

from __future__ import annotations

import hashlib
import os

from othentic_offchain.avs import Avs, Execution, Task


def install(avs: Avs, definition_id: int = 0) -> Avs:
    @avs.execute(definition_id)
    async def digest(params: dict, ctx) -> Execution:
        text = str(params.get("text", "hello, AVS")).encode()
        return Execution(proof=text, data=hashlib.sha256(text).digest())

    @avs.validate(definition_id)
    async def check(task: Task, ctx) -> bool:
        if len(task.data) != 32:
            return False
        if ctx.proofs is None:
            return True
        text = await ctx.proofs.get(task.proof_of_task)
        return hashlib.sha256(text).digest() == task.data

    return avs


avs = install(Avs("generic"), int(os.environ.get("GENERIC_DEFINITION", "0")))
