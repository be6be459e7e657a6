"""Hostile and broken documents: each ends as articles or a ParseError naming the feed,
in bounded time and memory, on the fast path and on the feedparser path alike."""

from __future__ import annotations

import pytest

from worker.core.errors import ParseError
from worker.core.parse import ParseLimits, parse_feed
from worker.core.xmlinput import decode, prepare

URL = "https://paper.example/rss"
BOTH = pytest.mark.parametrize("fast", [True, False], ids=["fast", "feedparser"])


def rss(items: str, head: str = "", tail: str = "</channel></rss>") -> bytes:
    return (
        f'{head}<rss version="2.0"><channel><title>Paper</title>'
        f"<link>https://paper.example/</link>{items}{tail}"
    ).encode()


def item(title: str = "x", extra: str = "") -> str:
    return f"<item><title>{title}</title><guid>{title}</guid>{extra}</item>"


def _laughs() -> str:
    levels = ['<!ENTITY lol0 "lollollollollollollollollol">']
    levels += [f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10)]
    return '<?xml version="1.0"?><!DOCTYPE rss [' + "".join(levels) + "]>"


LAUGHS = _laughs()


@BOTH
def test_entity_bomb_is_never_expanded(fast):
    """A billion-laughs DTD is removed before parsing; the reference stays a few bytes."""
    body = rss(item("&lol9;", "<description>&lol9; and &lol5;</description>"), head=LAUGHS)
    feed, _ = parse_feed(body, feed="bomb", url=URL, fast=fast)
    (entry,) = feed.entries
    assert entry.title is not None and len(entry.title) < 50
    assert "lollol" not in (entry.title + (entry.summary or ""))


@BOTH
def test_external_entity_is_never_fetched_or_read(fast):
    """An external entity (file or URL) is removed with the DTD, never resolved."""
    head = '<!DOCTYPE rss [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
    body = rss(item("&xxe;"), head=head)
    feed, _ = parse_feed(body, feed="xxe", url=URL, fast=fast)
    assert "root:" not in (feed.entries[0].title or "")


def test_unreadable_doctype_is_refused_naming_the_feed():
    """A DOCTYPE whose internal subset never closes is refused, not half-removed."""
    body = b'<!DOCTYPE rss [<!ENTITY a "x"> <rss version="2.0"><channel></channel></rss>'
    with pytest.raises(ParseError) as caught:
        parse_feed(body, feed="feed-7", url=URL)
    assert caught.value.feed == "feed-7"
    assert "DOCTYPE" in caught.value.reason


@BOTH
@pytest.mark.parametrize("ref", ["&#xD800;", "&#x110000;", "&#55296;", "&#0;", "&#99999999999;"])
def test_forbidden_character_references_are_dropped_not_fatal(fast, ref):
    """References to surrogates, beyond U+10FFFF or to NUL are dropped; the item is read."""
    feed, _ = parse_feed(rss(item(f"a{ref}b")), feed="f", url=URL, fast=fast)
    assert feed.entries[0].title == "ab"


@BOTH
def test_backslash_in_an_entity_value_is_harmless(fast):
    """feedparser issue 599's document (a backslash in an entity value) parses."""
    head = '<!DOCTYPE rss [<!ENTITY e "a\\b">]>'
    feed, _ = parse_feed(rss(item("&e;"), head=head), feed="f", url=URL, fast=fast)
    assert feed.entries


def test_html_entities_and_bare_ampersands_stay_on_the_fast_path():
    """&nbsp;, &eacute;, an undefined entity and a bare & are repaired, not sent to feedparser."""
    body = rss(item("Caf&eacute;&nbsp;&amp; bar & grill &bogus;"))
    feed, _ = parse_feed(body, feed="f", url=URL)
    assert feed.parser == "lxml"
    assert feed.entries[0].title == "Caf\u00e9\u00a0& bar & grill &bogus;"


def test_undeclared_namespace_prefix_stays_on_the_fast_path():
    """content:encoded without an xmlns:content declaration is still read as content."""
    body = rss(item("x", "<content:encoded><![CDATA[<p>Body</p>]]></content:encoded>"))
    feed, _ = parse_feed(body, feed="f", url=URL)
    assert feed.parser == "lxml"
    assert feed.entries[0].content == "<p>Body</p>"


def test_malformed_document_falls_back_to_feedparser():
    """A document lxml cannot read (a mismatched tag) is read by the feedparser path."""
    body = rss(item("one") + "<item><title>two</titel><guid>two</guid></item>")
    feed, _ = parse_feed(body, feed="f", url=URL)
    assert feed.parser == "feedparser"
    assert [e.guid for e in feed.entries][:1] == ["one"]


@BOTH
@pytest.mark.parametrize("malformed", [False, True], ids=["well-formed", "malformed"])
def test_fifty_thousand_categories_are_capped_before_any_parser_walks_them(fast, malformed):
    """50,000 categories in one item end as the first 50, on every path."""
    cats = "".join(f"<category>c{n}</category>" for n in range(50_000))
    broken = "<b>unclosed" if malformed else ""
    feed, _ = parse_feed(rss(item("x", cats + broken)), feed="f", url=URL, fast=fast)
    assert feed.entries[0].categories == tuple(f"c{n}" for n in range(50))


@BOTH
def test_items_beyond_the_cap_are_the_oldest_ones(fast):
    """With more items than max_entries, the newest are kept whatever the document order."""
    days = [5, 1, 9, 3, 7, 2]
    items = "".join(
        item(f"d{d}", f"<pubDate>{d:02d} Jan 2024 10:00:00 GMT</pubDate>") for d in days
    )
    feed, skipped = parse_feed(
        rss(items), feed="f", url=URL, fast=fast, limits=ParseLimits(max_entries=3)
    )
    assert sorted(e.guid or "" for e in feed.entries) == ["d5", "d7", "d9"]
    assert skipped == ["entries: 6 in the document, only the newest 3 are read"]


@BOTH
def test_document_cut_inside_an_item_keeps_only_whole_items(fast):
    """A body cut off mid-description never yields the cut item as if it were whole."""
    whole = item("one", "<description>Complete.</description>")
    cut = "<item><title>two</title><guid>two</guid><description>Half a sen"
    feed, skipped = parse_feed(rss(whole + cut, tail=""), feed="f", url=URL, fast=fast)
    assert [e.guid for e in feed.entries] == ["one"]
    assert skipped == ["entries[1]: cut off where the document ends"]


@BOTH
def test_invalid_utf8_bytes_lose_only_themselves(fast):
    """A UTF-8 document with a stray invalid byte keeps every other character."""
    body = rss(item("Z\u00fcrich \u2013 Gen\u00e8ve")).replace(b"Gen", b"G\xffen")
    feed, _ = parse_feed(body, feed="f", url=URL, fast=fast)
    assert feed.entries[0].title == "Z\u00fcrich \u2013 G\ufffden\u00e8ve"


@BOTH
def test_windows_1252_declared_as_utf8_decodes_its_smart_quotes(fast):
    """Smart quotes in Windows-1252 under a UTF-8 declaration come out as curly quotes."""
    body = rss(
        item("\u201cLate\u201d \u2013 caf\u00e9"), head='<?xml version="1.0" encoding="utf-8"?>'
    )
    body = body.decode().encode("windows-1252")
    feed, _ = parse_feed(body, feed="f", url=URL, fast=fast)
    assert feed.entries[0].title == "\u201cLate\u201d \u2013 caf\u00e9"


@BOTH
def test_utf8_declared_as_latin1_reads_as_utf8(fast):
    """UTF-8 bytes under an iso-8859-1 declaration (or HTTP charset) read as UTF-8."""
    body = rss(item("\u0141\u00f3d\u017a"), head='<?xml version="1.0" encoding="iso-8859-1"?>')
    feed, _ = parse_feed(
        body, feed="f", url=URL, fast=fast, content_type="text/xml; charset=iso-8859-1"
    )
    assert feed.entries[0].title == "\u0141\u00f3d\u017a"


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be", "utf-32-be"])
def test_utf16_and_utf32_without_a_bom_are_recognised(codec):
    """UTF-16/32 without a byte-order mark are told by the layout of the first "<"."""
    body = rss(item("Krak\u00f3w")).decode().encode(codec)
    feed, _ = parse_feed(body, feed="f", url=URL)
    assert feed.entries[0].title == "Krak\u00f3w"


def test_c1_controls_read_as_windows_1252_punctuation():
    """ "don\\x92t" (Windows-1252 decoded as Latin-1 upstream) reads "don\u2019t"."""
    assert decode("don\u0092t".encode())[0] == "don\u2019t"


def test_a_utf8_document_is_handed_on_as_it_is_when_nothing_is_cut():
    """Valid UTF-8 without declaration, DOCTYPE, BOM or C1 character keeps its very bytes."""
    body = rss(item("Krak\u00f3w \u00a9 \u2013"))
    assert prepare("f", body).data is body


def test_prolog_cuts_in_a_utf8_document_land_on_the_right_bytes():
    """Declaration and DOCTYPEs after non-ASCII comments are cut at byte offsets, and the
    rest of the document is kept byte for byte."""
    head = (
        '<?xml version="1.0" encoding="iso-8859-1"?>\n<!-- r\u00e9sum\u00e9 \u2013 caf\u00e9 -->'
        '<!DOCTYPE rss [<!ENTITY \u00e9t\u00e9 "x">]>\n<!-- \u00fc --><!DOCTYPE rss>'
    )
    body = rss(item("\u0141\u00f3d\u017a"), head=head)
    prepared = prepare("f", body)
    assert prepared.doctype_removed
    assert prepared.data == rss(
        item("\u0141\u00f3d\u017a"),
        head="\n<!-- r\u00e9sum\u00e9 \u2013 caf\u00e9 -->\n<!-- \u00fc -->",
    )
    feed, _ = parse_feed(body, feed="f", url=URL)
    assert feed.entries[0].title == "\u0141\u00f3d\u017a"


def test_a_declaration_alone_is_not_a_doctype_removed():
    """Cutting only the XML declaration does not report a DOCTYPE as removed."""
    prepared = prepare("f", rss(item(), head='<?xml version="1.0"?>'))
    assert not prepared.doctype_removed
    assert prepared.data == rss(item())


@pytest.mark.parametrize("body", [b"\xef\xbb\xbf", b"\xff\xfe", b"\xef\xbb\xbf  \n"])
def test_a_bom_alone_is_an_empty_body(body):
    """A body that is only a byte-order mark (and space) is the empty-body error."""
    with pytest.raises(ParseError, match="empty body"):
        parse_feed(body, feed="f", url=URL)


@BOTH
def test_well_formed_xml_that_is_not_a_feed_is_a_parse_error(fast):
    """An XHTML page or any other XML vocabulary is refused as not a feed."""
    body = b'<html xmlns="http://www.w3.org/1999/xhtml"><body><p>hi</p></body></html>'
    with pytest.raises(ParseError, match="not an RSS, Atom or JSON feed"):
        parse_feed(body, feed="f", url=URL, fast=fast)
