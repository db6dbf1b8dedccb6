"""Several aggregators following the on-chain schedule (docs/decisions/0016-several-aggregators.md).

Real anvil (this module's ``net``), real attesters, three :class:`AggregatorNode` instances served
in-process, each with its own operator account, opted in as aggregators with its URL; the AVS
owner set turns of 2 s with 1 s of grace. Operator 2 is the performer; operator 5 is an operator
that is not listed (the last resort).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from eth_account import Account

from othentic_offchain.chain.rpc import RpcConnection
from othentic_offchain.chain.schedule import AggregatorSchedule, read_schedule
from othentic_offchain.chain.types import TaskInfo
from othentic_offchain.chain.view import ChainView
from othentic_offchain.devnet.anvil import DEV_PRIVATE_KEYS
from othentic_offchain.jsonrpc import JsonRpcClient, JsonRpcError
from othentic_offchain.nodes.aggregator import UNKNOWN_TASK, AggregatorNode
from tests.offchain.nodes.aggregator.test_chain_faults import Automine, wait_status
from tests.offchain.nodes.aggregator.test_node import Cluster, Net, aggregator, run, send, start_attesters
from tests.offchain.nodes.node_harness import metric

TURN, GRACE = 2, 1
LISTED = (0, 2, 3)  # indexes into net.keys: operators 1, 3 and 4
OUTSIDER = 4  # operator 5: an active operator, not listed
SUBMISSIONS = "othentic_aggregator_submissions_total"


def account(net: Net, index: int) -> str:
    return Account.from_key(net.keys[index]).address


def transact(net: Net, index: int, call: Any) -> None:
    net.avs.sender(net.keys[index]).send(call)


def schedule(net: Net) -> AggregatorSchedule:
    return read_schedule(net.avs.center)


def list_aggregators(net: Net, urls: dict[int, str]) -> None:
    """Turns of TURN s (GRACE s of grace); the accounts of ``urls`` listed with those endpoints,
    every other account of LISTED off the list."""
    center = net.avs.center.functions
    net.avs.sender(DEV_PRIVATE_KEYS[0]).send(center.setAggregatorConfig(8, TURN, GRACE))
    listed = {a.account for a in schedule(net).aggregators}
    for index in LISTED:
        if account(net, index) in listed and index not in urls:
            transact(net, index, center.optOutAsAggregator())
    for index, url in urls.items():
        if account(net, index) in listed:
            transact(net, index, center.setAggregatorEndpoint(url))
        else:
            transact(net, index, center.optInAsAggregator(url))


def start_node(net: Net, tmp_path: Path, cluster: Cluster, index: int) -> AggregatorNode:
    return aggregator(
        net,
        tmp_path,
        cluster.urls,
        ecdsa_key=net.keys[index],
        db_path=tmp_path / f"aggregator-{index}.sqlite3",
        name=f"aggregator-{index}",
        landing_poll_interval=0.25,
    )


async def counted(node: AggregatorNode, name: str, **labels: str) -> float:
    """One sample of ``node``'s /metrics (read off the event loop the node runs in)."""
    return await asyncio.to_thread(metric, node, name, **labels)


async def knows(node: AggregatorNode, task_hash: str) -> bool:
    async with JsonRpcClient(node.url) as client:
        try:
            await client.call("taskStatus", [task_hash])
            return True
        except JsonRpcError as exc:
            if exc.code == UNKNOWN_TASK:
                return False
            raise


async def until(condition, timeout: float = 30.0, what: str = "condition") -> None:
    """Wait for ``condition()`` (a coroutine function) to hold."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await condition():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"{what} not met after {timeout} s")
        await asyncio.sleep(0.05)


async def status(node: AggregatorNode, task_hash: str) -> dict:
    async with JsonRpcClient(node.url) as client:
        return await client.call("taskStatus", [task_hash])


async def landed_on_chain(net: Net, task: TaskInfo, timeout: float = 30.0) -> None:
    async def landed() -> bool:
        return bool(net.landings(task.task_hash()))

    await until(landed, timeout, f"task {task.proof_of_task} landed")


async def wait_turn_start(net: Net) -> int:
    """Until a turn has just begun (chain time within its first tenth); the turn's start."""

    async def fresh() -> bool:
        now = time.time()
        return now % TURN < TURN / 10

    await until(fresh, 2 * TURN, "a fresh turn")
    now = int(time.time())
    return now - now % TURN


def landing(net: Net, task: TaskInfo) -> dict:
    """Who landed ``task`` (exactly once), when, and whether the center forfeited its reward."""
    landings = net.landings(task.task_hash())
    assert len(landings) == 1, landings
    event = net.event(task.task_hash())
    center = net.avs.center
    submitted = center.events.TaskSubmitted().get_logs(
        from_block=0, argument_filters={"taskHash": task.task_hash()}
    ) or center.events.TaskRejected().get_logs(from_block=0, argument_filters={"taskHash": task.task_hash()})
    block = net.w3.eth.get_block(submitted[0]["blockNumber"])
    forfeits = center.events.AggregatorRewardForfeited().get_logs(
        from_block=0, argument_filters={"taskHash": task.task_hash()}
    )
    on_turn, in_grace = center.functions.aggregatorTurn(task.task_hash(), block["timestamp"]).call()
    sender_id = net.avs.operator_id(event["aggregator"])
    return {
        "sender": event["aggregator"],
        "timestamp": int(block["timestamp"]),
        "forfeited": len(forfeits),
        "paid_turn": sender_id in (on_turn, in_grace),
    }


async def stop_all(nodes: list[AggregatorNode], cluster: Cluster) -> None:
    for node in nodes:
        await node.stop()
    await cluster.stop()


def test_a_task_sent_to_a_backup_reaches_every_aggregator_and_the_one_on_turn_lands_it_once_with_the_reward(
    net: Net, tmp_path: Path
):
    task, signature = net.new_task("forwarded")

    async def scenario():
        cluster = await start_attesters(net, tmp_path)
        nodes = {index: start_node(net, tmp_path, cluster, index) for index in LISTED}
        try:
            urls = {index: await node.start() for index, node in nodes.items()}
            list_aggregators(net, urls)
            await wait_turn_start(net)
            # the aggregator whose turn comes last for the task: it does not land it
            last = schedule(net).turns(task.task_hash(), int(time.time()))[-1].aggregator.account
            receiver = next(node for node in nodes.values() if node.address == last)
            task_hash = await send(receiver, task, signature)
            # answered only once forwarded: were the receiver to die now, the others hold the task
            held_when_answered = [await knows(node, task_hash) for node in nodes.values()]
            await landed_on_chain(net, task)
            for node in nodes.values():
                await until(lambda node=node: _landed(node, task_hash), what=f"{node.config.name} sees the task landed")
            forwards = await counted(receiver, "othentic_aggregator_forwards_total", result="sent")
            # a forwarded task is not forwarded again
            others = [n for n in nodes.values() if n is not receiver]
            assert [await counted(n, "othentic_aggregator_forwards_total", result="sent") for n in others] == [0, 0]
            sent = sum([await counted(n, SUBMISSIONS, result="sent") for n in nodes.values()])
            async with JsonRpcClient(receiver.url) as client:
                info = await client.call("health", [])
            return receiver.address, forwards, sent, info, held_when_answered
        finally:
            await stop_all(list(nodes.values()), cluster)

    receiver, forwards, sent, info, held_when_answered = run(scenario())
    assert held_when_answered == [True, True, True]
    landed = landing(net, task)
    assert landed["sender"] != receiver  # the receiver's turn came last: someone else on turn landed it
    assert landed["forfeited"] == 0 and landed["paid_turn"], landed
    assert forwards == 2  # to both other listed aggregators
    assert sent == 1  # one transaction: the others found it landed
    aggregators = info["aggregators"]
    assert (aggregators["turnSeconds"], aggregators["graceSeconds"]) == (TURN, GRACE)
    assert len(aggregators["list"]) == 3
    assert aggregators["list"][aggregators["position"]]["account"] == receiver


async def _landed(node: AggregatorNode, task_hash: str) -> bool:
    return (await status(node, task_hash))["status"] == "landed"


#: Attesters answer after this many seconds: the tests stop aggregators while votes are on their way.
SLOW_VOTES = 2.0


def test_an_aggregator_opting_out_while_its_task_is_in_flight_does_not_stop_the_task_landing_once(
    net: Net, tmp_path: Path
):
    task, signature = net.new_task("opted-out")

    async def scenario():
        cluster = await start_attesters(net, tmp_path, delay={i: SLOW_VOTES for i in net.ids})
        nodes = {index: start_node(net, tmp_path, cluster, index) for index in LISTED}
        try:
            urls = {index: await node.start() for index, node in nodes.items()}
            list_aggregators(net, urls)
            await wait_turn_start(net)
            primary = schedule(net).on_turn(task.task_hash(), int(time.time()))
            assert primary is not None
            leaving = next(node for node in nodes.values() if node.address == primary.account)
            task_hash = await send(leaving, task, signature)
            for node in nodes.values():
                await until(lambda node=node: knows(node, task_hash), what="the task forwarded")
            transact(net, LISTED[list(nodes.values()).index(leaving)], net.avs.center.functions.optOutAsAggregator())
            for node in nodes.values():
                await until(lambda node=node: _landed(node, task_hash), what=f"{node.config.name} sees it landed")
            return leaving.address
        finally:
            await stop_all(list(nodes.values()), cluster)

    leaving = run(scenario())
    landed = landing(net, task)  # exactly once
    assert landed["sender"] != leaving  # off the list, it waited as the last resort; a listed one landed it
    assert landed["forfeited"] == 0 and landed["paid_turn"], landed


def test_the_primary_stopped_mid_flight_a_backup_lands_within_a_turn_then_with_a_second_stopped_the_third_lands(
    net: Net, tmp_path: Path
):
    first, first_signature = net.new_task("primary-down")
    second, second_signature = net.new_task("backup-down")

    async def scenario():
        cluster = await start_attesters(net, tmp_path, delay={i: SLOW_VOTES for i in net.ids})
        nodes = {index: start_node(net, tmp_path, cluster, index) for index in LISTED}
        try:
            urls = {index: await node.start() for index, node in nodes.items()}
            list_aggregators(net, urls)
            by_account = {node.address: node for node in nodes.values()}
            primary_turn = await wait_turn_start(net)
            turns = schedule(net).turns(first.task_hash(), primary_turn)
            primary, backup, third = (by_account[turn.aggregator.account] for turn in turns)
            first_hash = await send(primary, first, first_signature)
            for node in (backup, third):
                await until(lambda node=node: knows(node, first_hash), what="the task forwarded")
            first_stopped = time.time()
            await primary.stop()  # before the votes are in: the task is open at all three
            await landed_on_chain(net, first)
            await until(lambda: _landed(third, first_hash), what="the third sees the first task landed")
            skipped = await counted(third, SUBMISSIONS, result="backup_skipped")

            second_hash = await send(backup, second, second_signature)
            await until(lambda: knows(third, second_hash), what="the second task forwarded")
            second_stopped = time.time()
            await backup.stop()
            await landed_on_chain(net, second)
            await until(lambda: _landed(third, second_hash), what="the third sees the second task landed")
            sent = await counted(third, SUBMISSIONS, result="sent")
            return backup.address, third.address, primary_turn, first_stopped, second_stopped, skipped, sent
        finally:
            await stop_all(list(nodes.values()), cluster)

    backup, third, primary_turn, first_stopped, second_stopped, skipped, sent = run(scenario())
    first_landing, second_landing = landing(net, first), landing(net, second)  # each exactly once
    assert first_landing["sender"] == backup and first_landing["paid_turn"] and first_landing["forfeited"] == 0
    # the backup stepped in at most one turn and the grace after the primary was stopped, in the
    # turn right after the primary's
    assert first_landing["timestamp"] <= first_stopped + TURN + GRACE, (first_landing, first_stopped)
    assert first_landing["timestamp"] < primary_turn + 2 * TURN, (first_landing, primary_turn)
    assert skipped == 1  # the third waited for its turn and found the first task landed: no transaction
    assert second_landing["sender"] == third and second_landing["paid_turn"] and second_landing["forfeited"] == 0
    # the third's turn came at most two turns (and the grace) after the votes were in
    assert second_landing["timestamp"] <= second_stopped + SLOW_VOTES + 2 * TURN + GRACE, (
        second_landing,
        second_stopped,
    )
    assert sent == 1  # the second task only


def test_with_every_listed_aggregator_stopped_a_node_off_the_list_and_a_restarted_one_land_the_open_tasks(
    net: Net, tmp_path: Path
):
    stranded, stranded_signature = net.new_task("all-down-restarted")
    outside, outside_signature = net.new_task("all-down-outsider")

    async def scenario():
        cluster = await start_attesters(net, tmp_path, delay={i: SLOW_VOTES for i in net.ids})
        nodes = {index: start_node(net, tmp_path, cluster, index) for index in LISTED}
        outsider = start_node(net, tmp_path, cluster, OUTSIDER)
        restarted = None
        try:
            urls = {index: await node.start() for index, node in nodes.items()}
            await outsider.start()
            list_aggregators(net, urls)
            first = nodes[LISTED[0]]
            stranded_hash = await send(first, stranded, stranded_signature)
            for node in nodes.values():
                await until(lambda node=node: knows(node, stranded_hash), what="the task forwarded")
            for node in nodes.values():
                await node.stop()  # votes still on their way: the task is open in every listed node's store
            await send(outsider, outside, outside_signature)

            async def forwards_failed() -> bool:  # to every listed aggregator, before one restarts
                return await counted(outsider, "othentic_aggregator_forwards_total", result="failed") == 3

            await until(forwards_failed, what="the outsider's forwards failed")
            port = int(urls[LISTED[0]].rsplit(":", 1)[1])
            restarted = start_node(net, tmp_path, cluster, LISTED[0])
            restarted.config.port = port  # the endpoint on-chain
            await restarted.start()
            await landed_on_chain(net, stranded)
            await landed_on_chain(net, outside)
            return (
                restarted.address,
                outsider.address,
                await counted(outsider, "othentic_aggregator_turns_total", decision="last_resort"),
            )
        finally:
            await stop_all([*nodes.values(), outsider, *([restarted] if restarted else [])], cluster)

    restarted, outsider, last_resort = run(scenario())
    assert landing(net, stranded)["sender"] == restarted  # resumed from its store, landed on its turn
    outside_landing = landing(net, outside)
    assert outside_landing["sender"] == outsider and last_resort == 1
    # liveness wins over the reward: off the list, the outsider earns no aggregator reward
    assert outside_landing["forfeited"] == 1 and not outside_landing["paid_turn"]


def test_two_aggregators_submitting_the_same_task_in_one_block_count_the_loser_as_a_duplicate_attempt_with_its_gas(
    net: Net, tmp_path: Path
):
    """Nobody listed: every aggregator submits at once, as before the schedule. Two of them holding
    the same task, their transactions mined in one block: one lands, the other reverts
    TaskAlreadySubmitted, counted with the gas it burnt."""
    task, signature = net.new_task("raced")

    async def scenario():
        cluster = await start_attesters(net, tmp_path)
        nodes = [start_node(net, tmp_path, cluster, index) for index in LISTED[:2]]
        try:
            for node in nodes:
                await node.start()
            list_aggregators(net, {})
            with Automine(net):
                for node in nodes:
                    task_hash = await send(node, task, signature)
                for node in nodes:
                    await wait_status(node, task_hash, lambda s: s["status"] == "submitting" and s["txHash"])
            for node in nodes:
                await until(lambda node=node: _landed(node, task_hash), what=f"{node.config.name} sees it landed")
            return [
                (
                    await counted(node, SUBMISSIONS, result="duplicate_attempt"),
                    await counted(node, "othentic_aggregator_duplicate_gas_total"),
                    node.address,
                )
                for node in nodes
            ]
        finally:
            await stop_all(nodes, cluster)

    counts = run(scenario())
    assert len(net.landings(task.task_hash())) == 1
    sender = landing(net, task)["sender"]
    (winner,) = [c for c in counts if c[2] == sender]
    (loser,) = [c for c in counts if c[2] != sender]
    assert winner[:2] == (0, 0)
    assert loser[0] == 1 and loser[1] > 21_000, counts


def test_the_chain_time_is_the_clock_on_an_idle_chain_and_the_latest_block_on_a_chain_ahead_of_the_clock(net: Net):
    """Last in the module: it moves the chain's clock ahead."""

    async def scenario():
        connection = RpcConnection(net.rpc_url)
        view = ChainView(await connection.open(expect_chain_id=net.record.chain_id), net.record)
        try:
            latest = int(net.w3.eth.get_block("latest")["timestamp"])

            async def block_is_old() -> bool:  # the next block would be stamped 2 s later than it
                return time.time() >= latest + 2

            await until(block_is_old, what="the latest block 2 s old")
            idle, clock = await view.chain_time(), time.time()
            net.w3.provider.make_request("evm_increaseTime", [100])
            net.w3.provider.make_request("evm_mine", [])
            ahead, clock_after = await view.chain_time(), time.time()
            return idle, clock, ahead, clock_after
        finally:
            await connection.close()

    idle, clock, ahead, clock_after = run(scenario())
    latest = int(net.w3.eth.get_block("latest")["timestamp"])
    assert clock - 1 <= idle <= clock  # the latest block is older than the clock: the clock wins
    assert latest <= ahead < latest + 1 and ahead >= clock_after + 98
