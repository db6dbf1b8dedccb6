"""The center's landing events of a devnet run: what the devnet tests count tasks landed by."""

from __future__ import annotations

from othentic_offchain.devnet.devnet import Devnet


def landings(net: Devnet, from_block: int, to_block: int) -> list:
    """Every TaskSubmitted and TaskRejected event of the center in ``[from_block, to_block]``."""
    center = net.net.avs.center
    return [
        log
        for name in ("TaskSubmitted", "TaskRejected")
        for log in getattr(center.events, name)().get_logs(from_block=from_block, to_block=to_block)
    ]
