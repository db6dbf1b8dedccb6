"""Token buckets: how often a caller (a client address, a signer) may ask for something costly.

The aggregator bounds ``sendCustomMessage`` (one call fans out to every attester) per caller and
for everyone together; the attester bounds attest requests and relayed messages per client
address (before a signature is checked: garbage cannot burn CPU in ecrecover without bound) and
per authenticated signer. :class:`KeyedLimiter` keeps a bucket per key for the ``max_clients``
most recently seen keys, and optionally one shared by all. :class:`TrustedClients` says which
client addresses need no signature at all (default: :data:`LOOPBACK`).
"""

from __future__ import annotations

import ipaddress
import time
from collections import OrderedDict
from collections.abc import Callable


class TokenBucket:
    """``rate`` tokens per second, at most ``burst`` saved up; :meth:`take` spends one if there is one."""

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.updated = now

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1:
            self.tokens -= 1
            return True
        return False


class KeyedLimiter:
    """A bucket per client (the ``max_clients`` most recently seen) and one shared by all
    (``total_rate`` ``None``: no shared bucket)."""

    def __init__(
        self,
        per_client_rate: float,
        per_client_burst: float,
        total_rate: float | None = None,
        total_burst: float = 0.0,
        *,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_client = (per_client_rate, per_client_burst)
        self.clock = clock
        self.total = TokenBucket(total_rate, total_burst, clock()) if total_rate is not None else None
        self.max_clients = max_clients
        self.clients: OrderedDict[str, TokenBucket] = OrderedDict()

    def allow(self, client: str) -> str | None:
        """``None`` if ``client`` may go ahead now, else who is over the limit (``client`` or ``everyone``)."""
        now = self.clock()
        bucket = self.clients.get(client)
        if bucket is None:
            bucket = TokenBucket(*self.per_client, now)
            self.clients[client] = bucket
            while len(self.clients) > self.max_clients:
                self.clients.popitem(last=False)
        else:
            self.clients.move_to_end(client)
        if not bucket.take(now):
            return "client"
        if self.total is not None and not self.total.take(now):
            bucket.tokens += 1  # not this client's fault: give its token back
            return "everyone"
        return None


#: Who a node trusts by address unless told otherwise: this machine only.
LOOPBACK = ("127.0.0.0/8", "::1/128")


class TrustedClients:
    """IP addresses and networks (CIDR) whose requests a node takes without a signature: the
    operator's own tools (the aggregator's unsigned ``sendCustomMessage``, the performer's trigger)."""

    def __init__(self, networks: tuple[str, ...] | list[str]) -> None:
        self.networks = [ipaddress.ip_network(network, strict=False) for network in networks]

    def __contains__(self, client: object) -> bool:
        try:
            address = ipaddress.ip_address(str(client))
        except ValueError:
            return False
        return any(address in network for network in self.networks)
