"""The one revert matcher of the tests: ``with reverts_with(contract.SomeError, *args): ...``.

``with reverts_with(contract.SomeError, *args): ...``: the revert must be that custom error.

Do not rely on ``ape.reverts(contract.SomeError)`` alone here: ape-foundry hands Ape anvil's
undecoded message ``custom error 0x<selector>: <hex args>``, Ape then raises a plain
ContractLogicError and skips its error-type check, so any revert passes. This checks the
selector and the ABI-encoded arguments (or the decoded error, should Ape decode it).

Accepted forms, all compared on the selector and the ABI-encoded arguments: an error Ape decoded
(also one it built from another contract's ABI, such as a library's), anvil's text
``custom error 0x<selector>: <args as hex or raw bytes>``, the raw revert data of a reverted
view call, and the ``0x<selector><args>`` text Ape gives for errors raised in nested calls and
constructors. ``skip_trace=True`` spares a reverted eth_call its trace; transactions still print one.

"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import ape
from ape.exceptions import CustomError
from eth_abi import encode
from eth_utils import keccak


@contextmanager
def reverts_with(error: Any, *args: Any, any_args: bool = False) -> Iterator[Any]:
    """The block must revert with ``error`` and exactly ``args`` (any arguments with ``any_args``)."""
    with ape.reverts() as info:
        yield info
    assert_reverted_with(info.value, error, *args, any_args=any_args)


def assert_reverted_with(raised: Any, error: Any, *args: Any, any_args: bool = False) -> None:
    """``raised`` (an Ape revert) is ``error`` with ``args``, in whichever form Ape handed it over."""
    selector = keccak(text=error.abi.selector)[:4]
    encoded = encode([i.canonical_type for i in error.abi.inputs], list(args)) if args else b""
    if isinstance(raised, CustomError):
        # Ape builds the class from the ABI of the contract it called: a library's error (BN254)
        # comes back as another class of the same name, so compare selector and arguments.
        assert raised.abi.selector == error.abi.selector, f"expected {error.__name__}, got {type(raised).__name__}"
        assert any_args or tuple(raised.inputs.values()) == args
        return
    message = getattr(raised, "revert_message", None) or str(raised)
    if message.startswith("0x") and all(c in "0123456789abcdefABCDEF" for c in message[2:]):
        # An error raised in a nested call or a constructor: Ape hands over the data as hex text.
        data = bytes.fromhex(message[2:])
        assert data[:4] == selector and (any_args or data == selector + encoded), (
            f"expected {error.__name__}{args}, got {message}"
        )
        return
    prefix = "custom error 0x" + selector.hex()
    if message.startswith("custom error"):
        assert message.startswith(prefix), f"expected {error.__name__}: {prefix!r}, got {message!r}"
        payload = message[len(prefix) :].removeprefix(": ")
        if any_args or payload == encoded.hex():
            return
        # A reverted eth_call: anvil's text carries the arguments as raw bytes, trailing white space trimmed.
        raws = {payload.encode("utf-8", errors="replace"), payload.encode("latin-1", errors="replace")}
        assert encoded.rstrip() in {raw.rstrip() for raw in raws}, f"expected {error.__name__}{args}, got {message!r}"
        return
    # A reverted view call through Ape: the raw revert data as a latin-1 string.
    raw = message.encode("latin-1", errors="replace")
    assert raw[:4] == selector and (any_args or raw.rstrip() == (selector + encoded).rstrip()), (
        f"expected {error.__name__}{args}, got {raw.hex()!r}"
    )
