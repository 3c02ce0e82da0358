"""Metrics (Prometheus, one registry per gateway instance) and structured JSON logs."""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_STAGE_BUCKETS = (
    0.0001,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
)

_HOUR = 3600.0
# Lead times from AED to arrival: minutes to weeks.
_LEAD_BUCKETS = tuple(
    h * _HOUR for h in (0.25, 1, 2, 4, 8, 12, 24, 36, 48, 72, 96, 120, 168, 336, 504, 720)
)
NO_POST = "none"
"""The partner label of arrivals from a country with no configured post."""


class Metrics:
    """Every metric the gateway exports, in its own registry (several gateways per process)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "aedgw_http_requests",
            "HTTP requests by route, status and partner",
            ["route", "status", "partner"],
            registry=r,
        )
        self.items = Counter(
            "aedgw_items", "ITMATT items by partner and outcome", ["partner", "outcome"], registry=r
        )
        self.findings = Counter(
            "aedgw_findings", "Findings by code and severity", ["code", "severity"], registry=r
        )
        self.auth_failures = Counter(
            "aedgw_auth_failures", "Refused request signatures by reason", ["reason"], registry=r
        )
        self.stage_seconds = Histogram(
            "aedgw_stage_seconds",
            "Time per pipeline stage and message",
            ["stage"],
            buckets=_STAGE_BUCKETS,
            registry=r,
        )
        self.feed_lag = Gauge(
            "aedgw_feed_lag_records",
            "Journal records after a consumer's acknowledged position",
            ["consumer"],
            registry=r,
        )
        self.feed_sent = Counter(
            "aedgw_feed_records_sent", "Records sent to consumers", ["consumer"], registry=r
        )
        self.journal_position = Gauge(
            "aedgw_journal_position", "Last journal position seen by this gateway", registry=r
        )
        # AED coverage: arrivals per origin post (a configured post's id, or NO_POST), so the
        # label values are bounded by the partner configuration.
        self.arrivals = Counter(
            "aedgw_arrivals", "Items reported arrived, by origin post", ["partner"], registry=r
        )
        self.arrivals_with_aed = Counter(
            "aedgw_arrivals_with_aed",
            "Items arrived with accepted AED received before, by origin post",
            ["partner"],
            registry=r,
        )
        self.no_aed = Counter(
            "aedgw_no_aed_events",
            "NO_AED events (items arrived without AED before), by origin post",
            ["partner"],
            registry=r,
        )
        self.aed_lead_seconds = Histogram(
            "aedgw_aed_lead_seconds",
            "Time from the first accepted AED received to the item's arrival, by origin post",
            ["partner"],
            buckets=_LEAD_BUCKETS,
            registry=r,
        )
        # Each metric's child per label values, found once: `labels()` rebuilds and checks its
        # key under a lock on every call (~1.4 µs, several times a message and once a fed
        # record). The label values are bounded as the metrics' own children are.
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}

    def _child(self, metric: Counter | Histogram | Gauge, *labels: str) -> Any:
        key = (id(metric), labels)  # the metrics live as long as this object
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def observe_stage(self, name: str, seconds: float) -> None:
        self._child(self.stage_seconds, name).observe(seconds)

    def count_request(self, route: str, status: str, partner: str) -> None:
        self._child(self.requests, route, status, partner).inc()

    def count_items(self, partner: str, outcome: str, n: int) -> None:
        self._child(self.items, partner, outcome).inc(n)

    def count_findings(self, code: str, severity: str, n: int) -> None:
        self._child(self.findings, code, severity).inc(n)

    def count_sent(self, consumer: str, n: int) -> None:
        self._child(self.feed_sent, consumer).inc(n)

    def count_arrival(self, partner: str, *, with_aed: bool, lead: timedelta | None) -> None:
        """One fresh arrival of `partner`'s items ("" when no post is configured: NO_POST)."""
        label = partner or NO_POST
        self._child(self.arrivals, label).inc()
        if with_aed:
            self._child(self.arrivals_with_aed, label).inc()
        else:
            self._child(self.no_aed, label).inc()
        if lead is not None:
            self._child(self.aed_lead_seconds, label).observe(lead.total_seconds())

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.observe_stage(name, time.perf_counter() - start)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any `extra` fields."""

    _STANDARD = frozenset(logging.makeLogRecord({}).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        out.update({k: v for k, v in record.__dict__.items() if k not in self._STANDARD})
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, default=str, ensure_ascii=False)


def configure_logging(level: str, *, json_lines: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if json_lines
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
