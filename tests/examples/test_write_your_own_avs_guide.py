"""docs/write-your-own-avs.md, run as written: othentic init, othentic devnet, task send, edit, pytest.

The blocks run from an empty temporary folder (``tests/examples/_guide_runner.py`` says how a
guide marks them), with the package as the repository's virtualenv has it. Where that install
predates the package's pytest plugin (an editable install keeps the entry points it was installed
with), the plugin is named in ``PYTEST_PLUGINS``, as the entry point would load it. At the end the
test checks the chain itself: the definition created by name, the first task approved with the
uppercase on-chain, the long text rejected after the edit.
"""

from __future__ import annotations

import pytest
from web3 import Web3

from othentic_offchain.chain.client import AvsContracts
from othentic_offchain.chain.deploy import DeploymentRecord
from tests.examples._guide_runner import ROOT, GuideRunner, check_marks, parse_guide, plugin_env

GUIDE = ROOT / "docs" / "write-your-own-avs.md"
TEMPLATE_AVS = "othentic_offchain/project/templates/minimal/avs.py"


def test_the_guide_marks_every_shell_block_and_shows_the_templates_avs():
    blocks = check_marks(GUIDE, files=[TEMPLATE_AVS], project_name="uppercase")
    # Two terminals: the devnet in the first, everything after it in the second.
    assert [b.body for b in blocks if b.kind == "background"] == ["othentic devnet"]
    assert {b.terminal for b in blocks if b.kind in ("run", "background")} == {"1", "2"}
    commands = [line for b in blocks if b.kind in ("run", "background") for line in b.body.splitlines()]
    assert commands[0] == "othentic init uppercase && cd uppercase"


@pytest.mark.slow
def test_following_the_guide_gets_a_task_approved_then_after_an_edit_a_long_one_rejected(tmp_path):
    blocks = parse_guide(GUIDE)
    start = tmp_path / "reader"
    start.mkdir()
    runner = GuideRunner(tmp_path, cwd=start, env=plugin_env(start))
    try:
        runner.run_all(blocks)
        check_the_chain(start / "uppercase")
    finally:
        runner.stop_all()
    for block, proc, _path in runner.background:
        assert proc.poll() is not None, f"{block.where} still runs"
    assert "Stopping every process" in runner.background_log("othentic devnet")


def check_the_chain(project) -> None:
    record = DeploymentRecord.load(project / ".devnet" / "deployment.json")
    assert set(record.definitions) == {"uppercase"}
    definition_id = record.definitions["uppercase"]
    avs = AvsContracts(Web3(Web3.HTTPProvider(record.rpc_url)), record)
    assert avs.definition(definition_id)[1].name == "uppercase"
    landed = {}
    for name in ("TaskSubmitted", "TaskRejected"):
        for log in getattr(avs.center.events, name)().get_logs(from_block=record.block_number):
            assert log["args"]["taskDefinitionId"] == definition_id
            landed[bytes(log["args"]["data"])] = name
    assert landed == {b"HELLO, AVS": "TaskSubmitted", b"A TEXT OF MORE THAN TWENTY CHARACTERS": "TaskRejected"}
