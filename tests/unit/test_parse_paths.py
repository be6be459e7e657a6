"""The fast lxml path and the feedparser path read the same documents the same way.

The differences that remain are deliberate, documented in docs/content.md, and each has a
test here saying which path does what.
"""

from __future__ import annotations

import pytest

from worker.core.models import FeedSpec
from worker.core.normalize import normalize_feed
from worker.core.parse import parse_feed

XML_FIXTURES = [
    "rss091.xml",
    "rss10.rdf",
    "rss20.xml",
    "rss20_section_world.xml",
    "rss20_section_business.xml",
    "rss20_windows1252.xml",
    "rss20_utf16.xml",
    "atom03.xml",
    "atom10.xml",
    "truncated.xml",
    "seed_teaser.xml",
]


def _both(body: bytes, url: str):
    out = []
    for fast in (True, False):
        parsed, skipped = parse_feed(body, feed="f", url=url, fast=fast)
        out.append((parsed, skipped, normalize_feed(parsed, FeedSpec("f", url), url)))
    return out


@pytest.mark.parametrize("name", XML_FIXTURES)
def test_both_paths_give_the_same_articles(feed_bytes, served_at, name):
    """On every XML fixture the fast path and feedparser give identical normalized articles."""
    (fast, fast_skipped, a), (slow, slow_skipped, b) = _both(feed_bytes(name), served_at(name))
    assert fast.parser == "lxml"
    assert slow.parser == "feedparser"
    assert fast.format == slow.format
    assert (fast.title, fast.link, fast.language) == (slow.title, slow.link, slow.language)
    assert [x.to_dict() for x in a] == [y.to_dict() for y in b]
    assert fast_skipped == slow_skipped


def _rss(item: str, channel: str = "") -> bytes:
    return (
        '<rss version="2.0" xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd" '
        'xmlns:atom="http://www.w3.org/2005/Atom">'
        f"<channel><title>t</title><link>https://site.example/</link>{channel}"
        f"<item>{item}</item></channel></rss>"
    ).encode()


def test_non_url_permalink_guid_is_no_link_on_either_path():
    """A GUID like "1234" is never taken as the link (feedparser alone would resolve it)."""
    body = _rss("<title>x</title><guid>1234</guid>")
    for _, _, (article,) in _both(body, "https://site.example/rss"):
        assert article.guid == "1234"
        assert article.url is None


def test_url_guid_is_the_link_on_both_paths():
    """A permalink GUID that is an http(s) URL is the link when there is no <link>."""
    body = _rss("<title>x</title><guid>https://site.example/a/1</guid>")
    for _, _, (article,) in _both(body, "https://site.example/rss"):
        assert article.url == "https://site.example/a/1"


def test_difference_nested_description_is_not_content_on_the_fast_path():
    """Documented difference: a <description> nested in an unknown element is ignored by the
    fast path; feedparser flattens it into a second description and takes it as content."""
    body = _rss(
        "<title>x</title><description>&lt;p&gt;The whole story.&lt;/p&gt;</description>"
        "<og><description>A teaser.</description></og>"
    )
    (_, _, (fast,)), (_, _, (slow,)) = _both(body, "https://site.example/rss")
    assert fast.content_text == "The whole story."
    assert slow.content_text == "A teaser."


def test_difference_atom_id_is_not_resolved_as_a_url_on_the_fast_path():
    """Documented difference: a relative Atom <id> stays as written; feedparser resolves it."""
    body = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>t</title>'
        b"<entry><id>t3_abc</id><title>x</title></entry></feed>"
    )
    (_, _, (fast,)), (_, _, (slow,)) = _both(body, "https://site.example/atom")
    assert fast.guid == "t3_abc"
    assert slow.guid == "https://site.example/t3_abc"


def test_itunes_summary_after_description_becomes_content_on_both_paths():
    """A longer itunes:summary after a short description is the content on both paths."""
    body = _rss(
        "<title>x</title><description>Short.</description>"
        "<itunes:summary>The long episode notes.</itunes:summary>"
    )
    for _, _, (article,) in _both(body, "https://site.example/rss"):
        assert article.summary == "Short."
        assert article.content_text == "The long episode notes."


def test_feedburner_origlink_is_the_url_on_both_paths():
    """feedburner:origLink replaces the feedproxy link; canonical_url drops its tracking."""
    body = (
        b'<rss version="2.0" xmlns:feedburner="http://rssnamespace.org/feedburner/ext/1.0">'
        b"<channel><title>t</title><link>https://site.example/</link><item><title>x</title>"
        b"<link>https://feedproxy.google.com/~r/site/~3/abc/story</link>"
        b"<feedburner:origLink>https://site.example/story?utm_source=feedburner"
        b"</feedburner:origLink></item></channel></rss>"
    )
    for _, _, (article,) in _both(body, "https://feeds.feedburner.example/site"):
        assert article.url == "https://site.example/story?utm_source=feedburner"
        assert article.canonical_url == "https://site.example/story"
