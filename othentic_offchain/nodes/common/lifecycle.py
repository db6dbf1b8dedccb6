"""What every node shares: ``run()`` and ``async with`` around ``start()`` and ``stop()``."""

from __future__ import annotations

import asyncio


class NodeLifecycle:
    """``run()`` and ``async with`` for a node with ``start()`` and ``stop()``."""

    async def start(self) -> str:  # pragma: no cover - every node defines it
        raise NotImplementedError

    async def stop(self) -> None:  # pragma: no cover
        raise NotImplementedError

    async def run(self) -> None:
        """Start and serve until cancelled (the CLI's foreground mode), then stop cleanly."""
        await self.start()
        try:
            await asyncio.Event().wait()
        finally:
            await self.stop()

    async def __aenter__(self):
        await self.start()
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.stop()
