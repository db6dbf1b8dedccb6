"""One whole network for the end-to-end tests, every node its own OS process.

:func:`bring_up` (the session fixture ``network`` in ``conftest.py``) starts, in this order:

* anvil, and the contracts deployed by ``ape run deploy`` (as ``othentic devnet`` does);
* task definitions 1 (reject data starting with "no") and 2 (slow, flippable), besides the generic
  definition 0 every deployment has; validation logic in ``e2e_avs.py`` beside this file;
* 10 operators registered with different stakes (10, 13, ..., 37 tokens) and their attester URLs
  published on-chain; the first operator's account (``keys[AGGREGATOR]``) runs the aggregator, the
  second's (``keys[PERFORMER]``) signs the tasks as their performer;
* one ``othentic services`` process, the aggregator (``othentic node aggregator``) and ten
  attesters (``othentic node attester``), started through the Supervisor, talking HTTP on 127.0.0.1.

Tests that stop, kill or restart a node put the network back as they found it (in ``finally``), so
the next test finds ten attesters and an aggregator answering. Leaving :func:`bring_up` stops
everything (``Supervisor.stop_all`` and anvil), and the Supervisor's children die with this
process should it be killed.

Logs of every process are in the session's temporary folder (``<tmp>/e2e-network0/logs``); a
restarted process gets a new log file (``attester-5.restart1.log``), so nothing is overwritten.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import hashlib
import itertools
import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from eth_account import Account
from eth_utils import keccak
from prometheus_client.parser import text_string_to_metric_families

from othentic_offchain.chain.build import find_project_root
from othentic_offchain.chain.client import AvsContracts, fund_eth
from othentic_offchain.chain.deploy import DeploymentRecord
from othentic_offchain.chain.types import PenaltyConfig, TaskDefinitionParams, TaskInfo
from othentic_offchain.crypto.keys import derive_bls_key
from othentic_offchain.devnet.anvil import DEV_PRIVATE_KEYS, Anvil, free_port
from othentic_offchain.devnet.processes import Supervisor, othentic_command
from othentic_offchain.devnet.tokens import mintable

TOKEN = 10**18
OPERATORS = 10
STAKES = [(10 + 3 * i) * TOKEN for i in range(OPERATORS)]  # 10, 13, ..., 37 tokens: total 235
AGGREGATOR = 0  # index of the operator whose account runs the aggregator
PERFORMER = 1  # index of the operator whose account signs the tasks
GENERIC, NO_FILTER, SLOW = 0, 1, 2
SLOW_SECONDS = 3.0
AGGREGATOR_DELAY_MS = 1500  # wait this long for the remaining votes once a side has its quorum

HERE = Path(__file__).resolve().parent


# --- HTTP with the standard library ---------------------------------------------------------------


def http_json(url: str, body: Any = None, *, raw: bytes | None = None, timeout: float = 30.0) -> tuple[int, Any]:
    """POST ``body`` as JSON (or the ``raw`` bytes), or GET without either; (status, parsed JSON)."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, payload = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, payload = exc.code, exc.read()
    return status, (json.loads(payload) if payload else None)


def http_text(url: str, timeout: float = 10.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return response.read().decode()


def metrics(url: str) -> dict[tuple[str, tuple], float]:
    """``GET {url}/metrics`` as {(sample name, sorted labels): value}."""
    out = {}
    for family in text_string_to_metric_families(http_text(url.rstrip("/") + "/metrics")):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def metric(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


# --- the network ----------------------------------------------------------------------------------


@dataclass
class Landing:
    """One TaskSubmitted / TaskRejected event."""

    approved: bool
    task_number: int
    definition_id: int
    task_hash: bytes
    performer: str
    aggregator: str
    proof_of_task: str
    data: bytes
    non_signer_ids: list[int]
    signed_power: int
    total_power: int
    tx_hash: bytes
    block: int


@dataclass
class Network:
    root: Path
    state: Path
    anvil: Anvil
    w3: Any
    record: DeploymentRecord
    deployment_path: Path
    avs: AvsContracts
    admin_key: str
    keys: list[str]
    accounts: list[str]
    ids: list[int]
    stakes: dict[int, int]  # operator id -> stake
    supervisor: Supervisor
    services_url: str = ""
    aggregator_port: int = 0
    attester_ports: list[int] = field(default_factory=list)
    messages_file: Path = Path()
    flip_file: Path = Path()
    deploy_output: str = ""
    names: dict[str, str] = field(default_factory=dict)  # role -> current Supervisor name
    _restarts: itertools.count = field(default_factory=itertools.count)
    _serial: itertools.count = field(default_factory=itertools.count)

    # --- who is who ---------------------------------------------------------------------------

    @property
    def rpc_url(self) -> str:
        return self.anvil.rpc_url

    @property
    def aggregator_url(self) -> str:
        return f"http://127.0.0.1:{self.aggregator_port}"

    @property
    def aggregator_account(self) -> str:
        return self.accounts[AGGREGATOR]

    @property
    def performer_account(self) -> str:
        return self.accounts[PERFORMER]

    @property
    def performer_key(self) -> str:
        return self.keys[PERFORMER]

    def attester_url(self, operator_id: int) -> str:
        return f"http://127.0.0.1:{self.attester_ports[self.ids.index(operator_id)]}"

    def attester_db(self, operator_id: int) -> Path:
        return self.state / f"attester-{operator_id}.sqlite3"

    @property
    def aggregator_db(self) -> Path:
        return self.state / "aggregator.sqlite3"

    def chain_args(self) -> list[str]:
        return ["--deployment", str(self.deployment_path), "--rpc", self.rpc_url]

    # --- processes ----------------------------------------------------------------------------

    def _name(self, role: str) -> str:
        """A fresh Supervisor name for ``role`` (a restart gets its own log file)."""
        if role not in self.names:
            self.names[role] = role
        else:
            self.names[role] = f"{role}.restart{next(self._restarts)}"
        return self.names[role]

    def aggregator_spec(self) -> tuple[str, list[str]]:
        return self._name("aggregator"), othentic_command(
            "node", "aggregator", *self.chain_args(), "--private-key", self.keys[AGGREGATOR],
            "--port", str(self.aggregator_port), "--db", str(self.aggregator_db),
            "--delay", str(AGGREGATOR_DELAY_MS), "--vote-timeout", "15", "--task-timeout", "90")

    def attester_spec(self, operator_id: int) -> tuple[str, list[str]]:
        index = self.ids.index(operator_id)
        return self._name(f"attester-{operator_id}"), othentic_command(
            "node", "attester", *self.chain_args(), "--private-key", self.keys[index],
            "--port", str(self.attester_ports[index]), "--validation-service", self.services_url,
            "--db", str(self.attester_db(operator_id)))

    def start_attesters(self, operator_ids: list[int]) -> None:
        self.supervisor.start_many([self.attester_spec(i) for i in operator_ids], timeout=120)

    def stop_attester(self, operator_id: int) -> None:
        self.supervisor.stop(self.names[f"attester-{operator_id}"])

    def kill_attester(self, operator_id: int) -> None:
        self.supervisor.kill(self.names[f"attester-{operator_id}"])

    def attester_running(self, operator_id: int) -> bool:
        managed = self.supervisor.processes.get(self.names.get(f"attester-{operator_id}", ""))
        return managed is not None and managed.running

    def ensure_attesters(self) -> None:
        """Start again every attester that is not running (a test that failed half-way)."""
        down = [i for i in self.ids if not self.attester_running(i)]
        if down:
            self.start_attesters(down)

    def kill_aggregator(self) -> None:
        self.supervisor.kill(self.names["aggregator"])

    def start_aggregator(self) -> None:
        name, command = self.aggregator_spec()
        self.supervisor.start(name, command, timeout=120)

    def ensure_aggregator(self) -> None:
        managed = self.supervisor.processes.get(self.names.get("aggregator", ""))
        if managed is None or not managed.running:
            self.start_aggregator()

    def log(self, role: str) -> str:
        """The log of the process now playing ``role`` (``aggregator``, ``attester-3``)."""
        return self.supervisor.processes[self.names[role]].log_path.read_text(errors="replace")

    def log_lines(self, role: str) -> list[dict]:
        out = []
        for line in self.log(role).splitlines():
            if line.startswith("{"):
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
        return out

    def cli(self, *args: str, timeout: float = 120.0) -> subprocess.CompletedProcess:
        """``othentic ARGS`` as a subprocess (output captured as text)."""
        return subprocess.run(othentic_command(*args), capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "OTHENTIC_PROJECT_ROOT": str(self.root)}, cwd=self.root)

    # --- tasks --------------------------------------------------------------------------------

    def task(self, definition_id: int = GENERIC, *, approve: bool = True, tag: str = "task",
             performer_key: str | None = None) -> tuple[TaskInfo, bytes]:
        """A new task (unique proof of task) signed by the performer, built so that the test AVS
        approves it or not: definition 0 and unlisted ones check sha256(proofOfTask), definition 1
        the "no" prefix; definition 2 decides by the flip file, whatever the data."""
        key = performer_key or self.performer_key
        proof = f"e2e-{tag}-{next(self._serial):05d}-{time.time_ns()}"
        if definition_id == NO_FILTER:
            data = (b"ok " if approve else b"no ") + proof.encode()
        elif definition_id == SLOW:
            data = b"slow " + proof.encode()
        else:
            digest = hashlib.sha256(proof.encode()).digest()
            data = digest if approve else hashlib.sha256(digest).digest()
        task = TaskInfo(proof, data, Account.from_key(key).address, definition_id)
        return task, task.sign(key)

    @staticmethod
    def send_task_params(task: TaskInfo, signature: bytes) -> list:
        """``sendTask``'s positional params as Othentic's performers send them."""
        return [task.proof_of_task, "0x" + task.data.hex(), task.task_definition_id, task.performer,
                "0x" + signature.hex()]

    def rpc(self, method: str, params: Any = None, *, timeout: float = 30.0) -> dict:
        """One JSON-RPC call to the aggregator; the whole answer (``result`` or ``error``)."""
        body = {"jsonrpc": "2.0", "id": next(self._serial), "method": method}
        if params is not None:
            body["params"] = params
        _status, answer = http_json(self.aggregator_url, body, timeout=timeout)
        return answer

    def send(self, task: TaskInfo, signature: bytes) -> bytes:
        answer = self.rpc("sendTask", self.send_task_params(task, signature))
        assert "result" in answer, f"sendTask refused: {answer}"
        task_hash = bytes.fromhex(answer["result"][2:])
        assert task_hash == task.task_hash()
        return task_hash

    def send_concurrently(self, tasks: list[tuple[TaskInfo, bytes]], workers: int = 32) -> list[bytes]:
        """Every task sent at once, each in its own HTTP request (many performers at a time)."""
        with concurrent.futures.ThreadPoolExecutor(workers) as pool:
            return list(pool.map(lambda pair: self.send(*pair), tasks))

    def status(self, task_hash: bytes) -> dict:
        answer = self.rpc("taskStatus", ["0x" + task_hash.hex()])
        assert "result" in answer, f"taskStatus failed: {answer}"
        return answer["result"]

    def attest_request(self, task: TaskInfo, signature: bytes) -> dict:
        """The body the aggregator POSTs to ``/attester/v1/attest``."""
        return {
            "task": {"proofOfTask": task.proof_of_task, "data": "0x" + task.data.hex(),
                     "taskDefinitionId": task.task_definition_id, "performer": task.performer},
            "taskHash": "0x" + task.task_hash().hex(),
            "performerSignature": "0x" + signature.hex(),
            "attestationCenter": self.record.attestation_center,
            "chainId": self.record.chain_id,
        }

    def attest_directly(self, operator_id: int, task: TaskInfo, signature: bytes,
                        timeout: float = 30.0) -> tuple[int, dict]:
        return http_json(self.attester_url(operator_id) + "/attester/v1/attest",
                         self.attest_request(task, signature), timeout=timeout)

    # --- what the chain says ------------------------------------------------------------------

    def landings(self, task_hashes: list[bytes] | None = None, from_block: int | None = None) -> dict[bytes, list[Landing]]:
        """Every TaskSubmitted / TaskRejected event since ``from_block`` (default: the deployment),
        by task hash; only those of ``task_hashes`` if given (with an empty list for none)."""
        start = self.record.block_number if from_block is None else from_block
        found: dict[bytes, list[Landing]] = {h: [] for h in (task_hashes or [])}
        if start > int(self.w3.eth.block_number):  # anvil refuses a range beyond its head
            return found
        for name, approved in (("TaskSubmitted", True), ("TaskRejected", False)):
            event = getattr(self.avs.center.events, name)()
            for log in event.get_logs(from_block=start, to_block="latest"):
                args = log["args"]
                task_hash = bytes(args["taskHash"])
                if task_hashes is not None and task_hash not in found:
                    continue
                found.setdefault(task_hash, []).append(Landing(
                    approved=approved, task_number=int(args["taskNumber"]),
                    definition_id=int(args["taskDefinitionId"]), task_hash=task_hash, performer=args["performer"],
                    aggregator=args["aggregator"], proof_of_task=args["proofOfTask"], data=bytes(args["data"]),
                    non_signer_ids=[int(i) for i in args["nonSignerIds"]],
                    signed_power=int(args["signedPower"]), total_power=int(args["totalPower"]),
                    tx_hash=bytes(log["transactionHash"]), block=int(log["blockNumber"])))
        return found

    def wait_landed(self, task_hashes: list[bytes], timeout: float = 120.0, from_block: int | None = None
                    ) -> dict[bytes, list[Landing]]:
        """Poll the chain until every task has an event; return the events by task hash."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.landings(task_hashes, from_block)
            missing = [h for h, events in found.items() if not events]
            if not missing:
                return found
            if time.monotonic() > deadline:
                statuses = []
                for task_hash in missing[:5]:
                    try:
                        status = self.status(task_hash)
                        statuses.append({k: status.get(k) for k in ("status", "error", "attempts", "votes")})
                    except Exception as exc:  # the aggregator may be down: say so
                        statuses.append(repr(exc))
                raise AssertionError(f"{len(missing)} of {len(task_hashes)} tasks did not land within {timeout:g} s; "
                                     f"aggregator says: {statuses}\naggregator log tail:\n"
                                     + "\n".join(self.log("aggregator").splitlines()[-15:]))
            time.sleep(0.25)

    def task_record(self, task_hash: bytes) -> tuple[int, int, bool]:
        return self.avs.task_record(task_hash)

    def task_count(self) -> int:
        return int(self.avs.center.functions.taskCount().call())

    def claimable(self) -> dict[int, int]:
        """Claimable rewards of every operator, by operator id."""
        return {i: self.avs.claimable(a) for i, a in zip(self.ids, self.accounts)}

    def rewards(self, definition_id: int) -> tuple[int, int, int]:
        """(per attester, performer, aggregator) of a definition."""
        _set, params = self.avs.definition(definition_id)
        return params.attester_reward, params.performer_reward, params.aggregator_reward

    def expected_rewards(self, landings: list[Landing]) -> dict[int, int]:
        """What each operator should have earned from these landings: the attester reward when it
        signed (a member of the definition's set that is not a non-signer), the performer's for an
        approved task, the aggregator's for every task."""
        earned = {i: 0 for i in self.ids}
        definitions: dict[int, tuple[tuple[int, int, int], dict[int, int]]] = {}
        for landing in landings:
            if landing.definition_id not in definitions:
                definitions[landing.definition_id] = (self.rewards(landing.definition_id),
                                                      self.avs.definition_members(landing.definition_id))
            (attester, performer, aggregator), members = definitions[landing.definition_id]
            for operator_id in members:
                if operator_id not in landing.non_signer_ids:
                    earned[operator_id] += attester
            if landing.approved:
                earned[self.ids[self.accounts.index(landing.performer)]] += performer
            earned[self.ids[self.accounts.index(landing.aggregator)]] += aggregator
        return earned

    def votes_recorded(self, operator_id: int) -> dict[bytes, tuple[bool, tuple[int, int]]]:
        """An attester's vote record, read from its SQLite file: task hash -> (approved, signature)."""
        db = sqlite3.connect(str(self.attester_db(operator_id)), timeout=10)
        try:
            rows = db.execute("SELECT task_hash, is_approved, signature FROM votes").fetchall()
        finally:
            db.close()
        return {bytes(h): (bool(a), (int.from_bytes(bytes(s)[:32], "big"), int.from_bytes(bytes(s)[32:], "big")))
                for h, a, s in rows}


# --- bringing it up -------------------------------------------------------------------------------


def deploy_with_ape(root: Path, rpc_url: str, out: Path) -> subprocess.CompletedProcess:
    """``ape run deploy --network <anvil> --out <file>``, as ``othentic devnet`` runs it."""
    env = {**os.environ, "SOLCX_BINARY_PATH": str(root / ".solcx"), "APE_DATA_FOLDER": str(root / ".ape"),
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    ape = Path(sys.executable).with_name("ape")
    return subprocess.run([str(ape) if ape.exists() else "ape", "run", "deploy", "--network", rpc_url,
                           "--out", str(out)], cwd=root, env=env, capture_output=True, text=True, timeout=300)


def _register(net: Network) -> None:
    admin = net.avs.sender(net.admin_key)
    fund_eth(net.w3, net.accounts, 1_000 * TOKEN)
    senders = [net.avs.sender(k) for k in net.keys]
    mints = [admin.send(mintable(net.avs.stake_token).functions.mint(s.address, stake), wait=False)
             for s, stake in zip(senders, STAKES)]
    for tx in mints:
        admin.wait(tx)

    def register(i: int) -> None:
        net.avs.register_operator(senders[i], derive_bls_key(net.keys[i]), STAKES[i])
        senders[i].send(net.avs.center.functions.setOperatorEndpoint(f"http://127.0.0.1:{net.attester_ports[i]}"))

    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        list(pool.map(register, range(OPERATORS)))
    net.ids = [net.avs.operator_id(a) for a in net.accounts]
    net.stakes = {i: s for i, s in zip(net.ids, STAKES)}
    admin.send(mintable(net.avs.reward_token).functions.mint(admin.address, 10_000 * TOKEN))
    net.avs.fund_rewards(admin, 10_000 * TOKEN)


def _create_definitions(net: Network) -> None:
    admin = net.avs.sender(net.admin_key)
    no_filter = TaskDefinitionParams(
        name="e2e-no-filter", attester_reward=3 * TOKEN // 100, performer_reward=5 * TOKEN // 100,
        aggregator_reward=2 * TOKEN // 100, dispute_period_blocks=20,
        penalties=PenaltyConfig(double_attestation=True, incorrect_attestation=False, rejected_task=False))
    slow = TaskDefinitionParams(
        name="e2e-slow", attester_reward=TOKEN // 1000, performer_reward=2 * TOKEN // 1000,
        aggregator_reward=TOKEN // 1000, dispute_period_blocks=20)
    assert net.avs.create_definition(admin, no_filter) == NO_FILTER
    assert net.avs.create_definition(admin, slow) == SLOW


@contextlib.contextmanager
def bring_up(state: Path) -> Iterator[Network]:
    """The whole network, its state (deployment file, SQLite files, logs) under ``state``;
    everything it started is stopped on leaving the block, whatever happened inside."""
    root = find_project_root()
    anvil = Anvil().start()
    supervisor = Supervisor(state / "logs", env={"OTHENTIC_PROJECT_ROOT": str(root)})
    try:
        deployment_path = state / "deployment.json"
        result = deploy_with_ape(root, anvil.rpc_url, deployment_path)
        assert result.returncode == 0 and deployment_path.exists(), \
            f"ape run deploy failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        record = DeploymentRecord.load(deployment_path)
        record.rpc_url = anvil.rpc_url
        record.save(deployment_path)
        w3 = anvil.web3()
        keys = ["0x" + keccak(text=f"othentic e2e operator {i}").hex() for i in range(OPERATORS)]
        net = Network(
            root=root, state=state, anvil=anvil, w3=w3, record=record, deployment_path=deployment_path,
            avs=AvsContracts(w3, record), admin_key=DEV_PRIVATE_KEYS[0], keys=keys,
            accounts=[Account.from_key(k).address for k in keys], ids=[], stakes={}, supervisor=supervisor,
            aggregator_port=free_port(), attester_ports=[free_port() for _ in range(OPERATORS)],
            messages_file=state / "messages.txt", flip_file=state / "flip-slow-definition",
            deploy_output=result.stdout,
        )
        _create_definitions(net)
        _register(net)

        avs_config = {"slow_seconds": SLOW_SECONDS, "flip_file": str(net.flip_file),
                      "messages_file": str(net.messages_file)}
        services = supervisor.start("services", othentic_command(
            "services", str(HERE / "e2e_avs.py") + ":avs", "--port", "0", "--avs-config", json.dumps(avs_config)),
            timeout=120)
        net.services_url = services.url
        net.names["services"] = "services"
        supervisor.start_many([net.aggregator_spec()] + [net.attester_spec(i) for i in net.ids], timeout=180)
        yield net
    finally:
        supervisor.stop_all()
        anvil.stop()
