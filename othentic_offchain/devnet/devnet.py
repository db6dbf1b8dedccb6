"""``othentic devnet``: a whole AVS network on this machine, doing real work, in one command.

Steps: start anvil; deploy the contracts shipped in the package (``othentic deploy``'s plan); deploy
the example AVSs' hooks behind an AvsLogicRouter and create their task definitions (1: price
oracle, 2: randomness beacon; 0 is the generic one every deployment has; see ``examples.py``);
fund and register the operators with different stakes; start the proof store, the price source,
the AVS services, the aggregator and one attester per operator (each also performing beacon rounds
when elected), plus performers for the generic and price-oracle definitions, all as separate
processes; run a workload over the definitions in parallel (``workload.py``); report what landed
on-chain (``report.py``). A live dashboard (``othentic dashboard``) serves the whole run as a web
page. The network itself is a :class:`LocalNetwork` (``network.py``).

Everything it starts is stopped on exit, on Ctrl-C, and if it dies (the children get SIGTERM).
"""

from __future__ import annotations

import json
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from othentic_offchain.chain.deploy import TOKEN
from othentic_offchain.devnet.examples import BEACON, GENERIC, PRICE_ORACLE, deploy_examples
from othentic_offchain.devnet.network import LocalNetwork, operator_keys
from othentic_offchain.devnet.processes import Managed, othentic_command
from othentic_offchain.devnet.report import Summary, report_rejected, summarize
from othentic_offchain.devnet.workload import TaskRun, plan, run_workload, wait_for_beacon

__all__ = ["Devnet", "DevnetOptions"]


@dataclass
class DevnetOptions:
    operators: int = 10
    tasks: int = 30
    keep_running: bool = False
    offline_attesters: int = 0
    state_dir: Path = Path(".devnet")
    lying_share: float = 0.1  # share of price-oracle tasks sent by a lying performer
    beacon_period: int = 4  # blocks per beacon round
    concurrency: int = 12  # tasks triggered at once
    task_timeout: float = 120.0
    block_interval: float = 1.0  # an empty block this often, besides the ones transactions make
    # Interval mining: a block every this many seconds and none in between (anvil --block-time),
    # transactions waiting in the pool as on a real chain. None: one block per transaction
    # (automine) plus the empty ones of block_interval.
    block_time: float | None = None
    aggregator_delay_ms: float = 150  # the aggregator waits this long for more votes after quorum


class Devnet:
    """One run of the devnet; ``progress`` is called with a short text for each step."""

    def __init__(self, options: DevnetOptions, progress=lambda text: None):
        self.options = options
        self.progress = progress
        self.state = Path(options.state_dir).resolve()
        self.net = LocalNetwork(self.state, progress=progress)
        self.operator_keys = operator_keys("othentic devnet operator", options.operators)
        self.offline: list[int] = []

    # --- setup ---------------------------------------------------------------------------------

    def start(self) -> None:
        if self.options.operators < 4:
            raise ValueError("a devnet needs at least 4 operators")
        if self.options.block_time is not None and not self.options.block_time > 0:
            raise ValueError(f"--block-time must be positive seconds, got {self.options.block_time}")
        if self.options.offline_attesters >= self.options.operators / 3:
            raise ValueError("--offline-attesters must stay below a third of the operators, or no task reaches quorum")
        if self.state.exists():
            shutil.rmtree(self.state)  # a fresh chain: old votes and task records mean nothing now
        (self.state / "logs").mkdir(parents=True)
        net = self.net
        net.start_chain(block_time=self.options.block_time)
        self.progress("deploying the example AVSs' hooks and task definitions")
        deploy_examples(net)
        stakes = [(10 + 5 * i) * TOKEN for i in range(self.options.operators)]  # 10, 15, 20, ... tokens
        net.add_operators(self.operator_keys, stakes)
        net.fund_rewards()
        self._start_processes()
        if self.options.block_time is None:  # interval mining makes its own blocks
            net.start_block_ticker(self.options.block_interval)
        self._write_endpoints()

    @property
    def deployment_path(self) -> Path:
        return self.net.deployment_path

    @property
    def aggregator_url(self) -> str:
        return self.net.aggregator_url

    @property
    def operator_ids(self) -> list[int]:
        return [op.id for op in self.net.operators]

    def _write_endpoints(self) -> None:
        """Where everything listens, for scripts and a second terminal (`<state-dir>/devnet.json`)."""
        endpoints = {
            "rpc": self.net.rpc_url,
            "aggregator": self.aggregator_url,
            "proofStore": self.proof_store_url,
            "priceSource": self.price_source_url,
            "services": self.services_urls,
            "performers": {str(k): v for k, v in self.performer_urls.items()},
            "attesters": {str(op.id): op.url for op in self.net.operators},
            "deployment": str(self.deployment_path),
            "dashboard": self.dashboard_url,
        }
        (self.state / "devnet.json").write_text(json.dumps(endpoints, indent=2) + "\n")

    def _start_processes(self) -> None:
        net = self.net
        assert net.record is not None
        self.progress("starting the proof store, the price source and the AVS services")
        proofs, prices = net.supervisor.start_many(
            [
                (
                    "proof-store",
                    othentic_command("proofs", "serve", "--dir", str(self.state / "proofs"), "--port", "0"),
                ),
                (
                    "price-source",
                    [sys.executable, "-m", "othentic_offchain.examples.price_oracle.price_source", "--port", "0"],
                ),
            ]
        )
        self.proof_store_url, self.price_source_url = _url(proofs), _url(prices)
        avs_config = {
            "price_source": self.price_source_url,
            "tolerance": 0.005,
            "rpc_url": net.rpc_url,
            "attestation_center": net.record.attestation_center,
            "period": self.options.beacon_period,
            "max_age": 50,
        }
        # Two services processes (attesters alternate between them), so validation uses both cores.
        services = net.supervisor.start_many(
            [
                (
                    f"services-{k}",
                    net.services_command(
                        "othentic_offchain.examples.devnet:avs",
                        avs_config=avs_config,
                        extra_args=["--proof-store", self.proof_store_url],
                    ),
                )
                for k in (1, 2)
            ],
            timeout=90,
        )
        self.services_urls = [_url(m) for m in services]
        self.services_url = self.services_urls[0]

        # The last attesters stay offline (registered, endpoint published, never started).
        offline = self.options.offline_attesters
        online = net.operators[: len(net.operators) - offline]
        self.offline = [op.id for op in reversed(net.operators[len(online) :])]

        def performing(index: int) -> list[str]:
            """Each attester also performs beacon rounds when the round robin elects it."""
            return [
                "--performer-definition",
                str(BEACON),
                "--execution-service",
                self.services_urls[index % 2],
                "--aggregator",
                self.aggregator_url,
                "--election",
                "round-robin",
                "--round-robin-period",
                str(self.options.beacon_period),
                "--every-blocks",
                str(self.options.beacon_period),
                "--performer-outbox",
                str(self.state / f"outbox-{index + 1}.sqlite3"),
            ]

        aggregator: dict[str, Any] = {"delay_ms": self.options.aggregator_delay_ms}
        net.aggregator_command(**aggregator)  # chooses the aggregator's port, which the performers need
        started = net.start_nodes(
            aggregator=aggregator,
            attesters=online,
            validation_service=lambda index: self.services_urls[index % 2],
            attester_db=lambda index: self.state / f"attester-{index + 1}.sqlite3",
            attester_args=performing,
            extra=[
                ("performer-generic", self._performer(GENERIC, self.operator_keys[1], "generic")),
                ("performer-price", self._performer(PRICE_ORACLE, self.operator_keys[2], "price")),
                (
                    "dashboard",
                    othentic_command(
                        "dashboard", "--aggregator", self.aggregator_url, *net.chain_args(), "--port", "0"
                    ),
                ),
            ],
        )
        self.dashboard_url = _url(started["dashboard"])
        self.performer_urls = {
            GENERIC: _url(started["performer-generic"]),
            PRICE_ORACLE: _url(started["performer-price"]),
        }

    def _performer(self, definition: int, key: str, name: str) -> list[str]:
        return othentic_command(
            "node",
            "performer",
            *self.net.chain_args(),
            "--private-key",
            key,
            "--definition",
            str(definition),
            "--execution-service",
            self.services_url,
            "--aggregator",
            self.aggregator_url,
            "--outbox",
            str(self.state / f"outbox-{name}.sqlite3"),
        )

    # --- workload and summary --------------------------------------------------------------------

    def workload(self) -> list[TaskRun]:
        return run_workload(
            plan(self.options.tasks, self.options.lying_share),
            performer_urls=self.performer_urls,
            aggregator_url=self.aggregator_url,
            concurrency=self.options.concurrency,
            task_timeout=self.options.task_timeout,
            progress=self.progress,
        )

    def report_rejected(self) -> list[tuple[int, int]]:
        return report_rejected(self.net, self.progress)

    def wait_for_beacon(self, rounds: int = 3, timeout: float = 30.0) -> int:
        return wait_for_beacon(self.net, self.progress, rounds, timeout)

    def summary(self, runs: list[TaskRun], slashed: list[tuple[int, int]], started: float) -> Summary:
        return summarize(
            self.net,
            aggregator_url=self.aggregator_url,
            runs=runs,
            slashed=slashed,
            offline=self.offline,
            started=started,
        )

    def stop(self) -> None:
        self.net.stop()


def _url(managed: Managed) -> str:
    """The URL a process said it listens on (every process here is waited for until it does)."""
    if managed.url is None:
        raise RuntimeError(f"{managed.name} has not said where it listens")
    return managed.url
