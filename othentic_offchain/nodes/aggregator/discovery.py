"""Where each attester listens: static configuration first, then what the operator published on-chain.

Othentic finds attesters through libp2p gossip; here the aggregator calls them over HTTP, so it
needs a URL per operator. Two sources, in this order:

1. a static map from the aggregator's configuration, keyed by operator id or by operator address
   (``--attester 3=http://10.0.0.3:9000`` or ``--attester 0xAbc...=http://...``): for devnets,
   private networks, and to override a published endpoint that is wrong;
2. the endpoint each operator published with ``setOperatorEndpoint`` (read through
   :class:`~othentic_offchain.chain.view.ChainView`, so it is cached and refreshed with the contracts' events).

An operator with neither has no URL: the aggregator cannot ask it, and it simply does not vote.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Protocol
from urllib.parse import urlsplit

from eth_utils import is_checksum_address, to_checksum_address

_ADDRESS = re.compile(r"0x[0-9a-fA-F]{40}")


class InvalidAttesterSpec(ValueError):
    """A ``--attester`` value or static map entry that is not ``KEY=URL`` with a usable key and URL."""


class _OperatorLike(Protocol):
    @property
    def account(self) -> str: ...

    @property
    def endpoint(self) -> str: ...


class _ChainLike(Protocol):
    async def operator(self, operator_id: int) -> _OperatorLike: ...


def normalize_url(url: str) -> str:
    """An http(s) URL without a trailing slash; raises ``ValueError`` for anything else."""
    if not isinstance(url, str):
        raise ValueError(f"attester URL must be a string, got {type(url).__name__}")
    url = url.strip()
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"attester URL must be http:// or https:// with a host, got {url!r}")
    return url.rstrip("/")


def parse_key(key: int | str) -> int | str:
    """An operator id (int) or a checksummed address (str) from a map key or the left of ``KEY=URL``."""
    if isinstance(key, bool):
        raise ValueError("operator key must be an id or an address, got a boolean")
    if isinstance(key, int):
        if key <= 0:
            raise ValueError(f"operator ids start at 1, got {key}")
        return key
    if not isinstance(key, str):
        raise ValueError(f"operator key must be an id or an address, got {type(key).__name__}")
    text = key.strip()
    if text.isdigit():
        return parse_key(int(text))
    if _ADDRESS.fullmatch(text):
        body = text[2:]
        if body != body.lower() and body != body.upper() and not is_checksum_address(text):
            raise ValueError(f"address {text} has a wrong EIP-55 checksum")
        return to_checksum_address(text)
    raise ValueError(f"operator key must be an id (e.g. 3) or an address (0x + 40 hex digits), got {text!r}")


def parse_attester_spec(spec: str) -> tuple[int | str, str]:
    """``"3=http://127.0.0.1:9001"`` -> ``(3, "http://127.0.0.1:9001")``; addresses work as keys too."""
    if not isinstance(spec, str) or "=" not in spec:
        raise InvalidAttesterSpec(f"expected OPERATOR=URL (e.g. 3=http://127.0.0.1:9001), got {spec!r}")
    key, url = spec.split("=", 1)
    try:
        return parse_key(key), normalize_url(url)
    except ValueError as exc:
        raise InvalidAttesterSpec(f"{spec!r}: {exc}") from None


def parse_attester_specs(specs: Iterable[str]) -> dict[int | str, str]:
    """Several ``--attester`` values -> a static map; a key given twice is an error (a typo, likely)."""
    out: dict[int | str, str] = {}
    for spec in specs:
        key, url = parse_attester_spec(spec)
        if key in out:
            raise InvalidAttesterSpec(f"operator {key} is given twice ({out[key]} and {url})")
        out[key] = url
    return out


class AttesterDirectory:
    """Answers "which URL reaches operator N?" for the aggregator's fan-out."""

    def __init__(self, chain: _ChainLike | None, static: Mapping[int | str, str] | None = None):
        self.chain = chain
        self.by_id: dict[int, str] = {}
        self.by_address: dict[str, str] = {}
        for key, url in (static or {}).items():
            try:
                parsed = parse_key(key)
                url = normalize_url(url)
            except ValueError as exc:
                raise InvalidAttesterSpec(f"static attester {key!r}: {exc}") from None
            if isinstance(parsed, int):
                self.by_id[parsed] = url
            else:
                self.by_address[parsed] = url

    async def url_for(self, operator_id: int) -> str | None:
        """The operator's URL, or None when neither configuration nor the chain gives one."""
        static = self.by_id.get(operator_id)
        if static is not None:
            return static
        if self.chain is None:
            return None
        operator = await self.chain.operator(operator_id)
        if self.by_address:
            static = self.by_address.get(to_checksum_address(operator.account))
            if static is not None:
                return static
        endpoint = (operator.endpoint or "").strip()
        if not endpoint:
            return None
        try:
            return normalize_url(endpoint)
        except ValueError:
            return None  # a published endpoint we cannot call is no endpoint

    async def urls_for(self, operator_ids: Iterable[int]) -> dict[int, str | None]:
        """:meth:`url_for` of several operators (the chain reads are cached, so this is cheap)."""
        return {i: await self.url_for(i) for i in operator_ids}

    def static_urls(self) -> list[str]:
        """Every configured URL (for custom messages when the chain is not asked)."""
        return list(dict.fromkeys([*self.by_id.values(), *self.by_address.values()]))
