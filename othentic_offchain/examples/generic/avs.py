"""Generic tasks on definition 0: hash a text, let attesters recompute it.

* execute(params): the text (`params["text"]`) goes to the proof store; data = sha256(text).
* validate(task): data must be the SHA-256 of the proof: of the content the proof-of-task CID names
  in the proof store (fetched and checked against its CID), or, when the proof of task is not a
  stored CID, of the proof-of-task string itself. So a task can also be sent by hand:
  `othentic task send --proof-of-task "hello" --data-sha256-of-proof`.
"""

from __future__ import annotations

import hashlib
import os

from othentic_offchain.avs import Avs, Execution, Task


def _looks_like_cid(text: str) -> bool:
    from othentic_offchain.proofs import parse_cid

    try:
        parse_cid(text)
    except ValueError:
        return False
    return True


def install(avs: Avs, definition_id: int = 0) -> Avs:
    @avs.execute(definition_id)
    async def digest(params: dict, ctx) -> Execution:
        text = str(params.get("text", "hello, AVS")).encode()
        return Execution(proof=text, data=hashlib.sha256(text).digest())

    @avs.validate(definition_id)
    async def check(task: Task, ctx) -> bool:
        if len(task.data) != 32:
            return False
        content = task.proof_of_task.encode()
        if ctx.proofs is not None and _looks_like_cid(task.proof_of_task):
            try:
                content = await ctx.proofs.get(task.proof_of_task)
            except LookupError:
                return False  # a CID nobody stored: the performer's proof is missing
        return hashlib.sha256(content).digest() == task.data

    return avs


avs = install(Avs("generic"), int(os.environ.get("GENERIC_DEFINITION", "0")))
