"""``json.loads`` for bytes that came over the network: nesting is bounded before parsing.

CPython's JSON parser recurses once per ``[`` or ``{``; with a raised recursion limit (py_ecc
raises it to 100,000 on import) a body of 200,000 brackets overflows the C stack and kills the
process instead of raising. :func:`loads` measures the nesting first, outside strings, in one
linear pass done in C (a regular expression, ``bytes.translate``, ``itertools.accumulate``), and
refuses a too deep document with :class:`JsonTooDeep`, a ``ValueError`` like every other parse
error, so the callers' "not JSON" answer covers it.

It also refuses what ``json.loads`` takes although it is not JSON text (RFC 8259), with
:class:`JsonNotStandard` (a ``UnicodeDecodeError`` for bytes that are not UTF-8):

* ``NaN``, ``Infinity`` and ``-Infinity``: a peer's ``NaN`` would travel on as a float that
  ``json.dumps`` writes back out as ``NaN``, an answer strict parsers cannot read;
* bytes that are not UTF-8 (``json.loads`` guesses UTF-16 and UTF-32 too, and lets UTF-8-encoded
  surrogates through), and strings holding a lone UTF-16 surrogate (``"\\ud800"``): such a string
  is no Unicode text, and the first ``.encode()`` of it (hashing a task's ``proofOfTask``, writing
  a log line) raises where nobody expects it.
"""

from __future__ import annotations

import json
import operator
import re
from itertools import accumulate, count
from typing import Any

__all__ = ["MAX_JSON_DEPTH", "JsonNotStandard", "JsonTooDeep", "json_depth", "loads"]

#: Deepest nesting of arrays and objects accepted from a peer; far beyond any message of the
#: protocol, far below the interpreter's recursion limit.
MAX_JSON_DEPTH = 100

# A string literal, possessive so it never backtracks; an unterminated one is consumed to its end,
# which keeps the scan linear.
_STRING = re.compile(rb'"(?:[^"\\]++|\\.)*+"?', re.DOTALL)
# Opening brackets -> 2, closing ones -> 0, everything else deleted: the running sum minus the
# position is the depth after each bracket.
_WEIGHTS = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")
_NOT_BRACKETS = bytes(c for c in range(256) if c not in b"[]{}")
# An escape that may decode to a surrogate, and a surrogate in decoded text.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


class JsonTooDeep(ValueError):
    """A JSON document nested deeper than the limit."""


class JsonNotStandard(ValueError):
    """What Python's parser accepts and JSON text is not: ``NaN``, ``Infinity``, ``-Infinity``, a
    string with a lone surrogate."""


def _refuse_constant(name: str) -> Any:
    raise JsonNotStandard(f"{name} is not valid JSON")


def json_depth(data: bytes | bytearray | str) -> int:
    """The deepest nesting of arrays and objects in ``data`` (strings are not looked into)."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    if raw.count(b"[") + raw.count(b"{") == 0:
        return 0
    brackets = _STRING.sub(b"", raw).translate(_WEIGHTS, _NOT_BRACKETS)
    if not brackets:
        return 0
    return max(0, max(map(operator.sub, accumulate(brackets), count(1))))


def _refuse_surrogates(value: Any) -> None:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                raise JsonNotStandard("a string holds a lone UTF-16 surrogate: it is not Unicode text")
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())


def loads(data: bytes | bytearray | str, *, max_depth: int = MAX_JSON_DEPTH, **kwargs: Any) -> Any:
    """``json.loads(data, **kwargs)``, refusing documents nested deeper than ``max_depth``, bytes
    that are not UTF-8, lone surrogates and the non-standard constants (unless ``parse_constant``
    is given)."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else bytes(data)
    # Fast path: fewer opening brackets than the limit cannot nest deeper than it.
    if raw.count(b"[") + raw.count(b"{") > max_depth:
        depth = json_depth(raw)
        if depth > max_depth:
            raise JsonTooDeep(f"JSON nested {depth} levels deep, the limit is {max_depth}")
    if isinstance(data, str):
        text = data
    else:
        text = raw.decode("utf-8")  # strict: UnicodeDecodeError, a ValueError, for anything else
        text = text.removeprefix("\ufeff")  # a byte order mark, which RFC 8259 lets a parser ignore
    kwargs.setdefault("parse_constant", _refuse_constant)
    try:
        value = json.loads(text, **kwargs)
    except RecursionError:
        raise JsonTooDeep(f"JSON nested too deep to parse (the limit is {max_depth})") from None
    if _SURROGATE_ESCAPE.search(text) or (text is data and _SURROGATE.search(text)):
        _refuse_surrogates(value)
    return value
