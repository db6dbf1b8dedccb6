"""The AVS of the throughput bench: ``othentic services bench/throughput_avs.py:avs``.

Definition 0 only, and as cheap as validation gets, so the bench measures the network rather than
the AVS: approve when the data is the SHA-256 of the proof-of-task string.
"""

from __future__ import annotations

import hashlib

from othentic_offchain.avs import Avs, Task

avs = Avs("throughput-bench")


@avs.validate(0)
async def _approve_sha256_of_proof(task: Task, ctx) -> bool:
    """Definition 0: approve when data is the SHA-256 of the proof-of-task string."""
    return len(task.data) == 32 and hashlib.sha256(task.proof_of_task.encode()).digest() == task.data
