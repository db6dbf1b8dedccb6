"""End to end: the project on a throwaway local network (the avs_network fixture, one per session)."""


def test_a_task_is_performed_attested_and_approved_on_chain(avs_network):
    outcome = avs_network.send("uppercase", {"text": "hello from the tests"})
    assert outcome.landed, outcome.error
    assert outcome.side == "approve"
    assert outcome.data_bytes == b"HELLO FROM THE TESTS"
    assert outcome.disagreed == {}  # every attester that answered approved
