"""Nodes going down in the middle of the work: attesters stopped, the aggregator killed with tasks
in flight, an attester killed while it validates. Each test restarts what it stopped (the ``net``
fixture checks it) and checks what landed on-chain."""

from __future__ import annotations

import sqlite3
import time

import pytest

from tests.e2e.e2e_http import metric, metrics
from tests.e2e.e2e_network import GENERIC, NO_FILTER, SLOW, SLOW_SECONDS, Network

pytestmark = pytest.mark.slow


def _wait_for(predicate, timeout: float, what: str, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(interval)


def test_three_stopped_attesters_become_non_signers_and_earn_nothing_while_the_rest_approve(net: Network):
    stopped = [net.ids[3], net.ids[5], net.ids[7]]
    total = sum(net.stakes.values())
    online = total - sum(net.stakes[i] for i in stopped)
    assert online * 3 > total * 2, "the stakes must leave more than 2/3 of the power online"

    before = net.claimable()
    try:
        for operator_id in stopped:
            net.stop_attester(operator_id)
        assert not any(net.attester_running(i) for i in stopped)
        tasks = [
            net.task(GENERIC, tag="three-down"),
            net.task(GENERIC, tag="three-down"),
            net.task(NO_FILTER, approve=True, tag="three-down"),
            net.task(NO_FILTER, approve=True, tag="three-down"),
        ]
        hashes = net.send_concurrently(tasks)
        landed = net.wait_landed(hashes)
        for task_hash in hashes:
            (landing,) = landed[task_hash]
            assert landing.approved
            assert landing.non_signer_ids == sorted(stopped), "exactly the stopped attesters did not sign"
            assert landing.signed_power == online and landing.total_power == total
        after = net.claimable()
        expected = net.expected_rewards([landed[h][0] for h in hashes])
        for operator_id in net.ids:
            assert after[operator_id] - before[operator_id] == expected[operator_id], f"operator {operator_id}"
        for operator_id in stopped:
            assert after[operator_id] == before[operator_id], f"stopped operator {operator_id} earned a reward"
    finally:
        net.start_attesters([i for i in stopped if not net.attester_running(i)])

    # Back online, they sign again.
    task_hash = net.send(*net.task(GENERIC, tag="three-back"))
    (landing,) = net.wait_landed([task_hash])[task_hash]
    assert landing.approved and landing.non_signer_ids == []


def _aggregator_rows(net: Network) -> dict[bytes, tuple[str, bytes | None, int | None]]:
    """The aggregator's task store, read from its SQLite file: hash -> (status, tx hash, nonce)."""
    db = sqlite3.connect(str(net.aggregator_db), timeout=10)
    try:
        rows = db.execute("SELECT task_hash, status, tx_hash, tx_nonce FROM tasks").fetchall()
    finally:
        db.close()
    return {bytes(h): (status, None if tx is None else bytes(tx), nonce) for h, status, tx, nonce in rows}


def test_aggregator_killed_with_tasks_in_flight_finishes_each_accepted_task_exactly_once_after_restart(net: Network):
    """SIGKILL with sixteen submissions signed and broadcast but not mined (anvil stops mining for
    the while) and eight slow tasks still collecting votes. While the aggregator is dead, some of
    its transactions are mined and the rest are lost from the node's pool; restarted on the same
    --db, it must land every accepted task once, re-sending the very transactions it had signed."""
    w3 = net.w3
    first_block = int(w3.eth.block_number) + 1
    nonce_before = int(w3.eth.get_transaction_count(net.aggregator_account, "latest"))
    fast = [net.task(GENERIC, tag="crash") for _ in range(16)]
    slow = [net.task(SLOW, tag="crash") for _ in range(8)]  # validate for SLOW_SECONDS
    net.anvil.rpc("evm_setAutomine", [False])
    try:
        # Accepted (answered with their hashes) means stored: each must land, once.
        fast_hashes = net.send_concurrently(fast)
        _wait_for(
            lambda: all(net.status(h)["status"] == "submitting" for h in fast_hashes),
            30,
            "the fast tasks' transactions to be broadcast",
            interval=0.1,
        )
        slow_hashes = net.send_concurrently(slow)
        _wait_for(
            lambda: all(net.status(h)["status"] == "collecting" for h in slow_hashes),
            10,
            "the slow tasks to be collecting votes",
            interval=0.05,
        )
        net.kill_aggregator()
        assert not net.supervisor.processes[net.names["aggregator"]].running
        hashes = fast_hashes + slow_hashes

        at_kill = _aggregator_rows(net)
        assert all(at_kill[h][0] == "submitting" and at_kill[h][1] for h in fast_hashes)
        assert all(at_kill[h][0] == "collecting" for h in slow_hashes), (
            "the slow tasks were to be killed while collecting votes"
        )
        pending = sorted((at_kill[h][2], at_kill[h][1]) for h in fast_hashes)
        assert [nonce for nonce, _ in pending] == list(range(nonce_before, nonce_before + 16))
        # Lose the second half from the node's pool (anvil drops the later nonces with it), mine the rest.
        # A broadcast the kill interrupted may still be reaching the pool: drop once all 16 are in it.
        def in_pool() -> int:
            return int(net.anvil.rpc("txpool_status")["pending"], 16)

        _wait_for(lambda: in_pool() == 16, 10, "the 16 broadcast transactions in anvil's pool")
        net.anvil.rpc("anvil_dropTransaction", ["0x" + pending[8][1].hex()])
        _wait_for(lambda: in_pool() == 8, 10, "the dropped transaction and the later nonces out of the pool")
    finally:
        net.anvil.rpc("evm_setAutomine", [True])
    mined = int(w3.eth.get_transaction_count(net.aggregator_account, "latest"))
    assert mined == nonce_before + 8, "half of the submissions landed while the aggregator was down"
    assert sum(1 for h in fast_hashes if net.task_record(h)[0]) == 8

    net.start_aggregator()  # same port, same --db
    landed = net.wait_landed(hashes, timeout=120)
    for task_hash in hashes:
        events = landed[task_hash]
        assert len(events) == 1, f"task 0x{task_hash.hex()} landed {len(events)} times"
        assert events[0].approved
        number, _block, approved = net.task_record(task_hash)
        assert number == events[0].task_number and approved
        status = net.status(task_hash)
        assert status["status"] == "landed" and status["taskNumber"] == number
    for task_hash in fast_hashes:
        assert landed[task_hash][0].tx_hash == at_kill[task_hash][1], (
            "a submission signed before the crash lands in that very transaction"
        )

    # The aggregator's account: one transaction per nonce, one submission per task, none reverted.
    last_block = int(w3.eth.block_number)
    nonce_after = int(w3.eth.get_transaction_count(net.aggregator_account, "latest"))
    sent = []
    for number in range(first_block, last_block + 1):
        for tx in w3.eth.get_block(number, full_transactions=True)["transactions"]:
            if tx["from"] == net.aggregator_account:
                sent.append(tx)
    assert sorted(int(tx["nonce"]) for tx in sent) == list(range(nonce_before, nonce_after)), (
        "every nonce the aggregator used is one mined transaction, without gaps"
    )
    assert nonce_after - nonce_before == len(hashes), "one transaction per task, nothing else"
    submitted = []
    for tx in sent:
        assert tx["to"] == net.avs.address
        receipt = w3.eth.get_transaction_receipt(tx["hash"])
        assert receipt["status"] == 1, f"submission {tx['hash'].hex()} reverted"
        events = net.avs.on_receipt(receipt, "TaskSubmitted") + net.avs.on_receipt(receipt, "TaskRejected")
        assert len(events) == 1
        submitted.append(bytes(events[0]["taskHash"]))
    assert sorted(submitted) == sorted(hashes), "exactly one submission transaction per accepted task"


def test_attester_killed_mid_validation_and_restarted_never_signs_the_other_side(net: Network):
    victim = net.ids[4]
    witness = net.ids[6]
    assert not net.flip_file.exists()
    try:
        # A vote the victim recorded: asked directly, it validates (approve, the file is absent) and signs.
        task_a, signature_a = net.task(SLOW, tag="recorded")
        status, vote_a = net.attest_directly(victim, task_a, signature_a)
        assert status == 200 and vote_a["isApproved"] is True, vote_a

        # A task sent to the aggregator: kill the victim while its slow validation runs.
        task_b, signature_b = net.task(SLOW, tag="interrupted")
        hash_b = net.send(task_b, signature_b)
        hex_b = "0x" + hash_b.hex()
        role = f"attester-{victim}"
        _wait_for(
            lambda: any(
                line.get("step") == "task.received" and line.get("task") == hex_b for line in net.log_lines(role)
            ),
            15,
            "the victim to receive the task",
        )
        time.sleep(SLOW_SECONDS / 4)
        assert hash_b not in net.votes_recorded(victim), "the validation should still be running"
        net.kill_attester(victim)
        assert hash_b not in net.votes_recorded(victim), "killed before it could vote"

        (landing_b,) = net.wait_landed([hash_b], timeout=60)[hash_b]
        assert landing_b.approved and victim in landing_b.non_signer_ids

        # From now on the Validation Service rejects every slow task; restart on the same --db.
        net.flip_file.touch()
        net.start_attesters([victim])

        # Asked again about the task it voted on, it answers its recorded vote, signature and all...
        status, again = net.attest_directly(victim, task_a, signature_a)
        assert status == 200, again
        assert again == vote_a, "the restarted attester must answer the vote it recorded"
        # ... while an attester deciding afresh now rejects it.
        status, fresh = net.attest_directly(witness, task_a, signature_a)
        assert status == 200 and fresh["isApproved"] is False, fresh

        # The interrupted task: no vote was recorded, and it landed meanwhile: no vote at all now.
        status, refusal = net.attest_directly(victim, task_b, signature_b)
        assert status == 409 and refusal["error"] == "already_landed", refusal
        assert hash_b not in net.votes_recorded(victim)

        # The recorded task through the aggregator: the others reject, the victim stays on approve.
        hash_a = net.send(task_a, signature_a)
        (landing_a,) = net.wait_landed([hash_a], timeout=60)[hash_a]
        assert not landing_a.approved
        assert victim in landing_a.non_signer_ids, "the victim never signs the reject side"
        votes = {v["operatorId"]: v["side"] for v in net.status(hash_a)["votes"]}
        assert votes[victim] == "approve" and votes[witness] == "reject"
        recorded = net.votes_recorded(victim)
        assert recorded[hash_a][0] is True and hash_b not in recorded
        assert recorded[hash_a][1] == tuple(int(w, 16) for w in vote_a["signature"])

        samples = metrics(net.attester_url(victim))
        assert metric(samples, "othentic_attester_votes_total", side="reject") == 0
        assert metric(samples, "othentic_attester_votes_replayed_total") >= 2
    finally:
        net.flip_file.unlink(missing_ok=True)
        if not net.attester_running(victim):
            net.start_attesters([victim])
