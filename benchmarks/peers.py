"""The peers we measure against, on the same farm in the same run.

Each peer does a cold pass (every entry new) and a warm pass (after the farm advanced),
and reports how many entries it found new, how long each pass took, and when it first
saw each item published by the farm's advance (for publication-to-detection latency).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import feedparser
import httpx


@dataclass
class PassResult:
    seconds: float
    new_entries: int
    feeds: int
    seen_at: dict[str, float] = field(default_factory=dict)


class NaiveLoop:
    """httpx + feedparser, one feed after another, with conditional GETs and a seen set."""

    name = "naive httpx+feedparser"

    def __init__(self, urls: list[str]) -> None:
        self.urls = urls
        self.client = httpx.Client(timeout=30)
        self.validators: dict[str, tuple[str | None, str | None]] = {}
        self.seen: set[str] = set()

    def run_pass(self) -> PassResult:
        started = time.perf_counter()
        new = 0
        seen_at: dict[str, float] = {}
        for url in self.urls:
            etag, modified = self.validators.get(url, (None, None))
            headers = {}
            if etag:
                headers["If-None-Match"] = etag
            if modified:
                headers["If-Modified-Since"] = modified
            response = self.client.get(url, headers=headers)
            if response.status_code == 304:
                continue
            self.validators[url] = (response.headers.get("etag"),
                                    response.headers.get("last-modified"))
            for entry in feedparser.parse(response.content).entries:
                guid = entry.get("id") or entry.get("link")
                if guid not in self.seen:
                    self.seen.add(guid)
                    seen_at[guid] = time.time()
                    new += 1
        return PassResult(time.perf_counter() - started, new, len(self.urls), seen_at)

    def close(self) -> None:
        self.client.close()


class ReaderLib:
    """lemon24's reader: ``update_feeds(workers=N)`` on its own SQLite database."""

    name = "reader"

    def __init__(self, urls: list[str], db: Path, workers: int = 16) -> None:
        from reader import make_reader

        self.reader = make_reader(str(db))
        self.workers = workers
        for url in urls:
            self.reader.add_feed(url, exist_ok=True)
        self.feeds = len(urls)

    def run_pass(self) -> PassResult:
        before = {(e.feed_url, e.id) for e in self.reader.get_entries()}
        started = time.perf_counter()
        # scheduled=False: poll every feed now, as the other systems do on a pass
        self.reader.update_feeds(workers=self.workers, scheduled=False)
        seconds = time.perf_counter() - started
        seen_at = {}
        new = 0
        for entry in self.reader.get_entries():
            if (entry.feed_url, entry.id) not in before:
                new += 1
                seen_at[entry.id] = entry.added.timestamp()
        return PassResult(seconds, new, self.feeds, seen_at)

    def close(self) -> None:
        self.reader.close()
