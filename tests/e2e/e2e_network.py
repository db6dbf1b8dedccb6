"""One whole network for the end-to-end tests, every node its own OS process.

:func:`bring_up` (the session fixture ``network`` in ``conftest.py``) builds it with the package's
network builder (``othentic_offchain/devnet/network.py``), in this order:

* anvil, and the contracts deployed by ``ape run deploy`` (the deploy script users run);
* task definitions 1 (reject data starting with "no") and 2 (slow, flippable), besides the generic
  definition 0 every deployment has; validation logic in ``e2e_avs.py`` beside this file;
* 10 operators registered with different stakes (10, 13, ..., 37 tokens) and their attester URLs
  published on-chain; the first operator's account (``keys[AGGREGATOR]``) runs the aggregator, the
  second's (``keys[PERFORMER]``) signs the tasks as their performer;
* one ``othentic services`` process, the aggregator (``othentic node aggregator``) and ten
  attesters (``othentic node attester``), started through the Supervisor, talking HTTP on 127.0.0.1.

Tests that stop, kill or restart a node put the network back as they found it (in ``finally``), so
the next test finds ten attesters and an aggregator answering. Leaving :func:`bring_up` stops
everything (``LocalNetwork.stop``: every process, then anvil), and the Supervisor's children die
with this process should it be killed.

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
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eth_account import Account

from othentic_offchain.chain.build import find_project_root
from othentic_offchain.chain.client import AvsContracts
from othentic_offchain.chain.deploy import TOKEN, DeploymentRecord
from othentic_offchain.chain.types import PenaltyConfig, TaskDefinitionParams, TaskInfo
from othentic_offchain.crypto.auth import ATTEST_REQUEST_TAG
from othentic_offchain.devnet.anvil import Anvil
from othentic_offchain.devnet.network import LocalNetwork, operator_keys
from othentic_offchain.devnet.processes import Supervisor, othentic_command
from othentic_offchain.jsonrpc import BlockingJsonRpcClient, JsonRpcError
from othentic_offchain.nodes.common.protocol import auth_headers
from tests.devnet.ape_deploy import ape_deploy
from tests.e2e.e2e_http import http_json

OPERATORS = 10
STAKES = [(10 + 3 * i) * TOKEN for i in range(OPERATORS)]  # 10, 13, ..., 37 tokens: total 235
AGGREGATOR = 0  # index of the operator whose account runs the aggregator
PERFORMER = 1  # index of the operator whose account signs the tasks
GENERIC, NO_FILTER, SLOW = 0, 1, 2
SLOW_SECONDS = 3.0
AGGREGATOR_DELAY_MS = 1500  # wait this long for the remaining votes once a side has its quorum

HERE = Path(__file__).resolve().parent


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


class Network:
    """The running network as the tests see it: a :class:`LocalNetwork` (anvil, the deployment,
    the operators, the Supervisor) plus who plays which role and how to reach the nodes."""

    def __init__(self, root: Path, local: LocalNetwork, deploy_output: str):
        self.root = root
        self.local = local
        self.deploy_output = deploy_output
        assert local.state is not None and local.anvil is not None and local.record is not None
        assert local.avs is not None
        self.state: Path = local.state
        self.anvil: Anvil = local.anvil
        self.w3: Any = local.w3
        self.record: DeploymentRecord = local.record
        self.avs: AvsContracts = local.avs
        self.admin_key = local.admin_key
        self.messages_file = self.state / "messages.txt"
        self.flip_file = self.state / "flip-slow-definition"
        self.services_url = ""
        self.names: dict[str, str] = {}  # role -> current Supervisor name
        self._restarts = itertools.count()
        self._serial = itertools.count()

    # --- who is who ---------------------------------------------------------------------------

    @property
    def supervisor(self) -> Supervisor:
        return self.local.supervisor

    @property
    def deployment_path(self) -> Path:
        return self.local.deployment_path

    @property
    def keys(self) -> list[str]:
        return [op.key for op in self.local.operators]

    @property
    def accounts(self) -> list[str]:
        return [op.account for op in self.local.operators]

    @property
    def ids(self) -> list[int]:
        return [op.id for op in self.local.operators]

    @property
    def stakes(self) -> dict[int, int]:
        """Operator id -> stake."""
        return {op.id: op.stake for op in self.local.operators}

    @property
    def rpc_url(self) -> str:
        return self.anvil.rpc_url

    @property
    def aggregator_url(self) -> str:
        return self.local.aggregator_url

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
        return self.local.operator(operator_id).url

    def attester_db(self, operator_id: int) -> Path:
        return self.state / f"attester-{operator_id}.sqlite3"

    @property
    def aggregator_db(self) -> Path:
        return self.state / "aggregator.sqlite3"

    def chain_args(self) -> list[str]:
        return self.local.chain_args()

    # --- processes ----------------------------------------------------------------------------

    def _name(self, role: str) -> str:
        """A fresh Supervisor name for ``role`` (a restart gets its own log file)."""
        if role not in self.names:
            self.names[role] = role
        else:
            self.names[role] = f"{role}.restart{next(self._restarts)}"
        return self.names[role]

    def aggregator_spec(self) -> tuple[str, list[str]]:
        command = self.local.aggregator_command(
            key=self.keys[AGGREGATOR],
            db=self.aggregator_db,
            delay_ms=AGGREGATOR_DELAY_MS,
            extra_args=["--vote-timeout", "15", "--task-timeout", "90"],
        )
        return self._name("aggregator"), command

    def attester_spec(self, operator_id: int) -> tuple[str, list[str]]:
        command = self.local.attester_command(
            self.local.operator(operator_id), validation_service=self.services_url, db=self.attester_db(operator_id)
        )
        return self._name(f"attester-{operator_id}"), command

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
        return subprocess.run(
            othentic_command(*args),
            capture_output=True,
            text=True,
            timeout=timeout,
            env={**os.environ, "OTHENTIC_PROJECT_ROOT": str(self.root)},
            cwd=self.root,
        )

    # --- tasks --------------------------------------------------------------------------------

    def task(
        self, definition_id: int = GENERIC, *, approve: bool = True, tag: str = "task", performer_key: str | None = None
    ) -> tuple[TaskInfo, bytes]:
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
        return task, self.sign(task, key)

    def sign(self, task: TaskInfo, key: str) -> bytes:
        """The performer's signature bound to this deployment's center and chain, as ours sign."""
        return task.sign(key, self.record.attestation_center, self.record.chain_id)

    @staticmethod
    def send_task_params(task: TaskInfo, signature: bytes) -> list:
        """``sendTask``'s positional params as Othentic's performers send them."""
        return [
            task.proof_of_task,
            "0x" + task.data.hex(),
            task.task_definition_id,
            task.performer,
            "0x" + signature.hex(),
        ]

    def rpc(self, method: str, params: Any = None, *, timeout: float = 30.0) -> dict:
        """One JSON-RPC call to the aggregator, answered as the wire has it: ``{"result": ...}``, or
        ``{"error": {"code", "message", "data"?}}`` for a refusal (what some tests check)."""
        try:
            return {"result": BlockingJsonRpcClient(self.aggregator_url, timeout=timeout).call(method, params)}
        except JsonRpcError as error:
            return {"error": error.to_wire()}

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
            "task": {
                "proofOfTask": task.proof_of_task,
                "data": "0x" + task.data.hex(),
                "taskDefinitionId": task.task_definition_id,
                "performer": task.performer,
            },
            "taskHash": "0x" + task.task_hash().hex(),
            "performerSignature": "0x" + signature.hex(),
            "attestationCenter": self.record.attestation_center,
            "chainId": self.record.chain_id,
        }

    def attest_directly(
        self, operator_id: int, task: TaskInfo, signature: bytes, timeout: float = 30.0
    ) -> tuple[int, dict]:
        """Ask one attester for its vote as the aggregator would (signed with its operator key)."""
        headers = auth_headers(
            self.keys[AGGREGATOR],
            ATTEST_REQUEST_TAG,
            self.record.chain_id,
            self.record.attestation_center,
            task.task_hash(),
        )
        return http_json(
            self.attester_url(operator_id) + "/attester/v1/attest",
            self.attest_request(task, signature),
            headers=headers,
            timeout=timeout,
        )

    # --- what the chain says ------------------------------------------------------------------

    def landings(
        self, task_hashes: list[bytes] | None = None, from_block: int | None = None
    ) -> dict[bytes, list[Landing]]:
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
                found.setdefault(task_hash, []).append(
                    Landing(
                        approved=approved,
                        task_number=int(args["taskNumber"]),
                        definition_id=int(args["taskDefinitionId"]),
                        task_hash=task_hash,
                        performer=args["performer"],
                        aggregator=args["aggregator"],
                        proof_of_task=args["proofOfTask"],
                        data=bytes(args["data"]),
                        non_signer_ids=[int(i) for i in args["nonSignerIds"]],
                        signed_power=int(args["signedPower"]),
                        total_power=int(args["totalPower"]),
                        tx_hash=bytes(log["transactionHash"]),
                        block=int(log["blockNumber"]),
                    )
                )
        return found

    def wait_landed(
        self, task_hashes: list[bytes], timeout: float = 120.0, from_block: int | None = None
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
                raise AssertionError(
                    f"{len(missing)} of {len(task_hashes)} tasks did not land within {timeout:g} s; "
                    f"aggregator says: {statuses}\naggregator log tail:\n"
                    + "\n".join(self.log("aggregator").splitlines()[-15:])
                )
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
                definitions[landing.definition_id] = (
                    self.rewards(landing.definition_id),
                    self.avs.definition_members(landing.definition_id),
                )
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
        return {
            bytes(h): (bool(a), (int.from_bytes(bytes(s)[:32], "big"), int.from_bytes(bytes(s)[32:], "big")))
            for h, a, s in rows
        }


# --- bringing it up -------------------------------------------------------------------------------


def _create_definitions(local: LocalNetwork) -> None:
    assert local.avs is not None and local.admin is not None
    no_filter = TaskDefinitionParams(
        name="e2e-no-filter",
        attester_reward=3 * TOKEN // 100,
        performer_reward=5 * TOKEN // 100,
        aggregator_reward=2 * TOKEN // 100,
        dispute_period_blocks=20,
        penalties=PenaltyConfig(double_attestation=True, incorrect_attestation=False, rejected_task=False),
    )
    slow = TaskDefinitionParams(
        name="e2e-slow",
        attester_reward=TOKEN // 1000,
        performer_reward=2 * TOKEN // 1000,
        aggregator_reward=TOKEN // 1000,
        dispute_period_blocks=20,
    )
    assert local.avs.create_definition(local.admin, no_filter) == NO_FILTER
    assert local.avs.create_definition(local.admin, slow) == SLOW


@contextlib.contextmanager
def bring_up(state: Path) -> Iterator[Network]:
    """The whole network, its state (deployment file, SQLite files, logs) under ``state``;
    everything it started is stopped on leaving the block, whatever happened inside."""
    root = find_project_root()
    local = LocalNetwork(state, env={"OTHENTIC_PROJECT_ROOT": str(root)})
    deployed: list[str] = []

    def deploy(anvil: Anvil, out: Path) -> DeploymentRecord:
        result = ape_deploy(anvil.rpc_url, out, root=root)
        assert result.returncode == 0 and out.exists(), (
            f"ape run deploy failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
        deployed.append(result.stdout)
        return DeploymentRecord.load(out)

    try:
        local.start_chain(deploy=deploy)
        _create_definitions(local)
        local.add_operators(operator_keys("othentic e2e operator", OPERATORS), STAKES)
        local.fund_rewards()
        net = Network(root, local, deployed[0])

        avs_config = {
            "slow_seconds": SLOW_SECONDS,
            "flip_file": str(net.flip_file),
            "messages_file": str(net.messages_file),
        }
        services = local.start_services(str(HERE / "e2e_avs.py") + ":avs", avs_config=avs_config, timeout=120)
        net.services_url = services.url
        net.names["services"] = "services"
        net.supervisor.start_many([net.aggregator_spec()] + [net.attester_spec(i) for i in net.ids], timeout=180)
        yield net
    finally:
        local.stop()
