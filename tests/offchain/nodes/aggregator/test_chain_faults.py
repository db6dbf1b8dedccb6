"""The aggregator against faults a real chain produces: fee jumps, transactions that do not mine or
are dropped from the pool, nonce gaps, tasks that failed without landing.

Real anvil (its own, this module's ``net``), real attesters; the faults are anvil's own controls
(``anvil_setNextBlockBaseFeePerGas``, ``evm_setAutomine``, ``anvil_dropTransaction``).
"""

from __future__ import annotations

from pathlib import Path

from tests.offchain.nodes.aggregator.test_node import (
    Net,
    aggregator,
    run,
    send,
    start_attesters,
    wait_finished,
)

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
