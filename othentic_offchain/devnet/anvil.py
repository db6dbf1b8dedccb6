"""Start and stop a local anvil node (the real binary ships in the npm package ``@foundry-rs/anvil``).

    with Anvil() as node:                 # a free port on 127.0.0.1, hardfork prague, --silent
        w3 = node.web3()
        ...
    # the process is gone here, even if the block raised

``scripts/setup.sh`` links the binary into ``.venv/bin``, so it is on PATH whenever the virtualenv
is; :func:`find_anvil` also looks in the project's ``node_modules`` as a fallback.

The node is stopped by :meth:`Anvil.stop`, by leaving the ``with`` block, at interpreter exit
(``atexit``) and, on Linux, when the process that started it dies by a signal (``PR_SET_PDEATHSIG``),
so a killed benchmark or CLI never leaves an anvil behind.
"""

from __future__ import annotations

import atexit
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import IO

from othentic_offchain.jsonrpc import BlockingJsonRpcClient, JsonRpcError, JsonRpcTransportError

#: Anvil's default dev accounts (mnemonic "test test ... junk"), funded with 10,000 ETH each.
DEV_ACCOUNTS = (
    "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266",
    "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
    "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
    "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
    "0x15d34AAf54267DB7D7c367839AAf71A00a2C6A65",
)
DEV_PRIVATE_KEYS = (
    "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80",
    "0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
    "0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a",
    "0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6",
    "0x47e179ec197488593b187f80a00eb0da91f1b9d0b13f8733639f19c30a34926a",
)

DEFAULT_HARDFORK = "prague"  # the same rules as eth-tester (py-evm) and ape-config.yaml
DEFAULT_CHAIN_ID = 31337

#: The anvil the project pins (package.json), which `othentic install-anvil` installs.
ANVIL_VERSION = "1.7.1"

_MISSING_HINT = (
    "Install it: `othentic install-anvil` (needs npm), or `npm install @foundry-rs/anvil@1.7.1` in "
    "this folder (node_modules is looked in) or anywhere with node_modules/.bin then on PATH, or "
    "Foundry's own installer (foundryup). In the repository, `make setup` does it."
)


class AnvilError(RuntimeError):
    """Anvil could not be started, or did not answer in time."""


class AnvilNotFound(AnvilError, FileNotFoundError):
    """No anvil binary: not on PATH and not in the project's node_modules."""


def _npm_candidates() -> list[Path]:
    machine = platform.machine().lower()
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(machine, machine)
    roots = [Path.cwd(), *Path.cwd().parents, Path(__file__).resolve().parents[2], anvil_install_dir()]
    found = []
    for root in roots:
        found.append(root / "node_modules" / "@foundry-rs" / f"anvil-linux-{arch}" / "bin" / "anvil")
        found.append(root / "node_modules" / ".bin" / "anvil")
    return found


def anvil_install_dir() -> Path:
    """Where ``othentic install-anvil`` puts anvil: ``$XDG_DATA_HOME/othentic/anvil``."""
    return Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share") / "othentic" / "anvil"


def install_anvil(npm: str | None = None) -> str:
    """``npm install @foundry-rs/anvil@ANVIL_VERSION`` into :func:`anvil_install_dir`; the binary's path."""
    npm = npm or shutil.which("npm")
    if not npm:
        raise AnvilNotFound(
            "npm is not on PATH: install Node.js (https://nodejs.org), or anvil with Foundry's installer (foundryup)"
        )
    folder = anvil_install_dir()
    folder.mkdir(parents=True, exist_ok=True)
    package = f"@foundry-rs/anvil@{ANVIL_VERSION}"
    done = subprocess.run(
        [npm, "install", "--prefix", str(folder), "--no-audit", "--no-fund", package],
        capture_output=True,
        text=True,
        timeout=600,
    )
    if done.returncode != 0:
        raise AnvilError(f"npm install {package} failed:\n{(done.stdout + done.stderr)[-2000:]}")
    for candidate in _npm_candidates():
        if candidate.is_relative_to(folder) and candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise AnvilNotFound(f"npm installed {package} into {folder}, but no anvil binary for this platform is there")


def find_anvil(binary: str | os.PathLike | None = None) -> str:
    """The anvil executable to run: ``binary`` if given, else PATH, else a ``node_modules`` of the
    current folder or a parent, of the checkout, or of ``othentic install-anvil``."""
    if binary is not None:
        path = Path(binary)
        if path.is_file() and os.access(path, os.X_OK):
            return str(path)
        raise AnvilNotFound(f"anvil binary {str(binary)!r} does not exist or is not executable. {_MISSING_HINT}")
    on_path = shutil.which("anvil")
    if on_path:
        return on_path
    for candidate in _npm_candidates():
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return str(candidate)
    raise AnvilNotFound(f"anvil not found on PATH nor in node_modules. {_MISSING_HINT}")


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def _parent_death_signal():
    """A ``preexec_fn`` that makes the child receive SIGTERM when its parent dies (Linux only).

    Note: the kernel sends it when the *thread* that started the child exits; start long-lived nodes
    from the main thread (or a thread that lives as long) or pass ``die_with_parent=False``.
    """
    if not sys.platform.startswith("linux"):
        return None
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        prctl = libc.prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1
    sigterm = int(signal.SIGTERM)

    def preexec():  # runs in the child between fork and exec: no allocation, no locks
        prctl(pr_set_pdeathsig, sigterm, 0, 0, 0)

    return preexec


class Anvil:
    """One anvil process on ``host:port``; a context manager.

    Arguments left at ``None`` take anvil's defaults (chain id 31337, 10 funded accounts, instant
    mining); ``block_time`` (seconds, fractions allowed) mines a block at that interval instead of
    one per transaction (anvil's ``--block-time``). ``extra_args`` is appended verbatim (for example ``["--block-time", "1"]``).
    """

    def __init__(
        self,
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        hardfork: str = DEFAULT_HARDFORK,
        chain_id: int | None = None,
        accounts: int | None = None,
        block_time: float | None = None,
        extra_args: list[str] | tuple[str, ...] = (),
        binary: str | os.PathLike | None = None,
        startup_timeout: float = 30.0,
        silent: bool = True,
        die_with_parent: bool = True,
    ):
        if block_time is not None and not block_time > 0:
            raise ValueError(f"block_time must be positive seconds, got {block_time}")
        self.host = host
        self.hardfork = hardfork
        self.chain_id = chain_id if chain_id is not None else DEFAULT_CHAIN_ID
        self._requested_port = port
        self._chain_id_arg = chain_id
        self._accounts = accounts
        self._block_time = block_time
        self._extra_args = list(extra_args)
        self._binary = binary
        self.startup_timeout = startup_timeout
        self.silent = silent
        self.die_with_parent = die_with_parent
        self.port: int | None = None
        self._proc: subprocess.Popen | None = None
        self._log: IO[bytes] | None = None
        self._output = ""

    # -- properties ------------------------------------------------------------------------------

    @property
    def rpc_url(self) -> str:
        if self.port is None:
            raise AnvilError("anvil is not started")
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc else None

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def output(self) -> str:
        """What anvil wrote to stdout/stderr so far (little with ``--silent``)."""
        if self._log is not None:
            self._log.flush()
            self._log.seek(0)
            return self._log.read().decode(errors="replace")
        return self._output

    def command(self, port: int) -> list[str]:
        cmd = [find_anvil(self._binary), "--host", self.host, "--port", str(port), "--hardfork", self.hardfork]
        if self.silent:
            cmd.append("--silent")
        if self._chain_id_arg is not None:
            cmd += ["--chain-id", str(self._chain_id_arg)]
        if self._accounts is not None:
            cmd += ["--accounts", str(self._accounts)]
        if self._block_time is not None:
            cmd += ["--block-time", f"{self._block_time:g}"]
        return cmd + self._extra_args

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> Anvil:
        """Start anvil and return once it answers JSON-RPC; raise :class:`AnvilError` otherwise."""
        if self.running:
            raise AnvilError(f"anvil already running at {self.rpc_url} (pid {self.pid})")
        # A free port can be taken between choosing and binding it: retry with another one then.
        attempts = 1 if self._requested_port else 3
        last_error: AnvilError | None = None
        for _ in range(attempts):
            port = self._requested_port or free_port(self.host)
            try:
                self._spawn(port)
                self._wait_ready()
                atexit.register(self.stop)
                return self
            except AnvilNotFound:
                raise
            except AnvilError as exc:
                last_error = exc
                self.stop()
                if "in use" not in str(exc).lower():
                    break
        assert last_error is not None
        raise last_error

    def _spawn(self, port: int) -> None:
        cmd = self.command(port)  # raises AnvilNotFound before anything is started
        self._log = tempfile.TemporaryFile()
        self.port = port
        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=_parent_death_signal() if self.die_with_parent else None,
        )

    def _wait_ready(self) -> None:
        assert self._proc is not None, "spawned first"
        deadline = time.monotonic() + self.startup_timeout
        while True:
            code = self._proc.poll()
            if code is not None:
                raise AnvilError(
                    f"anvil exited with status {code} before answering on {self.rpc_url}: {self.output.strip()}"
                )
            try:
                chain_id = int(self.rpc("eth_chainId", timeout=1.0), 16)
            except (JsonRpcTransportError, ValueError):
                chain_id = None
            if chain_id is not None:
                self.chain_id = chain_id
                return
            if time.monotonic() > deadline:
                raise AnvilError(f"anvil did not answer on {self.rpc_url} within {self.startup_timeout:.0f} s")
            time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        """Terminate anvil and wait for it to exit (kill it if SIGTERM is not enough). Idempotent."""
        proc, self._proc = self._proc, None
        atexit.unregister(self.stop)
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        if self._log is not None:
            self._output = self.output
            self._log.close()
            self._log = None

    def __enter__(self) -> Anvil:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()

    def __del__(self):  # a forgotten node must not outlive its object
        try:
            self.stop()
        except Exception:
            pass

    def __repr__(self) -> str:
        state = f"running at {self.rpc_url}, pid {self.pid}" if self.running else "stopped"
        return f"Anvil({state})"

    # -- clients ---------------------------------------------------------------------------------

    def rpc(self, method: str, params: list | None = None, timeout: float = 10.0):
        """One JSON-RPC call (no web3 needed); returns ``result``. A JSON-RPC error raises
        :class:`AnvilError`; no answer raises :class:`~othentic_offchain.jsonrpc.JsonRpcTransportError`
        (a ``ConnectionError``)."""
        try:
            return BlockingJsonRpcClient(self.rpc_url, timeout=timeout).call(method, params or [])
        except JsonRpcError as error:
            raise AnvilError(f"{method} failed: {error.to_wire()}") from None

    def web3(self, timeout: float = 30.0):
        """A ``web3.Web3`` connected to this node over HTTP."""
        from web3 import Web3

        return Web3(Web3.HTTPProvider(self.rpc_url, request_kwargs={"timeout": timeout}))
