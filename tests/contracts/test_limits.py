"""Limits no test can reach by transactions (65,536 definitions, 2**24 operator sets): the counters
are set directly in the center's storage on anvil, then the next creation must revert cleanly."""

from __future__ import annotations

from othentic_offchain.chain.types import TaskDefinitionParams

# CenterStorage layout: slot 5 holds _feeCalculator (bytes 0-19), then the uint32 counters
# _lastOperatorId (20-23), _lastSetId (24-27), _definitionCount (28-31), low to high.
COUNTERS_SLOT = 5


def _counters(chain, center) -> int:
    return int.from_bytes(chain.provider.web3.eth.get_storage_at(center.address, COUNTERS_SLOT), "big")


def _set_counters(chain, center, *, last_set_id: int, definition_count: int) -> None:
    value = (definition_count << 224) | (last_set_id << 192)
    chain.provider.make_request("anvil_setStorageAt", [center.address, hex(COUNTERS_SLOT), "0x" + value.to_bytes(32, "big").hex()])


def test_the_storage_slot_of_the_counters_is_where_these_tests_expect_it(net, chain):
    assert _counters(chain, net.center) >> 224 == 1  # definition 0, no set created, no operator yet
    net.register()
    net.create_definition(TaskDefinitionParams(name="with a set", minimum_voting_power=1))
    value = _counters(chain, net.center)
    assert (value >> 224, (value >> 192) & 0xFFFFFFFF, (value >> 160) & 0xFFFFFFFF) == (2, 1, 1)


def test_createTaskDefinition_reverts_TaskDefinitionLimitReached_after_65536_definitions(net, chain, reverts_with):
    _set_counters(chain, net.center, last_set_id=0, definition_count=2**16)
    with reverts_with(net.center.TaskDefinitionLimitReached):
        net.center.createTaskDefinition(TaskDefinitionParams(name="one too many").abi(), sender=net.admin)


def test_the_last_definition_id_65535_can_still_be_created(net, chain):
    _set_counters(chain, net.center, last_set_id=0, definition_count=2**16 - 1)
    assert net.create_definition(TaskDefinitionParams(name="the last one")) == 2**16 - 1


def test_createTaskDefinition_reverts_OperatorSetLimitReached_past_2_to_the_24_sets(net, chain, reverts_with):
    _set_counters(chain, net.center, last_set_id=2**24 - 1, definition_count=1)
    with reverts_with(net.center.OperatorSetLimitReached):
        net.center.createTaskDefinition(
            TaskDefinitionParams(name="needs a set", minimum_voting_power=1).abi(), sender=net.admin)
    # A definition on set 0 needs no new set and is still fine.
    assert net.create_definition(TaskDefinitionParams(name="on set 0")) == 1
