"""Prometheus metrics and structured logs, the same for every node.

Every node serves ``GET /metrics`` from its own registry (several nodes can live in one process in
tests) and writes one JSON line per task step to its logger:

    {"ts": 1764080000.123, "node": "aggregator", "step": "task.accepted", "task": "0xab..", ...}
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from othentic_offchain.httpguard import RepeatFilter

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)


class NodeMetrics:
    """The metrics every node exposes; a node adds its own with :meth:`counter` etc."""

    def __init__(self, node: str):
        self.node = node
        self.registry = CollectorRegistry(auto_describe=True)
        self.tasks = self.counter("othentic_tasks_total", "Tasks by step", ["step"])
        self.failures = self.counter("othentic_failures_total", "Failures by reason", ["reason"])
        self.latency = self.histogram("othentic_step_seconds", "Duration of a task step", ["step"])
        self.in_flight = self.gauge("othentic_tasks_in_flight", "Tasks accepted and not yet finished")
        self.info = self.gauge("othentic_node_info", "Node identity", ["node", "version"])
        from othentic_offchain import __version__

        self.info.labels(node=node, version=__version__).set(1)

    def counter(self, name: str, documentation: str, labels: list[str] | None = None) -> Counter:
        return Counter(name, documentation, labels or [], registry=self.registry)

    def gauge(self, name: str, documentation: str, labels: list[str] | None = None) -> Gauge:
        return Gauge(name, documentation, labels or [], registry=self.registry)

    def histogram(self, name: str, documentation: str, labels: list[str] | None = None) -> Histogram:
        return Histogram(name, documentation, labels or [], buckets=LATENCY_BUCKETS, registry=self.registry)

    async def handler(self, _request: web.Request) -> web.Response:
        body = generate_latest(self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "fields", None)
        if fields is None:
            fields = {"ts": round(record.created, 3), "level": record.levelname.lower(), "msg": record.getMessage()}
        return json.dumps(fields, default=str, separators=(",", ":"))


def configure_logging(level: str = "info", stream=None) -> None:
    """JSON lines on stderr (or ``stream``) for every ``othentic.*`` logger; idempotent."""
    root = logging.getLogger("othentic")
    root.setLevel(level.upper())
    if not any(getattr(h, "_othentic", False) for h in root.handlers):
        handler = logging.StreamHandler(stream or sys.stderr)
        handler.setFormatter(_JsonFormatter())
        handler.addFilter(RepeatFilter())
        handler._othentic = True  # type: ignore[attr-defined]
        root.addHandler(handler)
        root.propagate = False
    base = logging.getLogger()
    if not base.handlers:
        # asyncio's and aiohttp's own errors (accept() failing on "Too many open files", a broken
        # connection): JSON lines too, and throttled, instead of one traceback per attempt.
        other = logging.StreamHandler(stream or sys.stderr)
        other.setLevel(logging.WARNING)
        other.setFormatter(_JsonFormatter())
        other.addFilter(RepeatFilter())
        base.addHandler(other)


class TaskLog:
    """One structured line per task step, and the matching metric."""

    def __init__(self, node: str, metrics: NodeMetrics | None = None):
        self.node = node
        self.metrics = metrics
        self.logger = logging.getLogger(f"othentic.{node}")

    def step(self, step: str, task: bytes | str | None = None, *, level: int = logging.INFO, **fields: Any) -> None:
        if isinstance(task, (bytes, bytearray)):
            task = "0x" + bytes(task).hex()
        record = {"ts": round(time.time(), 3), "node": self.node, "step": step}
        if task is not None:
            record["task"] = task
        record.update(fields)
        self.logger.log(level, step, extra={"fields": record})
        if self.metrics is not None:
            self.metrics.tasks.labels(step=step).inc()

    def failure(self, reason: str, task: bytes | str | None = None, **fields: Any) -> None:
        self.step(f"failed.{reason}", task, level=logging.WARNING, **fields)
        if self.metrics is not None:
            self.metrics.failures.labels(reason=reason).inc()
