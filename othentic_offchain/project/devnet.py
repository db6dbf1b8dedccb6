"""``othentic devnet`` inside a project: the project's own AVS on a local network.

:class:`ProjectDevnet` builds on :class:`~othentic_offchain.devnet.network.LocalNetwork`: anvil and
the contracts; the operators of ``[devnet]`` (funded, staked, registered, endpoints published);
the definitions of ``othentic.toml`` created **by name** (the name -> id map goes into the
deployment file, ``definitions``); then, each its own process: a proof store, the project's helper
processes (``[devnet.processes]``), the AVS's services (and, with ``lying`` operators, a second
services process answering the opposite of every validation), the aggregator, one attester per
online operator and one performer per definition with its triggers.

The services listen on ports chosen once, so :meth:`ProjectDevnet.restart_services` (called when
the AVS's files change: :meth:`ProjectDevnet.changed_files`) brings them back where the attesters
and performers already look, without touching the chain. ``<state dir>/devnet.json`` says where
everything listens, for ``othentic task send`` and a second terminal.
"""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from othentic_offchain.devnet.anvil import free_port
from othentic_offchain.devnet.http import post_json
from othentic_offchain.devnet.network import LocalNetwork, Operator, operator_keys
from othentic_offchain.devnet.processes import Managed, othentic_command
from othentic_offchain.devnet.workload import TaskRun, run_workload
from othentic_offchain.project.config import Project, ProjectError
from othentic_offchain.project.outcome import TaskOutcome, wait_outcome

__all__ = ["ProjectDevnet", "ENDPOINTS_FILE"]

ENDPOINTS_FILE = "devnet.json"
SERVICES, LIAR = "services", "services-lying"


class ProjectDevnet:
    """One run of a project's devnet; ``progress`` gets a short text for each step."""

    def __init__(
        self,
        project: Project,
        *,
        state_dir: Path | None = None,
        block_time: float | None = None,
        progress: Callable[[str], None] = lambda text: None,
    ):
        self.project = project
        self.state = Path(state_dir or project.state_dir).resolve()
        self.block_time = block_time
        self.progress = progress
        self.net = LocalNetwork(self.state, cwd=project.root, progress=progress)
        self.keys = operator_keys("othentic project operator", project.devnet.operators)
        self.operators: list[Operator] = []  # in the order of [devnet]: place 1 is operators[0]
        self.definition_ids: dict[str, int] = {}
        self.performer_urls: dict[str, str] = {}
        self.process_urls: dict[str, str] = {}
        self.dashboard_url = ""
        self.offline: list[int] = []
        self.lying: list[int] = []
        self.aggregator: Operator | None = None
        self.hook: Any = None  # the deployed [hook] contract (web3), if the project has one
        self._services_ports: dict[str, int] = {}
        self._watched: dict[Path, float] = {}

    # --- start -----------------------------------------------------------------------------------

    def start(self) -> None:
        settings = self.project.devnet
        if self.state.exists():
            shutil.rmtree(self.state)  # a fresh chain: old votes and task records mean nothing now
        (self.state / "logs").mkdir(parents=True)
        net = self.net
        net.start_chain(block_time=self.block_time)
        if self.project.settings.hook is not None:
            self._deploy_hook()
        self.operators = net.add_operators(self.keys, settings.operator_stakes())
        ids = [op.id for op in self.operators]
        self.progress(f"creating the task definitions {', '.join(self.project.definitions)}")
        assert net.avs is not None and net.admin is not None and net.record is not None
        for name, definition in self.project.definitions.items():
            self.definition_ids[name] = net.avs.create_definition(net.admin, definition.params(name, ids))
        net.record.definitions = dict(self.definition_ids)
        net.save_deployment()
        net.fund_rewards()
        self._start_processes()
        if self.block_time is None:
            net.start_block_ticker(settings.block_interval)
        self._remember_files()
        self._write_endpoints()

    def _deploy_hook(self) -> None:
        """Compile the project's hook, deploy it (its constructor takes the center) and set it."""
        from othentic_offchain.project.hook import compile_hook, find_solc

        hook, net = self.project.settings.hook, self.net
        assert hook is not None and net.record is not None and net.admin is not None and net.avs is not None
        self.progress(f"compiling and deploying the hook {hook.contract}")
        abi, bytecode = compile_hook(self.project.root, hook.source, hook.contract, find_solc(hook.solc))
        factory = net.w3.eth.contract(abi=abi, bytecode=bytecode)
        pending = net.admin.send(factory.constructor(net.record.attestation_center), wait=False)
        receipt = net.admin.wait(pending, what=f"deploying {hook.contract}")
        address = receipt["contractAddress"]
        net.admin.send(net.avs.center.functions.setAvsLogic(address))
        net.record.contracts[hook.contract] = address
        self.hook = net.w3.eth.contract(address=address, abi=abi)

    def _start_processes(self) -> None:
        net, settings = self.net, self.project.devnet
        self.progress("starting the proof store and the project's processes")
        helpers = [
            ("proof-store", othentic_command("proofs", "serve", "--dir", str(self.state / "proofs"), "--port", "0"))
        ]
        for name, process in settings.processes.items():
            command = list(process.command)
            if command[0] in ("python", "python3"):
                command[0] = sys.executable
            helpers.append((name, command))
        started = net.supervisor.start_many(helpers)
        self.proof_store_url = started[0].listening_url
        self.process_urls = {m.name: m.listening_url for m in started[1:]}

        self.progress("starting the AVS's services")
        self._services_ports = {SERVICES: free_port()}
        count = settings.operators
        self.offline = [op.id for op in self.operators[count - settings.offline :]] if settings.offline else []
        liars = self.operators[count - settings.offline - settings.lying : count - settings.offline]
        self.lying = [op.id for op in liars]
        if liars:
            self._services_ports[LIAR] = free_port()
        self._start_services()

        online = [op for op in self.operators if op.id not in self.offline]
        # The aggregator is an operator (the center takes submissions from active operators only)
        # that performs no definition: a performer may not collect the votes on its own task.
        performing = {definition.performer for definition in self.project.definitions.values()}
        free = [place for place in range(len(self.operators), 0, -1) if place not in performing]
        if not free:
            raise ProjectError("every devnet operator performs a definition: one must be left to aggregate")
        self.aggregator = self.operators[free[0] - 1]
        aggregator: dict[str, Any] = {"key": self.aggregator.key}
        net.aggregator_command(**aggregator)  # chooses the aggregator's port, which the performers need
        performers = []
        for name, definition in self.project.definitions.items():
            port = free_port()
            self.performer_urls[name] = f"http://127.0.0.1:{port}"
            performers.append((f"performer-{name}", self._performer_command(name, definition, port)))
        dashboard = othentic_command("dashboard", "--aggregator", net.aggregator_url, *net.chain_args(), "--port", "0")
        nodes = net.start_nodes(
            aggregator=aggregator,
            attesters=online,
            validation_service=lambda index: self.services_url(LIAR if online[index].id in self.lying else SERVICES),
            extra=[*performers, ("dashboard", dashboard)],
        )
        self.dashboard_url = nodes["dashboard"].listening_url

    def services_url(self, which: str = SERVICES) -> str:
        return f"http://127.0.0.1:{self._services_ports[which]}"

    def _services_command(self, which: str) -> list[str]:
        net = self.net
        assert net.record is not None
        config: dict[str, Any] = {
            "rpc_url": net.rpc_url,
            "attestation_center": net.record.attestation_center,
            **self.project.settings.project.config,
            **self.process_urls,
        }
        command = othentic_command(
            "services",
            self.project.avs_reference,
            "--port",
            str(self._services_ports[which]),
            "--proof-store",
            self.proof_store_url,
            "--avs-config",
            json.dumps(config),
            "--definitions",
            json.dumps(self.definition_ids),
        )
        return command + (["--invert-validation"] if which == LIAR else [])

    def _start_services(self) -> None:
        self.net.supervisor.start_many([(which, self._services_command(which)) for which in self._services_ports])

    def _performer_command(self, name: str, definition, port: int) -> list[str]:
        net = self.net
        op = self.operators[definition.performer - 1]
        command = othentic_command(
            "node",
            "performer",
            *net.chain_args(),
            "--private-key",
            op.key,
            "--definition",
            str(self.definition_ids[name]),
            "--execution-service",
            self.services_url(),
            "--aggregator",
            net.aggregator_url,
            "--performer-port",
            str(port),
            "--outbox",
            str(self.state / f"outbox-{name}.sqlite3"),
        )
        trigger = definition.trigger
        if trigger.every_seconds:
            command += ["--every-seconds", str(trigger.every_seconds)]
        if trigger.every_blocks:
            command += ["--every-blocks", str(trigger.every_blocks)]
        if trigger.on_event:
            target, _, event = trigger.on_event.partition(":")
            assert net.record is not None
            if not target.startswith("0x"):
                if target not in net.record.contracts:
                    raise ProjectError(
                        f"definitions.{name}.trigger.on-event: no contract {target!r} in the deployment "
                        f"(it has {', '.join(sorted(net.record.contracts))})"
                    )
                target = net.record.contracts[target]
            command += ["--on-event", f"{target}:{event}"]
        if definition.example:
            command += ["--params", json.dumps(definition.example_params(0))]
        return command

    def _write_endpoints(self) -> None:
        """Where everything listens (``<state dir>/devnet.json``), for ``othentic task send``."""
        endpoints = {
            "project": str(self.project.root),
            "rpc": self.net.rpc_url,
            "aggregator": self.net.aggregator_url,
            "dashboard": self.dashboard_url,
            "proofStore": self.proof_store_url,
            "services": self.services_url(),
            "processes": self.process_urls,
            "performers": self.performer_urls,
            "attesters": {str(op.id): op.url for op in self.operators},
            "offline": self.offline,
            "lying": self.lying,
            "definitions": self.definition_ids,
            "deployment": str(self.net.deployment_path),
        }
        (self.state / ENDPOINTS_FILE).write_text(json.dumps(endpoints, indent=2) + "\n")

    # --- the AVS's files changing ------------------------------------------------------------------

    def _files(self) -> list[Path]:
        """The AVS file and the Python files next to it (it may import them)."""
        folder = self.project.avs_file.parent
        return sorted({self.project.avs_file, *folder.glob("*.py")})

    def _remember_files(self) -> None:
        self._watched = {path: _mtime(path) for path in self._files()}

    def changed_files(self) -> list[Path]:
        """The AVS's files changed since the services last started (and remember them as seen)."""
        now = {path: _mtime(path) for path in self._files()}
        changed = [path for path, mtime in now.items() if self._watched.get(path) != mtime]
        self._watched = now
        return changed

    def restart_services(self) -> Managed:
        """Stop the services and start them again on the same ports, with the AVS's code as it is
        now (the chain, the nodes and their state stay); raises ProcessFailed if it does not load."""
        supervisor = self.net.supervisor
        for which in self._services_ports:
            supervisor.stop(which)
        self._remember_files()
        self._start_services()
        return supervisor.processes[SERVICES]

    # --- tasks -----------------------------------------------------------------------------------

    def definition_id(self, name: str) -> int:
        if name not in self.definition_ids:
            self.project.definition(name)  # raises, naming the declared ones
        return self.definition_ids[name]

    def send(self, name: str, params: dict | None = None, *, timeout: float = 120.0) -> TaskOutcome:
        """Trigger the definition's performer with ``params`` (default: its example), wait for the
        task to land and return what became of it."""
        self.definition_id(name)
        if params is None:
            params = self.project.definition(name).example_params(0)
        status, body = post_json(f"{self.performer_urls[name]}/performer/v1/trigger", {"params": params})
        if status not in (200, 202) or not body.get("taskHash"):
            raise RuntimeError(f"the performer of {name!r} answered {status}: {body.get('message', body)}")
        return self.outcome(body["taskHash"], timeout=timeout)

    def outcome(self, task_hash: str, *, timeout: float = 120.0) -> TaskOutcome:
        names = {i: n for n, i in self.definition_ids.items()}
        return wait_outcome(self.net.aggregator_url, task_hash, avs=self.net.avs, names=names, timeout=timeout)

    def workload(self, tasks: int, *, concurrency: int = 4, task_timeout: float = 120.0) -> list[TaskRun]:
        """``tasks`` tasks over the definitions in turn, each with its example parameters."""
        names = list(self.project.definitions)
        runs = []
        for n in range(tasks):
            name = names[n % len(names)]
            runs.append(TaskRun(self.definition_ids[name], self.project.definition(name).example_params(n + 1)))
        by_id = {self.definition_ids[name]: url for name, url in self.performer_urls.items()}
        return run_workload(
            runs,
            performer_urls=by_id,
            aggregator_url=self.net.aggregator_url,
            concurrency=concurrency,
            task_timeout=task_timeout,
            progress=self.progress,
        )

    def stop(self) -> None:
        self.net.stop()

    def __enter__(self) -> ProjectDevnet:
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return -1
