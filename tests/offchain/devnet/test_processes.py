"""The supervisor keeps private keys off command lines and out of its logs."""

from __future__ import annotations

import sys

from othentic_offchain.devnet.processes import Supervisor, lift_secrets

KEY = "0x" + "ab" * 32

CHILD = (
    "import os, sys; "
    "print('argv', ' '.join(sys.argv[1:])); "
    "print('env-key-matches', os.environ.get('PRIVATE_KEY') == sys.argv[1]); "
    "print('listening on http://127.0.0.1:1', flush=True)"
)


def test_a_private_key_reaches_the_child_through_its_environment_never_its_command_line(tmp_path):
    # The child gets the expected key's fingerprint as argv[1] only to compare; the key itself is lifted.
    with Supervisor(tmp_path) as supervisor:
        managed = supervisor.start(
            "child", [sys.executable, "-c", CHILD, KEY, "--private-key", KEY, "--port", "1"], timeout=20
        )
        managed.proc.wait(10)
    log = (tmp_path / "child.log").read_text()
    assert "env-key-matches True" in log
    child_argv = next(line for line in log.splitlines() if line.startswith("argv "))
    assert "--private-key" not in child_argv and child_argv.endswith("--port 1")
    assert "--private-key" not in managed.command


def test_the_logged_command_line_has_every_32_byte_hex_value_redacted(tmp_path):
    with Supervisor(tmp_path) as supervisor:
        supervisor.start("child", [sys.executable, "-c", "print('listening on http://x')", KEY], timeout=20)
    started = (tmp_path / "child.log").read_text().splitlines()[0]
    assert started.startswith("--- ") and "<redacted>" in started
    assert KEY[2:] not in started


def test_lift_secrets_takes_both_spellings_of_the_option():
    assert lift_secrets(["x", "--private-key", KEY, "--db", "f"]) == (["x", "--db", "f"], {"PRIVATE_KEY": KEY})
    assert lift_secrets(["x", f"--private-key={KEY}"]) == (["x"], {"PRIVATE_KEY": KEY})
