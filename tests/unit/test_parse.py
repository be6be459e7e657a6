"""parse_feed: every supported format read from captured-style documents in
tests/fixtures/feeds, and a clear ParseError for what is not a feed."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from worker.core.errors import ParseError, PermanentFeedError
from worker.core.models import Enclosure
from worker.core.parse import looks_like_json, parse_feed


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("rss091.xml", "rss091"),
        ("rss10.rdf", "rss10"),
        ("rss20.xml", "rss20"),
        ("rss20_windows1252.xml", "rss20"),
        ("rss20_utf16.xml", "rss20"),
        ("atom03.xml", "atom03"),
        ("atom10.xml", "atom10"),
        ("jsonfeed10.json", "json1.0"),
        ("jsonfeed11.json", "json1.1"),
    ],
)
def test_each_format_is_recognised(parsed, name, expected):
    """Each fixture is read as the format (and version) it is written in."""
    feed, skipped = parsed(name)
    assert feed.format.startswith(expected)
    assert feed.entries
    assert skipped == []


def test_rss091_items_have_titles_links_and_no_guid(parsed):
    """RSS 0.91 items keep title, link and description; entities in titles are decoded."""
    feed, _ = parsed("rss091.xml")
    assert feed.title == "Harrowgate Ferry Notices"
    assert feed.link == "https://ferries.harrowgate.example/"
    assert feed.language == "en-gb"
    first, second = feed.entries
    assert first.title == "Early crossing moves to 07:15 from Monday"
    assert first.link == (
        "https://ferries.harrowgate.example/notices/early-crossing?utm_source=rss&utm_medium=feed"
    )
    assert first.guid is None
    assert first.published is None
    assert second.title == "Café on the north pier reopens"


def test_rss10_reads_rdf_about_dublin_core_creator_subject_and_date(parsed):
    """RSS 1.0: rdf:about is the id; dc:creator, dc:subject and dc:date (to UTC) are read."""
    feed, _ = parsed("rss10.rdf")
    assert feed.title == "Fenwick Observatory Notes"
    assert feed.language == "en"
    perseids = feed.entries[0]
    assert perseids.guid == "https://observatory.fenwick.example/notes/2024/perseids"
    assert perseids.link == "https://observatory.fenwick.example/notes/2024/perseids"
    assert perseids.authors == ("Ines Barrowcliffe",)
    assert perseids.categories == ("Meteors",)
    assert (perseids.published or perseids.updated) == "2024-08-13T01:40:00Z"
    assert feed.entries[1].authors == ("Ravi Tennant",)


def test_rss20_news_item_keeps_every_field(parsed):
    """The RSS 2.0 news item keeps guid, creator, categories, date, content and media."""
    feed, _ = parsed("rss20.xml")
    item = feed.entries[0]
    assert item.guid == "dispatch-2024-0314-clinics"
    assert item.title == "Upland Clinics Trial Weekend Opening as Waiting Lists Lengthen"
    assert item.authors == ("Dafydd Arkwright",)
    assert item.categories == ("Health", "Sorrowby")
    assert item.published == "2024-03-14T18:05:00Z"
    assert item.summary is not None and item.summary.startswith("Three rural practices")
    assert item.content is not None
    assert "<h2>How the Trial Will Be Measured</h2>" in item.content
    assert item.enclosures == (
        Enclosure(
            url="https://cdn.sorrowby.example/audio/clinics-briefing.mp3",
            type="audio/mpeg",
            length=4823011,
        ),
    )
    assert item.image == "https://dispatch.sorrowby.example/images/2024/03/clinic-thumb.jpg"


def test_rss20_relative_link_becomes_absolute(parsed):
    """A root-relative <link> in an RSS item comes out absolute on the site's host."""
    feed, _ = parsed("rss20.xml")
    assert feed.entries[0].link == (
        "https://dispatch.sorrowby.example/2024/03/14/upland-clinics-weekend-trial"
        "?utm_source=rss&utm_medium=feed#comments"
    )


def test_rss20_author_in_email_and_name_form_gives_the_name(parsed):
    """<author>desk@long.tld (News Desk)</author> gives "News Desk", whatever the TLD length."""
    feed, _ = parsed("rss20.xml")
    assert feed.entries[1].authors == ("News Desk",)


@pytest.mark.parametrize(
    ("author", "expected"),
    [
        ("desk@paper.media (News Desk)", "News Desk"),
        ("desk@paper.com (News Desk)", "News Desk"),
        ("News Desk &lt;desk@paper.media&gt;", "News Desk"),
        ("desk@paper.media", "desk@paper.media"),
        ("Ola Nordmann", "Ola Nordmann"),
    ],
)
def test_rss_author_forms(author, expected):
    """RSS <author> in its e-mail (Name), Name <e-mail>, bare e-mail and plain-name forms."""
    body = (
        '<rss version="2.0"><channel><title>t</title><link>https://paper.example/</link>'
        f"<item><title>x</title><author>{author}</author></item></channel></rss>"
    ).encode()
    feed, _ = parse_feed(body, feed="f", url="https://paper.example/rss")
    assert feed.entries[0].authors == (expected,)


def test_atom03_issued_and_modified_dates(parsed):
    """Atom 0.3: issued is the publication date (converted from +02:00), modified the update."""
    feed, _ = parsed("atom03.xml")
    assert feed.format == "atom03"
    entry = feed.entries[0]
    assert entry.guid == "tag:quillmere.example,2023:bulletin/41"
    assert entry.link == "https://quillmere.example/bulletin/bell-tower"
    assert entry.published == "2023-11-01T14:30:00Z"
    assert entry.updated == "2023-11-02T08:15:00Z"
    assert entry.authors == ("Hedda Sorrel",)
    assert entry.content is not None and "fortnight early" in entry.content


def test_atom10_xml_base_resolves_links_and_enclosures(parsed):
    """Atom xml:base resolves feed link, entry links and enclosures; content keeps its base."""
    feed, _ = parsed("atom10.xml")
    assert feed.link == "https://tinkerlog.example/blog/"
    assert feed.language == "en-GB"
    radio, psu = feed.entries
    assert radio.link == "https://tinkerlog.example/blog/posts/valve-radio"
    assert radio.base == "https://tinkerlog.example/blog/posts/"
    assert radio.enclosures == (
        Enclosure(
            url="https://tinkerlog.example/blog/audio/mains-hum.ogg",
            type="audio/ogg",
            length=20480,
        ),
    )
    assert psu.link == "https://tinkerlog.example/blog/posts/bench-psu-mk2"


def test_atom10_fields(parsed):
    """Atom 1.0: id, author, category terms, published and updated in UTC, xhtml content."""
    feed, _ = parsed("atom10.xml")
    radio, psu = feed.entries
    assert radio.guid == "tag:tinkerlog.example,2024:posts/valve-radio"
    assert radio.authors == ("Petra Klaassen",)
    assert radio.categories == ("electronics", "restoration")
    assert radio.published == "2024-06-29T16:00:00Z"
    assert radio.updated == "2024-06-30T20:45:00Z"
    assert psu.published is None
    assert psu.updated == "2024-05-11T09:30:00Z"
    assert psu.content is not None and "<em>30 volts</em>" in psu.content


def test_jsonfeed10_fields(parsed):
    """JSON Feed 1.0: feed author fallback, attachments, content_text paragraphs, UTC dates."""
    feed, skipped = parsed("jsonfeed10.json")
    assert skipped == []
    assert feed.title == "Larchwood Allotment Society"
    assert feed.link == "https://larchwood-allotments.example/"
    swap, inspections = feed.entries
    assert swap.authors == ("Committee of the Larchwood Allotment Society",)
    assert swap.categories == ("events", "seeds")
    assert swap.published == "2024-02-18T10:00:00Z"
    assert swap.updated == "2024-02-19T08:30:00Z"
    assert swap.summary == "The spring seed swap has a new venue."
    assert swap.image == "https://larchwood-allotments.example/img/seed-tins.jpg"
    assert inspections.authors == ("Maud Ellery",)
    assert inspections.published == "2024-02-26T00:45:00Z"
    assert inspections.content == (
        "<p>Inspections start on the 9th.</p><p>Overgrown plots get a friendly letter first.</p>"
    )
    assert inspections.enclosures == (
        Enclosure(
            url="https://larchwood-allotments.example/files/inspection-checklist.pdf",
            type="application/pdf",
            length=48213,
        ),
    )


def test_jsonfeed11_fields(parsed):
    """JSON Feed 1.1: authors arrays, item language, external_url when there is no url."""
    feed, _ = parsed("jsonfeed11.json")
    assert feed.format == "json1.1"
    assert feed.language == "nl-NL"
    wear, evening = feed.entries
    assert wear.authors == ("Sanne Bruggink",)
    assert wear.language == "nl"
    assert wear.published == "2024-07-03T07:15:00Z"
    assert evening.authors == ("Joost van Aelst",)
    assert evening.link == "https://events.kettleandchain.example/open-evening"
    assert evening.published == "2024-06-20T15:00:00Z"


def test_jsonfeed_skips_bad_items_with_a_reason_and_keeps_good_neighbours(parsed):
    """Bad JSON Feed items are skipped with index and reason; good neighbours are kept."""
    feed, skipped = parsed("jsonfeed_mixed_types.json")
    assert [e.guid for e in feed.entries] == ["net-schedule", "1017"]
    assert skipped == [
        "items[1]: item is a str, not an object",
        "items[2]: 'id' is a dict, not a string",
        "items[3]: no id, url, title or content",
        "items[5]: item is a NoneType, not an object",
    ]


def test_jsonfeed_wrong_typed_fields_inside_a_good_item_are_ignored(parsed):
    """Wrong-typed tags, dates, authors and sizes in a kept item are dropped, not guessed."""
    feed, _ = parsed("jsonfeed_mixed_types.json")
    field_day = feed.entries[1]
    assert field_day.categories == ("contests", "field-day")
    assert field_day.published is None
    assert field_day.authors == ("Club Secretary",)
    assert field_day.enclosures == (
        Enclosure(url="https://brindle-radio.example/log.adi", type="text/plain", length=None),
        Enclosure(url="https://brindle-radio.example/map.png", type="image/png", length=None),
    )


def test_windows_1252_feed_decodes_smart_quotes(parsed):
    """A feed declaring windows-1252 decodes its curly quotes, en dash and euro sign."""
    feed, _ = parsed("rss20_windows1252.xml")
    assert feed.title == "Corbel Street Traders\u2019 Association"
    entry = feed.entries[0]
    assert entry.title == "\u201cLate opening\u201d returns \u2013 Thursdays until 8pm"
    assert entry.summary == (
        "Stall fees stay at \u20ac15; the caf\u00e9 on the corner joins this year."
    )
    assert entry.published == "2024-11-01T11:00:00Z"


def test_utf16_feed_with_bom(parsed, feed_bytes):
    """A UTF-16 (little-endian, with BOM) feed reads as text, not as mojibake."""
    assert feed_bytes("rss20_utf16.xml")[:2] == b"\xff\xfe"
    feed, _ = parsed("rss20_utf16.xml")
    assert feed.title == "Krak\u00f3w \u2013 Z\u00fcrich Rail Notes"
    entry = feed.entries[0]
    assert entry.title == "Sleeper via \u0141\u00f3d\u017a resumes in April"
    assert entry.summary is not None and "\u65e5\u672c\u8a9e" in entry.summary
    assert entry.published == "2024-03-18T05:00:00Z"


@pytest.mark.parametrize("body", [b"", b"   \n\t  "])
def test_empty_body_is_a_parse_error_naming_the_feed(body):
    """An empty (or blank) body is a ParseError that names the feed."""
    with pytest.raises(ParseError) as caught:
        parse_feed(body, feed="feed-42", url="https://x.example/rss")
    assert caught.value.feed == "feed-42"
    assert "empty" in caught.value.reason
    assert str(caught.value).startswith("feed-42: ")


def test_empty_fixture_file_is_a_parse_error(parsed):
    """The empty fixture file is refused as empty."""
    with pytest.raises(ParseError, match="empty body"):
        parsed("empty.xml")


def test_html_page_is_not_a_feed(parsed):
    """An HTML page (even one linking to a feed) is a permanent ParseError naming the feed."""
    with pytest.raises(ParseError) as caught:
        parsed("not_a_feed.html")
    assert caught.value.feed == "fixture:not_a_feed.html"
    assert "not an RSS, Atom or JSON feed" in caught.value.reason
    assert isinstance(caught.value, PermanentFeedError)


def test_truncated_document_keeps_complete_items_and_skips_the_cut_one(parsed):
    """A truncated document keeps its complete item and skips the cut one with a reason."""
    feed, skipped = parsed("truncated.xml")
    assert [e.title for e in feed.entries] == ["Readings for 3 February"]
    assert feed.entries[0].summary == "High 9.1 C, low 2.4 C, 3.2 mm of rain."
    assert skipped == ["entries[1]: cut off where the document ends"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{", "invalid JSON"),
        (b"[1, 2]", "not an object"),
        (b'{"title": "no version", "items": []}', "no jsonfeed.org 'version'"),
        (b'{"version": "https://jsonfeed.org/version/1.1", "items": {}}', "'items'"),
    ],
)
def test_json_that_is_not_a_json_feed_is_a_parse_error(body, reason):
    """JSON documents that are not JSON Feeds are refused with the reason."""
    with pytest.raises(ParseError) as caught:
        parse_feed(body, feed="j", url="https://x.example/feed.json")
    assert reason in caught.value.reason
    assert caught.value.feed == "j"


def test_json_feed_with_utf8_bom_and_leading_whitespace(feed_bytes):
    """A BOM and whitespace before the opening brace still route the body to the JSON parser."""
    body = b"\xef\xbb\xbf \n" + feed_bytes("jsonfeed11.json")
    feed, _ = parse_feed(body, feed="j", url="https://kettleandchain.example/feed.json")
    assert feed.format == "json1.1"
    assert len(feed.entries) == 2


@pytest.mark.parametrize(
    ("head", "content_type", "expected"),
    [
        (b'{"version": 1}', None, True),
        (b"  [1]", "text/plain", True),
        (b"<rss/>", "application/json", False),
        (b"not json", "application/feed+json", True),
        (b"<?xml version='1.0'?><rss/>", "application/rss+xml", False),
    ],
)
def test_looks_like_json(head, content_type, expected):
    """The body's first character decides; the content type only breaks a tie."""
    assert looks_like_json(head, content_type) is expected


_FEEDISH = st.sampled_from(
    [
        b"",
        b"<",
        b"<rss version='2.0'>",
        b"<channel>",
        b"<item>",
        b"</item>",
        b"<title>",
        b"{",
        b'"version": "https://jsonfeed.org/version/1"',
        b'"items": [',
        b"]",
        b"}",
        b"<feed xmlns='http://www.w3.org/2005/Atom'>",
        b"<entry>",
        b"&amp;",
        b"&#1;",
        b"\xff\xfe",
        b"\xef\xbb\xbf",
        b"<!DOCTYPE x [<!ENTITY a 'aaaa'>]>",
        b"&a;",
        b"&#xD800;",
        b"&#x110000;",
        b"<category>",
        b"<content:encoded>",
        b"<![CDATA[",
        b"]]>",
        b"&nbsp;",
        b"\x92",
    ]
)


@pytest.mark.parametrize("fast", [True, False], ids=["fast", "feedparser"])
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.one_of(_FEEDISH, st.binary(max_size=16)), max_size=12).map(b"".join))
def test_parser_raises_only_its_own_error_on_any_bytes(fast, body):
    """Whatever the bytes, either path returns a feed or raises ParseError, nothing else."""
    try:
        feed, skipped = parse_feed(body, feed="fuzz", url="https://fuzz.example/feed", fast=fast)
    except ParseError as exc:
        assert exc.feed == "fuzz"
    else:
        assert feed.format
        assert all(isinstance(reason, str) for reason in skipped)
