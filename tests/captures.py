"""The feed captures of tests/fixtures/dedupe, read as the pipeline reads them."""

from __future__ import annotations

from pathlib import Path

from worker.core.models import Article, FeedSpec
from worker.core.normalize import normalize_feed
from worker.core.parse import parse_feed

CAPTURES = Path(__file__).resolve().parent / "fixtures" / "dedupe"


def load(name: str, feed_id: str) -> list[Article]:
    """The capture parsed and normalized as if served at a URL named after ``feed_id``."""
    url = f"https://feeds.fixture.example/{feed_id}.xml"
    parsed, _ = parse_feed((CAPTURES / name).read_bytes(), feed=feed_id, url=url)
    return normalize_feed(parsed, FeedSpec(feed_id=feed_id, url=url), url)
