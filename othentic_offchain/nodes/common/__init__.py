"""What every node shares: the aggregator-attester wire protocol, metrics and logs, the lifecycle."""
