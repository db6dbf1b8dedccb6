"""A devnet with its operators' hosts apart: each operator's nodes in a network namespace of their
own, every connection between them through the delaying relay of :mod:`~othentic_offchain.devnet.wan`.

:class:`WanLayout` is what ``Devnet`` asks when ``DevnetOptions.wan`` is set:

* operator ``k`` (the k-th registered, 0-based) is host ``k``: its attester, and its aggregator or
  performer when it runs one, are started inside namespace ``othentic-<tag>-k`` (:meth:`place`,
  then :meth:`wrap` on the command), bound to every address of the namespace (``--host 0.0.0.0``:
  its veth and loopback, nothing else);
* what an operator publishes (its attester endpoint, its aggregator endpoint) is the relay's URL of
  that host and port (:meth:`published`): every other host reaches it through the relay, with the
  pair's delay, jitter and drops, and :meth:`WanRelay.partition` cuts it off;
* the chain's RPC is reached from the hosts directly: anvil listens on the relay's address too
  (:meth:`anvil_args`), and a placed command's ``--rpc`` on the chain's port becomes that address
  (an operator's RPC provider is close to it; the wide area is between operators; and the RPC
  traffic of every node is most of the traffic, which the relay's one thread would pay for);
* what else stays on the machine (the proof store, the price source, the AVS services) is reached
  from the hosts through the relay: every other ``http://127.0.0.1:PORT`` in a placed command
  becomes the relay's URL for that port, with the profile's ``machine_ms`` delay;
* the machine reaches a host's node directly at the host's address (:meth:`direct`), for the
  workload's triggers and the dashboard: no delay, and not cut by a partition.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from othentic_offchain.devnet.wan import RELAY_ADDRESS, Hosts, LinkProfile, WanRelay

__all__ = ["WanLayout", "DEFAULT_PROFILE"]

#: The devnet's wide area: 20 to 150 ms one way between operators, 10 ms of jitter, none dropped,
#: 5 ms to the services on the machine.
DEFAULT_PROFILE = LinkProfile(20, 150, jitter_ms=10, machine_ms=5)

_LOCAL_URL = re.compile(r"^http://127\.0\.0\.1:(\d+)(/.*)?$")
_ANY_HOST_URL = re.compile(r"^http://(?:0\.0\.0\.0|127\.0\.0\.1):(\d+)(/.*)?$")


class WanLayout:
    """The hosts of one devnet and the relay between them; :meth:`start` creates them (root
    only), :meth:`stop` removes them."""

    def __init__(self, hosts: int, profile: LinkProfile | None = None, *, tag: str = "devnet"):
        self.profile = profile or DEFAULT_PROFILE
        self.hosts = Hosts(hosts, tag=tag)
        self.relay: WanRelay | None = None
        self._placed: dict[str, int] = {}
        self.chain_port: int | None = None  # anvil's, once it runs (reached directly)

    def start(self) -> WanLayout:
        self.hosts.__enter__()
        try:
            self.relay = WanRelay(self.hosts, self.profile).__enter__()
        except BaseException:
            self.hosts.remove()
            raise
        return self

    def stop(self) -> None:
        """Close the relay and remove the namespaces (idempotent)."""
        if self.relay is not None:
            self.relay.close()
            self.relay = None
        self.hosts.remove()

    def _relay(self) -> WanRelay:
        if self.relay is None:
            raise RuntimeError("the hosts are not up: call start first")
        return self.relay

    # --- addresses -------------------------------------------------------------------------------

    def published(self, host: int, port: int) -> str:
        """The URL at which every other host (through the relay) reaches ``port`` on ``host``."""
        return self._relay().expose(host, port)

    def machine(self, port: int) -> str:
        """The URL at which the hosts reach ``port`` on the machine's loopback (through the relay)."""
        return self._relay().expose(None, port)

    def anvil_args(self) -> list[str]:
        """What anvil needs to listen on the address every host reaches directly."""
        return ["--host", RELAY_ADDRESS]

    def chain(self, port: int) -> str:
        """The chain's RPC on ``port`` as the hosts reach it: directly, no relay."""
        return f"http://{RELAY_ADDRESS}:{port}"

    def direct(self, host: int, port: int) -> str:
        """The URL at which the machine itself reaches ``port`` on ``host`` (no relay)."""
        return f"http://{self.hosts.address(host)}:{port}"

    def endpoint(self, host: int, port: int) -> str:
        """For ``LocalNetwork.add_operators``: operator ``host``'s attester endpoint."""
        return self.published(host, port)

    # --- processes -------------------------------------------------------------------------------

    def place(self, name: str, host: int) -> None:
        """The process named ``name`` runs on ``host``."""
        if not 0 <= host < self.hosts.count:
            raise ValueError(f"no host {host}: there are {self.hosts.count}")
        self._placed[name] = host

    def host_of(self, name: str) -> int | None:
        """Where ``name`` runs (None: on the machine)."""
        return self._placed.get(name)

    def wrap(self, name: str, command: Sequence[str]) -> list[str]:
        """``command`` as it runs where ``name`` was placed: inside the host's namespace, listening
        on all its addresses, the machine's services reached through the relay. Unplaced: as is."""
        host = self._placed.get(name)
        if host is None:
            return list(command)
        rewritten = []
        for arg in command:
            local = _LOCAL_URL.match(arg)
            if local is None:
                rewritten.append(arg)
                continue
            port = int(local.group(1))
            reached = self.chain(port) if port == self.chain_port else self.machine(port)
            rewritten.append(reached + (local.group(2) or ""))
        return self.hosts.wrap(host, [*rewritten, "--host", "0.0.0.0"])

    def reachable(self, name: str, url: str) -> str:
        """The URL a placed process said it listens on (``http://0.0.0.0:P``), as the machine
        reaches it; an unplaced one's as is."""
        host = self._placed.get(name)
        match = _ANY_HOST_URL.match(url)
        if host is None or match is None:
            return url
        return self.direct(host, int(match.group(1))) + (match.group(2) or "")
