"""Feed documents (bytes) into ``ParsedFeed``: RSS 0.9x/1.0/2.0, Atom 0.3/1.0, JSON Feed.

::

    bytes ─► JSON? ─► jsonfeed.parse_json_feed
          └► xmlinput.prepare (decode, drop the DOCTYPE)
              ─► strict lxml parse ─► xmlfeed.read_tree                 the fast path
                  fails ─► xmlinput.repair, strict parse again
                      fails at the end of the data ─► the complete items only
                      fails elsewhere ─► loose.parse_loose (feedparser)  the fallback

Every path ends in a ``ParsedFeed`` or a ``ParseError`` naming the feed; every path is
bounded: items beyond ``max_entries`` (oldest first) and categories beyond
``max_categories`` are never read, and no parser sees an entity declaration.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, replace

from lxml import etree

from worker.core.dates import parse_date
from worker.core.errors import ParseError
from worker.core.jsonfeed import parse_json_feed
from worker.core.loose import parse_loose
from worker.core.models import ParsedFeed
from worker.core.xmlfeed import NotAFeed, items_of, read_tree, split, version_of
from worker.core.xmlinput import ROOT_END, decode, prepare, repair

_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
_DATE_TAGS = frozenset({"pubDate", "published", "updated", "date", "issued", "modified"})


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """What one document may cost: entries read per poll, categories per entry."""

    max_entries: int = 500
    max_categories: int = 50


DEFAULT_PARSE_LIMITS = ParseLimits()


def _strict_parser() -> etree.XMLParser:
    # A fresh parser per call: lxml parsers are not safe to share across threads.
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
        recover=False,
    )


def looks_like_json(body: bytes, content_type: str | None) -> bool:
    head = body[:64].lstrip()
    for bom in _BOMS:
        head = head.removeprefix(bom)
    head = head.lstrip()
    if head[:1] in (b"{", b"["):
        return True
    return bool(content_type and "json" in content_type and not head.startswith(b"<"))


def parse_feed(
    body: bytes,
    *,
    feed: str,
    url: str,
    content_type: str | None = None,
    limits: ParseLimits = DEFAULT_PARSE_LIMITS,
    fast: bool = True,
) -> tuple[ParsedFeed, list[str]]:
    """Parse one document; return it with the reasons for any entries skipped.

    ``fast=False`` sends XML straight to the feedparser path (benchmarks and the
    differential test use it). Raises ``ParseError`` naming the feed when the bytes are
    not a feed.
    """
    if not body.strip():
        raise ParseError(feed, "empty body")
    if looks_like_json(body, content_type):
        text, _ = decode(body, "charset=utf-8")
        parsed, skipped = parse_json_feed(text, feed)
        return _capped(parsed, skipped, limits)
    prepared = prepare(feed, body, content_type)
    if not prepared.data.strip():
        raise ParseError(feed, "empty body")
    if not fast:
        data = repair(prepared.data)
        return _capped(*parse_loose(data, feed=feed, url=url, limits=limits), limits)
    return _parse_xml(prepared.data, feed=feed, url=url, limits=limits)


def _parse_xml(
    data: bytes, *, feed: str, url: str, limits: ParseLimits
) -> tuple[ParsedFeed, list[str]]:
    try:
        root = etree.fromstring(data, _strict_parser())
    except etree.XMLSyntaxError:
        data = repair(data)
        try:
            root = etree.fromstring(data, _strict_parser())
        except etree.XMLSyntaxError as exc:
            if _truncated(data, exc):
                return _complete_items_only(data, feed=feed, url=url, limits=limits)
            return _capped(*parse_loose(data, feed=feed, url=url, limits=limits), limits)
    try:
        version = version_of(root)
    except NotAFeed:
        # Well-formed but not recognised: feedparser knows more dialects, or says why not.
        return _capped(*parse_loose(data, feed=feed, url=url, limits=limits), limits)
    items = items_of(root, version)
    skipped: list[str] = []
    if len(items) > limits.max_entries:
        skipped.append(_over_cap(len(items), limits.max_entries))
        items = _newest(items, limits.max_entries)
    parsed = read_tree(root, url, items=items, max_categories=limits.max_categories)
    return _usable(parsed, skipped)


def _truncated(data: bytes, exc: etree.XMLSyntaxError) -> bool:
    """The document stops before its root element closes, and the parser failed there."""
    if ROOT_END.search(data[-200:]):
        return False
    lines = data.count(b"\n") + 1
    return bool(exc.lineno and exc.lineno >= lines)


def _complete_items_only(
    data: bytes, *, feed: str, url: str, limits: ParseLimits
) -> tuple[ParsedFeed, list[str]]:
    """A cut-off document: the items whose end tag arrived, never the one cut in half."""
    parser = etree.XMLPullParser(
        events=("start", "end"),
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )
    root: etree._Element | None = None
    started: list[etree._Element] = []
    complete: set[etree._Element] = set()
    # An item is complete when its end tag is read while the data is fed. libxml2 2.14
    # and newer (lxml 6 wheels) also close every element still open when the parser is
    # closed, and report those ends too: they are not end tags the document has.
    with contextlib.suppress(etree.XMLSyntaxError):
        parser.feed(data)
    fed = list(parser.read_events())
    with contextlib.suppress(etree.XMLSyntaxError):
        parser.close()
    closing = [(event, el) for event, el in parser.read_events() if event == "start"]
    for event, el in fed + closing:
        if root is None:
            root = el
        if split(el.tag)[1] in ("item", "entry"):
            if event == "start":
                started.append(el)
            else:
                complete.add(el)
    if root is None:
        raise ParseError(feed, "document ends before its first element")
    try:
        version = version_of(root)
    except NotAFeed as exc:
        raise ParseError(feed, f"not an RSS, Atom or JSON feed ({exc})") from exc
    items = [el for el in items_of(root, version) if el in complete]
    skipped = [
        f"entries[{i}]: cut off where the document ends"
        for i, el in enumerate(started)
        if el not in complete
    ]
    if len(items) > limits.max_entries:
        skipped.append(_over_cap(len(items), limits.max_entries))
        items = _newest(items, limits.max_entries)
    parsed = read_tree(root, url, items=items, max_categories=limits.max_categories)
    return _usable(parsed, skipped)


def _newest(items: list[etree._Element], limit: int) -> list[etree._Element]:
    """The ``limit`` newest items by their first date element, in document order."""

    def key(item: etree._Element) -> str:
        for child in item:
            if split(child.tag)[1] in _DATE_TAGS:
                return parse_date((child.text or "").strip()) or ""
        return ""

    ranked = sorted(range(len(items)), key=lambda i: key(items[i]), reverse=True)
    keep = sorted(ranked[:limit])
    return [items[i] for i in keep]


def _over_cap(found: int, limit: int) -> str:
    return f"entries: {found} in the document, only the newest {limit} are read"


def _capped(
    parsed: ParsedFeed, skipped: list[str], limits: ParseLimits
) -> tuple[ParsedFeed, list[str]]:
    entries = parsed.entries
    if len(entries) > limits.max_entries:
        skipped = [*skipped, _over_cap(len(entries), limits.max_entries)]
        order = sorted(
            range(len(entries)),
            key=lambda i: entries[i].published or entries[i].updated or "",
            reverse=True,
        )
        entries = tuple(entries[i] for i in sorted(order[: limits.max_entries]))
    entries = tuple(
        replace(e, categories=e.categories[: limits.max_categories])
        if len(e.categories) > limits.max_categories
        else e
        for e in entries
    )
    return _usable(replace(parsed, entries=entries), skipped)


def _usable(parsed: ParsedFeed, skipped: list[str]) -> tuple[ParsedFeed, list[str]]:
    """Drop entries with nothing to identify or show, each with a reason."""
    kept = []
    for index, entry in enumerate(parsed.entries):
        usable = (entry.guid, entry.link, entry.title, entry.content, entry.summary)
        if any(usable) or entry.enclosures:
            kept.append(entry)
        else:
            skipped.append(f"entries[{index}]: no id, link, title or content")
    if len(kept) == len(parsed.entries):
        return parsed, skipped
    return replace(parsed, entries=tuple(kept)), skipped
