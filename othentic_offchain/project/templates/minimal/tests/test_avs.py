"""Unit tests of the AVS's functions: no chain, proofs in memory (the avs_local fixture)."""


def test_execute_stores_the_text_and_returns_its_uppercase(avs_local):
    result = avs_local.execute("uppercase", {"text": "hello, avs"})
    assert result.data == b"HELLO, AVS"
    assert avs_local.proofs.blobs[result.proof_of_task] == b"hello, avs"


def test_validate_approves_the_uppercase_and_rejects_anything_else(avs_local):
    result = avs_local.execute("uppercase", {"text": "hello, avs"})
    assert avs_local.validate("uppercase", result) is True
    assert avs_local.validate("uppercase", result, data=b"HELLO, WORLD") is False
    assert avs_local.validate("uppercase", result, proof_of_task="not-a-cid") is False
