"""Uppercase: a task turns a text into its uppercase, and every attester checks it.

* execute(params): the text (``params["text"]``) goes to the proof store, whose CID becomes the
  proof of task; the task's data, which lands on-chain, is the text in uppercase (UTF-8).
* validate(task): fetch the text the proof of task names (the proof store checks it against its
  CID) and approve only if the data is exactly its uppercase.

Serve it: ``othentic services docs/examples/uppercase_avs.py:avs --proof-store URL``.
Guide: docs/write-your-own-avs.md.
"""

import os

from othentic_offchain.avs import Avs, Execution, Task

# The id `othentic task-definition create` printed (3 on a fresh devnet, which has 0, 1 and 2).
DEFINITION = int(os.environ.get("UPPERCASE_DEFINITION", "3"))

avs = Avs("uppercase")


@avs.execute(DEFINITION)
async def uppercase(params: dict, ctx) -> Execution:
    text = params.get("text")
    if not isinstance(text, str):
        raise ValueError('an uppercase task needs {"text": "..."}')
    # proof=...: the service stores these bytes in the proof store; their CID is the proof of task.
    return Execution(proof=text.encode(), data=text.upper().encode())


@avs.validate(DEFINITION)
async def check(task: Task, ctx) -> bool:
    try:
        text = (await ctx.proofs.get(task.proof_of_task)).decode()
    except (LookupError, ValueError):  # no such proof, not a CID, not UTF-8: nothing to approve
        return False
    # If the proof store is down, get() raises something else: the attester then gives no vote
    # at all, rather than a wrong one.
    return task.data == text.upper().encode()
