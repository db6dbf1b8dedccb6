"""The harness the node tests share: an anvil with the system deployed, operators, an event loop in
a background thread for in-process nodes, and small HTTP helpers.

The chain comes from the package's network builder (``othentic_offchain/devnet/network.py``);
the nodes under test are served in-process, in :class:`LoopThread`'s loop."""

from __future__ import annotations

import asyncio
import itertools
import socket
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import requests
from eth_account import Account

from othentic_offchain.chain.client import AvsContracts, TxSender, fund_eth
from othentic_offchain.chain.deploy import TOKEN, DeploymentRecord
from othentic_offchain.chain.types import TaskDefinitionParams
from othentic_offchain.crypto import KeyPair
from othentic_offchain.devnet.anvil import Anvil
from othentic_offchain.devnet.network import LocalNetwork

T = TypeVar("T")
HTTP_TIMEOUT = 30


class LoopThread:
    """An asyncio loop in a daemon thread: nodes live in it across tests; ``run`` waits for a coroutine."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="nodes-test-loop", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        async def drain() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self.run(drain())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@dataclass
class Operator:
    key: str
    keys: KeyPair
    id: int = 0
    receipt: Any = None  # of its registration

    @property
    def address(self) -> str:
        return Account.from_key(self.key).address


class Devnet:
    """Anvil with the whole system deployed (the package's :class:`LocalNetwork`, chain part only:
    the nodes under test run in-process); registers operators and makes signed tasks."""

    def __init__(self, network: LocalNetwork):
        assert network.anvil is not None and network.record is not None and network.avs is not None
        assert network.admin is not None
        self.network = network
        self.anvil: Anvil = network.anvil
        self.w3: Any = network.w3
        self.record: DeploymentRecord = network.record
        self.avs: AvsContracts = network.avs
        self.deployer: TxSender = network.admin
        self._seeds = itertools.count(1)

    @classmethod
    def start(cls) -> Devnet:
        network = LocalNetwork()
        try:
            network.start_chain()
        except BaseException:
            network.stop()
            raise
        return cls(network)

    def stop(self) -> None:
        self.network.stop()

    @property
    def center(self) -> str:
        return self.avs.address

    @property
    def chain_id(self) -> int:
        return self.record.chain_id

    def new_operator(self) -> Operator:
        """A fresh account with ETH and a BLS key, not registered."""
        n = next(self._seeds)
        account = Account.create(f"nodes test operator {n}")
        fund_eth(self.w3, [account.address], 10**20)
        return Operator("0x" + bytes(account.key).hex(), KeyPair.from_seed(b"nodes test bls key %04d" % n))

    def register(self, stake: int = 2 * TOKEN, operator: Operator | None = None) -> Operator:
        """Mint stake (the deployer mints TestTokens) and register; returns the operator with its id."""
        operator = operator or self.new_operator()
        registered = self.network.register_operator(operator.key, stake, bls=operator.keys)
        operator.receipt, operator.id = registered.receipt, registered.id
        return operator

    def create_definition(self, **params: Any) -> int:
        return self.avs.create_definition(self.deployer, TaskDefinitionParams(name="test", **params))

    def mine(self, blocks: int = 1) -> None:
        self.anvil.rpc("anvil_mine", [hex(blocks)])

    def block(self) -> int:
        return int(self.w3.eth.block_number)


def metric(node: Any, name: str, **labels: str) -> float:
    """One sample of a node's /metrics (an attester or a performer: its ``url``), read over HTTP (0 when absent)."""
    text = requests.get(node.url + "/metrics", timeout=HTTP_TIMEOUT).text
    wanted = name + ("{" + ",".join(f'{k}="{v}"' for k, v in sorted(labels.items())) + "}" if labels else "")
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        key, _, value = line.rpartition(" ")
        if _normalise(key) == wanted:
            return float(value)
    return 0.0


def _normalise(key: str) -> str:
    if "{" not in key:
        return key
    name, _, rest = key.partition("{")
    labels = sorted(part for part in rest.rstrip("}").split(",") if part)
    return name + "{" + ",".join(labels) + "}"


def closed_url() -> str:
    """A base URL on 127.0.0.1 where nothing listens (a port bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"
