"""Tasks through the whole network: performer -> aggregator -> ten attester processes -> chain.

Every test sends signed tasks to the aggregator's JSON-RPC as a performer would and checks what
landed on-chain: the TaskSubmitted / TaskRejected events, the task records, the non-signers and
the rewards each operator can claim.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid

import pytest

from tests.e2e.e2e_http import metric, metrics
from tests.e2e.e2e_network import AGGREGATOR, GENERIC, NO_FILTER, PERFORMER, Network

pytestmark = pytest.mark.slow


def test_approved_task_lands_task_submitted_and_pays_every_attester_the_performer_and_the_aggregator(net: Network):
    before = net.claimable()
    count_before = net.task_count()
    task, signature = net.task(GENERIC, approve=True, tag="approve")
    task_hash = net.send(task, signature)

    (landing,) = net.wait_landed([task_hash])[task_hash]
    assert landing.approved, "a task whose data is sha256(proofOfTask) must be approved"
    assert landing.definition_id == GENERIC
    assert landing.performer == net.performer_account
    assert landing.aggregator == net.aggregator_account
    assert landing.non_signer_ids == [], "every attester is up: every one of them signs"
    assert landing.signed_power == landing.total_power == sum(net.stakes.values())
    number, block, approved = net.task_record(task_hash)
    assert (number, block, approved) == (landing.task_number, landing.block, True)
    assert net.task_count() == count_before + 1

    attester, performer, aggregator = net.rewards(GENERIC)
    assert attester and performer and aggregator
    after = net.claimable()
    for index, operator_id in enumerate(net.ids):
        expected = attester + (performer if index == PERFORMER else 0) + (aggregator if index == AGGREGATOR else 0)
        assert after[operator_id] - before[operator_id] == expected, f"operator {operator_id}"

    status = net.status(task_hash)
    assert status["status"] == "landed" and status["side"] == "approve"
    assert status["taskNumber"] == landing.task_number
    assert {v["operatorId"] for v in status["votes"] if v["side"] == "approve"} == set(net.ids)


def test_an_othentic_performer_signature_over_the_bare_task_hash_lands_and_is_recorded_as_not_bound(net: Network):
    task, _ = net.task(GENERIC, approve=True, tag="bare-signature")
    task_hash = net.send(task, task.sign_bare(net.performer_key))

    (landing,) = net.wait_landed([task_hash])[task_hash]
    assert landing.approved and landing.performer == net.performer_account
    terms = net.avs.center.functions.taskPenaltyTerms(task.abi()).call()
    assert terms[1] == landing.task_number and terms[5] is False  # taskNumber, performerBound


def test_rejected_task_lands_task_rejected_without_paying_the_performer(net: Network):
    before = net.claimable()
    task, signature = net.task(NO_FILTER, approve=False, tag="reject")
    assert task.data.startswith(b"no")
    task_hash = net.send(task, signature)

    (landing,) = net.wait_landed([task_hash])[task_hash]
    assert not landing.approved, "definition 1 rejects data starting with b'no'"
    assert landing.definition_id == NO_FILTER
    assert landing.non_signer_ids == []
    assert landing.signed_power == landing.total_power == sum(net.stakes.values())
    number, _block, approved = net.task_record(task_hash)
    assert number == landing.task_number and approved is False
    assert net.landings([task_hash])[task_hash] == [landing], "one event, a TaskRejected"

    attester, _performer, aggregator = net.rewards(NO_FILTER)
    after = net.claimable()
    for index, operator_id in enumerate(net.ids):
        # The signers of the winning (reject) side are paid; a rejected task pays its performer nothing.
        expected = attester + (aggregator if index == AGGREGATOR else 0)
        assert after[operator_id] - before[operator_id] == expected, f"operator {operator_id}"
    assert net.status(task_hash)["side"] == "reject"


def _max_overlap(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at one instant."""
    points = sorted(
        [(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals], key=lambda p: (p[0], p[1])
    )
    open_now = best = 0
    for _, step in points:
        open_now += step
        best = max(best, open_now)
    return best


def test_sixty_concurrent_tasks_of_two_definitions_each_land_exactly_once_on_their_own_side(net: Network):
    before = net.claimable()
    count_before = net.task_count()
    first_block = int(net.w3.eth.block_number) + 1
    plan = [(GENERIC, True)] * 20 + [(GENERIC, False)] * 10 + [(NO_FILTER, True)] * 15 + [(NO_FILTER, False)] * 15
    tasks = [net.task(definition, approve=approve, tag="parallel") for definition, approve in plan]
    expected_side = {task.task_hash(): approve for (task, _), (_, approve) in zip(tasks, plan)}
    # Interleave the definitions so both are in flight together, and send them all at once.
    order = [i for pair in zip(range(0, 30), range(30, 60)) for i in pair]
    hashes = net.send_concurrently([tasks[i] for i in order], workers=60)
    assert sorted(hashes) == sorted(expected_side)

    landed = net.wait_landed(hashes, timeout=240, from_block=first_block)
    numbers = set()
    for task_hash in hashes:
        events = landed[task_hash]
        assert len(events) == 1, f"task 0x{task_hash.hex()} has {len(events)} events"
        landing = events[0]
        assert landing.approved is expected_side[task_hash], f"task 0x{task_hash.hex()} on the wrong side"
        number, _block, approved = net.task_record(task_hash)
        assert (number, approved) == (landing.task_number, landing.approved)
        numbers.add(number)
    assert len(numbers) == 60 and net.task_count() == count_before + 60
    # No stray landing besides these sixty in the meantime.
    assert sum(len(v) for v in net.landings(None, first_block).values()) == 60

    # They were in flight together: the aggregator's own clock, from accepted to landed.
    statuses = [net.status(h) for h in hashes]
    assert all(s["status"] == "landed" for s in statuses)
    overlap = _max_overlap([(float(s["createdAt"]), float(s["finishedAt"])) for s in statuses])
    assert overlap >= 50, f"only {overlap} tasks were in flight at once"

    after = net.claimable()
    expected = net.expected_rewards([landed[h][0] for h in hashes])
    for operator_id in net.ids:
        assert after[operator_id] - before[operator_id] == expected[operator_id], f"operator {operator_id}"


def test_restricted_definition_is_attested_by_its_four_listed_operators_only(net: Network):
    members = [net.ids[2], net.ids[4], net.ids[6], net.ids[9]]
    outsiders = [i for i in net.ids if i not in members]
    result = net.cli(
        "task-definition",
        "create",
        *net.chain_args(),
        "--private-key",
        net.admin_key,
        "--name",
        f"e2e-restricted-{uuid.uuid4().hex[:8]}",
        "--restrict",
        ",".join(map(str, members)),
        "--attester-reward",
        "0.04",
        "--performer-reward",
        "0.03",
        "--aggregator-reward",
        "0.02",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    definition_id = int(re.search(r"Created task definition (\d+)", result.stdout).group(1))
    assert net.avs.definition_members(definition_id) == {i: net.stakes[i] for i in members}
    # Neither the aggregator's nor the performer's account is in the set: they need not be.
    assert net.ids[AGGREGATOR] not in members and net.ids[PERFORMER] not in members

    before = net.claimable()
    hashes = net.send_concurrently([net.task(definition_id, tag="restricted") for _ in range(3)])
    landed = net.wait_landed(hashes)
    set_power = sum(net.stakes[i] for i in members)
    for task_hash in hashes:
        (landing,) = landed[task_hash]
        assert landing.approved and landing.definition_id == definition_id
        assert landing.non_signer_ids == [], "all four listed operators sign"
        assert landing.signed_power == landing.total_power == set_power
        voters = {v["operatorId"] for v in net.status(task_hash)["votes"]}
        assert voters == set(members), "the aggregator collects votes from the set only"

    for operator_id in members:
        recorded = net.votes_recorded(operator_id)
        assert all(recorded[h][0] is True for h in hashes), f"member {operator_id}"
    hex_hashes = {"0x" + h.hex() for h in hashes}
    for operator_id in outsiders:
        assert not set(hashes) & set(net.votes_recorded(operator_id)), f"outsider {operator_id} voted"
        asked = [line for line in net.log_lines(f"attester-{operator_id}") if line.get("task") in hex_hashes]
        assert asked == [], f"outsider {operator_id} was asked: {asked[:2]}"
    # Asked anyway, an outsider refuses.
    task, signature = net.task(definition_id, tag="restricted-outsider")
    status, refusal = net.attest_directly(outsiders[0], task, signature)
    assert status == 409 and refusal["error"] == "not_an_attester", refusal

    attester, performer, aggregator = net.rewards(definition_id)
    after = net.claimable()
    for index, operator_id in enumerate(net.ids):
        expected = 3 * (
            (attester if operator_id in members else 0)
            + (performer if index == PERFORMER else 0)
            + (aggregator if index == AGGREGATOR else 0)
        )
        assert after[operator_id] - before[operator_id] == expected, f"operator {operator_id}"


def test_custom_message_reaches_the_service_through_every_attester(net: Network):
    payload = f"e2e custom message {uuid.uuid4()}".encode()
    relayed_before = {i: _relayed(net, i) for i in net.ids}
    answer = net.rpc("sendCustomMessage", ["0x" + payload.hex()])
    assert answer.get("result") == len(net.ids), answer

    lines = net.messages_file.read_text().splitlines() if net.messages_file.exists() else []
    assert lines.count(payload.hex()) == len(net.ids), "the service got the message once per attester"
    for operator_id in net.ids:
        assert _relayed(net, operator_id) == relayed_before[operator_id] + 1, f"attester {operator_id}"


def _relayed(net: Network, operator_id: int) -> int:
    return sum(
        1
        for line in net.log_lines(f"attester-{operator_id}")
        if line.get("step") == "message.relayed" and line.get("status") == 200
    )


def test_cli_task_send_wait_and_task_status_follow_a_task_and_metrics_count_it(net: Network):
    watcher = net.ids[9]
    aggregator_before = metrics(net.aggregator_url)
    attester_before = metrics(net.attester_url(watcher))

    proof = f"cli task {uuid.uuid4()}"
    sent = net.cli(
        "task",
        "send",
        "--aggregator",
        net.aggregator_url,
        "--private-key",
        net.performer_key,
        "--proof-of-task",
        proof,
        "--data-sha256-of-proof",
        "--definition",
        str(GENERIC),
        "--wait",
        "90",
    )
    assert sent.returncode == 0, sent.stdout + sent.stderr
    task_hex = re.search(r"Sent task (0x[0-9a-f]{64})", sent.stdout).group(1)
    assert "Task landed" in sent.stdout, sent.stdout
    task_hash = bytes.fromhex(task_hex[2:])
    number, _block, approved = net.task_record(task_hash)
    assert number and approved
    (landing,) = net.landings([task_hash])[task_hash]
    assert landing.proof_of_task == proof and landing.data == hashlib.sha256(proof.encode()).digest()
    assert landing.performer == net.performer_account

    shown = net.cli("task", "status", "--aggregator", net.aggregator_url, "--json", task_hex)
    assert shown.returncode == 0, shown.stdout + shown.stderr
    status = json.loads(shown.stdout)
    assert status["status"] == "landed" and status["side"] == "approve"
    assert status["taskNumber"] == number and status["proofOfTask"] == proof
    assert status["nonSigners"] == landing.non_signer_ids
    unknown = net.cli("task", "status", "--aggregator", net.aggregator_url, "0x" + "ab" * 32)
    assert unknown.returncode != 0 and "unknown to this aggregator" in unknown.stdout + unknown.stderr

    on_chain = net.cli("task", "show", *net.chain_args(), "--json", task_hex)
    assert on_chain.returncode == 0, on_chain.stdout + on_chain.stderr
    assert json.loads(on_chain.stdout) == [{"task number": number, "block": landing.block, "side": "approved"}]

    aggregator_after = metrics(net.aggregator_url)
    for outcome in ("accepted", "landed"):
        grew = metric(aggregator_after, "othentic_aggregator_tasks_total", outcome=outcome) - metric(
            aggregator_before, "othentic_aggregator_tasks_total", outcome=outcome
        )
        assert grew == 1, f"aggregator tasks_total{{outcome={outcome}}} grew by {grew}"
    grew = metric(aggregator_after, "othentic_aggregator_rpc_calls_total", method="sendTask", code="ok") - metric(
        aggregator_before, "othentic_aggregator_rpc_calls_total", method="sendTask", code="ok"
    )
    assert grew == 1
    assert metric(aggregator_after, "othentic_tasks_in_flight") == 0

    attester_after = metrics(net.attester_url(watcher))
    grew = metric(attester_after, "othentic_attester_votes_total", side="approve") - metric(
        attester_before, "othentic_attester_votes_total", side="approve"
    )
    assert grew == 1, f"attester {watcher} votes_total{{side=approve}} grew by {grew}"
    assert metric(attester_after, "othentic_attester_votes_recorded") == len(net.votes_recorded(watcher))
