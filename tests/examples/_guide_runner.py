"""Running a Markdown guide's shell blocks as a reader would, in several terminals.

A guide marks each fenced block with an HTML comment (invisible when rendered) saying how to run it:

* ``<!-- guide-test: run expect="..." after="..." terminal="2" -->``: a command that must succeed
  and print each expected text; with ``after``, run once a background terminal printed that text
  (the reader waits for terminal 1 to say it); ``terminal`` (default 1) says which terminal the
  reader types it in: each terminal starts in the reader's starting folder and keeps its own;
* ``<!-- guide-test: background ready="..." -->``: a process that keeps running, one terminal of
  its own, ready once it printed that text;
* ``<!-- guide-test: file PATH -->``: code that must be the file's content, byte for byte
  (``{{name}}`` in a template file standing for the project's name);
* ``<!-- guide-test: given "why" -->``: what the test environment already provides (installing
  the package), not run.

Every ``bash`` block must carry a mark: a guide cannot hold a command its test does not run.
Blocks run with bash like one reader's terminals: variables a block exports reach the blocks after
it, and the folder it ``cd``s to the later blocks of its terminal. Only what cannot be shared with other runs on the machine is
changed, the same way in every block: the guide's fixed ports become free ones and its state
folders move to the test's temporary directory.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from othentic_offchain.devnet.anvil import _parent_death_signal

ROOT = Path(__file__).resolve().parents[2]

#: The package's pytest plugin (entry point ``pytest11``).
PLUGIN = "othentic_offchain.testing.plugin"


def plugin_env(cwd: Path) -> dict[str, str]:
    """Environment that loads the package's pytest plugin in a child pytest started in ``cwd`` the
    way an installed package does: nothing when its entry point is registered there (naming it
    again would register it twice), else ``PYTEST_PLUGINS`` (a checkout whose editable install
    predates the entry point). Asked in ``cwd``: package metadata found in the current folder (a
    stale ``*.egg-info`` of a checkout) can hide the installed entry point."""
    probe = (
        f"import importlib.metadata as m; print(any(ep.value == {PLUGIN!r} for ep in m.entry_points(group='pytest11')))"
    )
    answer = subprocess.run([sys.executable, "-c", probe], cwd=cwd, capture_output=True, text=True, timeout=60)
    registered = answer.stdout.strip() == "True"
    return {} if registered else {"PYTEST_PLUGINS": PLUGIN}


DEFAULT_READY_TIMEOUT = 120.0
RUN_TIMEOUT = 180.0

_BLOCK = re.compile(
    r"<!-- guide-test: (?P<kind>\w+)(?P<attrs>[^>]*?)-->\s*\n```(?P<lang>\w+)\n(?P<body>.*?)\n```", re.S
)
_ATTR = re.compile(r"""(\w+)=(?:"([^"]*)"|'([^']*)')""")
FENCE = re.compile(r"^```(\w*)\s*$", re.M)


@dataclass
class Block:
    kind: str  # run, background, file, given
    body: str
    line: int
    guide: str
    attrs: list[tuple[str, str]] = field(default_factory=list)
    argument: str = ""  # the path of a file block

    def values(self, name: str) -> list[str]:
        return [value for key, value in self.attrs if key == name]

    @property
    def terminal(self) -> str:
        return (self.values("terminal") or ["1"])[0]

    @property
    def where(self) -> str:
        return f"{self.guide}:{self.line}"


def parse_guide(path: Path) -> list[Block]:
    text = path.read_text()
    blocks = []
    for match in _BLOCK.finditer(text):
        attrs_text = match["attrs"]
        attrs = [(m[1], m[2] if m[2] is not None else m[3]) for m in _ATTR.finditer(attrs_text)]
        argument = _ATTR.sub("", attrs_text).strip()
        line = text.count("\n", 0, match.start()) + 1
        blocks.append(Block(match["kind"], match["body"], line, path.name, attrs, argument))
    return blocks


def check_marks(path: Path, *, files: list[str], project_name: str | None = None) -> list[Block]:
    """Every bash block is marked, each background block says when it is ready, and each file
    block is the named file (the list ``files``)."""
    text = path.read_text()
    blocks = parse_guide(path)
    fences = [lang for i, lang in enumerate(FENCE.findall(text)) if i % 2 == 0]  # opening fences only
    assert fences.count("bash") == sum(b.kind in ("run", "background", "given") for b in blocks), (
        f"every bash block of {path.name} needs a <!-- guide-test: run|background|given ... --> mark"
    )
    assert {b.kind for b in blocks} <= {"run", "background", "file", "given"}
    assert all(len(b.values("ready")) == 1 for b in blocks if b.kind == "background")
    file_blocks = [b for b in blocks if b.kind == "file"]
    assert [b.argument for b in file_blocks] == files
    for block in file_blocks:
        expected = (ROOT / block.argument).read_text()
        if project_name is not None:
            expected = expected.replace("{{name}}", project_name)
        assert block.body + "\n" == expected, f"{block.where} differs from {block.argument}"
    return blocks


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class GuideRunner:
    """Runs a guide's blocks like a reader with several terminals, and stops what it started."""

    def __init__(
        self,
        workdir: Path,
        *,
        cwd: Path,
        ports: tuple[int, ...] = (),
        folders: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        ready_timeouts: dict[str, float] | None = None,
    ):
        self.workdir = workdir
        self.start_folder = cwd
        self.cwds: dict[str, Path] = {}  # per terminal
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True)
        self.ports = {port: free_port() for port in ports}
        self.folders = {name: workdir / name.lstrip(".") for name in folders}
        self.env = {**os.environ, "PYTHONUNBUFFERED": "1", "TERM": "dumb", "COLUMNS": "200", **(env or {})}
        self.env.pop("OTHENTIC_PROJECT_ROOT", None)
        self.ready_timeouts = ready_timeouts or {}
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

    def cwd(self, block: Block) -> Path:
        return self.cwds.get(block.terminal, self.start_folder)

    def run_all(self, blocks: list[Block]) -> None:
        for block in blocks:
            if block.kind == "run":
                self.run(block)
            elif block.kind == "background":
                self.start(block)

    def run(self, block: Block) -> str:
        for text in block.values("after"):
            self.wait_for_background(block, text)
        env_file, cwd_file = self.workdir / "env.out", self.workdir / "cwd.out"
        script = self.script(block) + f"env -0 > {shlex.quote(str(env_file))}; pwd > {shlex.quote(str(cwd_file))}\n"
        try:
            result = subprocess.run(
                ["bash", "-c", script],
                cwd=self.cwd(block),
                env=self.env,
                capture_output=True,
                text=True,
                timeout=RUN_TIMEOUT,
            )
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(
                f"{block.where}: did not finish in {RUN_TIMEOUT:.0f} s:\n{exc.stdout}\n{exc.stderr}"
                f"\n{self.background_tails()}"
            ) from exc
        output = result.stdout + result.stderr
        assert result.returncode == 0, (
            f"{block.where}: exit status {result.returncode}\n{self.script(block)}\n{output}\n{self.background_tails()}"
        )
        flat = " ".join(output.split())  # Rich folds long lines: compare with whitespace collapsed
        for expected in block.values("expect"):
            assert expected in flat, f"{block.where}: expected {expected!r} in the output:\n{output}"
        exported = dict(item.split("=", 1) for item in env_file.read_text().split("\0") if "=" in item)
        for name in ("PWD", "OLDPWD", "SHLVL", "_"):
            exported.pop(name, None)
        self.env.update(exported)
        self.cwds[block.terminal] = Path(cwd_file.read_text().strip())
        self.outputs.append((block, output))
        return output

    def start(self, block: Block) -> None:
        (ready,) = block.values("ready")
        log_path = self.logs / f"block-{block.line}.log"
        with open(log_path, "wb") as log:
            proc = subprocess.Popen(
                ["bash", "-c", self.script(block)],
                cwd=self.cwd(block),
                env=dict(self.env),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C reaches the whole terminal's group
                preexec_fn=_parent_death_signal(),
            )  # bash execs the command: it dies with us
        self.background.append((block, proc, log_path))
        timeout = next(
            (t for prefix, t in self.ready_timeouts.items() if block.body.startswith(prefix)), DEFAULT_READY_TIMEOUT
        )
        deadline = time.monotonic() + timeout
        while ready not in log_path.read_text(errors="replace"):
            if proc.poll() is not None:
                raise AssertionError(
                    f"{block.where}: exited with {proc.returncode} before printing {ready!r}:\n{self.tail(log_path)}"
                )
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{block.where}: did not print {ready!r} in {timeout:.0f} s:\n{self.tail(log_path)}"
                )
            time.sleep(0.1)

    def wait_for_background(self, block: Block, text: str, timeout: float = 60.0) -> None:
        """Until a background terminal printed ``text`` (the reader watching terminal 1)."""
        deadline = time.monotonic() + timeout
        while not any(text in path.read_text(errors="replace") for _b, _p, path in self.background):
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{block.where}: no terminal printed {text!r} in {timeout:.0f} s:\n{self.background_tails()}"
                )
            time.sleep(0.1)

    def background_log(self, prefix: str) -> str:
        return next(path.read_text() for block, _p, path in self.background if block.body.startswith(prefix))

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
