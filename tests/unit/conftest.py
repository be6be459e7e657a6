"""Fixtures for the unit tests of the pure core: the feed documents in tests/fixtures/feeds,
read, parsed and normalized as the pipeline would, and a check for unsafe characters."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from worker.core.models import Article, FeedSpec, ParsedFeed
from worker.core.normalize import normalize_feed
from worker.core.parse import parse_feed

FEEDS = Path(__file__).resolve().parent.parent / "fixtures" / "feeds"

# Where each fixture is "served from"; the others get a neutral host of their own.
SERVED_AT = {
    "rss091.xml": "https://ferries.harrowgate.example/rss.xml",
    "rss10.rdf": "https://observatory.fenwick.example/notes.rdf",
    "rss20.xml": "https://dispatch.sorrowby.example/feeds/district.xml",
    "rss20_section_world.xml": "https://www.meridianpost.example/rss/world.xml",
    "rss20_section_business.xml": "https://www.meridianpost.example/rss/business.xml",
    "atom03.xml": "https://quillmere.example/bulletin.atom",
    "atom10.xml": "https://tinkerlog.example/feeds/atom",
    "jsonfeed10.json": "https://larchwood-allotments.example/feed.json",
    "jsonfeed11.json": "https://kettleandchain.example/feed.json",
}

# Characters no stored text may hold, written out here rather than imported from the code
# under test: C0 controls but tab and newline, DEL, bidi embeddings/overrides/isolates,
# and lone surrogates.
FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def _served_at(name: str) -> str:
    return SERVED_AT.get(name, f"https://feeds.fixture.example/{name}")


def _read(name: str) -> bytes:
    return (FEEDS / name).read_bytes()


def _parse(name: str) -> tuple[ParsedFeed, list[str]]:
    return parse_feed(_read(name), feed=f"fixture:{name}", url=_served_at(name))


def _articles(name: str, feed_id: str | None = None) -> list[Article]:
    url = _served_at(name)
    parsed, _ = _parse(name)
    return normalize_feed(parsed, FeedSpec(feed_id=feed_id or f"id-{name}", url=url), url)


def _assert_clean(value: str | None) -> None:
    if value is not None:
        found = FORBIDDEN.findall(value)
        assert not found, f"unsafe characters {found!r} in {value!r}"


@pytest.fixture
def served_at() -> Callable[[str], str]:
    """``served_at(name)``: the URL a fixture feed is fetched from in these tests."""
    return _served_at


@pytest.fixture
def feed_bytes() -> Callable[[str], bytes]:
    """``feed_bytes(name)``: the raw bytes of a fixture feed."""
    return _read


@pytest.fixture
def parsed() -> Callable[[str], tuple[ParsedFeed, list[str]]]:
    """``parsed(name)``: the fixture through ``parse_feed``, with the skipped reasons."""
    return _parse


@pytest.fixture
def articles() -> Callable[..., list[Article]]:
    """``articles(name, feed_id=None)``: the fixture parsed and normalized, newest first."""
    return _articles


@pytest.fixture
def assert_clean() -> Callable[[str | None], None]:
    """``assert_clean(text)``: fails naming any NUL, control, bidi or surrogate character."""
    return _assert_clean
