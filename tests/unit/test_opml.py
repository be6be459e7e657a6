"""OPML reading and writing: folders and categories become tags, bad outlines are
reported with their line, nothing in the document can declare an entity."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.core.errors import ParseError
from worker.core.opml import read_opml, write_opml

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "opml" / "subscriptions.opml"


def test_feeds_with_folder_and_category_tags_in_document_order():
    """Nested outlines' titles and category paths become tags; names are one clean line."""
    doc = read_opml(FIXTURE.read_bytes())
    assert doc.title == "My news"
    got = {f.url: (f.name, f.tags) for f in doc.feeds}
    assert got["https://harbour.example/rss.xml"] == ("Harbour Times", ("World",))
    assert got["https://valley.example/feed"] == ("Valley Post", ("World", "europe", "daily"))
    name, tags = got["https://lab.example/atom.xml"]
    assert tags == ("World", "Science") and "\x1b" not in (name or "")
    assert [f.url for f in doc.feeds][:3] == [
        "https://harbour.example/rss.xml",
        "https://valley.example/feed",
        "https://lab.example/atom.xml",
    ]


def test_duplicates_and_invalid_urls_are_reported_with_their_line_not_fatal():
    """A feed listed twice and URLs that are not absolute http(s) are reported, the rest read."""
    doc = read_opml(FIXTURE.read_bytes())
    assert [(d.url, d.line) for d in doc.duplicates] == [("https://valley.example/feed", 13)]
    assert "line 8" in doc.duplicates[0].reason
    reasons = {p.url: p.reason for p in doc.invalid}
    assert reasons["ftp://files.example/feed.xml"].startswith("not an absolute http")
    assert reasons["/feed.xml"].startswith("not an absolute http")
    assert "spaces" in reasons["https://bad.example/a feed.xml"]
    assert len(doc.feeds) == 4  # harbour, valley, lab, entity (its name unexpanded)


def test_entities_declared_in_the_document_are_never_expanded():
    """The DOCTYPE is removed before parsing: a declared entity expands to nothing."""
    doc = read_opml(FIXTURE.read_bytes())
    entity = next(f for f in doc.feeds if f.url == "https://entity.example/rss")
    assert "boom" not in (entity.name or "")


def test_not_opml_is_a_clear_error():
    """An RSS document handed in as OPML is refused, naming the file."""
    with pytest.raises(ParseError, match="not an OPML document"):
        read_opml(b"<rss version='2.0'><channel/></rss>", "feeds.xml")


def test_written_opml_reads_back_the_same_feeds():
    """write_opml then read_opml keeps URLs, names and tags."""
    feeds = [
        ("https://a.example/rss", "A & B <news>", ("world", "daily")),
        ("https://b.example/atom", None, ()),
    ]
    doc = read_opml(write_opml(feeds, "t", "Wed, 25 Nov 2026 00:00:00 GMT"))
    assert [(f.url, f.name, f.tags) for f in doc.feeds] == [
        ("https://a.example/rss", "A & B <news>", ("world", "daily")),
        ("https://b.example/atom", "https://b.example/atom", ()),
    ]
