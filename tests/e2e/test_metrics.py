"""End to end: `syndicate run --metrics-port` with prefork workers serves one /metrics for
all of them, and `syndicate health` passes against the running service."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.e2e.conftest import Procs, jsonl_ids, wait_for
from tests.e2e.test_worker import write_config
from tests.feeds import rss
from worker.demo.server import FeedServer, Resource

pytestmark = pytest.mark.e2e


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            return str(r.read().decode())
    except OSError:
        return ""


def value(text: str, prefix: str) -> float:
    """The sum of the samples whose line starts with ``prefix``."""
    return sum(
        float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(prefix)
    )


def test_metrics_of_prefork_children_are_served_together(
    tmp_path: Path, feed_server: FeedServer, procs: Procs
):
    """Polls by outcome, parse durations, deliveries by sink and outcome, queue depth and
    per-feed freshness appear on one endpoint while two prefork children do the work;
    meanwhile `syndicate health` exits 0."""
    feed_server.routes["/a.xml"] = Resource(rss([("a1", "First"), ("a2", "Second")]))
    feed_server.routes["/b.xml"] = Resource(rss([("b1", "Bee")], site="https://b.example"))
    feed_server.routes["/bad.xml"] = Resource(b"nope", status=500)
    config = write_config(
        tmp_path / "s.toml", [feed_server.url(p) for p in ("/a.xml", "/b.xml", "/bad.xml")]
    )
    port = free_port()
    procs.env["SYNDICATE_METRICS_ADDR"] = "127.0.0.1"
    procs.start("run", "--config", str(config), "-c", "2", "--metrics-port", str(port), log="run")
    out = tmp_path / "var" / "articles.jsonl"
    wait_for(lambda: len(jsonl_ids(out)) == 3, 60, "three articles delivered", procs)

    def complete() -> bool:
        text = scrape(port)
        return (
            value(text, 'syndicate_deliveries_total{outcome="delivered",sink="articles"}') >= 3
            and value(text, 'syndicate_polls_total{error_kind="server_error"') >= 1
        )

    wait_for(complete, 30, "deliveries and polls on /metrics", procs)
    text = scrape(port)
    assert value(text, 'syndicate_polls_total{error_kind="",outcome="ok"}') >= 2
    assert value(text, "syndicate_parse_seconds_count") >= 2
    assert 'syndicate_queue_depth{queue="parse"}' in text
    assert 'syndicate_outbox_pending{sink="articles"}' in text
    fresh = [
        line
        for line in text.splitlines()
        if line.startswith("syndicate_feed_last_success_timestamp_seconds{")
    ]
    assert len(fresh) == 2  # the two healthy feeds, not the failing one
    # Each child process counts into its own file; the parent serves their sum.
    assert len(list((tmp_path / "var" / "metrics" / str(port)).glob("counter_*.db"))) >= 2
    health = subprocess.run(
        [sys.executable, "-m", "worker.cli", "health", "--json", "--config", str(config)],
        cwd=tmp_path,
        env=procs.env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert health.returncode == 0, health.stdout + health.stderr
    assert json.loads(health.stdout)["healthy"] is True
