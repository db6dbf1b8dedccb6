"""docs/avs-on-a-real-network.md, run as written: every piece by hand against an anvil of its own.

The page's anvil plays the real chain: the AVS owner deploys with ``othentic deploy`` and creates
the definition by name, two operators register and run the services and attesters, the aggregator
runs apart, and a task goes through the performer, then a lie signed by hand. The guide's fixed
ports become free ones and its state folder moves to the test's temporary directory
(``tests/examples/_guide_runner.py``). At the end the test checks the chain itself.
"""

from __future__ import annotations

import pytest
from web3 import Web3

from othentic_offchain.chain.client import AvsContracts
from othentic_offchain.chain.deploy import DeploymentRecord
from othentic_offchain.proofs import LocalProofStore, compute_cid
from tests.examples._guide_runner import ROOT, GuideRunner, check_marks, parse_guide

GUIDE = ROOT / "docs" / "avs-on-a-real-network.md"
GUIDE_PORTS = (8545, 4300, 4301, 9201, 9202, 9301, 9400)
STATE_FOLDERS = ("uppercase-run",)


def test_the_page_marks_every_shell_block_and_uses_the_ports_the_test_moves():
    check_marks(GUIDE, files=[])
    text = GUIDE.read_text()
    for port in GUIDE_PORTS:
        assert f":{port}" in text or f"--port {port}" in text, port


@pytest.mark.slow
def test_following_the_page_lands_a_performed_task_and_rejects_a_lie(tmp_path):
    start = tmp_path / "reader"
    start.mkdir()
    runner = GuideRunner(tmp_path, cwd=start, ports=GUIDE_PORTS, folders=STATE_FOLDERS)
    try:
        runner.run_all(parse_guide(GUIDE))
        check_the_chain(start / "deployment.json", tmp_path / "uppercase-run" / "proofs")
    finally:
        runner.stop_all()
    for block, proc, _path in runner.background:
        assert proc.poll() is not None, f"{block.where} still runs"


def check_the_chain(deployment, proofs_folder) -> None:
    record = DeploymentRecord.load(deployment)
    assert record.definitions == {"uppercase": 1}
    avs = AvsContracts(Web3(Web3.HTTPProvider(record.rpc_url)), record)
    assert sorted(avs.definition_members(1)) == [1, 2]
    cid = compute_cid(b"hello, real network")
    assert LocalProofStore(proofs_folder).get(cid) == b"hello, real network"  # stored by the execute function
    landed = {}
    for name in ("TaskSubmitted", "TaskRejected"):
        for log in getattr(avs.center.events, name)().get_logs(from_block=record.block_number):
            assert log["args"]["taskDefinitionId"] == 1 and log["args"]["proofOfTask"] == cid
            landed[bytes(log["args"]["data"])] = name
    assert landed == {b"HELLO, REAL NETWORK": "TaskSubmitted", b"HELLO, WORLD": "TaskRejected"}
