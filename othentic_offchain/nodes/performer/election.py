"""Leader election: which operator performs a task at a given block.

When every operator runs a performer on the same trigger (every N blocks, on a contract event), all
of them would execute and send the same task; the aggregator would then see as many tasks as
performers. Election picks one. Both functions are pure: every operator computes the same answer
from what the chain shows everyone alike (the definition's members and their stakes, the block
number, the block hash), so no messages are exchanged and no operator can be talked into a
different result.

* :func:`round_robin`: members in increasing id order take turns, one turn per ``period`` blocks.
  Fair in count, predictable (an operator knows its next turn), ignores stake.
* :func:`stake_weighted`: a member is chosen with probability proportional to its stake, from 32
  bytes of chain randomness. The performer uses **the hash of the block** it elects for (what
  ``eth_getBlockByNumber`` returns as ``hash``): every node can read it for any past block, on
  every EVM chain and on anvil, whose ``prevrandao`` is not random. A block producer can grind the
  hash a little to favour itself; for choosing who does the next unit of paid work that is an
  acceptable bias (the chosen performer still needs its attesters' quorum), and an AVS that cares
  can pass another seed (a randomness beacon's output) to the same function.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from eth_utils import keccak

__all__ = ["EmptyOperatorSet", "round_robin", "stake_weighted", "SEED_DOMAIN"]

#: Domain tag hashed with the seed, so that the draw never equals another use of the same block hash.
SEED_DOMAIN = b"othentic-py.election.stake-weighted.v1"


class EmptyOperatorSet(ValueError):
    """Nobody to elect: the set is empty (or, for stake, holds no stake at all)."""


def round_robin(members: Iterable[int], block: int, period: int = 1) -> int:
    """The operator id whose turn it is at ``block``: members sorted by id, index
    ``(block // period) % len(members)``. Duplicate ids count once."""
    ordered = sorted({int(m) for m in members})
    if not ordered:
        raise EmptyOperatorSet("round robin over an empty operator set: no one can perform")
    if period < 1:
        raise ValueError(f"period must be at least 1 block, got {period}")
    if block < 0:
        raise ValueError(f"block number must not be negative, got {block}")
    return ordered[(block // period) % len(ordered)]


def stake_weighted(members: Mapping[int, int], seed: bytes) -> int:
    """The operator id drawn with probability stake / total stake, deterministically from ``seed``.

    ``seed`` is 32 bytes of chain randomness (the performer uses the block hash). The draw is
    ``keccak256(SEED_DOMAIN || seed) mod total``, walked over the members in increasing id order;
    with a 256-bit draw and stakes below 2**96 each, the modulo bias is below 2**-150.
    Members with zero stake are never chosen.
    """
    seed = bytes(seed)
    if len(seed) != 32:
        raise ValueError(f"seed must be 32 bytes of chain randomness (a block hash), got {len(seed)}")
    weighted = sorted((int(i), int(s)) for i, s in members.items())
    for operator_id, stake in weighted:
        if stake < 0:
            raise ValueError(f"operator {operator_id} has a negative stake ({stake})")
    total = sum(stake for _, stake in weighted)
    if total == 0:
        what = "an empty operator set" if not weighted else "an operator set without stake"
        raise EmptyOperatorSet(f"stake-weighted election over {what}: no one can perform")
    point = int.from_bytes(keccak(SEED_DOMAIN + seed), "big") % total
    for operator_id, stake in weighted:
        if point < stake:
            return operator_id
        point -= stake
    raise AssertionError("unreachable: the draw is below the total stake")  # pragma: no cover
