"""A feed farm: many RSS feeds on 127.0.0.1, fast, deterministic given a seed.

    python -m benchmarks.farm --feeds 2000 --items 20 --port 8900 --seed 1

- ``GET /feed/<n>.xml``: feed n (RSS 2.0), with ETag and Last-Modified; a conditional
  request for the current version gets 304; ``Accept-Encoding: gzip`` gets gzip.
- ``POST /_advance?fraction=0.1``: that fraction of the feeds (chosen by the seeded RNG)
  each publish one new item, stamped with the current time.
- ``GET /_published``: ``{item_guid: published_at}`` for every item published by
  ``_advance`` (the initial items are dated in the past and not listed).
- ``GET /_stats``: requests served, 200s and 304s.
- ``--latency MS`` adds that delay to every feed response.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import hashlib
import random
import time
from dataclasses import dataclass, field
from email.utils import formatdate

from aiohttp import web

WORDS = (
    "council harbour budget election minister river storm market energy school hospital "
    "court police rail bridge union strike grain price export border talks summit ceasefire "
    "report data survey vote coalition reform tariff inflation rate bank climate flood fire "
    "museum festival league season coach injury transfer record science study vaccine"
).split()


@dataclass
class Feed:
    n: int
    items: list[tuple[str, str, str, float]] = field(default_factory=list)  # guid,title,body,ts
    version: int = 0
    cache: dict[str, bytes] = field(default_factory=dict)
    modified: float = 0.0

    @property
    def etag(self) -> str:
        return f'"{self.n}-{self.version}"'


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def _item(rng: random.Random, n: int, j: int, ts: float) -> tuple[str, str, str, float]:
    title = _sentence(rng, 8)[:-1]
    body = "".join(f"<p>{_sentence(rng, rng.randint(18, 30))}</p>" for _ in range(5))
    return f"farm-{n}-{j}", title, body, ts


class Farm:
    def __init__(self, feeds: int, items: int, seed: int, latency_ms: float) -> None:
        self.rng = random.Random(seed)
        self.latency = latency_ms / 1000
        start = 1_700_000_000.0
        self.feeds = []
        for n in range(feeds):
            feed = Feed(n)
            feed.items = [_item(self.rng, n, j, start + j * 3600) for j in range(items)]
            feed.modified = start + items * 3600
            self.feeds.append(feed)
        self.keep = items
        self.published: dict[str, float] = {}
        self.stats = {"requests": 0, "ok": 0, "not_modified": 0}

    def render(self, feed: Feed) -> bytes:
        items = "".join(
            f"<item><title>{title}</title>"
            f"<link>https://site{feed.n % 97}.example/{guid}?utm_source=farm</link>"
            f'<guid isPermaLink="false">{guid}</guid>'
            f"<pubDate>{formatdate(ts, usegmt=True)}</pubDate>"
            f"<description>{title}.</description>"
            f"<content:encoded><![CDATA[{body}]]></content:encoded></item>"
            for guid, title, body, ts in reversed(feed.items)
        )
        return (
            '<?xml version="1.0" encoding="utf-8"?>'
            '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
            f"<channel><title>Farm feed {feed.n}</title><language>en</language>"
            f"<link>https://site{feed.n % 97}.example/</link>{items}</channel></rss>"
        ).encode()

    def body(self, feed: Feed, gzipped: bool) -> bytes:
        key = f"{feed.version}:{gzipped}"
        if key not in feed.cache:
            feed.cache.clear()
            raw = self.render(feed)
            feed.cache[f"{feed.version}:False"] = raw
            feed.cache[f"{feed.version}:True"] = gzip.compress(raw, 5)
        return feed.cache[key]

    async def serve_feed(self, request: web.Request) -> web.Response:
        self.stats["requests"] += 1
        if self.latency:
            await asyncio.sleep(self.latency)
        try:
            feed = self.feeds[int(request.match_info["n"])]
        except (ValueError, IndexError):
            raise web.HTTPNotFound() from None
        last_modified = formatdate(feed.modified, usegmt=True)
        headers = {"ETag": feed.etag, "Last-Modified": last_modified}
        if (
            request.headers.get("If-None-Match") == feed.etag
            or request.headers.get("If-Modified-Since") == last_modified
        ):
            self.stats["not_modified"] += 1
            return web.Response(status=304, headers=headers)
        self.stats["ok"] += 1
        gzipped = "gzip" in request.headers.get("Accept-Encoding", "")
        if gzipped:
            headers["Content-Encoding"] = "gzip"
        return web.Response(
            body=self.body(feed, gzipped), headers=headers, content_type="application/rss+xml"
        )

    def change(self, fraction: float, now: float) -> list[Feed]:
        """Publish one new item (dropping the oldest) in ``fraction`` of the feeds."""
        chosen = self.rng.sample(self.feeds, round(len(self.feeds) * fraction))
        for feed in chosen:
            item = _item(self.rng, feed.n, len(feed.items) + feed.version, now)
            feed.items = (
                [*feed.items[1:], item] if len(feed.items) >= self.keep else [*feed.items, item]
            )
            feed.version += 1
            feed.modified = now
            self.published[item[0]] = now
        return chosen

    async def advance(self, request: web.Request) -> web.Response:
        now = time.time()
        chosen = self.change(float(request.query.get("fraction", "0.1")), now)
        return web.json_response({"changed": len(chosen), "at": now})

    async def get_published(self, request: web.Request) -> web.Response:
        return web.json_response(self.published)

    async def get_stats(self, request: web.Request) -> web.Response:
        return web.json_response(self.stats)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/feed/{n}.xml", self.serve_feed)
        app.router.add_post("/_advance", self.advance)
        app.router.add_get("/_published", self.get_published)
        app.router.add_get("/_stats", self.get_stats)
        return app


def digest(feeds: int, items: int, seed: int) -> str:
    """A fingerprint of the farm's content, to show two runs served the same feeds."""
    farm = Farm(feeds, items, seed, 0)
    h = hashlib.sha256()
    for feed in farm.feeds:
        h.update(farm.render(feed))
    return h.hexdigest()[:16]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--latency", type=float, default=0.0, help="added ms per response")
    parser.add_argument("--port", type=int, default=8900)
    args = parser.parse_args()
    farm = Farm(args.feeds, args.items, args.seed, args.latency)
    web.run_app(
        farm.app(), host="127.0.0.1", port=args.port, print=None, access_log=None, backlog=4096
    )


if __name__ == "__main__":
    main()
