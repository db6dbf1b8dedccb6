"""The AVS the end-to-end network serves (``othentic services tests/e2e/e2e_avs.py:avs``).

Validation logic per task definition:

* 0 (generic, created at deployment) and every definition without a function of its own (the
  restricted one a test creates): approve when ``data`` is the SHA-256 of the proof-of-task string.
* 1 ("no" filter): reject anything whose data starts with ``b"no"``, approve the rest.
* 2 (slow): sleep ``config["slow_seconds"]``, then approve unless the file ``config["flip_file"]``
  exists. A test flips the answer by creating that file, so it can tell a recorded vote (given
  before the flip) from a fresh decision (after it).

Custom messages are appended, one hex line each, to ``config["messages_file"]``: a test counts the
deliveries there.
"""

from __future__ import annotations

import asyncio
import hashlib
import os

from othentic_offchain.avs import Avs, Task

GENERIC, NO_FILTER, SLOW = 0, 1, 2

avs = Avs("e2e", timeout=30.0)


def _digest_matches(task: Task) -> bool:
    return hashlib.sha256(task.proof_of_task.encode()).digest() == task.data


@avs.validate(GENERIC)
def generic(task: Task) -> bool:
    return _digest_matches(task)


@avs.validate
def any_other(task: Task) -> bool:
    return _digest_matches(task)


@avs.validate(NO_FILTER)
def no_filter(task: Task) -> bool:
    return not task.data.startswith(b"no")


@avs.validate(SLOW)
async def slow(task: Task, ctx) -> bool:
    await asyncio.sleep(float(ctx.config.get("slow_seconds", 3.0)))
    flip = ctx.config.get("flip_file")
    return not (flip and os.path.exists(flip))


@avs.on_message
def remember(data: bytes, ctx) -> None:
    path = ctx.config.get("messages_file")
    if path:
        with open(path, "a") as out:
            out.write(data.hex() + "\n")
