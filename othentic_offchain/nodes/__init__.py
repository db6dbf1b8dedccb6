"""The nodes operators run: attester, aggregator, performer, and what they share.

* :mod:`.protocol`: the messages between aggregator and attesters (HTTP + JSON);
* :mod:`.chainview`: a cached, event-invalidated view of the contracts' state;
* :mod:`.sender`: an async transaction sender that owns its nonces;
* :mod:`.keys`: ECDSA and BLS keys from environment variables or encrypted key files;
* :mod:`.observability`: Prometheus metrics and one structured log line per task step.
"""
