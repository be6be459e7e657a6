"""What the operations features cost: Redis bytes per delivery receipt and per feed's
latency samples, the time the deliver stage spends recording them next to the time the
sink itself takes, and an OPML-sized import through ``add_feeds`` next to ``add_feed``
one at a time.

    python -m benchmarks.ops_cost --redis redis://127.0.0.1:6379/11 [--tmp DIR]

Runs are alternated (baseline, ours, baseline, ours...) and the medians printed side by
side. Keys live under a fresh prefix and are deleted afterwards; use a Redis database
nobody else writes to meanwhile (the memory figures read ``used_memory``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import redis

from worker.adapters.sinks.jsonl import JsonlSink
from worker.adapters.store.redis import RedisStore
from worker.adapters.store.sqlite import SqliteStore
from worker.core.delivery_stats import MAX_SAMPLES, LatencySample, latency_samples
from worker.core.models import FeedSpec

NOW = 1_800_000_000.0
BATCH = 500


def _events(n: int, start: int) -> dict[str, bytes]:
    out = {}
    for i in range(start, start + n):
        eid = hashlib.sha256(str(i).encode()).hexdigest()[:24] + ".1"
        out[eid] = json.dumps(
            {
                "specversion": "1.0",
                "id": eid,
                "type": "article.created",
                "time": "2027-01-15T08:01:00Z",
                "data": {
                    "published": "2027-01-15T08:00:00Z",
                    "title": "t" * 80,
                    "content_text": "word " * 500,
                    "source": {"feed_id": f"f{i % 50}"},
                },
            },
            separators=(",", ":"),
        ).encode()
    return out


def _memory(r: redis.Redis) -> int:
    return int(r.info("memory")["used_memory"])  # type: ignore[index]


def memory(url: str) -> None:
    r = redis.Redis.from_url(url)
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    store = RedisStore(r, prefix=prefix)
    try:
        n = 50_000
        ids = [hashlib.sha256(str(i).encode()).hexdigest()[:24] + ".1" for i in range(n)]
        before = _memory(r)
        for i in range(0, n, BATCH):
            store.record_deliveries("articles", ids[i : i + BATCH], [], NOW)
        per_receipt = (_memory(r) - before) / n
        feeds = 10_000
        before = _memory(r)
        samples = [
            LatencySample(f"feed{f:05d}", NOW - 600, 123.4)
            for f in range(feeds)
            for _ in range(MAX_SAMPLES)
        ]
        for i in range(0, len(samples), 5000):
            store.record_deliveries("articles", ["x.1"], samples[i : i + 5000], NOW)
        per_feed = (_memory(r) - before) / feeds
        print(
            f"redis: {per_receipt:.0f} bytes per delivery receipt ({n} receipts, one day, "
            f"one sink); {per_feed:.0f} bytes per feed for {MAX_SAMPLES} latency samples "
            f"({feeds} feeds)"
        )
    finally:
        keys = list(r.scan_iter(match=f"{prefix}*", count=5000))
        for i in range(0, len(keys), 5000):
            r.delete(*keys[i : i + 5000])
        r.close()


def deliver_overhead(url: str, tmp: Path, rounds: int) -> None:
    """Per 500-event batch: the JSONL sink's deliver, and latency_samples +
    record_deliveries on each store (what pipeline.deliver added)."""
    r = redis.Redis.from_url(url)
    prefix = f"bench-{uuid.uuid4().hex[:8]}"
    stores = {
        "redis": RedisStore(r, prefix=prefix),
        "sqlite": SqliteStore(tmp / "state.db", seen_ttl=86400),
    }
    sink = JsonlSink("articles", tmp / "out.jsonl")
    times: dict[str, list[float]] = {"sink": [], "redis": [], "sqlite": []}
    try:
        for n in range(rounds):
            bodies = _events(BATCH, n * BATCH)
            t0 = time.perf_counter()
            report = sink.deliver(list(bodies.items()))
            times["sink"].append(time.perf_counter() - t0)
            for name, store in stores.items():
                t0 = time.perf_counter()
                samples = latency_samples(bodies, report.delivered, NOW)
                store.record_deliveries("articles", report.delivered, samples, NOW)
                times[name].append(time.perf_counter() - t0)
        med = {k: statistics.median(v) * 1000 for k, v in times.items()}
        print(
            f"per {BATCH}-event batch (median of {rounds}): JSONL sink deliver "
            f"{med['sink']:.1f} ms; recording receipts + latency: redis {med['redis']:.1f} ms"
            f" ({med['redis'] / med['sink']:.2f}x the sink), sqlite {med['sqlite']:.1f} ms "
            f"({med['sqlite'] / med['sink']:.2f}x)"
        )
    finally:
        sink.close()
        stores["sqlite"].close()
        keys = list(r.scan_iter(match=f"{prefix}*", count=5000))
        if keys:
            r.delete(*keys)
        r.close()


def import_speed(url: str, tmp: Path, feeds: int, rounds: int) -> None:
    r = redis.Redis.from_url(url)
    results: dict[str, list[float]] = {}
    try:
        for n in range(rounds):
            for kind in ("redis", "sqlite"):
                for how in ("add_feed", "add_feeds"):  # alternated, baseline first
                    prefix = f"bench-{uuid.uuid4().hex[:8]}"
                    store = (
                        RedisStore(r, prefix=prefix)
                        if kind == "redis"
                        else SqliteStore(tmp / f"imp-{n}-{how}.db", seen_ttl=86400)
                    )
                    specs = [
                        FeedSpec(f"f{i}", f"https://h{i % 97}.example/{i}.xml", origin="store")
                        for i in range(feeds)
                    ]
                    t0 = time.perf_counter()
                    if how == "add_feed":
                        for s in specs:
                            store.add_feed(s, NOW)
                    else:
                        store.add_feeds(specs, NOW)
                    results.setdefault(f"{kind} {how}", []).append(time.perf_counter() - t0)
                    store.close() if kind == "sqlite" else None
                    keys = list(r.scan_iter(match=f"{prefix}*", count=5000))
                    for i in range(0, len(keys), 5000):
                        r.delete(*keys[i : i + 5000])
    finally:
        r.close()
    for kind in ("redis", "sqlite"):
        one = statistics.median(results[f"{kind} add_feed"])
        many = statistics.median(results[f"{kind} add_feeds"])
        print(
            f"import {feeds} feeds, {kind}: add_feed one by one {one:.2f} s, add_feeds "
            f"{many:.2f} s ({one / many:.1f}x faster)"
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--redis", required=True)
    ap.add_argument("--tmp", type=Path, default=None)
    ap.add_argument("--rounds", type=int, default=20)
    ap.add_argument("--feeds", type=int, default=5000)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=args.tmp) as d:
        memory(args.redis)
        deliver_overhead(args.redis, Path(d), args.rounds)
        import_speed(args.redis, Path(d), args.feeds, 3)


if __name__ == "__main__":
    main()
