"""Selectors, event topics and canonical types, derived from the packaged ABIs (never typed by hand).

    TASK_SUBMITTED = event_topic("IAttestationCenter", "TaskSubmitted")   # keccak of the signature
    selector("IAttestationCenter", "taskRecord")                          # 4 bytes
    error_selector("IAttestationCenter", "UnknownTaskDefinition")         # 4 bytes

A contract change that alters a signature changes these values with it, since the ABIs come from
the compile (:mod:`othentic_offchain.chain.artifacts`). eth_utils does the hashing and the
canonical spelling of tuple types.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache
from typing import Any

from eth_utils import keccak
from eth_utils.abi import collapse_if_tuple, event_abi_to_log_topic, function_abi_to_4byte_selector

from othentic_offchain.chain.artifacts import load_artifact

#: Selector of Solidity's ``Error(string)`` (``require`` with a message).
ERROR_STRING_SELECTOR = bytes(keccak(text="Error(string)")[:4])


def canonical_type(param: dict[str, Any]) -> str:
    """The canonical ABI type of one input: tuples spelled out, ``(uint256,bytes)[]``."""
    return collapse_if_tuple(param)


def signature(item: dict[str, Any]) -> str:
    """``name(type,...)`` of an ABI function, event or error item."""
    return f"{item['name']}({','.join(canonical_type(p) for p in item.get('inputs', []))})"


def _item(contract: str, kind: str, name: str) -> dict[str, Any]:
    found = [i for i in load_artifact(contract).abi if i.get("type") == kind and i.get("name") == name]
    if len(found) != 1:
        raise LookupError(f"{contract} has {len(found)} {kind}s named {name!r}, expected exactly one")
    return found[0]


@cache
def event_topic(contract: str, event: str) -> bytes:
    """Topic 0 of ``event`` as declared in ``contract``'s ABI."""
    return bytes(event_abi_to_log_topic(_item(contract, "event", event)))  # type: ignore[arg-type]


@cache
def selector(contract: str, function: str) -> bytes:
    """The 4-byte selector of ``function`` in ``contract``'s ABI."""
    return bytes(function_abi_to_4byte_selector(_item(contract, "function", function)))  # type: ignore[arg-type]


@cache
def error_selector(contract: str, error: str) -> bytes:
    """The 4-byte selector of the custom error ``error`` in ``contract``'s ABI."""
    return bytes(keccak(text=signature(_item(contract, "error", error)))[:4])


@cache
def function_abi(contract: str, function: str) -> dict[str, Any]:
    """The ABI item of ``function`` (its inputs and outputs)."""
    return _item(contract, "function", function)


def input_types(contract: str, function: str) -> list[str]:
    """The canonical types of ``function``'s inputs, as ``eth_abi.encode`` takes them."""
    return [canonical_type(p) for p in function_abi(contract, function)["inputs"]]


def error_selectors(abis: Iterable[list[dict[str, Any]]]) -> dict[bytes, tuple[str, list[str]]]:
    """``{selector: (error name, input types)}`` of every custom error in ``abis``."""
    errors: dict[bytes, tuple[str, list[str]]] = {}
    for abi in abis:
        for item in abi:
            if item.get("type") == "error":
                errors[bytes(keccak(text=signature(item))[:4])] = (
                    item["name"],
                    [canonical_type(p) for p in item.get("inputs", [])],
                )
    return errors
