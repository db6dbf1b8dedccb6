"""``othentic devnet``: a whole AVS network on this machine, doing real work, in one command.

Steps: start anvil; deploy the contracts shipped in the package (``othentic deploy``'s plan); deploy the example AVSs'
hooks behind an AvsLogicRouter; create the example task definitions (1: price oracle, 2:
randomness beacon; 0 is the generic one every deployment has); fund and register the operators
with different stakes; start the proof store, the price source, the AVS services, the aggregator
and one attester per operator (each also performing beacon rounds when elected), plus performers
for the generic and price-oracle definitions, all as separate processes; run a workload over the
definitions in parallel; report what landed on-chain.

Everything it starts is stopped on exit, on Ctrl-C, and if it dies (the children get SIGTERM).
"""

from __future__ import annotations

import concurrent.futures
import json
import shutil
import statistics
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from eth_account import Account
from eth_utils import keccak
from web3.logs import DISCARD

from othentic_offchain.chain.artifacts import load_artifact
from othentic_offchain.chain.client import AvsContracts, TransactionReverted, TxSender, fund_eth
from othentic_offchain.chain.deploy import Web3Backend, deploy_system
from othentic_offchain.chain.types import PenaltyConfig, TaskDefinitionParams
from othentic_offchain.crypto.keys import derive_bls_key
from othentic_offchain.devnet.anvil import DEV_PRIVATE_KEYS, Anvil, free_port
from othentic_offchain.devnet.processes import Supervisor, othentic_command
from othentic_offchain.devnet.tokens import mintable

TOKEN = 10**18
GENERIC, PRICE_ORACLE, BEACON = 0, 1, 2
DEFINITION_NAMES = {GENERIC: "generic", PRICE_ORACLE: "price-oracle", BEACON: "randomness-beacon"}


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
    aggregator_delay_ms: float = 150  # the aggregator waits this long for more votes after quorum


@dataclass
class TaskRun:
    definition_id: int
    params: dict
    task_hash: str | None = None
    sent_at: float = 0.0
    latency: float | None = None
    status: str = "pending"
    error: str | None = None


@dataclass
class Summary:
    rpc_url: str
    aggregator_url: str
    contracts: dict[str, str]
    per_definition: dict[int, dict[str, int]]
    gas: dict[int, list[int]]
    latencies: list[float]
    votes: dict[int, int]
    rewards: dict[int, tuple[str, int, int]]  # id -> (account, stake, claimable)
    slashed: list[tuple[int, int]]
    offline: list[int]
    failures: list[TaskRun]
    beacon_rounds: int
    latest_price: tuple[str, int] | None
    wall_seconds: float
    extra: dict = field(default_factory=dict)


def _post_json(url: str, body: dict, timeout: float = 60.0) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"{}")
        except ValueError:
            return exc.code, {}


def _rpc(url: str, method: str, params) -> dict:
    status, answer = _post_json(url, {"jsonrpc": "2.0", "id": 1, "method": method, "params": params})
    if "error" in answer:
        raise RuntimeError(f"{method}: {answer['error'].get('message')}")
    return answer.get("result")


class Devnet:
    """One run of the devnet; ``progress`` is called with a short text for each step."""

    def __init__(self, options: DevnetOptions, progress=lambda text: None):
        self.options = options
        self.progress = progress
        self.state = Path(options.state_dir).resolve()
        self.supervisor: Supervisor | None = None
        self.anvil: Anvil | None = None
        self.operator_keys = [
            "0x" + keccak(text=f"othentic devnet operator {i}").hex() for i in range(options.operators)
        ]
        self.admin_key = DEV_PRIVATE_KEYS[0]

    # --- setup ---------------------------------------------------------------------------------

    def start(self) -> None:
        if self.options.operators < 4:
            raise ValueError("a devnet needs at least 4 operators")
        if self.options.offline_attesters >= self.options.operators / 3:
            raise ValueError("--offline-attesters must stay below a third of the operators, or no task reaches quorum")
        if self.state.exists():
            shutil.rmtree(self.state)  # a fresh chain: old votes and task records mean nothing now
        (self.state / "logs").mkdir(parents=True)
        self.progress("starting anvil")
        self.anvil = Anvil().start()
        self.w3 = self.anvil.web3()
        self.supervisor = Supervisor(self.state / "logs")
        self._deploy()
        self._deploy_examples()
        self._register_operators()
        self._start_processes()
        self._start_block_ticker()
        self._write_endpoints()

    def _write_endpoints(self) -> None:
        """Where everything listens, for scripts and a second terminal (`<state-dir>/devnet.json`)."""
        endpoints = {
            "rpc": self.anvil.rpc_url,
            "aggregator": self.aggregator_url,
            "proofStore": self.proof_store_url,
            "priceSource": self.price_source_url,
            "services": self.services_urls,
            "performers": {str(k): v for k, v in self.performer_urls.items()},
            "attesters": {str(i): f"http://127.0.0.1:{p}" for i, p in zip(self.operator_ids, self.attester_ports)},
            "deployment": str(self.deployment_path),
        }
        (self.state / "devnet.json").write_text(json.dumps(endpoints, indent=2) + "\n")

    def _start_block_ticker(self) -> None:
        """anvil mines a block per transaction (automine) and none in between; block-driven triggers
        (the beacon every N blocks) need time to pass as on a real chain, so mine empty blocks too."""
        import threading

        self._ticking = threading.Event()

        def tick() -> None:
            while not self._ticking.wait(self.options.block_interval):
                try:
                    self.anvil.rpc("evm_mine")
                except Exception:
                    return

        threading.Thread(target=tick, name="block-ticker", daemon=True).start()

    def _deploy(self) -> None:
        self.progress("deploying the contracts")
        out = self.state / "deployment.json"
        self.record = deploy_system(Web3Backend(self.w3, self.admin_key))
        self.record.rpc_url = self.anvil.rpc_url
        self.record.save(out)
        self.deployment_path = out
        self.avs = AvsContracts(self.w3, self.record)
        self.admin: TxSender = self.avs.sender(self.admin_key)

    def _deploy_examples(self) -> None:
        self.progress("deploying the example AVSs' hooks and task definitions")
        backend = Web3Backend(self.w3, self.admin_key)
        center = self.record.attestation_center
        router = backend.deploy("AvsLogicRouter", center, backend.deployer)
        price = backend.deploy("PriceOracleLogic", router)
        beacon = backend.deploy("RandomnessBeaconLogic", router)
        backend.transact("AvsLogicRouter", router, "setLogic", PRICE_ORACLE, price)
        backend.transact("AvsLogicRouter", router, "setLogic", BEACON, beacon)
        self.admin.send(self.avs.center.functions.setAvsLogic(router))
        self.record.contracts.update(
            {"AvsLogicRouter": router, "PriceOracleLogic": price, "RandomnessBeaconLogic": beacon}
        )
        self.record.save(self.deployment_path)
        price_params = TaskDefinitionParams(
            name="price-oracle",
            attester_reward=TOKEN // 20,
            performer_reward=TOKEN // 5,
            aggregator_reward=TOKEN // 20,
            dispute_period_blocks=50,
            penalties=PenaltyConfig(
                double_attestation=True,
                incorrect_attestation=False,
                rejected_task=True,
                slash_bps=500,
                reporter_bps=2_000,
            ),
        )
        beacon_params = TaskDefinitionParams(
            name="randomness-beacon",
            attester_reward=TOKEN // 50,
            performer_reward=TOKEN // 10,
            aggregator_reward=TOKEN // 50,
            dispute_period_blocks=50,
        )
        assert self.avs.create_definition(self.admin, price_params) == PRICE_ORACLE
        assert self.avs.create_definition(self.admin, beacon_params) == BEACON

    def _register_operators(self) -> None:
        n = self.options.operators
        self.progress(f"funding and registering {n} operators")
        accounts = [Account.from_key(k).address for k in self.operator_keys]
        fund_eth(self.w3, accounts, 1_000 * TOKEN)
        self.attester_ports = [free_port() for _ in range(n)]
        self.stakes = [(10 + 5 * i) * TOKEN for i in range(n)]  # different stakes: 10, 15, 20, ... tokens
        senders = [self.avs.sender(k) for k in self.operator_keys]
        mint = mintable(self.avs.stake_token).functions.mint
        pending = [self.admin.send(mint(s.address, stake), wait=False) for s, stake in zip(senders, self.stakes)]
        for tx in pending:
            self.admin.wait(tx)

        def register(i: int) -> None:
            keys = derive_bls_key(self.operator_keys[i])
            self.avs.register_operator(senders[i], keys, self.stakes[i])
            senders[i].send(self.avs.center.functions.setOperatorEndpoint(f"http://127.0.0.1:{self.attester_ports[i]}"))

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            list(pool.map(register, range(n)))
        self.operator_ids = [self.avs.operator_id(a) for a in accounts]
        self.accounts = accounts
        self.admin.send(mintable(self.avs.reward_token).functions.mint(self.admin.address, 10_000 * TOKEN))
        self.avs.fund_rewards(self.admin, 10_000 * TOKEN)

    def _start_processes(self) -> None:
        self.progress("starting the proof store, the price source and the AVS services")
        chain = ["--deployment", str(self.deployment_path), "--rpc", self.anvil.rpc_url]
        sup = self.supervisor
        proofs, prices = sup.start_many(
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
        self.proof_store_url, self.price_source_url = proofs.url, prices.url
        avs_config = {
            "price_source": self.price_source_url,
            "tolerance": 0.005,
            "rpc_url": self.anvil.rpc_url,
            "attestation_center": self.record.attestation_center,
            "period": self.options.beacon_period,
            "max_age": 50,
        }
        # Two services processes (attesters alternate between them), so validation uses both cores.
        services = sup.start_many(
            [
                (
                    f"services-{k}",
                    othentic_command(
                        "services",
                        "othentic_offchain.examples.devnet:avs",
                        "--port",
                        "0",
                        "--proof-store",
                        self.proof_store_url,
                        "--avs-config",
                        json.dumps(avs_config),
                    ),
                )
                for k in (1, 2)
            ],
            timeout=90,
        )
        self.services_urls = [m.url for m in services]
        self.services_url = self.services_urls[0]

        self.progress("starting the aggregator and the attesters")
        aggregator_port = free_port()
        self.aggregator_url = f"http://127.0.0.1:{aggregator_port}"
        specs = [
            (
                "aggregator",
                othentic_command(
                    "node",
                    "aggregator",
                    *chain,
                    "--private-key",
                    self.operator_keys[0],
                    "--port",
                    str(aggregator_port),
                    "--db",
                    str(self.state / "aggregator.sqlite3"),
                    "--delay",
                    str(self.options.aggregator_delay_ms),
                ),
            )
        ]
        for i, key in enumerate(self.operator_keys):
            specs.append(
                (
                    f"attester-{self.operator_ids[i]}",
                    othentic_command(
                        "node",
                        "attester",
                        *chain,
                        "--private-key",
                        key,
                        "--port",
                        str(self.attester_ports[i]),
                        "--validation-service",
                        self.services_urls[i % 2],
                        "--db",
                        str(self.state / f"attester-{i + 1}.sqlite3"),
                        "--performer-definition",
                        str(BEACON),
                        "--execution-service",
                        self.services_urls[i % 2],
                        "--aggregator",
                        self.aggregator_url,
                        "--election",
                        "round-robin",
                        "--round-robin-period",
                        str(self.options.beacon_period),
                        "--every-blocks",
                        str(self.options.beacon_period),
                    ),
                )
            )
        specs.append(
            (
                "performer-generic",
                othentic_command(
                    "node",
                    "performer",
                    *chain,
                    "--private-key",
                    self.operator_keys[1],
                    "--definition",
                    str(GENERIC),
                    "--execution-service",
                    self.services_url,
                    "--aggregator",
                    self.aggregator_url,
                ),
            )
        )
        specs.append(
            (
                "performer-price",
                othentic_command(
                    "node",
                    "performer",
                    *chain,
                    "--private-key",
                    self.operator_keys[2],
                    "--definition",
                    str(PRICE_ORACLE),
                    "--execution-service",
                    self.services_url,
                    "--aggregator",
                    self.aggregator_url,
                ),
            )
        )
        started = sup.start_many(specs, timeout=180)
        self.performer_urls = {GENERIC: started[-2].url, PRICE_ORACLE: started[-1].url}
        self.offline = []
        for i in range(self.options.offline_attesters):
            operator_id = self.operator_ids[-1 - i]
            sup.stop(f"attester-{operator_id}")
            self.offline.append(operator_id)

    # --- workload ------------------------------------------------------------------------------

    def workload(self) -> list[TaskRun]:
        n = self.options.tasks
        runs = []
        for i in range(n):
            if i % 2 == 0:
                runs.append(TaskRun(GENERIC, {"text": f"devnet task {i}: the quick brown fox"}))
            else:
                params = {"pair": ("ETH-USD", "BTC-USD", "SOL-USD")[i % 3]}
                if (i // 2) % max(1, round(1 / self.options.lying_share)) == 0 and self.options.lying_share > 0:
                    params["lie_percent"] = 5
                runs.append(TaskRun(PRICE_ORACLE, params))
        self.progress(f"sending {n} tasks ({self.options.concurrency} at a time)")

        def trigger(run: TaskRun) -> TaskRun:
            run.sent_at = time.monotonic()
            status, body = _post_json(
                f"{self.performer_urls[run.definition_id]}/performer/v1/trigger", {"params": run.params}
            )
            if status != 200:
                run.status, run.error = "failed", f"trigger answered {status}: {body.get('message', body)}"
                return run
            run.task_hash = body.get("taskHash")
            return self._follow(run)

        with concurrent.futures.ThreadPoolExecutor(self.options.concurrency) as pool:
            done = 0
            for _ in pool.map(trigger, runs):
                done += 1
                self.progress(f"tasks: {done}/{n} finished")
        return runs

    def _follow(self, run: TaskRun) -> TaskRun:
        deadline = run.sent_at + self.options.task_timeout
        while time.monotonic() < deadline:
            try:
                status = _rpc(self.aggregator_url, "taskStatus", [run.task_hash])
            except RuntimeError as exc:
                run.status, run.error = "failed", str(exc)
                return run
            if status.get("status") in ("landed", "failed"):
                run.status = status["status"]
                run.error = status.get("error")
                # The aggregator's own clock: from sendTask accepted to the receipt.
                if status.get("finishedAt") and status.get("createdAt"):
                    run.latency = float(status["finishedAt"]) - float(status["createdAt"])
                return run
            time.sleep(0.05)
        run.status, run.error = "failed", "timed out"
        return run

    def wait_for_beacon(self, rounds: int = 3, timeout: float = 30.0) -> int:
        """Let the beacon (every few blocks, elected operator) land a few rounds before the summary."""
        beacon = self.w3.eth.contract(
            address=self.record.contracts["RandomnessBeaconLogic"], abi=_abi("RandomnessBeaconLogic")
        )
        deadline = time.monotonic() + timeout
        while True:
            done = int(beacon.functions.contributions().call())
            self.progress(f"randomness beacon: {done}/{rounds} rounds landed")
            if done >= rounds or time.monotonic() > deadline:
                return done
            time.sleep(0.5)

    # --- summary -------------------------------------------------------------------------------

    def report_rejected(self) -> list[tuple[int, int]]:
        """Report each rejected price-oracle task's performer to the PenaltyManager (slashing it)."""
        from othentic_offchain.chain.types import TaskInfo

        slashed = []
        for log in self._task_logs("TaskRejected"):
            args = log["args"]
            if args["taskDefinitionId"] != PRICE_ORACLE:
                continue
            task = TaskInfo(args["proofOfTask"], args["data"], args["performer"], args["taskDefinitionId"])
            try:
                receipt = self.admin.send(self.avs.penalties.functions.reportRejectedTask(task.abi()))
            except TransactionReverted as exc:  # e.g. the dispute period is over: say so, carry on
                self.progress(f"report of task {task.task_hash().hex()[:10]} refused: {exc}")
                continue
            for event in self.avs.penalties.events.OffencePunished().process_receipt(receipt, errors=DISCARD):
                slashed.append((int(event["args"]["operatorId"]), int(event["args"]["slashed"])))
        return slashed

    def _task_logs(self, name: str) -> list:
        event = getattr(self.avs.center.events, name)()
        return list(event.get_logs(from_block=self.record.block_number))

    def summary(self, runs: list[TaskRun], slashed: list[tuple[int, int]], started: float) -> Summary:
        per_definition = {d: {"approved": 0, "rejected": 0} for d in DEFINITION_NAMES}
        gas: dict[int, list[int]] = {d: [] for d in DEFINITION_NAMES}
        votes = {i: 0 for i in self.operator_ids}
        members = {d: set(self.avs.definition_members(d)) for d in DEFINITION_NAMES}
        for name, side in (("TaskSubmitted", "approved"), ("TaskRejected", "rejected")):
            for log in self._task_logs(name):
                definition = int(log["args"]["taskDefinitionId"])
                per_definition[definition][side] += 1
                gas[definition].append(int(self.w3.eth.get_transaction_receipt(log["transactionHash"])["gasUsed"]))
                for operator_id in members[definition] - set(log["args"]["nonSignerIds"]):
                    votes[operator_id] += 1
        rewards = {}
        for operator_id, account in zip(self.operator_ids, self.accounts):
            op = self.avs.operator(operator_id)
            rewards[operator_id] = (account, op.stake, self.avs.claimable(account))
        price_logic = self.w3.eth.contract(
            address=self.record.contracts["PriceOracleLogic"], abi=_abi("PriceOracleLogic")
        )
        latest = price_logic.functions.latest(b"ETH-USD".ljust(32, b"\0")).call()
        beacon = self.w3.eth.contract(
            address=self.record.contracts["RandomnessBeaconLogic"], abi=_abi("RandomnessBeaconLogic")
        )
        return Summary(
            rpc_url=self.anvil.rpc_url,
            aggregator_url=self.aggregator_url,
            contracts=dict(self.record.contracts),
            per_definition=per_definition,
            gas=gas,
            latencies=[r.latency for r in runs if r.status == "landed" and r.latency is not None],
            votes=votes,
            rewards=rewards,
            slashed=slashed,
            offline=self.offline,
            failures=[r for r in runs if r.status != "landed"],
            beacon_rounds=int(beacon.functions.contributions().call()),
            latest_price=("ETH-USD", int(latest[0])) if latest[0] else None,
            wall_seconds=time.monotonic() - started,
        )

    def stop(self) -> None:
        if getattr(self, "_ticking", None) is not None:
            self._ticking.set()
        if self.supervisor is not None:
            self.supervisor.stop_all()
        if self.anvil is not None:
            self.anvil.stop()


def _abi(name: str) -> list:
    return load_artifact(name).abi


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: list[int]) -> float:
    return statistics.median(values) if values else float("nan")
