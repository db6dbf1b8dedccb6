"""docs/write-your-own-avs.md, run as written: its code, its commands, a real devnet, real nodes.

The guide marks each shell block with an HTML comment (invisible when rendered) saying how to run
it: ``<!-- guide-test: run expect="..." -->`` (a command that must succeed and print each expected
text), ``<!-- guide-test: background ready="..." -->`` (a process that keeps running, one terminal
of its own, ready once it printed that text) and ``<!-- guide-test: file PATH -->`` (code that must
be the file's content, byte for byte). Every ``bash`` block must carry a mark: the guide cannot hold
a command this test does not run.

Blocks run with bash from the repository root, like one reader's terminals: variables a block
exports reach the blocks after it (the guide tells the reader to set them in every terminal).
Only what cannot be shared with other runs on the machine is changed, the same way in every block:
the guide's fixed ports become free ones and its two state folders (``.devnet``,
``uppercase-run``) move to a temporary directory. At the end the test checks the chain itself: the
definition exists with the guide's attesters, the performer's task is approved, the lie rejected.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from web3 import Web3

from othentic_offchain.chain.client import AvsContracts
from othentic_offchain.chain.deploy import DeploymentRecord
from othentic_offchain.chain.types import TaskInfo
from othentic_offchain.devnet.anvil import _parent_death_signal
from othentic_offchain.proofs import LocalProofStore, compute_cid

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "write-your-own-avs.md"
GUIDE_PORTS = (4300, 4301, 9201, 9202, 9301)
STATE_FOLDERS = (".devnet", "uppercase-run")
OPERATOR_1 = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"  # anvil account 1, the guide's operator 5
READY_TIMEOUT = {"othentic devnet": 300.0}
DEFAULT_READY_TIMEOUT = 90.0
RUN_TIMEOUT = 120.0

_BLOCK = re.compile(
    r"<!-- guide-test: (?P<kind>\w+)(?P<attrs>[^>]*?)-->\s*\n```(?P<lang>\w+)\n(?P<body>.*?)\n```", re.S)
_ATTR = re.compile(r"""(\w+)=(?:"([^"]*)"|'([^']*)')""")
_FENCE = re.compile(r"^```(\w*)\s*$", re.M)


@dataclass
class Block:
    kind: str  # run, background, file
    body: str
    line: int
    attrs: list[tuple[str, str]] = field(default_factory=list)
    argument: str = ""  # the path of a file block

    def values(self, name: str) -> list[str]:
        return [value for key, value in self.attrs if key == name]

    @property
    def where(self) -> str:
        return f"{GUIDE.name}:{self.line}"


def parse_guide(text: str) -> list[Block]:
    blocks = []
    for match in _BLOCK.finditer(text):
        attrs_text = match["attrs"]
        attrs = [(m[1], m[2] if m[2] is not None else m[3]) for m in _ATTR.finditer(attrs_text)]
        argument = _ATTR.sub("", attrs_text).strip()
        blocks.append(Block(match["kind"], match["body"], text.count("\n", 0, match.start()) + 1, attrs, argument))
    return blocks


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class GuideRunner:
    """Runs the guide's blocks like a reader with several terminals, and stops what it started."""

    def __init__(self, workdir: Path):
        self.workdir = workdir
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True)
        self.ports = {port: free_port() for port in GUIDE_PORTS}
        self.folders = {name: workdir / name.lstrip(".") for name in STATE_FOLDERS}
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", "TERM": "dumb", "COLUMNS": "200"}
        self.env.pop("OTHENTIC_PROJECT_ROOT", None)
        self.background: list[tuple[Block, subprocess.Popen, Path]] = []
        self.outputs: list[tuple[Block, str]] = []

    def localise(self, text: str) -> str:
        for port, free in self.ports.items():
            text = re.sub(rf"\b{port}\b", str(free), text)
        for name, folder in self.folders.items():
            text = text.replace(f"$PWD/{name}", str(folder)).replace(name, str(folder))
        return text

    def script(self, block: Block) -> str:
        return "set -eo pipefail\n" + self.localise(block.body) + "\n"

    def run(self, block: Block) -> str:
        env_file = self.workdir / "env.out"
        script = self.script(block) + f"env -0 > {shlex.quote(str(env_file))}\n"
        try:
            result = subprocess.run(["bash", "-c", script], cwd=ROOT, env=self.env, capture_output=True, text=True,
                                    timeout=RUN_TIMEOUT)
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"{block.where}: did not finish in {RUN_TIMEOUT:.0f} s:\n{exc.stdout}\n{exc.stderr}"
                                 f"\n{self.background_tails()}") from exc
        output = result.stdout + result.stderr
        assert result.returncode == 0, (f"{block.where}: exit status {result.returncode}\n{self.script(block)}\n"
                                        f"{output}\n{self.background_tails()}")
        flat = " ".join(output.split())  # Rich folds long lines: compare with whitespace collapsed
        for expected in block.values("expect"):
            assert expected in flat, f"{block.where}: expected {expected!r} in the output:\n{output}"
        exported = dict(item.split("=", 1) for item in env_file.read_text().split("\0") if "=" in item)
        for name in ("PWD", "OLDPWD", "SHLVL", "_"):
            exported.pop(name, None)
        self.env.update(exported)
        self.outputs.append((block, output))
        return output

    def start(self, block: Block) -> None:
        (ready,) = block.values("ready")
        log_path = self.logs / f"block-{block.line}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(["bash", "-c", self.script(block)], cwd=ROOT, env=dict(self.env),
                                    stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    start_new_session=True,  # Ctrl-C reaches the whole terminal's group
                                    preexec_fn=_parent_death_signal())  # bash execs the command: it dies with us
        self.background.append((block, proc, log_path))
        timeout = next((t for prefix, t in READY_TIMEOUT.items() if block.body.startswith(prefix)),
                       DEFAULT_READY_TIMEOUT)
        deadline = time.monotonic() + timeout
        while ready not in log_path.read_text(errors="replace"):
            if proc.poll() is not None:
                raise AssertionError(f"{block.where}: exited with {proc.returncode} before printing {ready!r}:\n"
                                     f"{self.tail(log_path)}")
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{block.where}: did not print {ready!r} in {timeout:.0f} s:\n{self.tail(log_path)}")
            time.sleep(0.1)

    @staticmethod
    def tail(path: Path, lines: int = 40) -> str:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def background_tails(self) -> str:
        return "\n".join(f"--- {block.where} ---\n{self.tail(path, 15)}" for block, _proc, path in self.background)

    def stop_all(self) -> None:
        """Ctrl-C in each terminal, last started first; SIGKILL for what does not stop in time."""
        for _block, proc, _path in reversed(self.background):
            for sig, wait in ((signal.SIGINT, 30.0), (signal.SIGTERM, 10.0), (signal.SIGKILL, 10.0)):
                if proc.poll() is not None:
                    break
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    proc.wait(wait)
                except subprocess.TimeoutExpired:
                    continue


def test_the_guide_marks_every_shell_block_and_its_code_is_the_example_file():
    text = GUIDE.read_text()
    blocks = parse_guide(text)
    fences = [lang for i, lang in enumerate(_FENCE.findall(text)) if i % 2 == 0]  # opening fences only
    assert fences.count("bash") == sum(b.kind in ("run", "background") for b in blocks), \
        "every bash block of the guide needs a <!-- guide-test: run|background ... --> mark"
    assert {b.kind for b in blocks} <= {"run", "background", "file"}
    assert all(len(b.values("ready")) == 1 for b in blocks if b.kind == "background")
    files = [b for b in blocks if b.kind == "file"]
    assert [b.argument for b in files] == ["docs/examples/uppercase_avs.py"]
    for block in files:
        assert block.body + "\n" == (ROOT / block.argument).read_text(), f"{block.where} differs from {block.argument}"
    for port in GUIDE_PORTS:  # the ports this test moves are the guide's
        assert re.search(rf"\b{port}\b", text), port


@pytest.mark.slow
def test_following_the_guide_gets_an_uppercase_task_approved_and_a_lie_rejected(tmp_path):
    blocks = parse_guide(GUIDE.read_text())
    runner = GuideRunner(tmp_path)
    try:
        for block in blocks:
            if block.kind == "run":
                runner.run(block)
            elif block.kind == "background":
                runner.start(block)
        check_the_chain(runner)
    finally:
        runner.stop_all()
    for block, proc, path in runner.background:
        assert proc.poll() is not None, f"{block.where} still runs"
    if (runner.folders[".devnet"] / "logs").exists():
        assert "Stopping every process" in (runner.logs / f"block-{devnet_block(blocks).line}.log").read_text()


def devnet_block(blocks: list[Block]) -> Block:
    return next(b for b in blocks if b.body.startswith("othentic devnet"))


def check_the_chain(runner: GuideRunner) -> None:
    """What the guide promises, read from the chain itself rather than from the commands' output."""
    record = DeploymentRecord.load(runner.folders[".devnet"] / "deployment.json")
    w3 = Web3(Web3.HTTPProvider(record.rpc_url))
    avs = AvsContracts(w3, record)
    _set_id, definition = avs.definition(3)
    assert definition.name == "uppercase"
    assert definition.restricted_attester_ids == (5, 6)
    assert sorted(avs.definition_members(3)) == [5, 6]
    assert avs.operator_id(OPERATOR_1) == 5

    proofs = LocalProofStore(runner.folders["uppercase-run"] / "proofs")
    performed = TaskInfo(compute_cid(b"hello, uppercase"), b"HELLO, UPPERCASE", OPERATOR_1, 3)
    by_hand = TaskInfo(compute_cid(b"hello, avs"), b"HELLO, AVS", OPERATOR_1, 3)
    lie = TaskInfo(compute_cid(b"hello, avs"), b"HELLO, WORLD", OPERATOR_1, 3)
    assert proofs.get(performed.proof_of_task) == b"hello, uppercase"  # stored by the execute function
    for task, approved in ((performed, True), (by_hand, True), (lie, False)):
        number, _block, is_approved = avs.task_record(task.task_hash())
        assert number > 0, f"task {task.data!r} did not land"
        assert is_approved is approved, task.data

    landed = {}
    for name in ("TaskSubmitted", "TaskRejected"):
        for log in getattr(avs.center.events, name)().get_logs(from_block=record.block_number):
            if log["args"]["taskDefinitionId"] == 3:
                landed[bytes(log["args"]["data"])] = (name, log["args"]["proofOfTask"], log["args"]["nonSignerIds"])
    assert landed == {
        b"HELLO, UPPERCASE": ("TaskSubmitted", performed.proof_of_task, []),
        b"HELLO, AVS": ("TaskSubmitted", by_hand.proof_of_task, []),
        b"HELLO, WORLD": ("TaskRejected", lie.proof_of_task, []),
    }
