"""One builder for every local network: ``othentic devnet``, the end-to-end tests, the benches.

A :class:`LocalNetwork` does the steps each of them needs, in the order they call them:

    net = LocalNetwork(state_dir)                     # deployment file, databases, logs go here
    net.start_chain()                                 # anvil, the contracts (deploy_system), the file
    ...                                               # the caller's own contracts and definitions
    net.add_operators(operator_keys("my net", 10), [10 * TOKEN] * 10)   # funded, staked, endpoints
    net.fund_rewards()                                # reward tokens minted and put in the vault
    net.start_services("my_avs.py:avs")               # then the nodes, each its own OS process:
    net.start_nodes(validation_service=url)           # the aggregator and one attester per operator
    ...
    net.stop()                                        # every process it started, and anvil

Operators get their BLS key derived from their ECDSA key (:func:`derive_bls_key`), as ``othentic
node`` does when no key file is given (allowed on local chains only). The processes run under a
:class:`Supervisor` (one log file each under ``<state_dir>/logs``), which hands each its
``--private-key`` through the environment, never on its command line; :meth:`aggregator_command`
and :meth:`attester_command` give the command lines for callers that start, stop or restart nodes
themselves.
"""

from __future__ import annotations

import concurrent.futures
import json
import os
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_account import Account
from eth_utils import keccak

from othentic_offchain.chain.client import AvsContracts, TxSender, fund_eth
from othentic_offchain.chain.deploy import (
    DEFAULT_DEFINITION_0,
    DEFAULT_REGISTRY,
    TOKEN,
    DeploymentRecord,
    Web3Backend,
    deploy_system,
)
from othentic_offchain.chain.types import RegistryConfig, TaskDefinitionParams
from othentic_offchain.crypto import KeyPair
from othentic_offchain.crypto.keys import derive_bls_key
from othentic_offchain.devnet.anvil import DEV_PRIVATE_KEYS, Anvil, free_port
from othentic_offchain.devnet.processes import Managed, Supervisor, othentic_command
from othentic_offchain.devnet.tokens import mintable

#: ETH each operator account gets, and the reward tokens put in the vault, unless told otherwise.
OPERATOR_ETH = 1_000 * TOKEN
REWARD_FUNDS = 10_000 * TOKEN

#: A deploy step other than ``deploy_system``: given the running anvil and the deployment file to
#: write, deploy and return the record (the end-to-end tests run ``ape run deploy`` this way).
Deployer = Callable[[Anvil, Path], DeploymentRecord]


def operator_keys(label: str, count: int) -> list[str]:
    """``count`` ECDSA private keys, the same on every run for the same ``label``."""
    return ["0x" + keccak(text=f"{label} {i}").hex() for i in range(count)]


@dataclass
class Operator:
    """One registered operator: its keys, stake, id and the attester port published on-chain."""

    key: str
    stake: int
    bls: KeyPair
    port: int | None = None
    id: int = 0
    receipt: Any = None  # of its registration
    endpoint: str | None = None  # what it publishes, when not http://127.0.0.1:<port> (hosts apart)
    account: str = field(init=False)

    def __post_init__(self) -> None:
        self.account = Account.from_key(self.key).address

    @property
    def url(self) -> str:
        """Where its attester listens (the endpoint it published)."""
        if self.port is None:
            raise ValueError(f"operator {self.id} published no endpoint")
        return self.endpoint or f"http://127.0.0.1:{self.port}"


class LocalNetwork:
    """anvil, the deployed system, registered operators and the node processes of one network.

    ``state_dir`` holds the deployment file (``deployment.json``), the nodes' databases and the
    ``logs`` folder; without it nothing is written and no process can be started. ``env`` and
    ``cwd`` are given to every process started.
    """

    def __init__(
        self,
        state_dir: str | os.PathLike | None = None,
        *,
        admin_key: str = DEV_PRIVATE_KEYS[0],
        env: dict[str, str] | None = None,
        cwd: str | os.PathLike | None = None,
        progress: Callable[[str], None] = lambda text: None,
    ):
        self.state = Path(state_dir).resolve() if state_dir is not None else None
        self.admin_key = admin_key
        self.progress = progress
        self._env = env
        self._cwd = cwd
        self.anvil: Anvil | None = None
        self.w3: Any = None
        self.record: DeploymentRecord | None = None
        self.avs: AvsContracts | None = None
        self.admin: TxSender | None = None
        self.operators: list[Operator] = []
        self.aggregator_port: int | None = None
        self._supervisor: Supervisor | None = None
        self._ticker: threading.Event | None = None

    # --- the chain -------------------------------------------------------------------------------

    def start_chain(
        self,
        *,
        deploy: Deployer | None = None,
        registry: RegistryConfig = DEFAULT_REGISTRY,
        definition0: TaskDefinitionParams = DEFAULT_DEFINITION_0,
        block_time: float | None = None,
        anvil_args: Sequence[str] = (),
    ) -> DeploymentRecord:
        """Start anvil and deploy the system (``deploy_system`` from the admin key, or ``deploy``);
        the record gets anvil's URL and is written to the deployment file. ``block_time`` (seconds)
        makes anvil mine a block at that interval (``--block-time``) instead of one per transaction:
        transactions wait in the pool as on a real chain. ``anvil_args`` go to anvil as they are
        (for example a second ``--host`` to listen on)."""
        self.progress("starting anvil" + (f" (a block every {block_time:g} s)" if block_time else ""))
        self.anvil = Anvil(block_time=block_time, extra_args=list(anvil_args)).start()
        self.w3 = self.anvil.web3()
        self.progress("deploying the contracts")
        if deploy is not None:
            record = deploy(self.anvil, self._path("deployment.json"))
        else:
            record = deploy_system(Web3Backend(self.w3, self.admin_key), registry=registry, definition0=definition0)
        record.rpc_url = self.anvil.rpc_url
        self.record = record
        self.save_deployment()
        self.avs = AvsContracts(self.w3, record)
        self.admin = self.avs.sender(self.admin_key)
        return record

    @property
    def rpc_url(self) -> str:
        return self._anvil().rpc_url

    @property
    def deployment_path(self) -> Path:
        return self._path("deployment.json")

    def save_deployment(self) -> Path | None:
        """Write the record (again, after the caller added contracts to it); nothing without a state dir."""
        if self.state is None or self.record is None:
            return None
        return self.record.save(self.deployment_path)

    def start_block_ticker(self, interval: float) -> None:
        """Mine an empty block every ``interval`` seconds besides the transactions' own (anvil's
        automine makes none in between; block-driven triggers need blocks to keep coming)."""
        anvil = self._anvil()
        stopped = self._ticker = threading.Event()

        def tick() -> None:
            while not stopped.wait(interval):
                try:
                    anvil.rpc("evm_mine")
                except Exception:
                    return

        threading.Thread(target=tick, name="block-ticker", daemon=True).start()

    # --- operators -------------------------------------------------------------------------------

    def add_operators(
        self,
        keys: Sequence[str],
        stakes: Sequence[int],
        *,
        eth: int = OPERATOR_ETH,
        publish_endpoints: bool = True,
        endpoint: Callable[[int, int], str] | None = None,
        workers: int = 4,
    ) -> list[Operator]:
        """Fund, stake and register one operator per key (BLS keys derived from them); with
        ``publish_endpoints`` each gets a free port for its attester, published on-chain: as
        ``http://127.0.0.1:<port>``, or as ``endpoint(index, port)`` when given (``index``: the
        operator's place among all this network's operators, 0-based).

        Registrations run on ``workers`` threads, so operator ids need not follow the keys' order:
        read each one's ``id``."""
        if len(keys) != len(stakes):
            raise ValueError(f"{len(keys)} keys but {len(stakes)} stakes")
        avs, admin = self._avs(), self._admin()
        self.progress(f"funding and registering {len(keys)} operators")
        added = [
            Operator(key, stake, derive_bls_key(key), free_port() if publish_endpoints else None)
            for key, stake in zip(keys, stakes)
        ]
        if endpoint is not None:
            for index, op in enumerate(added, start=len(self.operators)):
                if op.port is not None:
                    op.endpoint = endpoint(index, op.port)
        fund_eth(self.w3, [op.account for op in added], eth)
        mint = mintable(avs.stake_token).functions.mint
        pending = [admin.send(mint(op.account, op.stake), wait=False) for op in added]
        for tx in pending:
            admin.wait(tx)

        def register(op: Operator) -> None:
            self._register(op, avs.sender(op.key))

        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            list(pool.map(register, added))
        self.operators += added
        return added

    def register_operator(
        self, key: str, stake: int, *, bls: KeyPair | None = None, port: int | None = None, eth: int | None = None
    ) -> Operator:
        """One operator: ``eth`` given if asked, ``stake`` minted, registered with ``bls`` (derived
        from ``key`` if not given); publishes ``http://127.0.0.1:<port>`` when ``port`` is given."""
        avs, admin = self._avs(), self._admin()
        op = Operator(key, stake, bls or derive_bls_key(key), port)
        if eth is not None:
            fund_eth(self.w3, [op.account], eth)
        admin.send(mintable(avs.stake_token).functions.mint(op.account, stake))
        self._register(op, avs.sender(key))
        self.operators.append(op)
        return op

    def _register(self, op: Operator, sender: TxSender) -> None:
        avs = self._avs()
        op.receipt = avs.register_operator(sender, op.bls, op.stake)
        if op.port is not None:
            sender.send(avs.center.functions.setOperatorEndpoint(op.url))
        op.id = avs.operator_id(op.account)

    def fund_rewards(self, amount: int = REWARD_FUNDS) -> None:
        """Mint ``amount`` reward tokens to the admin and put them in the rewards vault."""
        avs, admin = self._avs(), self._admin()
        admin.send(mintable(avs.reward_token).functions.mint(admin.address, amount))
        avs.fund_rewards(admin, amount)

    def operator(self, operator_id: int) -> Operator:
        for op in self.operators:
            if op.id == operator_id:
                return op
        raise KeyError(f"no operator {operator_id} in this network")

    # --- processes -------------------------------------------------------------------------------

    @property
    def supervisor(self) -> Supervisor:
        """The Supervisor of every process this network starts (logs in ``<state_dir>/logs``)."""
        if self._supervisor is None:
            self._supervisor = Supervisor(self._path("logs"), env=self._env, cwd=self._cwd)
        return self._supervisor

    @property
    def aggregator_url(self) -> str:
        if self.aggregator_port is None:
            raise RuntimeError("no aggregator port yet: call aggregator_command or start_nodes first")
        return f"http://127.0.0.1:{self.aggregator_port}"

    def chain_args(self) -> list[str]:
        """``--deployment FILE --rpc URL``: how every node finds the chain."""
        return ["--deployment", str(self.deployment_path), "--rpc", self.rpc_url]

    def services_command(
        self, target: str, *, avs_config: dict | None = None, extra_args: Sequence[str] = ()
    ) -> list[str]:
        """``othentic services TARGET`` on a port of its choosing."""
        command = othentic_command("services", target, "--port", "0")
        if avs_config is not None:
            command += ["--avs-config", json.dumps(avs_config)]
        return command + list(extra_args)

    def start_services(
        self,
        target: str,
        *,
        name: str = "services",
        avs_config: dict | None = None,
        extra_args: Sequence[str] = (),
        timeout: float = 90.0,
    ) -> Managed:
        """Start one services process and wait for it to listen (its ``url``)."""
        command = self.services_command(target, avs_config=avs_config, extra_args=extra_args)
        return self.supervisor.start(name, command, timeout=timeout)

    def aggregator_command(
        self,
        *,
        key: str | None = None,
        db: str | os.PathLike | None = None,
        delay_ms: float | None = None,
        port: int | None = None,
        extra_args: Sequence[str] = (),
    ) -> list[str]:
        """``othentic node aggregator`` on :attr:`aggregator_url` (a free port, chosen once), signing
        with ``key`` (default: the first operator's), its task store in ``db`` (default:
        ``<state_dir>/aggregator.sqlite3``). ``port``: another aggregator of the network, on that
        port (give it its own ``key`` and ``db``)."""
        if port is None:
            if self.aggregator_port is None:
                self.aggregator_port = free_port()
            port = self.aggregator_port
        command = othentic_command(
            "node",
            "aggregator",
            *self.chain_args(),
            "--private-key",
            key or self.operators[0].key,
            "--port",
            str(port),
            "--db",
            str(db or self._path("aggregator.sqlite3")),
        )
        if delay_ms is not None:
            command += ["--delay", str(delay_ms)]
        return command + list(extra_args)

    def attester_command(
        self,
        op: Operator,
        *,
        validation_service: str,
        db: str | os.PathLike | None = None,
        extra_args: Sequence[str] = (),
    ) -> list[str]:
        """``othentic node attester`` of ``op`` on its published port; votes in ``db`` (default:
        ``<state_dir>/attester-<id>.sqlite3``)."""
        if op.port is None:
            raise ValueError(f"operator {op.id} published no endpoint: it cannot run an attester")
        return othentic_command(
            "node",
            "attester",
            *self.chain_args(),
            "--private-key",
            op.key,
            "--port",
            str(op.port),
            "--validation-service",
            validation_service,
            "--db",
            str(db or self._path(f"attester-{op.id}.sqlite3")),
        ) + list(extra_args)

    def start_nodes(
        self,
        *,
        validation_service: str | Callable[[int], str],
        aggregator: dict[str, Any] | None = None,
        attesters: Sequence[Operator] | None = None,
        attester_db: Callable[[int], str | os.PathLike] | None = None,
        attester_args: Callable[[int], Sequence[str]] | None = None,
        extra: Sequence[tuple[str, list[str]]] = (),
        wrap: Callable[[str, list[str]], list[str]] | None = None,
        timeout: float = 180.0,
    ) -> dict[str, Managed]:
        """Start the aggregator (``aggregator``: keyword arguments of :meth:`aggregator_command`;
        ``None`` for none), an attester for each of ``attesters`` (default: every operator; leave
        some out to have them offline) named ``attester-<id>``, and the ``extra`` (name, command)
        pairs, all at once, and wait until every one listens.

        Per attester, by its index among ``attesters``: ``validation_service`` (a URL, or a function
        of the index), ``attester_db`` and ``attester_args``. ``wrap`` may rewrite any command (for
        example to run it under a profiler)."""
        specs: list[tuple[str, list[str]]] = []
        if aggregator is not None:
            specs.append(("aggregator", self.aggregator_command(**aggregator)))
        for index, op in enumerate(self.operators if attesters is None else attesters):
            service = validation_service(index) if callable(validation_service) else validation_service
            command = self.attester_command(
                op,
                validation_service=service,
                db=attester_db(index) if attester_db else None,
                extra_args=attester_args(index) if attester_args else (),
            )
            specs.append((f"attester-{op.id}", command))
        specs += list(extra)
        if wrap is not None:
            specs = [(name, wrap(name, command)) for name, command in specs]
        self.progress("starting the aggregator and the attesters")
        started = self.supervisor.start_many(specs, timeout=timeout)
        return {managed.name: managed for managed in started}

    # --- the end ---------------------------------------------------------------------------------

    def stop(self) -> None:
        """Stop every process started, then anvil. Idempotent."""
        if self._ticker is not None:
            self._ticker.set()
        if self._supervisor is not None:
            self._supervisor.stop_all()
        if self.anvil is not None:
            self.anvil.stop()

    def __enter__(self) -> LocalNetwork:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()

    # --- checks ----------------------------------------------------------------------------------

    def _path(self, name: str) -> Path:
        if self.state is None:
            raise RuntimeError(f"this network has no state dir to hold {name}")
        return self.state / name

    def _anvil(self) -> Anvil:
        if self.anvil is None:
            raise RuntimeError("the chain is not started: call start_chain first")
        return self.anvil

    def _avs(self) -> AvsContracts:
        if self.avs is None:
            raise RuntimeError("the chain is not started: call start_chain first")
        return self.avs

    def _admin(self) -> TxSender:
        if self.admin is None:
            raise RuntimeError("the chain is not started: call start_chain first")
        return self.admin
