"""Optional Prometheus metrics (``syndicate worker --metrics-port N``).

Off unless :func:`serve` ran in this process or the one that started it: every
recording function is then a no-op that costs a list lookup. Each worker process counts
into its own files under ``PROMETHEUS_MULTIPROC_DIR`` (prometheus-client's multiprocess
mode); the parent process, which runs no tasks, serves the sum of them all, plus what it
reads at scrape time: the broker's queue depths and the outbox per sink. We set the
directory (one per port under the data directory, emptied at start) before
prometheus-client is first imported, as its multiprocess mode requires. docs/metrics.md
lists the series with example queries.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from worker.logging import get_logger

if TYPE_CHECKING:
    from worker.settings import Settings

log = get_logger("worker.metrics")

_m: dict[str, Any] = {}
# Set by `prepare` for every process started from this one: a worker child that is a
# fresh interpreter (Celery's spawn start method) creates its metrics on first use.
ENV_FLAG = "SYNDICATE_METRICS_DIR"
_looked_in: list[int] = []

PARSE_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def enabled() -> bool:
    return _metrics() is not None


def _metrics() -> dict[str, Any] | None:
    """This process's metrics, created on first use where ``prepare`` ran upstream."""
    if _m:
        return _m
    if os.getpid() in _looked_in:
        return None
    _looked_in.append(os.getpid())
    folder = os.environ.get(ENV_FLAG)
    if folder and os.environ.get("PROMETHEUS_MULTIPROC_DIR") == folder:
        _create()
        return _m
    return None


def prepare(settings: Settings, port: int) -> Path:
    """Point prometheus-client's multiprocess mode at an empty directory of our own
    (or at ``PROMETHEUS_MULTIPROC_DIR`` if the operator set one), then create the
    metrics. Call before any worker process is forked."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    folder = Path(given) if given else (settings.data_dir / "metrics" / str(port)).resolve()
    if folder.exists():
        shutil.rmtree(folder)  # counts from an earlier run would be summed in
    folder.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(folder)
    os.environ[ENV_FLAG] = str(folder)
    _create()
    return folder


def _create() -> None:
    from prometheus_client import Counter, Gauge, Histogram

    _m["polls"] = Counter(
        "syndicate_polls", "Feed polls by outcome (and error kind).", ["outcome", "error_kind"]
    )
    _m["parse"] = Histogram(
        "syndicate_parse_seconds",
        "Time to parse and normalize one feed document.",
        buckets=PARSE_BUCKETS,
    )
    _m["deliveries"] = Counter(
        "syndicate_deliveries",
        "Events handed to sinks, by sink and outcome.",
        ["sink", "outcome"],
    )
    _m["fresh"] = Gauge(
        "syndicate_feed_last_success_timestamp_seconds",
        "When each feed was last polled successfully (Unix time).",
        ["feed_id"],
        multiprocess_mode="max",
    )
    _m["articles"] = Gauge(
        "syndicate_feed_last_article_timestamp_seconds",
        "When each feed last had a new article accepted (Unix time).",
        ["feed_id"],
        multiprocess_mode="max",
    )


def serve(settings: Settings, port: int, addr: str) -> Path:
    """Serve /metrics from this (the parent) process in a background thread; returns the
    multiprocess directory."""
    folder = prepare(settings, port)  # before prometheus_client is imported
    from prometheus_client import CollectorRegistry, start_http_server
    from prometheus_client.multiprocess import MultiProcessCollector

    registry = CollectorRegistry()
    MultiProcessCollector(registry, path=str(folder))  # type: ignore[no-untyped-call]
    registry.register(_Backlog(settings))
    start_http_server(port, addr=addr, registry=registry)
    return folder


def poll(outcome: str, error_kind: str | None, feed_id: str, now: float, new: int) -> None:
    m = _metrics()
    if m is None:
        return
    m["polls"].labels(outcome, error_kind or "").inc()
    if outcome in ("ok", "unchanged", "not_modified"):
        m["fresh"].labels(feed_id).set(now)
    if new:
        m["articles"].labels(feed_id).set(now)


def parse_seconds(seconds: float) -> None:
    m = _metrics()
    if m is not None:
        m["parse"].observe(seconds)


def deliveries(sink: str, counts: dict[str, int]) -> None:
    m = _metrics()
    if m is None:
        return
    for outcome, n in counts.items():
        if n:
            m["deliveries"].labels(sink, outcome).inc(n)


class _Backlog:
    """Read at scrape time in the serving process: queue depths and the outbox."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import GaugeMetricFamily

        from worker.adapters.broker import queue_depths
        from worker.adapters.store import open_store

        depth = GaugeMetricFamily(
            "syndicate_queue_depth", "Messages waiting in each broker queue.", labels=["queue"]
        )
        pending = GaugeMetricFamily(
            "syndicate_outbox_pending",
            "Deliveries not yet acknowledged, per sink.",
            labels=["sink"],
        )
        # A scrape must not fail because the broker or the store is down: the series are
        # left out (absent() alerts on them) and the reason is logged.
        try:
            for queue, d in queue_depths(self.settings).items():
                depth.add_metric([queue], d.messages)
        except Exception as exc:
            log.warning("metrics.scrape_failed", part="queue_depth", error=str(exc))
        store = open_store(self.settings)
        try:
            for sink, totals in store.delivery_totals().items():
                pending.add_metric([sink], totals.pending)
        except Exception as exc:
            log.warning("metrics.scrape_failed", part="outbox", error=str(exc))
        finally:
            store.close()
        yield depth
        yield pending
