"""normalize_feed / normalize_entry: RawEntry into a clean Article."""

from __future__ import annotations

import json
import re
from dataclasses import replace

import pytest

from worker.core.models import Article, Enclosure, FeedSpec, ParsedFeed, RawEntry, SourceRef
from worker.core.normalize import Limits, normalize_entry, normalize_feed
from worker.core.parse import parse_feed

ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")
SOURCE = SourceRef(feed_id="f1", feed_url="https://news.example/feed.xml")
FETCHED = "https://news.example/feed.xml"

PARSEABLE = [
    "rss091.xml",
    "rss10.rdf",
    "rss20.xml",
    "rss20_section_world.xml",
    "rss20_section_business.xml",
    "rss20_windows1252.xml",
    "rss20_utf16.xml",
    "atom03.xml",
    "atom10.xml",
    "jsonfeed10.json",
    "jsonfeed11.json",
    "jsonfeed_mixed_types.json",
    "jsonfeed_hostile.json",
    "truncated.xml",
]


def _news_article(articles) -> Article:
    return next(a for a in articles("rss20.xml") if a.guid == "dispatch-2024-0314-clinics")


def test_news_article_keeps_headline_standfirst_author_category(articles):
    """The news item keeps headline, standfirst (as summary), author, categories and date."""
    article = _news_article(articles)
    assert article.title == "Upland Clinics Trial Weekend Opening as Waiting Lists Lengthen"
    assert article.summary == (
        "Three rural practices in the Sorrowby district will open on Saturdays for six months, "
        "a test health officials say will decide whether the scheme spreads across the region."
    )
    assert article.authors == ("Dafydd Arkwright",)
    assert article.categories == ("Health", "Sorrowby")
    assert article.published == "2024-03-14T18:05:00Z"
    assert article.language == "en-gb"


def test_news_article_body_text_has_paragraphs_and_subheadings(articles):
    """content_text keeps paragraphs and sub-headings, with entities decoded."""
    text = _news_article(articles).content_text
    assert text is not None
    paragraphs = text.split("\n\n")
    assert paragraphs[0].startswith("Patients in the upland villages")
    assert "How the Trial Will Be Measured" in paragraphs
    assert "Staffing Is the Sticking Point" in paragraphs
    quote = (
        "A board member said the results would be published in full, "
        "\u201cwhatever they show\u201d."
    )
    assert quote in paragraphs
    assert "<" not in text and "&" not in text


def test_news_article_promotions_and_disclaimer_are_set_aside(articles):
    """ALSO READ promotions and the disclaimer leave the body for removed_boilerplate."""
    article = _news_article(articles)
    assert article.content_text is not None
    assert "ALSO READ" not in article.content_text
    assert "Disclaimer:" not in article.content_text
    assert len(article.removed_boilerplate) == 4
    assert article.removed_boilerplate[0].startswith("ALSO READ: Canal Restoration")
    assert article.removed_boilerplate[3].startswith("Disclaimer: This report draws")
    assert "Practice managers said they would rather open one extra day" in article.content_text


def test_urls_are_absolute_and_canonical_drops_tracking(articles):
    """Relative link and thumbnail become absolute; canonical_url drops utm_* and fragment."""
    article = _news_article(articles)
    assert article.url == (
        "https://dispatch.sorrowby.example/2024/03/14/upland-clinics-weekend-trial"
        "?utm_source=rss&utm_medium=feed#comments"
    )
    assert article.canonical_url == (
        "https://dispatch.sorrowby.example/2024/03/14/upland-clinics-weekend-trial"
    )
    assert article.image == "https://dispatch.sorrowby.example/images/2024/03/clinic-thumb.jpg"
    assert [e.url for e in article.enclosures] == [
        "https://cdn.sorrowby.example/audio/clinics-briefing.mp3"
    ]


def test_rss_relative_link_resolves_against_the_channel_when_served_elsewhere(feed_bytes):
    """A proxied RSS feed resolves relative item links against the channel, not the proxy."""
    proxy = "https://feeds.proxy.example/sorrowby/district"
    parsed, _ = parse_feed(feed_bytes("rss20.xml"), feed="f", url=proxy)
    articles = normalize_feed(parsed, FeedSpec("f", proxy), proxy)
    article = next(a for a in articles if a.guid == "dispatch-2024-0314-clinics")
    assert article.canonical_url == (
        "https://dispatch.sorrowby.example/2024/03/14/upland-clinics-weekend-trial"
    )


def test_atom_content_urls_resolve_against_the_contents_xml_base(articles):
    """Relative src/href inside Atom content resolve against that content's xml:base."""
    radio = next(a for a in articles("atom10.xml") if a.guid.endswith("valve-radio"))
    assert radio.content_html is not None
    assert 'src="https://tinkerlog.example/blog/posts/img/chassis.jpg"' in radio.content_html
    assert 'href="https://tinkerlog.example/blog/parts/"' in radio.content_html
    assert radio.source.site == "https://tinkerlog.example/blog/"


def test_hostile_content_is_sanitized(articles):
    """Scripts, styles, iframes, handlers and script URLs are gone; relative links resolved."""
    litter = next(a for a in articles("rss20.xml") if a.guid and a.guid.endswith("litter-pick"))
    html = litter.content_html
    assert html is not None
    for banned in (
        "<script",
        "document.cookie",
        "<style",
        "display:none",
        "<iframe",
        "onclick",
        "onerror",
        "style=",
        "javascript:",
        "data:",
    ):
        assert banned not in html, banned
    assert 'href="https://dispatch.sorrowby.example/volunteer"' in html
    assert 'src="https://dispatch.sorrowby.example/images/litter.jpg"' in html
    assert litter.content_text == (
        "Volunteers filled 140 bags along the river path.\n\nSign up or read more."
    )


def test_title_markup_is_stripped_and_entities_decoded(articles):
    """A title carrying escaped markup and a double-escaped ampersand comes out plain."""
    litter = next(a for a in articles("rss20.xml") if a.guid and a.guid.endswith("litter-pick"))
    assert litter.title == "Town & gown: students join the litter pick"


def test_hostile_json_text_fields_are_clean(articles):
    """Controls, bidi overrides and surrogates (literal or as references) leave every field."""
    (mill,) = articles("jsonfeed_hostile.json")
    assert mill.title == "Sluice gate fixed at last & for good"
    assert mill.summary == "Water runs again ."
    assert mill.authors == ("Ada Fenwright",)
    assert mill.categories == ("heritage", "water power")
    assert mill.guid == "sluice-gate"
    assert mill.source.title == "Hollin Mill Notes"
    assert mill.content_text == "The wheel turns again after three weeks.\n\nVisitors welcome."
    assert mill.content_html == (
        "<p>The wheel turns again  after <b>three</b> weeks.</p><p>Visitors welcome.</p>"
    )


@pytest.mark.parametrize("name", PARSEABLE)
def test_every_fixture_normalizes_to_clean_articles(articles, assert_clean, name):
    """Every fixture gives clean one-line fields, UTC dates, http(s) URLs and JSON-able data."""
    result = articles(name)
    assert result
    for a in result:
        for text in (
            a.title,
            a.summary,
            a.guid,
            a.content_text,
            a.content_html,
            a.source.title,
            *a.authors,
            *a.categories,
        ):
            assert_clean(text)
        for one_line in (a.title, a.summary, a.guid, *a.authors, *a.categories):
            assert one_line is None or ("\n" not in one_line and "<" not in one_line)
        for date in (a.published, a.updated):
            assert date is None or ISO_UTC.fullmatch(date)
        for url in (a.url, a.canonical_url, a.image, *(e.url for e in a.enclosures)):
            assert url is None or url.startswith(("http://", "https://"))
        json.dumps(a.to_dict(), ensure_ascii=False).encode("utf-8")


def test_entries_come_newest_first_and_capped():
    """Articles come newest first (published, else updated), capped at max_entries."""
    entries = tuple(
        RawEntry(guid=f"g{day}", title=f"day {day}", published=f"2024-01-{day:02d}T00:00:00Z")
        for day in (3, 17, 9, 28, 1)
    )
    parsed = ParsedFeed(format="rss20", entries=entries)
    result = normalize_feed(parsed, FeedSpec("f1", FETCHED), FETCHED, Limits(max_entries=3))
    assert [a.guid for a in result] == ["g28", "g17", "g9"]


def test_published_falls_back_to_updated():
    """An entry with only an updated date is published at that date."""
    article = normalize_entry(
        RawEntry(guid="g", title="t", updated="2024-05-01T10:00:00Z"), SOURCE, FETCHED
    )
    assert article.published == "2024-05-01T10:00:00Z"
    assert article.updated == "2024-05-01T10:00:00Z"


def test_summary_from_first_paragraph_when_feed_gives_none():
    """Without a separate summary, the summary is the first paragraph of the content."""
    article = normalize_entry(
        RawEntry(guid="g", content="<p>First point.</p><p>Second point.</p>"), SOURCE, FETCHED
    )
    assert article.summary == "First point."
    assert article.content_text == "First point.\n\nSecond point."


def test_limits_bound_titles_labels_and_lists():
    """Titles are truncated; authors and categories are plain, deduplicated and capped."""
    limits = Limits(max_title_chars=20, max_categories=2, max_authors=1, max_label_chars=8)
    raw = RawEntry(
        guid="g",
        title="A headline that goes on far too long",
        authors=("Ann Lee", "Bo Chen"),
        categories=("<b>local</b>", "local", "weather warnings", "sport"),
    )
    article = normalize_entry(raw, SOURCE, FETCHED, limits=limits)
    assert article.title is not None
    assert len(article.title) == 20 and article.title.endswith("…")
    assert article.authors == ("Ann Lee",)
    assert article.categories == ("local", "weather…")


def test_enclosures_are_resolved_and_unsafe_ones_dropped():
    """Enclosure URLs are resolved against the base; javascript: and data: ones vanish."""
    raw = RawEntry(
        guid="g",
        title="t",
        enclosures=(
            Enclosure(url="/media/a.mp3", type="audio/mpeg", length=10),
            Enclosure(url="javascript:alert(1)"),
            Enclosure(url="data:audio/mpeg;base64,AAAA"),
        ),
    )
    article = normalize_entry(raw, SOURCE, FETCHED)
    assert [(e.url, e.type, e.length) for e in article.enclosures] == [
        ("https://news.example/media/a.mp3", "audio/mpeg", 10)
    ]


def test_javascript_link_gives_no_url():
    """An item whose link is javascript: has no url and no canonical_url."""
    article = normalize_entry(
        RawEntry(guid="g", title="t", link="javascript:alert(document.domain)"), SOURCE, FETCHED
    )
    assert article.url is None
    assert article.canonical_url is None


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("en_US", "en-us"), ("EN-gb, fr", "en-gb"), ("  ", None), (None, None)],
)
def test_language_is_normalized(raw, expected):
    """Language tags use hyphens, lower case, and only the first of a list."""
    article = normalize_entry(RawEntry(guid="g", title="t", language=raw), SOURCE, FETCHED)
    assert article.language == expected


@pytest.mark.parametrize("name", ["rss20.xml", "atom10.xml", "jsonfeed10.json", "rss10.rdf"])
def test_normalizing_a_normalized_article_changes_nothing(articles, name):
    """Normalizing an article's own fields again gives the same article (idempotence); the
    second pass finds no boilerplate left to remove."""
    for first in articles(name):
        again = normalize_entry(
            RawEntry(
                guid=first.guid,
                link=first.url,
                title=first.title,
                summary=first.summary,
                content=first.content_html,
                authors=first.authors,
                categories=first.categories,
                published=first.published,
                updated=first.updated,
                image=first.image,
                enclosures=first.enclosures,
                language=first.language,
            ),
            first.source,
            first.source.feed_url,
        )
        assert again.removed_boilerplate == ()
        assert again == replace(first, removed_boilerplate=())
