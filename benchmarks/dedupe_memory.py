"""Bytes Redis keeps per remembered article, before and with the dedupe state.

    python -m benchmarks.dedupe_memory --redis redis://127.0.0.1:6379/11 [--n 20000]

Inserts N synthetic articles through ``RedisStore.commit_articles`` (no sinks, a
two-byte event body, so the outbox adds next to nothing) under a fresh key prefix, and
reports the ``used_memory`` delta per article for three kinds of record, side by side:

* ``seen only``: the record as it was before dedupe (revision and content hash);
* ``copy``: a syndicated copy: fingerprint and two aliases (GUID and content keys);
* ``original``: the first article of a story: the same plus its 16 near-duplicate bands.

Event keys are deleted before measuring (they leave an hour after delivery anyway). The
keys are deleted afterwards; use a Redis database nobody else writes to meanwhile.
"""

from __future__ import annotations

import argparse
import hashlib
import uuid

import redis

from worker.adapters.store.redis import RedisStore
from worker.core.identity import short_key
from worker.core.models import ArticleCommit, Event, SeenRecord
from worker.core.neardup import fingerprint

NOW = 1_800_000_000.0
WORDS = (
    "rail line harbour council storm bridge ferry clinic ward vote budget road "
    "engineers residents officials minister report crews cost week river"
).split()


def _id(kind: str, n: int) -> str:
    return hashlib.sha256(f"{kind}{n}".encode()).hexdigest()[:24]


def _text(n: int) -> str:
    h = hashlib.sha256(str(n).encode()).digest()
    return " ".join(WORDS[(h[i % 32] + i * 7) % len(WORDS)] + str(i % 50) for i in range(400))


def make(kind: str, n: int) -> ArticleCommit:
    article = _id(kind, n)
    event = Event(f"{article}.1", "article.created", article, b"{}")
    if kind == "seen":
        return ArticleCommit(SeenRecord(article, 1, (_id("h", n) + "00000000")[:32]), 0, event, ())
    fp = fingerprint(f"Headline {n}", _text(n))
    original = kind == "original"
    seen = SeenRecord(
        article,
        1,
        (_id("h", n) + "00000000")[:32],
        feed_key=short_key("feed", str(n % 50)),
        title_key=fp.title_key,
        signature=fp.signature,
        cluster_id=article if original else _id("original", n),
        duplicate_of=None if original else _id("original", n),
    )
    return ArticleCommit(
        seen, 0, event, (), aliases=(_id("g", n), _id("c", n)), bands=fp.bands if original else ()
    )


def measure(client: redis.Redis, n: int, kind: str) -> float:
    prefix = f"bench-mem-{uuid.uuid4().hex[:8]}"
    store = RedisStore(client, prefix=prefix)
    try:
        commits = [make(kind, i) for i in range(n)]
        client.execute_command("MEMORY", "PURGE")
        before = int(client.info("memory")["used_memory"])
        for i in range(0, n, 500):
            store.commit_articles(commits[i : i + 500], NOW + i, 60)
        _delete(client, f"{prefix}:ev:*")
        client.execute_command("MEMORY", "PURGE")
        after = int(client.info("memory")["used_memory"])
        return (after - before) / n
    finally:
        _delete(client, f"{prefix}:*")


def _delete(client: redis.Redis, pattern: str) -> None:
    batch = []
    for key in client.scan_iter(match=pattern, count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            client.delete(*batch)
            batch = []
    if batch:
        client.delete(*batch)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--redis", required=True, help="a Redis URL (a database of its own)")
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    client = redis.Redis.from_url(args.redis)
    print(
        f"redis {client.info('server')['redis_version']}, {args.n} articles per run, "
        f"{args.rounds} alternating rounds"
    )
    results: dict[str, list[float]] = {"seen": [], "copy": [], "original": []}
    for _ in range(args.rounds):
        for kind, runs in results.items():
            runs.append(measure(client, args.n, kind))
    base = min(results["seen"])
    print(f"{'record':>10} {'bytes/article':>14} {'vs seen only':>13}   runs")
    for kind, label in (("seen", "seen only"), ("copy", "copy"), ("original", "original")):
        best = min(results[kind])
        runs = ", ".join(f"{r:.0f}" for r in results[kind])
        print(f"{label:>10} {best:>14.0f} {best / base:>12.1f}x   {runs}")


if __name__ == "__main__":
    main()
