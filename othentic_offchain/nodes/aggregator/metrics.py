"""The aggregator's Prometheus series (``GET /metrics``), on top of what every node exports."""

from __future__ import annotations

from typing import Any

from othentic_offchain.nodes.common.observability import NodeMetrics


class AggregatorMetrics:
    """Counters of tasks, votes, vote requests, submissions and JSON-RPC calls; task latency."""

    def __init__(self, metrics: NodeMetrics):
        self.node = metrics
        self.outcomes = metrics.counter(
            "othentic_aggregator_tasks_total", "sendTask calls and task outcomes", ["outcome"]
        )
        self.votes = metrics.counter(
            "othentic_aggregator_votes_total", "Votes received, by side or why unused", ["side"]
        )
        self.requests = metrics.counter(
            "othentic_aggregator_attest_requests_total", "Vote requests, by result", ["result"]
        )
        self.submissions = metrics.counter(
            "othentic_aggregator_submissions_total", "Submissions, by result", ["result"]
        )
        self.rpc = metrics.counter(
            "othentic_aggregator_rpc_calls_total", "JSON-RPC calls, by method and error code", ["method", "code"]
        )
        self.latency = metrics.histogram("othentic_aggregator_task_latency_seconds", "From accepted to landed")
        self.bisections = metrics.counter(
            "othentic_aggregator_bisections_total", "Aggregates that failed and were bisected"
        )
        self.forwards = metrics.counter(
            "othentic_aggregator_forwards_total", "Tasks forwarded to another listed aggregator, by result", ["result"]
        )
        self.turns = metrics.counter(
            "othentic_aggregator_turns_total",
            "Decided tasks by when the schedule let this node submit (on_turn, backup, last_resort, unscheduled)",
            ["decision"],
        )
        self.wasted_gas = metrics.counter(
            "othentic_aggregator_duplicate_gas_total", "Gas of mined submissions that found the task landed already"
        )

    def duplicate_attempt(self, receipt: Any = None) -> None:
        """A submission found the task landed by someone else (in its simulation, or mined and
        reverted ``TaskAlreadySubmitted``: ``receipt``, whose gas is counted as wasted)."""
        self.submissions.labels(result="duplicate_attempt").inc()
        if receipt is not None:
            self.wasted_gas.inc(int(receipt.get("gasUsed", 0)))
