"""The published JSON Schemas (schemas/), and real events to check sinks' payloads with."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from worker.core.events import article_event
from worker.core.models import Article, FeedSpec
from worker.core.normalize import normalize_feed
from worker.core.parse import parse_feed

SCHEMAS = Path(__file__).resolve().parents[1] / "schemas"
FEEDS = Path(__file__).resolve().parent / "fixtures" / "feeds"


@cache
def validator() -> Draft202012Validator:
    registry: Registry[Any] = Registry()
    docs = {}
    for path in sorted(SCHEMAS.glob("*.schema.json")):
        doc = json.loads(path.read_text())
        Draft202012Validator.check_schema(doc)
        docs[path.name] = doc
        registry = registry.with_resource(doc["$id"], Resource.from_contents(doc))
    return Draft202012Validator(docs["cloudevent.schema.json"], registry=registry)


def assert_valid_event(payload: bytes | str | dict[str, Any]) -> dict[str, Any]:
    """Fail with every schema violation of one event; return it parsed."""
    doc = payload if isinstance(payload, dict) else json.loads(payload)
    errors = sorted(validator().iter_errors(doc), key=lambda e: list(e.absolute_path))
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)
    return doc


def fixture_articles(name: str = "rss20.xml") -> list[Article]:
    url = f"https://feeds.fixture.example/{name}"
    parsed, _ = parse_feed((FEEDS / name).read_bytes(), feed=name, url=url)
    return normalize_feed(parsed, FeedSpec(feed_id=f"id-{name}", url=url), url)


# Fixtures that are feeds (the others are there to fail).
EVENT_FIXTURES = (
    "rss20.xml",
    "rss10.rdf",
    "rss091.xml",
    "atom10.xml",
    "atom03.xml",
    "jsonfeed11.json",
    "jsonfeed10.json",
    "rss20_section_world.xml",
    "jsonfeed_hostile.json",
    "rss20_windows1252.xml",
    "rss20_utf16.xml",
)


def real_events(
    name: str | None = None, detected: str = "2026-11-25T00:08:46Z"
) -> list[tuple[str, bytes]]:
    """(event_id, body) pairs of the articles of one fixture feed (all of them when
    None), as the outbox holds them, each id once."""
    out: dict[str, bytes] = {}
    for fixture in (name,) if name else EVENT_FIXTURES:
        for article in fixture_articles(fixture):
            event = article_event(article, detected)
            out.setdefault(event.event_id, event.body)
    return list(out.items())
