"""The aggregator against faults a real chain produces: fee jumps, transactions that do not mine or
are dropped from the pool, nonce gaps, tasks that failed without landing.

Real anvil (its own, this module's ``net``), real attesters; the faults are anvil's own controls
(``anvil_setNextBlockBaseFeePerGas``, ``evm_setAutomine``, ``anvil_dropTransaction``).
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from eth_utils import keccak

from othentic_offchain.chain.failover import RpcUnavailable
from othentic_offchain.chain.fees import decode_transaction
from othentic_offchain.chain.types import build_submission
from othentic_offchain.jsonrpc import JsonRpcClient
from tests.offchain.nodes.aggregator.test_node import (
    AGGREGATOR,
    Net,
    aggregator,
    run,
    send,
    start_attesters,
    wait_finished,
)
from tests.offchain.nodes.node_harness import metric

GWEI = 10**9


def rpc(net: Net, method: str, *params) -> object:
    answer = net.w3.provider.make_request(method, list(params))
    assert "error" not in answer, answer
    return answer["result"]


def test_a_base_fee_jump_to_200_gwei_does_not_stop_new_tasks_from_landing(net: Net, tmp_path: Path):
    before, before_signature = net.new_task("fee-before")
    after, after_signature = net.new_task("fee-after")

    async def scenario():
        cluster = await start_attesters(net, tmp_path)
        node = aggregator(net, tmp_path, cluster.urls)
        await node.start()
        try:
            first = await send(node, before, before_signature)
            await wait_finished(node, [first])  # the node has priced a transaction already
            rpc(net, "anvil_setNextBlockBaseFeePerGas", hex(200 * GWEI))
            second = await send(node, after, after_signature)
            return (await wait_finished(node, [second]))[second]
        finally:
            await node.stop()
            await cluster.stop()

    status = run(scenario())
    assert status["status"] == "landed", status
    assert status["attempts"] == 1 and status["error"] is None  # priced right the first time
    tx = net.w3.eth.get_transaction(status["txHash"])
    assert tx["maxFeePerGas"] >= 200 * GWEI
    assert len(net.landings(after.task_hash())) == 1


async def wait_status(node, task_hash: str, condition, timeout: float = 30.0) -> dict:
    """taskStatus once ``condition(status)`` holds (fails the test after ``timeout``)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with JsonRpcClient(node.url) as client:
        while True:
            status = await client.call("taskStatus", [task_hash])
            if condition(status):
                return status
            if loop.time() > deadline:
                raise AssertionError(f"condition not met after {timeout} s: {status}")
            await asyncio.sleep(0.05)


def raise_base_fee(net: Net) -> int:
    """The next block's base fee jumps above any fee cap priced before (twice the base fee plus a
    tip): a transaction waiting in the pool now offers less than the chain asks (the reason to
    replace it). Returns the base fee before."""
    before = int(net.w3.eth.get_block("latest")["baseFeePerGas"])
    rpc(net, "anvil_setNextBlockBaseFeePerGas", hex(4 * before + 100 * GWEI))
    return before


class Automine:
    """Mining paused (transactions wait in the pool) until the block ends."""

    def __init__(self, net: Net):
        self.net = net

    def __enter__(self) -> Automine:
        rpc(self.net, "evm_setAutomine", False)
        return self

    def __exit__(self, *exc) -> None:
        rpc(self.net, "evm_setAutomine", True)
        rpc(self.net, "evm_mine")


def test_a_submission_that_does_not_mine_is_replaced_with_higher_fees_and_the_replacement_lands(
    net: Net, tmp_path: Path
):
    task, signature = net.new_task("replaced")

    async def scenario():
        cluster = await start_attesters(net, tmp_path)
        node = aggregator(net, tmp_path, cluster.urls, replace_after_seconds=0.5, replace_after_blocks=3)
        await node.start()
        try:
            with Automine(net):
                task_hash = await send(node, task, signature)
                first = await wait_status(node, task_hash, lambda s: s["status"] == "submitting" and s["txHash"])
                raise_base_fee(net)
                replaced = await wait_status(node, task_hash, lambda s: s["txHash"] != first["txHash"])
                kept = await node.db.transactions(task.task_hash(), net.nonce())
            status = (await wait_finished(node, [task_hash]))[task_hash]
            return first["txHash"], replaced["txHash"], kept, status
        finally:
            await node.stop()
            await cluster.stop()

    first, replacement, kept, status = run(scenario())
    assert status["status"] == "landed" and status["txHash"] == replacement and status["attempts"] == 1
    assert [h for h, _raw in kept][:2] == [bytes.fromhex(first[2:]), bytes.fromhex(replacement[2:])]
    landed_tx, first_tx = net.w3.eth.get_transaction(replacement), decode_transaction(kept[0][1])
    assert landed_tx["nonce"] == first_tx["nonce"]
    assert landed_tx["maxFeePerGas"] * 100 >= first_tx["maxFeePerGas"] * 113
    assert landed_tx["maxPriorityFeePerGas"] * 100 >= first_tx["maxPriorityFeePerGas"] * 113
    assert len(net.landings(task.task_hash())) == 1


def test_a_dropped_submission_is_sent_again_and_no_longer_wedges_the_later_tasks(net: Net, tmp_path: Path):
    tasks = [net.new_task(f"dropped-{i}") for i in range(3)]
    nonce_before = net.nonce()

    async def scenario():
        cluster = await start_attesters(net, tmp_path)
        node = aggregator(net, tmp_path, cluster.urls, replace_after_seconds=0.5)
        await node.start()
        try:
            with Automine(net):
                first = await send(node, *tasks[0])
                status = await wait_status(node, first, lambda s: s["status"] == "submitting" and s["txHash"])
                rpc(net, "anvil_dropTransaction", status["txHash"])
                assert rpc(net, "txpool_content")["pending"] == {}
            # automine again: the later tasks' transactions queue behind the dropped nonce
            later = [await send(node, *t) for t in tasks[1:]]
            return await wait_finished(node, [first, *later])
        finally:
            await node.stop()
            await cluster.stop()

    statuses = run(scenario())
    assert {s["status"] for s in statuses.values()} == {"landed"}, statuses
    for task, _signature in tasks:
        assert len(net.landings(task.task_hash())) == 1
    assert net.nonce() - nonce_before == 3  # nothing reverted, nothing sent twice


def test_health_is_degraded_and_names_the_nonce_gap_a_dropped_submission_leaves(net: Net, tmp_path: Path):
    task, signature = net.new_task("health-gap")

    async def scenario():
        cluster = await start_attesters(net, tmp_path)
        # no replacement within the test: the gap stays until the node is stopped
        node = aggregator(net, tmp_path, cluster.urls, replace_after_seconds=600, replace_after_blocks=10_000)
        await node.start()
        try:
            with Automine(net):
                task_hash = await send(node, task, signature)
                status = await wait_status(node, task_hash, lambda s: s["status"] == "submitting" and s["txHash"])
                before = await node.api.health()
                rpc(net, "anvil_dropTransaction", status["txHash"])
                after = await node.api.health()
            return before, after
        finally:
            await node.stop()
            await cluster.stop()

    before, after = run(scenario())
    assert before["status"] == "ok" and not before["nonces"]["gap"], before
    assert before["nonces"]["pending"] == before["nonces"]["next"] == before["nonces"]["mined"] + 1
    assert after["status"] == "degraded" and after["nonces"]["gap"], after
    assert (
        "nonce gap" in after["error"]
        and after["openTasks"] == 1
        and after["nonces"]["missing"] == [after["nonces"]["mined"]]
    )
    assert [e["endpoint"] for e in after["rpcEndpoints"]]  # every endpoint, by scheme and host


def test_a_failed_task_sent_again_is_accepted_again_and_lands(net: Net, tmp_path: Path):
    task, signature = net.new_task("failed-then-resent")
    down = {i: "down" for i in (6, 7, 8, 9, 10)}

    async def scenario():
        cluster = await start_attesters(net, tmp_path, down)
        node = aggregator(net, tmp_path, cluster.urls, task_timeout=1.5)
        await node.start()
        try:
            task_hash = await send(node, task, signature)
            failed = (await wait_finished(node, [task_hash]))[task_hash]
        finally:
            await node.stop()
            await cluster.stop()
        cluster = await start_attesters(net, tmp_path)
        node = aggregator(net, tmp_path, cluster.urls)
        await node.start()
        try:
            again = await send(node, task, signature)
            landed = (await wait_finished(node, [again]))[again]
            once_more = await send(node, task, signature)  # landed: left as it is
            counts = await node.db.counts()
        finally:
            await node.stop()
            await cluster.stop()
        return task_hash, failed, again, landed, once_more, counts

    task_hash, failed, again, landed, once_more, counts = run(scenario())
    assert failed["status"] == "failed" and failed["error"].startswith("no_quorum")
    assert again == once_more == task_hash
    assert landed["status"] == "landed" and landed["error"] is None
    assert len(net.landings(task.task_hash())) == 1
    assert counts["landed"] >= 1 and counts["failed"] == 0


def test_a_failed_task_that_landed_after_all_is_marked_landed_when_sent_again(net: Net, tmp_path: Path):
    task, signature = net.new_task("failed-but-landed")
    down = {i: "down" for i in net.ids}

    async def scenario():
        cluster = await start_attesters(net, tmp_path, down)
        node = aggregator(net, tmp_path, cluster.urls, task_timeout=0.5)
        await node.start()
        try:
            task_hash = await send(node, task, signature)
            failed = (await wait_finished(node, [task_hash]))[task_hash]
            submission = build_submission(
                task,
                is_approved=True,
                tp_signature=signature,
                attestation_center=net.avs.address,
                chain_id=net.record.chain_id,
                members=net.ids,
                signers=dict(zip(net.ids, net.bls)),
            )
            receipt = await asyncio.to_thread(
                net.avs.submit_task, net.avs.sender(net.keys[AGGREGATOR]), task, submission
            )
            (event,) = net.avs.on_receipt(receipt, "TaskSubmitted")
            nonce = net.nonce()
            again = await send(node, task, signature)
            status = await wait_status(node, again, lambda s: s["status"] != "failed")
            return failed, event, status, nonce
        finally:
            await node.stop()
            await cluster.stop()

    failed, event, status, nonce = run(scenario())
    assert failed["status"] == "failed"
    assert status["status"] == "landed" and status["taskNumber"] == event["taskNumber"]
    assert net.nonce() == nonce and len(net.landings(task.task_hash())) == 1


def test_a_fee_above_the_ceiling_sends_nothing_and_says_so(net: Net, tmp_path: Path):
    task, signature = net.new_task("ceiling")
    nonce = net.nonce()

    async def scenario():
        cluster = await start_attesters(net, tmp_path)
        node = aggregator(net, tmp_path, cluster.urls, max_fee_per_gas=1, submit_retries=1)
        await node.start()
        try:
            task_hash = await send(node, task, signature)
            return (await wait_finished(node, [task_hash]))[task_hash]
        finally:
            await node.stop()
            await cluster.stop()

    status = run(scenario())
    assert status["status"] == "failed" and status["txHash"] is None and status["attempts"] == 0
    assert status["error"].startswith("fee_ceiling: the chain's base fee is")
    assert "above the ceiling max_fee_per_gas of 1 wei" in status["error"]
    assert net.nonce() == nonce and net.landings(task.task_hash()) == []


def test_whichever_of_a_tasks_transactions_mines_settles_it(net: Net, tmp_path: Path):
    task, signature = net.new_task("replaced-but-the-first-mines")

    async def scenario():
        cluster = await start_attesters(net, tmp_path)
        node = aggregator(net, tmp_path, cluster.urls, replace_after_seconds=0.5)
        await node.start()
        try:
            with Automine(net):
                task_hash = await send(node, task, signature)
                first = await wait_status(node, task_hash, lambda s: s["status"] == "submitting" and s["txHash"])
                base_fee = raise_base_fee(net)
                replaced = await wait_status(node, task_hash, lambda s: s["txHash"] != first["txHash"])
                node.config.replace_after_seconds = 3600.0  # no more replacements from here
                node.config.replace_after_blocks = 10**6
                kept = dict(await node.db.transactions(task.task_hash(), net.nonce()))
                rpc(net, "anvil_dropTransaction", replaced["txHash"])
                rpc(net, "anvil_setNextBlockBaseFeePerGas", hex(base_fee))  # the first one fits again
                rpc(net, "eth_sendRawTransaction", "0x" + kept[bytes.fromhex(first["txHash"][2:])].hex())
            status = (await wait_finished(node, [task_hash]))[task_hash]
            return first["txHash"], replaced["txHash"], status
        finally:
            await node.stop()
            await cluster.stop()

    first, replaced, status = run(scenario())
    assert status["status"] == "landed" and status["txHash"] == first != replaced
    assert net.w3.eth.get_transaction_receipt(first)["status"] == 1
    assert len(net.landings(task.task_hash())) == 1


def test_a_restart_sends_the_latest_replacement_again_and_it_lands_once(net: Net, tmp_path: Path):
    task, signature = net.new_task("replaced-then-restarted")
    nonce_before = net.nonce()

    async def scenario():
        cluster = await start_attesters(net, tmp_path)
        try:
            node = aggregator(net, tmp_path, cluster.urls, replace_after_seconds=0.5)
            await node.start()
            with Automine(net):
                task_hash = await send(node, task, signature)
                first = await wait_status(node, task_hash, lambda s: s["status"] == "submitting" and s["txHash"])
                raise_base_fee(net)
                replaced = await wait_status(node, task_hash, lambda s: s["txHash"] != first["txHash"])
                await node.stop()  # the task stays submitting in the store
                rpc(net, "anvil_dropAllTransactions")  # and the chain forgot every transaction of it
            node = aggregator(net, tmp_path, cluster.urls)
            await node.start()
            try:
                status = (await wait_finished(node, [task_hash]))[task_hash]
            finally:
                await node.stop()
        finally:
            await cluster.stop()
        return replaced["txHash"], status

    replacement, status = run(scenario())
    assert status["status"] == "landed" and status["txHash"] == replacement
    assert len(net.landings(task.task_hash())) == 1 and net.nonce() - nonce_before == 1


def test_a_waiting_transaction_priced_right_is_not_replaced_while_no_blocks_come_and_is_reported_stuck(
    net: Net, tmp_path: Path
):
    task, signature = net.new_task("waiting-no-blocks")

    async def scenario():
        cluster = await start_attesters(net, tmp_path)
        node = aggregator(net, tmp_path, cluster.urls, replace_after_seconds=0.1, stuck_after_rounds=3)
        await node.start()
        try:
            with Automine(net):
                task_hash = await send(node, task, signature)
                first = await wait_status(node, task_hash, lambda s: s["status"] == "submitting" and s["txHash"])
                stuck = await wait_status(node, task_hash, lambda s: (s["error"] or "").startswith("stuck"))
                kept = await node.db.transactions(task.task_hash(), net.nonce())
                health_stuck = await node.api.health()
            status = (await wait_finished(node, [task_hash]))[task_hash]
            stuck_count = await asyncio.to_thread(metric, node, "othentic_aggregator_submissions_total", result="stuck")
            return first, stuck, kept, status, stuck_count, health_stuck, await node.api.health()
        finally:
            await node.stop()
            await cluster.stop()

    first, stuck, kept, status, stuck_count, health_stuck, health_after = run(scenario())
    assert stuck["status"] == "submitting" and stuck["txHash"] == first["txHash"]  # no fee raised
    assert len(kept) == 1 and "may still land" in stuck["error"] and stuck_count == 1
    assert status["status"] == "landed" and status["txHash"] == first["txHash"]
    # health says so while it lasts, and is ok again once the task landed
    assert health_stuck["status"] == "degraded" and "stuck" in health_stuck["error"], health_stuck
    assert (health_stuck["stuckTasks"], health_stuck["openTasks"]) == (1, 1)
    assert health_stuck["oldestOpenTaskSeconds"] > 0
    assert health_after["status"] == "ok" and (health_after["stuckTasks"], health_after["openTasks"]) == (0, 0)


def test_a_failed_fee_read_is_tried_again_not_a_failed_task(net: Net, tmp_path: Path):
    task, signature = net.new_task("fee-read-fails")

    async def scenario():
        cluster = await start_attesters(net, tmp_path)
        node = aggregator(net, tmp_path, cluster.urls)
        await node.start()
        try:
            sender = node.sender
            assert sender is not None
            real, failed = sender.quote, []

            async def unavailable_once(*, fresh: bool = False):
                if not failed:
                    failed.append(True)
                    raise RpcUnavailable("no endpoint answered eth_feeHistory in time")
                return await real(fresh=fresh)

            sender.quote = unavailable_once  # type: ignore[method-assign]
            task_hash = await send(node, task, signature)
            return failed, (await wait_finished(node, [task_hash]))[task_hash]
        finally:
            await node.stop()
            await cluster.stop()

    failed, status = run(scenario())
    assert failed == [True]
    assert status["status"] == "landed", status  # not failed (internal_error) on a transient read
    assert len(net.landings(task.task_hash())) == 1


def test_a_broadcast_delivered_but_unanswered_settles_on_the_stored_transaction(net: Net, tmp_path: Path):
    task, signature = net.new_task("broadcast-unanswered")
    nonce_before = net.nonce()

    async def scenario():
        cluster = await start_attesters(net, tmp_path)
        node = aggregator(net, tmp_path, cluster.urls)
        await node.start()
        try:
            sender = node.sender
            assert sender is not None
            eth = sender.w3.eth
            real, delivered = eth.send_raw_transaction, []

            async def delivered_then_timeout(raw):
                eth.send_raw_transaction = real
                await real(raw)
                delivered.append(keccak(bytes(raw)))
                raise RpcUnavailable("eth_sendRawTransaction: no answer before the deadline")

            eth.send_raw_transaction = delivered_then_timeout
            submissions = "othentic_aggregator_submissions_total"
            with Automine(net):  # not mined yet: the task cannot be found landed
                task_hash = await send(node, task, signature)
                while not (unsure := await asyncio.to_thread(metric, node, submissions, result="broadcast_unsure")):
                    if await asyncio.to_thread(metric, node, submissions, result="broadcast_failed"):
                        break
                    await asyncio.sleep(0.05)
            status = (await wait_finished(node, [task_hash]))[task_hash]
            failed = await asyncio.to_thread(metric, node, submissions, result="broadcast_failed")
            return delivered, unsure, failed, status
        finally:
            await node.stop()
            await cluster.stop()

    delivered, unsure, failed, status = run(scenario())
    assert (unsure, failed) == (1, 0)  # settled on the stored transaction, not sent back to collecting
    assert status["status"] == "landed" and status["attempts"] == 1 and status["error"] is None, status
    assert status["txHash"] == "0x" + delivered[0].hex()
    assert len(net.landings(task.task_hash())) == 1 and net.nonce() - nonce_before == 1


def test_a_refused_replacement_leaves_the_task_on_its_sent_transaction_and_the_next_bump_starts_above_it(
    net: Net, tmp_path: Path
):
    task, signature = net.new_task("replacement-refused")

    async def scenario():
        cluster = await start_attesters(net, tmp_path)
        node = aggregator(net, tmp_path, cluster.urls, replace_after_seconds=0.2)
        await node.start()
        try:
            sender = node.sender
            assert sender is not None
            eth = sender.w3.eth
            real, sent, refused = eth.send_raw_transaction, [], []

            async def refuse_replacements(raw):
                if sent and bytes(raw) != sent[0]:
                    refused.append(bytes(raw))
                    if len(refused) == 2:  # no more rounds until the test says so
                        node.config.replace_after_seconds = 3600.0
                    raise ValueError("txpool is full")
                sent.append(bytes(raw))
                return await real(raw)

            eth.send_raw_transaction = refuse_replacements
            with Automine(net):
                task_hash = await send(node, task, signature)
                first = await wait_status(node, task_hash, lambda s: s["status"] == "submitting" and s["txHash"])
                raise_base_fee(net)
                await wait_status(node, task_hash, lambda s: len(refused) == 2)
                # a restart sends the row's transaction again: the one the node took
                back = await wait_status(node, task_hash, lambda s: s["txHash"] == first["txHash"])
                eth.send_raw_transaction = real
                node.config.replace_after_seconds = 0.2
            status = (await wait_finished(node, [task_hash]))[task_hash]
            return refused, back, status
        finally:
            await node.stop()
            await cluster.stop()

    refused, back, status = run(scenario())
    assert back["status"] == "submitting"
    one, two = decode_transaction(refused[0]), decode_transaction(refused[1])
    assert two["maxFeePerGas"] * 100 >= one["maxFeePerGas"] * 113  # compounding, not the same try again
    assert status["status"] == "landed" and status["txHash"] not in ["0x" + keccak(r).hex() for r in refused]
    landed = net.w3.eth.get_transaction(status["txHash"])
    assert landed["maxFeePerGas"] * 100 >= two["maxFeePerGas"] * 113
    assert len(net.landings(task.task_hash())) == 1


# --- finality and reorganisations -------------------------------------------------------------------


def test_a_reorganisation_that_removes_landed_tasks_sends_the_same_transactions_again_and_each_lands_once(
    net: Net, tmp_path: Path
):
    tasks = [net.new_task(f"reorg-{i}") for i in range(2)]

    async def scenario():
        cluster = await start_attesters(net, tmp_path)
        # finality checked by hand (no background round in between), three blocks deep
        node = aggregator(net, tmp_path, cluster.urls, finality=3, finality_interval=3600)
        await node.start()
        try:
            hashes = [await send(node, *t) for t in tasks]
            landed = await wait_finished(node, hashes)
            early = await node.finality.check()  # not deep enough yet
            nonce = net.nonce()
            depth = net.w3.eth.block_number - min(s["landedBlock"] for s in landed.values()) + 1
            rpc(net, "anvil_reorg", depth, [])  # the same height, other (empty) blocks: both landings gone
            gone = [net.landings(t.task_hash()) for t, _s in tasks]
            reorganised = await node.finality.check()
            again = await wait_finished(node, hashes)
            for _ in range(3):
                rpc(net, "evm_mine")
            final = await node.finality.check()
            statuses = {h: await node.api.task_status(bytes.fromhex(h[2:])) for h in hashes}
            registry = node.metrics.registry
            metrics = {
                outcome: registry.get_sample_value("othentic_aggregator_tasks_total", {"outcome": outcome})
                for outcome in ("reorganised", "final")
            }
            return landed, early, nonce, gone, reorganised, again, final, statuses, metrics
        finally:
            await node.stop()
            await cluster.stop()

    landed, early, nonce, gone, reorganised, again, final, statuses, metrics = run(scenario())
    assert all(s["status"] == "landed" and s["final"] is False for s in landed.values()), landed
    assert early == (0, 0)
    assert gone == [[], []]
    assert reorganised == (0, 2)
    for task_hash, status in again.items():
        assert status["status"] == "landed", status
        assert status["txHash"] == landed[task_hash]["txHash"]  # the very transaction, sent again
    assert final == (2, 0)
    assert all(s["final"] is True for s in statuses.values()), statuses
    for task, _signature in tasks:
        assert len(net.landings(task.task_hash())) == 1
    assert net.nonce() == nonce  # the two nonces were mined again by the same transactions: nothing new
    assert metrics == {"reorganised": 2, "final": 2}


def test_with_finality_zero_a_task_is_final_when_it_lands(net: Net, tmp_path: Path):
    task, signature = net.new_task("final-at-once")

    async def scenario():
        cluster = await start_attesters(net, tmp_path)
        node = aggregator(net, tmp_path, cluster.urls)
        await node.start()
        try:
            task_hash = await send(node, task, signature)
            status = (await wait_finished(node, [task_hash]))[task_hash]
            return status, await node.api.health(), node.finality.at_once
        finally:
            await node.stop()
            await cluster.stop()

    status, health, at_once = run(scenario())
    assert at_once and status["status"] == "landed" and status["final"] is True
    assert health["unfinalTasks"] == 0 and health["finality"] == 0


def test_a_landed_task_becomes_final_only_once_its_block_is_deep_enough(net: Net, tmp_path: Path):
    task, signature = net.new_task("final-later")

    async def scenario():
        cluster = await start_attesters(net, tmp_path)
        node = aggregator(net, tmp_path, cluster.urls, finality=2, finality_interval=3600)
        await node.start()
        try:
            task_hash = await send(node, task, signature)
            await wait_finished(node, [task_hash])
            rounds = [await node.finality.check()]
            unfinal = (await node.api.health())["unfinalTasks"]
            rpc(net, "evm_mine")
            rounds.append(await node.finality.check())  # one block on top: not yet
            rpc(net, "evm_mine")
            rounds.append(await node.finality.check())  # two: final
            rounds.append(await node.finality.check())  # nothing left to look at
            return rounds, unfinal, await node.api.task_status(bytes.fromhex(task_hash[2:]))
        finally:
            await node.stop()
            await cluster.stop()

    rounds, unfinal, status = run(scenario())
    assert rounds == [(0, 0), (0, 0), (1, 0), (0, 0)]
    assert unfinal == 1 and status["final"] is True and status["status"] == "landed"


def test_finality_must_be_a_number_of_blocks_or_finalized():
    from othentic_offchain.nodes.aggregator.finality import parse_finality

    assert parse_finality("0") == 0 and parse_finality(" 12 ") == 12 and parse_finality("Finalized") == "finalized"
    for bad in ("-1", "safe", "1.5", "", -3, True):
        with pytest.raises(ValueError, match="finality must be a number of blocks"):
            parse_finality(bad)


def test_a_task_landed_by_someone_else_and_reorganised_away_is_collected_again_and_landed_by_us(
    net: Net, tmp_path: Path
):
    task, signature = net.new_task("reorg-copier")

    async def scenario():
        cluster = await start_attesters(net, tmp_path, delay={i: 1.0 for i in net.ids})
        node = aggregator(net, tmp_path, cluster.urls, finality=3, finality_interval=3600)
        await node.start()
        try:
            task_hash = await send(node, task, signature)
            submission = build_submission(
                task,
                is_approved=True,
                tp_signature=signature,
                attestation_center=net.avs.address,
                chain_id=net.record.chain_id,
                members=net.ids,
                signers=dict(zip(net.ids, net.bls)),
            )
            copier = net.avs.sender(net.keys[2])  # another operator lands it while the votes come in
            receipt = await asyncio.to_thread(net.avs.submit_task, copier, task, submission)
            first = (await wait_finished(node, [task_hash]))[task_hash]
            rpc(net, "anvil_reorg", net.w3.eth.block_number - int(receipt["blockNumber"]) + 1, [])
            reorganised = await node.finality.check()
            reopened = await node.api.task_status(bytes.fromhex(task_hash[2:]))
            again = (await wait_finished(node, [task_hash]))[task_hash]
            return first, reorganised, reopened, again
        finally:
            await node.stop()
            await cluster.stop()

    first, reorganised, reopened, again = run(scenario())
    assert first["status"] == "landed" and first["final"] is False
    assert reorganised == (0, 1)
    assert reopened["status"] in ("accepted", "collecting", "submitting", "landed")
    assert again["status"] == "landed" and again["txHash"] is not None
    tx = net.w3.eth.get_transaction(again["txHash"])
    assert tx["from"] == net.aggregator  # landed by the aggregator this time
    assert len(net.landings(task.task_hash())) == 1


def test_with_finality_finalized_a_task_is_final_once_the_chains_finalized_block_reaches_it(net: Net, tmp_path: Path):
    task, signature = net.new_task("final-finalized")

    async def scenario():
        cluster = await start_attesters(net, tmp_path)
        node = aggregator(net, tmp_path, cluster.urls, finality="finalized", finality_interval=3600)
        await node.start()
        try:
            task_hash = await send(node, task, signature)
            landed = (await wait_finished(node, [task_hash]))[task_hash]
            before = await node.finality.check()
            # anvil's finalized block trails the head by 64 blocks (and is 0 before that)
            blocks = landed["landedBlock"] + 64 - net.w3.eth.block_number
            rpc(net, "anvil_mine", hex(blocks - 1))
            assert int(net.w3.eth.get_block("finalized")["number"]) == landed["landedBlock"] - 1
            short = await node.finality.check()  # one block short
            rpc(net, "evm_mine")
            after = await node.finality.check()
            return landed, before, short, after
        finally:
            await node.stop()
            await cluster.stop()

    landed, before, short, after = run(scenario())
    assert landed["final"] is False
    assert (before, short, after) == ((0, 0), (0, 0), (1, 0))
