"""The AVS of the chaos runs: ``othentic services othentic_offchain.devnet.chaos_avs:avs``.

Definition 0, as cheap as a task gets, so that the runs exercise the chain layer and not the AVS:
the performer's result is the SHA-256 of a text, the text itself is the proof of task (no proof
store to run), and attesters approve when the data is the SHA-256 of the proof of task.
"""

from __future__ import annotations

import hashlib

from othentic_offchain.avs import Avs, Execution, Task

avs = Avs("chaos")


@avs.execute(0)
async def _digest(params: dict, ctx) -> Execution:
    text = str(params.get("text", "chaos"))
    return Execution(proof_of_task=text, data=hashlib.sha256(text.encode()).digest())


@avs.validate(0)
async def _approve_sha256_of_proof(task: Task, ctx) -> bool:
    return len(task.data) == 32 and hashlib.sha256(task.proof_of_task.encode()).digest() == task.data
