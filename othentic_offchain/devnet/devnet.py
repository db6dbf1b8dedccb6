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

With ``aggregators`` above 1 the AVS owner turns the aggregator schedule on (turns of 2 s, a grace
of 1 s: docs/decisions/0015-aggregator-schedule.md), that many operators opt in as aggregators
with the URL of their own aggregator process (own port, own task store), and every performer gets
every aggregator's URL, in the list's order. ``kill_aggregators`` SIGKILLs that many of them while
the workload runs, the last of the list first (the first after a share of the tasks finished, the
next after the next share): the first of the list stays up, so a performer's task reaches a live
aggregator even before the aggregators forward tasks to each other. Tasks are then followed on the
chain, and the summary says who landed what (:func:`~othentic_offchain.devnet.report.aggregator_report`).
:meth:`Devnet.kill_aggregator` and :meth:`Devnet.restart_aggregator` do the same by hand (a
restarted aggregator resumes the tasks in its store, at the URL its operator published).

With ``wan`` (root only) every operator's nodes run on a host of their own, a network namespace,
and every link between operators passes through a relay adding wide-area delay
(:mod:`~othentic_offchain.devnet.wan_devnet`, docs/decisions/0017-hosts-apart.md). With ``rate``
the workload triggers that many tasks per second however many are open; :meth:`Devnet.warm_up`
lands a few tasks first, so that a measured workload does not count the nodes' first connections.

Everything it starts is stopped on exit, on Ctrl-C, and if it dies (the children get SIGTERM).
"""

from __future__ import annotations

import json
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from othentic_offchain.chain.deploy import TOKEN
from othentic_offchain.chain.schedule import MAX_AGGREGATORS
from othentic_offchain.devnet.anvil import free_port
from othentic_offchain.devnet.chaos import LandingWatcher
from othentic_offchain.devnet.examples import BEACON, GENERIC, PRICE_ORACLE, create_beacon_definition, deploy_examples
from othentic_offchain.devnet.network import LocalNetwork, Operator, operator_keys
from othentic_offchain.devnet.processes import othentic_command
from othentic_offchain.devnet.report import Summary, aggregator_report, report_rejected, summarize
from othentic_offchain.devnet.wan import LinkProfile
from othentic_offchain.devnet.wan_devnet import WanLayout
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
    beacon_period: int = 4  # blocks per beacon round; 0: no beacon rounds
    generic_only: bool = False  # the workload sends generic tasks only (no price-oracle ones)
    concurrency: int = 12  # tasks triggered at once
    task_timeout: float = 120.0
    block_interval: float = 1.0  # an empty block this often, besides the ones transactions make
    # Interval mining: a block every this many seconds and none in between (anvil --block-time),
    # transactions waiting in the pool as on a real chain. None: one block per transaction
    # (automine) plus the empty ones of block_interval.
    block_time: float | None = None
    aggregator_delay_ms: float = 150  # the aggregator waits this long for more votes after quorum
    aggregators: int = 1  # above 1: that many operators opt in as aggregators, each runs one
    kill_aggregators: int = 0  # SIGKILLed during the workload (fewer than aggregators)
    aggregator_turn_seconds: int = 2
    aggregator_grace_seconds: int = 1
    # Hosts apart (root only): each operator's nodes in a network namespace of their own, the links
    # between them with this profile's delays (wan_devnet.py). None: everything on loopback.
    wan: LinkProfile | None = None
    # Tasks triggered at this rate (per second, the definitions alternating) instead of
    # ``concurrency`` at a time.
    rate: float | None = None
    # Latency from the trigger to the landing event seen on-chain (always so with several
    # aggregators), rather than the aggregator's own accepted-to-landed.
    follow_on_chain: bool = False


@dataclass
class DevnetAggregator:
    """One aggregator process of a devnet with several: its operator, process name, URL, fate."""

    operator: Operator
    name: str
    url: str  # the endpoint it opted in with
    port: int  # where it listens (on its host)
    killed_after: int | None = None  # tasks finished when it was SIGKILLed (None: not by the workload)
    killed_at: float | None = None  # wall clock of the SIGKILL
    restarted_at: float | None = None  # wall clock of its restart after that SIGKILL

    @property
    def status(self) -> str:
        if self.killed_at is None:
            return "running"
        killed = "killed" if self.killed_after is None else f"killed after {self.killed_after} tasks"
        return killed if self.restarted_at is None else f"{killed}, restarted"


class Devnet:
    """One run of the devnet; ``progress`` is called with a short text for each step."""

    def __init__(self, options: DevnetOptions, progress=lambda text: None):
        self.options = options
        self.progress = progress
        self.state = Path(options.state_dir).resolve()
        self.net = LocalNetwork(self.state, progress=progress)
        self.operator_keys = operator_keys("othentic devnet operator", options.operators)
        self.offline: list[int] = []
        self.aggregators: list[DevnetAggregator] = []  # with several aggregators, in the list's order
        self.wan: WanLayout | None = None  # hosts apart (options.wan)

    # --- setup ---------------------------------------------------------------------------------

    def start(self) -> None:
        if self.options.operators < 4:
            raise ValueError("a devnet needs at least 4 operators")
        if self.options.block_time is not None and not self.options.block_time > 0:
            raise ValueError(f"--block-time must be positive seconds, got {self.options.block_time}")
        if self.options.offline_attesters >= self.options.operators / 3:
            raise ValueError("--offline-attesters must stay below a third of the operators, or no task reaches quorum")
        most = min(MAX_AGGREGATORS, self.options.operators - 2)
        if not 1 <= self.options.aggregators <= most:
            raise ValueError(
                f"--aggregators must be 1 to {most} with {self.options.operators} operators "
                "(two operators perform the tasks, and a performer cannot aggregate its own tasks)"
            )
        if not 0 <= self.options.kill_aggregators < self.options.aggregators:
            raise ValueError(
                f"--kill-aggregators must be below --aggregators ({self.options.aggregators}): "
                "one aggregator at least must stay up for the tasks to land"
            )
        if self.options.beacon_period < 0:
            raise ValueError(
                f"the beacon period must be 0 (no rounds) or more blocks, got {self.options.beacon_period}"
            )
        if self.options.rate is not None and not self.options.rate > 0:
            raise ValueError(f"the task rate must be positive, got {self.options.rate}")
        if self.state.exists():
            shutil.rmtree(self.state)  # a fresh chain: old votes and task records mean nothing now
        (self.state / "logs").mkdir(parents=True)
        net = self.net
        if self.options.wan is not None:
            self.progress(f"making {self.options.operators} hosts apart (network namespaces, a delaying relay)")
            self.wan = WanLayout(self.options.operators, self.options.wan).start()
        net.start_chain(block_time=self.options.block_time, anvil_args=self.wan.anvil_args() if self.wan else ())
        if self.wan is not None:
            self.wan.chain_port = net.anvil.port if net.anvil else None
        self.progress("deploying the example AVSs' hooks and task definitions")
        deploy_examples(net)
        stakes = [(10 + 5 * i) * TOKEN for i in range(self.options.operators)]  # 10, 15, 20, ... tokens
        net.add_operators(self.operator_keys, stakes, endpoint=self.wan.endpoint if self.wan else None)
        self._opt_in_aggregators()
        aggregating = {op.id for op in self.aggregator_operators}
        create_beacon_definition(net, [op.id for op in net.operators if op.id not in aggregating])
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
        """The (first) aggregator's URL as this machine reaches it."""
        if self.wan is not None and self.net.aggregator_port is not None:
            return self.wan.direct(0, self.net.aggregator_port)
        return self.net.aggregator_url

    @property
    def aggregator_operators(self) -> list[Operator]:
        """The operators running an aggregator: the first (as with one aggregator), then from the
        fourth on (the second and third perform the generic and price-oracle tasks)."""
        net = self.net
        return [net.operators[0], *net.operators[3 : 3 + self.options.aggregators - 1]]

    @property
    def aggregator_urls(self) -> list[str]:
        """Every aggregator's URL, in the on-chain list's order (just the one without a schedule)."""
        if self.aggregators:
            return [a.url for a in self.aggregators]
        if self.wan is not None and self.net.aggregator_port is not None:  # as the other hosts reach it
            return [self.wan.published(0, self.net.aggregator_port)]
        return [self.aggregator_url]

    def _opt_in_aggregators(self) -> None:
        """With several aggregators: the owner turns the schedule on, and each aggregator's operator
        opts in with the URL its process will listen on (the first of them on the network's
        aggregator port)."""
        if self.options.aggregators == 1:
            return
        net = self.net
        assert net.avs is not None and net.admin is not None
        count = self.options.aggregators
        self.progress(f"opting {count} operators in as aggregators")
        net.admin.send(
            net.avs.center.functions.setAggregatorConfig(
                count, self.options.aggregator_turn_seconds, self.options.aggregator_grace_seconds
            )
        )
        net.aggregator_command()  # chooses the first aggregator's port
        for index, op in enumerate(self.aggregator_operators):
            name = "aggregator" if index == 0 else f"aggregator-{op.id}"
            port = net.aggregator_port if index == 0 else free_port()
            assert port is not None
            url = self.wan.published(self.host(op), port) if self.wan else f"http://127.0.0.1:{port}"
            net.avs.sender(op.key).send(net.avs.center.functions.optInAsAggregator(url))
            self.aggregators.append(DevnetAggregator(op, name, url, port))

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
        if self.aggregators:
            endpoints["aggregators"] = {str(a.operator.id): a.url for a in self.aggregators}
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
        self.proof_store_url, self.price_source_url = proofs.listening_url, prices.listening_url
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
        self.services_urls = [m.listening_url for m in services]
        self.services_url = self.services_urls[0]

        # The last attesters stay offline (registered, endpoint published, never started).
        offline = self.options.offline_attesters
        online = net.operators[: len(net.operators) - offline]
        self.offline = [op.id for op in reversed(net.operators[len(online) :])]

        def performing(index: int) -> list[str]:
            """Each attester also performs beacon rounds when the round robin elects it."""
            if not self.options.beacon_period:
                return []
            return [
                "--performer-definition",
                str(BEACON),
                "--execution-service",
                self.services_urls[index % 2],
                *self._aggregator_args(),
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
        more_aggregators = [(a.name, self._aggregator_command(a)) for a in self.aggregators[1:]]
        wrap = None
        if self.wan is not None:
            self._place_nodes(online)
            wrap = self.wan.wrap
        started = net.start_nodes(
            wrap=wrap,
            aggregator=aggregator,
            attesters=online,
            validation_service=lambda index: self.services_urls[index % 2],
            attester_db=lambda index: self.state / f"attester-{index + 1}.sqlite3",
            attester_args=performing,
            extra=[
                *more_aggregators,
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
        self.dashboard_url = started["dashboard"].listening_url
        self.performer_urls = {
            GENERIC: self._reachable(started["performer-generic"]),
            PRICE_ORACLE: self._reachable(started["performer-price"]),
        }

    def host(self, op: Operator) -> int:
        """The host of ``op``'s nodes when hosts are apart: its place among the operators."""
        return self.net.operators.index(op)

    def _place_nodes(self, attesting: list[Operator]) -> None:
        """Hosts apart: every operator's nodes on its own host (the dashboard stays here)."""
        assert self.wan is not None
        operators = self.net.operators
        for op in attesting:
            self.wan.place(f"attester-{op.id}", self.host(op))
        self.wan.place("aggregator", 0)
        for a in self.aggregators[1:]:
            self.wan.place(a.name, self.host(a.operator))
        self.wan.place("performer-generic", self.host(operators[1]))
        self.wan.place("performer-price", self.host(operators[2]))

    def _reachable(self, managed) -> str:
        """A started process's URL as this machine (the workload, the dashboard) reaches it."""
        return self.wan.reachable(managed.name, managed.listening_url) if self.wan else managed.listening_url

    def _aggregator_command(self, aggregator: DevnetAggregator) -> list[str]:
        """The command line of one of :attr:`aggregators`: its operator's key, its port, its task
        store ``<state-dir>/<name>.sqlite3`` (the first one's is the network's default,
        ``aggregator.sqlite3``)."""
        return self.net.aggregator_command(
            key=aggregator.operator.key,
            port=aggregator.port,
            db=self.state / f"{aggregator.name}.sqlite3",
            delay_ms=self.options.aggregator_delay_ms,
        )

    def _aggregator(self, name: str) -> DevnetAggregator:
        for aggregator in self.aggregators:
            if aggregator.name == name:
                return aggregator
        raise KeyError(f"no aggregator {name!r} in this devnet: {[a.name for a in self.aggregators]}")

    def kill_aggregator(self, name: str, *, after: int | None = None) -> DevnetAggregator:
        """SIGKILL the aggregator ``name`` (one of :attr:`aggregators`) and note it: ``after`` is the
        number of tasks finished then, when a workload is running."""
        aggregator = self._aggregator(name)
        self.net.supervisor.kill(name)
        aggregator.killed_after, aggregator.killed_at, aggregator.restarted_at = after, time.time(), None
        return aggregator

    def restart_aggregator(self, name: str, *, timeout: float = 120.0) -> DevnetAggregator:
        """Start the aggregator ``name`` (one of :attr:`aggregators`, killed) again as it first ran:
        the same operator key, port and task store, so it resumes the tasks it held, at the URL
        its operator published on-chain. Returns once it listens."""
        aggregator = self._aggregator(name)
        command = self._aggregator_command(aggregator)
        if self.wan is not None:  # on its operator's host, as it first ran
            command = self.wan.wrap(name, command)
        self.net.supervisor.start(name, command, timeout=timeout)
        aggregator.restarted_at = time.time()
        return aggregator

    def _performer(self, definition: int, key: str, name: str) -> list[str]:
        command = othentic_command(
            "node",
            "performer",
            *self.net.chain_args(),
            "--private-key",
            key,
            "--definition",
            str(definition),
            "--execution-service",
            self.services_url,
            *self._aggregator_args(),
            "--outbox",
            str(self.state / f"outbox-{name}.sqlite3"),
        )
        if self.wan is not None:  # the workload triggers it from this machine: the host's gateway
            command += ["--trusted-client", self.wan.hosts.gateway(self.operator_keys.index(key))]
        return command

    def _aggregator_args(self) -> list[str]:
        """``--aggregator URL`` for each aggregator, the list's first first: a performer sends a task
        to the first that takes it (the last of the list are the ones killed first)."""
        return [arg for url in self.aggregator_urls for arg in ("--aggregator", url)]

    # --- workload and summary --------------------------------------------------------------------

    def warm_up(self, tasks: int = 6) -> list[TaskRun]:
        """Send ``tasks`` generic tasks of their own and wait until they landed: every node's first
        connections, chain reads and gas estimate are made before a measured workload."""
        runs = plan(tasks, 0.0, generic_only=True)
        for run in runs:
            run.params = {"text": f"warm-up: {run.params['text']}"}
        self.progress(f"warming up with {tasks} tasks")
        return run_workload(
            runs,
            performer_urls=self.performer_urls,
            aggregator_url=self.aggregator_url,
            concurrency=tasks,
            task_timeout=self.options.task_timeout,
            progress=lambda text: None,
        )

    def workload(self) -> list[TaskRun]:
        runs = plan(self.options.tasks, self.options.lying_share, generic_only=self.options.generic_only)
        if not self.aggregators and not self.options.follow_on_chain:
            return run_workload(
                runs,
                performer_urls=self.performer_urls,
                aggregator_url=self.aggregator_url,
                concurrency=self.options.concurrency,
                rate=self.options.rate,
                task_timeout=self.options.task_timeout,
                progress=self.progress,
            )
        net = self.net
        assert net.avs is not None and net.record is not None
        # The k-th kill (k = 1..K) once k/(K+1) of the tasks finished: mid-flight, tasks still open.
        kills = self.options.kill_aggregators
        victims = list(reversed(self.aggregators))[:kills]
        marks = [max(1, len(runs) * (k + 1) // (kills + 1)) for k in range(kills)]

        def on_finished(done: int) -> None:
            while marks and done >= marks[0]:
                marks.pop(0)
                victim = victims.pop(0)
                self.progress(f"SIGKILL {victim.name} (operator {victim.operator.id}) after {done} tasks")
                self.kill_aggregator(victim.name, after=done)

        landings = LandingWatcher(net.w3, net.avs.center.address, int(net.w3.eth.block_number)).start()
        try:
            return run_workload(
                runs,
                performer_urls=self.performer_urls,
                aggregator_url=self.aggregator_url,
                concurrency=self.options.concurrency,
                rate=self.options.rate,
                task_timeout=self.options.task_timeout,
                progress=self.progress,
                landings=landings,
                on_finished=on_finished,
            )
        finally:
            landings.stop()

    def report_rejected(self) -> list[tuple[int, int]]:
        return report_rejected(self.net, self.progress)

    def wait_for_beacon(self, rounds: int = 3, timeout: float = 30.0) -> int:
        return wait_for_beacon(self.net, self.progress, rounds, timeout)

    def summary(self, runs: list[TaskRun], slashed: list[tuple[int, int]], started: float) -> Summary:
        summary = summarize(
            self.net,
            aggregator_url=self.aggregator_url,
            runs=runs,
            slashed=slashed,
            offline=self.offline,
            started=started,
        )
        if self.aggregators:
            summary.aggregators = aggregator_report(
                self.net, [(a.operator, a.url, a.status) for a in self.aggregators], runs
            )
        return summary

    def stop(self) -> None:
        try:
            self.net.stop()
        finally:
            if self.wan is not None:
                self.wan.stop()
