"""The entry memo: an entry served unchanged is recognised without reading its body again.

For every fixture feed, a document normalized with the memo of its own first reading
must give identity analysis exactly what the full reading gives."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from worker.core.boilerplate import Rules
from worker.core.identity import analyse
from worker.core.models import FeedSpec
from worker.core.normalize import (
    Cleaning,
    Limits,
    entry_digest,
    memo_value,
    normalize_document,
)
from worker.core.normalize import _context as context
from worker.core.parse import parse_feed

FEEDS = Path(__file__).resolve().parent.parent / "fixtures" / "feeds"
READABLE = sorted(
    p
    for p in FEEDS.iterdir()
    if p.name not in ("empty.xml", "not_a_feed.html", "jsonfeed_hostile.json")
)
URL = "https://news.example/feed.xml"
SPEC = FeedSpec(feed_id="f1", url=URL)
# Identity-bearing fields: a known entry must have these as the full reading does.
SAME = (
    "article_id",
    "url",
    "canonical_url",
    "guid",
    "title",
    "authors",
    "categories",
    "published",
    "updated",
    "image",
    "enclosures",
    "source",
    "content_hash",
)


def _parsed(path: Path):
    parsed, _ = parse_feed(path.read_bytes(), feed="f1", url=URL)
    return parsed


def _memo_of(doc) -> dict[str, str]:
    entries = analyse(doc.articles, "f1")
    return {doc.digests[e.position]: memo_value(e.content, e.article.content_hash) for e in entries}


@pytest.mark.parametrize("path", READABLE, ids=lambda p: p.name)
def test_a_document_read_with_its_memo_gives_identity_the_same_entries(path: Path) -> None:
    parsed = _parsed(path)
    full = normalize_document(parsed, SPEC, URL)
    assert full.articles, path.name
    memo = _memo_of(full)
    again = normalize_document(parsed, SPEC, URL, memo=memo)
    kept = {e.position for e in analyse(full.articles, "f1")}
    for n, (a, b) in enumerate(zip(full.articles, again.articles, strict=True)):
        if n not in kept:  # a repeated copy of an item: never memoized
            assert again.content_keys[n] is None
            continue
        assert again.content_keys[n] is not None, (path.name, n)
        for name in SAME:
            assert getattr(b, name) == getattr(a, name), (path.name, n, name)
        assert b.content_text is None and b.content_html is None  # the body was not read
    assert analyse(again.articles, "f1", again.content_keys) == [
        replace(e, article=again.articles[e.position]) for e in analyse(full.articles, "f1")
    ]


def test_the_digest_changes_with_the_entry_and_with_what_normalizing_depends_on() -> None:
    parsed = _parsed(FEEDS / "rss20.xml")
    entry = parsed.entries[0]
    base = context(URL, parsed.language, Limits(), Cleaning())
    digest = entry_digest(entry, base)
    assert entry_digest(entry, base) == digest
    assert entry_digest(replace(entry, content=(entry.content or "") + "!"), base) != digest
    assert entry_digest(replace(entry, title="Another"), base) != digest
    assert entry_digest(replace(entry, categories=("x",)), base) != digest
    others = [
        context("https://elsewhere.example/feed.xml", parsed.language, Limits(), Cleaning()),
        context(URL, "fr", Limits(), Cleaning()),
        context(URL, parsed.language, Limits(max_content_chars=10), Cleaning()),
        context(
            URL, parsed.language, Limits(), Cleaning(rules=Rules.build(patterns=[r"^Sponsored"]))
        ),
    ]
    assert all(entry_digest(entry, c) != digest for c in others)


def test_entries_not_in_the_memo_are_read_in_full() -> None:
    parsed = _parsed(FEEDS / "rss20.xml")
    full = normalize_document(parsed, SPEC, URL)
    memo = _memo_of(full)
    first = full.digests[0]
    partial = {k: v for k, v in memo.items() if k != first}
    doc = normalize_document(parsed, SPEC, URL, memo=partial)
    assert doc.content_keys[0] is None and doc.articles[0] == full.articles[0]
    assert doc.light == (len(full.articles) > 1)
    assert not normalize_document(parsed, SPEC, URL, memo={}).light
