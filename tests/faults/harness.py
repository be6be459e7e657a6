"""What the fault tests share: 50 feeds that keep changing, readers for every sink that
note when each event arrived, a Redis of a test's own, and the figures they report."""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import signal
import socket
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import psycopg
import redis

from tests.feeds import rss
from worker.demo.server import FeedServer, Resource


class Newsroom:
    """``feeds`` feeds on a FeedServer; while changing, new stories appear every second
    in a few of them. Every GET is timed, per feed."""

    def __init__(
        self, server: FeedServer, feeds: int = 50, initial: int = 2, seed: int = 6
    ) -> None:
        self.server = server
        self.rng = random.Random(seed)
        self.items: dict[int, list[tuple[str, str]]] = {
            n: [(f"f{n}-s{i}", f"Story {i} from desk {n}") for i in range(initial)]
            for n in range(feeds)
        }
        self.gets: dict[int, list[float]] = {n: [] for n in range(feeds)}
        # canonical URL -> when the story appeared in its feed
        started = time.time()
        self.initial = {
            self.url_of(n, slug) for n, entries in self.items.items() for slug, _ in entries
        }
        self.added_at: dict[str, float] = {
            self.url_of(n, slug): started
            for n, entries in self.items.items()
            for slug, _ in entries
        }
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        for n in self.items:
            self._publish(n)

    @staticmethod
    def url_of(n: int, slug: str) -> str:
        return f"https://desk{n}.example/story/{slug}"

    def path(self, n: int) -> str:
        return f"/desk{n}.xml"

    def urls(self) -> list[str]:
        return [self.server.url(self.path(n)) for n in self.items]

    def _publish(self, n: int) -> None:
        body = rss(list(self.items[n]), title=f"Desk {n}", site=f"https://desk{n}.example")

        def route() -> Resource:
            with self._lock:
                self.gets[n].append(time.time())
            return Resource(body)

        self.server.routes[self.path(n)] = route

    def add_story(self, n: int) -> None:
        with self._lock:
            i = len(self.items[n])
            self.items[n].append((f"f{n}-s{i}", f"Story {i} from desk {n}"))
        self._publish(n)
        with self._lock:
            self.added_at[self.url_of(n, f"f{n}-s{i}")] = time.time()

    def start_changes(self, per_second: int = 5) -> None:
        def run() -> None:
            while not self._stop.wait(1.0):
                for n in self.rng.sample(sorted(self.items), per_second):
                    self.add_story(n)

        self._stop.clear()
        self._thread = threading.Thread(target=run, daemon=True)
        self._thread.start()

    def stop_changes(self) -> None:
        self._stop.set()
        if self._thread:
            self._thread.join()

    def expected(self) -> set[str]:
        """The canonical URL of every story published so far."""
        with self._lock:
            return {
                self.url_of(n, slug) for n, entries in self.items.items() for slug, _ in entries
            }

    def end_to_end(
        self, seen: Seen, since: float = 0.0, until: float = float("inf")
    ) -> dict[str, float]:
        """From a story appearing in its feed to its event in the sink, for stories
        published in [since, until] (after the first ones, present from the start)."""
        with self._lock:
            added = dict(self.added_at)
        start = min(added.values())
        delays = sorted(
            arrived - added[url]
            for _, url, _, arrived in seen
            if url in added and added[url] > start and since <= added[url] <= until
        )
        return _summary(delays)


def config(
    path: Path,
    urls: list[str],
    sinks: str,
    *,
    min_interval: float = 2,
    max_interval: float = 4,
    delivery: str = "",
) -> Path:
    feeds = "".join(f'[[feeds]]\nurl = "{u}"\n' for u in urls)
    path.write_text(f"""{feeds}
[fetch]
allow_private_networks = true
timeout = 5
# Every test feed lives on 127.0.0.1, one host: lift the per-host politeness budget, as
# an operator would for a feed proxy.
host_rate = 1000
host_burst = 1000
host_concurrency = 200

[schedule]
min_interval = {min_interval}
max_interval = {max_interval}
tick_interval = 0.5
lease = 8

[delivery]
lease = 8
retry_base = 0.5
retry_max = 8
{delivery}

{sinks}
""")
    return path


def sinks_toml(tmp_path: Path, dsn: str, table: str, stream: str, extra: str = "") -> str:
    return (
        f'[sinks.pg]\ntype = "postgres"\ndsn = "{dsn}"\ntable = "{table}"\n\n'
        f'[sinks.stream]\ntype = "redis_stream"\nstream = "{stream}"\n\n'
        f'[sinks.file]\ntype = "jsonl"\npath = "{tmp_path / "out.jsonl"}"\n\n{extra}'
    )


# -- reading the sinks -----------------------------------------------------------------
# Each reader returns every stored event as (event_id, canonical_url, detected, arrived).

Seen = list[tuple[str, str, float, float]]


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


def delivery_counts(logs: list[Path]) -> dict[str, dict[str, int]]:
    """Totals of the workers' ``delivery.batch`` lines per sink: how many events each
    sink took, how many redeliveries it dropped as duplicates, how many failed."""
    totals: dict[str, dict[str, int]] = {}
    for path in logs:
        if not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            if '"delivery.batch"' not in line:
                continue
            doc = json.loads(line)
            sink = totals.setdefault(doc["sink"], {})
            for key in ("delivered", "duplicates", "failed", "dead_lettered"):
                sink[key] = sink.get(key, 0) + int(doc.get(key, 0))
    return totals


def read_pg(dsn: str, table: str) -> Seen:
    with psycopg.connect(dsn) as conn:
        if conn.execute("SELECT to_regclass(%s)", (table,)).fetchone() == (None,):
            return []
        rows = conn.execute(
            f"SELECT event_id, event->'data'->>'canonical_url', event->>'time', "
            f"extract(epoch from received_at) FROM {table}"
        ).fetchall()
    return [(e, url, _epoch(t), float(at)) for e, url, t, at in rows]


def read_stream(client: redis.Redis, stream: str) -> Seen:
    out = []
    for entry_id, fields in client.xrange(stream):
        doc = json.loads(fields[b"event"])
        arrived = int(entry_id.split(b"-")[0]) / 1000
        out.append((doc["id"], doc["data"]["canonical_url"], _epoch(doc["time"]), arrived))
    return out


class FileWatch:
    """Reads the JSONL sink every 0.1 s and notes when each line first appeared."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.seen: Seen = []
        self._offset = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> FileWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(0.1):
            self.poll()

    def poll(self) -> None:
        if not self.path.exists():
            return
        with self.path.open("rb") as fh:
            fh.seek(self._offset)
            data = fh.read()
        end = data.rfind(b"\n") + 1
        now = time.time()
        for line in data[:end].splitlines():
            doc = json.loads(line)
            self.seen.append((doc["id"], doc["data"]["canonical_url"], _epoch(doc["time"]), now))
        self._offset += end


def urls_of(seen: Seen) -> set[str]:
    return {url for _, url, _, _ in seen}


def duplicates(seen: Seen) -> list[str]:
    ids = [e for e, _, _, _ in seen]
    return sorted({e for e in ids if ids.count(e) > 1})


def lag_figures(
    seen: Seen, skip: set[str], since: float = 0.0, until: float = float("inf")
) -> dict[str, float]:
    """Arrival minus detection time (the event's ``time``, whole seconds) of events
    detected in [since, until], leaving out the stories in ``skip`` (those present from
    the start arrive as one burst and would drown the rest)."""
    lags = sorted(
        arrived - detected
        for _, url, detected, arrived in seen
        if since - 1 <= detected <= until and url not in skip
    )
    return _summary(lags)


def _summary(lags: list[float]) -> dict[str, float]:
    if not lags:
        return {"events": 0}
    return {
        "events": len(lags),
        "p50_s": round(statistics.median(lags), 2),
        "p95_s": round(lags[min(len(lags) - 1, int(0.95 * len(lags)))], 2),
        "max_s": round(lags[-1], 2),
    }


def report(name: str, figures: dict[str, Any]) -> None:
    """Print the figures and, with FAULTS_REPORT set, add them to that JSON file."""
    print(f"\nFAULT {name}: {json.dumps(figures, sort_keys=True)}")
    target = os.environ.get("FAULTS_REPORT")
    if target:
        path = Path(target)
        doc = json.loads(path.read_text()) if path.exists() else {}
        doc[name] = figures
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")


# -- a Redis of the test's own ---------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OwnRedis:
    """redis-server on a free 127.0.0.1 port with AOF on, in a temporary directory;
    ``kill`` and ``start`` restart it on the same port and data."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        binary = shutil.which("redis-server")
        assert binary, "redis-server is needed for the Redis restart test"
        self.binary = binary

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> float:
        """Start it; returns when it answers PING (the time it did)."""
        log = (self.dir / "redis.log").open("ab")
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--dir",
                str(self.dir),
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--save",
                "",
                "--maxmemory-policy",
                "noeviction",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        client = redis.Redis.from_url(self.url, socket_connect_timeout=0.5)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with contextlib.suppress(redis.RedisError):
                if client.ping():
                    client.close()
                    return time.time()
            time.sleep(0.05)
        raise AssertionError("own redis-server did not come up; see redis.log")

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)

    @contextlib.contextmanager
    def running(self) -> Iterator[OwnRedis]:
        self.start()
        try:
            yield self
        finally:
            self.kill()
