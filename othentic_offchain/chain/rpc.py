"""Nodes' connections to the chain's JSON-RPC endpoint: asyncio ones for the hot paths, a blocking
one for work done in a thread."""

from __future__ import annotations

from typing import Any


def async_web3(rpc_url: str, timeout: float = 30.0) -> Any:
    """An ``AsyncWeb3`` on an HTTP JSON-RPC URL (web3's defaults; nodes use :class:`RpcConnection`)."""
    from web3 import AsyncHTTPProvider, AsyncWeb3

    return AsyncWeb3(AsyncHTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))


def sync_web3(rpc_url: str, timeout: float = 30.0) -> Any:
    """A blocking ``Web3`` on an HTTP JSON-RPC URL, for calls made from a worker thread."""
    from web3 import HTTPProvider, Web3

    return Web3(HTTPProvider(rpc_url, request_kwargs={"timeout": timeout}))


class RpcConnection:
    """An ``AsyncWeb3`` fit for a node's hot path.

    web3's own session closes the connection after every request (a new TCP connection per call),
    and its request validation re-reads ``eth_chainId`` before every call: measured in a devnet,
    an attester's chain checks took 0.7 s per vote that way. This keeps connections alive and drops
    the per-call middleware work the nodes' own well-formed calls do not need.
    """

    def __init__(self, rpc_url: str, *, timeout: float = 30.0, connections: int = 64):
        self.rpc_url = rpc_url
        self.timeout = timeout
        self.connections = connections
        self.w3: Any = None
        self._session: Any = None

    async def open(self, expect_chain_id: int | None = None) -> Any:
        """Connect; with ``expect_chain_id``, refuse (ValueError) an endpoint serving another chain."""
        import aiohttp

        self.w3 = async_web3(self.rpc_url, self.timeout)
        for name in ("validation", "ens_name_to_address"):
            try:
                self.w3.middleware_onion.remove(name)
            except Exception:  # not present in this web3 version: nothing to drop
                pass
        self._session = aiohttp.ClientSession(
            raise_for_status=True,
            connector=aiohttp.TCPConnector(limit=self.connections),
            timeout=aiohttp.ClientTimeout(total=self.timeout),
        )
        await self.w3.provider.cache_async_session(self._session)
        if expect_chain_id is not None:
            chain_id = int(await self.w3.eth.chain_id)
            if chain_id != expect_chain_id:
                await self.close()
                raise ValueError(
                    f"{self.rpc_url} serves chain {chain_id}, but the deployment is on chain {expect_chain_id}"
                )
        return self.w3

    async def close(self) -> None:
        if self.w3 is not None:
            try:
                await self.w3.provider.disconnect()
            except Exception:
                pass
            self.w3 = None
        if self._session is not None:
            await self._session.close()
            self._session = None
