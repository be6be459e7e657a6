"""The fallback path: feedparser, for documents the strict parser cannot read.

It only ever sees bytes ``xmlinput.prepare`` made: UTF-8, no DOCTYPE, so its loose parser
has no entity to expand. Before it runs, the document is bounded (feedparser's category
handling is quadratic: 50,000 categories in one item took 68 s): items beyond a cap in
document order and categories beyond the per-item cap are cut from the text.

feedparser resolves ``link`` against the document URL itself; an RSS document is handed
over without one, so its item links stay relative and are resolved here against the
channel's ``<link>``, as the fast path does.
"""

from __future__ import annotations

import itertools
import re
from typing import TYPE_CHECKING
from urllib.parse import urljoin

import feedparser

from worker.core.dates import from_struct
from worker.core.errors import ParseError
from worker.core.models import Enclosure, ParsedFeed, RawEntry
from worker.core.xmlfeed import rss_author
from worker.core.xmlinput import ROOT_END

if TYPE_CHECKING:
    from worker.core.parse import ParseLimits

_ITEM_START = re.compile(rb"<(?:[\w.-]+:)?(?:item|entry)[\s>/]")
_ITEM_END = re.compile(rb"</(?:[\w.-]+:)?(?:item|entry)\s*>")
_CATEGORY = re.compile(
    rb"<((?:[\w.-]+:)?(?:category|subject|keywords))\b[^<>]*?(?:/>|>(?:<!\[CDATA\[.*?\]\]>|[^<])*?</\1\s*>)",
    re.DOTALL,
)
_RSS_ROOT = re.compile(
    rb"\A\s*(?:(?:<!--.*?-->|<\?.*?\?>)\s*)*<(?:[\w.-]+:)?(?:rss|RDF)[\s>]", re.DOTALL
)


def parse_loose(
    data: bytes, *, feed: str, url: str, limits: ParseLimits
) -> tuple[ParsedFeed, list[str]]:
    """feedparser over prepared (UTF-8, DOCTYPE-free) bytes."""
    rss = bool(_RSS_ROOT.match(data[:4096]))
    cut_last = _last_item_cut(data)
    data = _bounded(data, limits)
    headers = {"content-type": "application/xml; charset=utf-8"}
    if not rss:
        headers["content-location"] = url
    try:
        doc = feedparser.parse(
            data, response_headers=headers, sanitize_html=False, resolve_relative_uris=False
        )
    except Exception as exc:  # feedparser raises bare ValueError/IndexError on some inputs
        raise ParseError(feed, f"unreadable document ({type(exc).__name__})") from exc
    version = doc.get("version") or ""
    if not version:
        reason = "not an RSS, Atom or JSON feed"
        if doc.get("bozo") and doc.get("bozo_exception") is not None:
            reason += f" ({_first_line(doc.bozo_exception)})"
        raise ParseError(feed, reason)
    meta = doc.get("feed", {})
    link = _join(url, meta.get("link"))
    site = (link or url) if rss else url
    raw = doc.get("entries", [])
    skipped: list[str] = []
    if cut_last and raw:
        skipped.append(f"entries[{len(raw) - 1}]: cut off where the document ends")
        raw = raw[:-1]
    entries = [_entry(e, site, rss) for e in raw]
    parsed = ParsedFeed(
        format=version,
        title=meta.get("title"),
        link=link,
        language=meta.get("language"),
        entries=tuple(entries),
        parser="feedparser",
    )
    return parsed, skipped


def _last_item_cut(data: bytes) -> bool:
    """The document ends inside an item: its last item start has no end after it."""
    if ROOT_END.search(data[-200:]):
        return False
    starts = list(_ITEM_START.finditer(data[-1_000_000:]))
    if not starts:
        return False
    return _ITEM_END.search(data, len(data) - min(len(data), 1_000_000) + starts[-1].end()) is None


def _bounded(data: bytes, limits: ParseLimits) -> bytes:
    """Cut items beyond a cap (document order) and categories beyond the per-item cap."""
    starts = [m.start() for m in _ITEM_START.finditer(data)]
    cap = 2 * limits.max_entries
    if len(starts) > cap:
        data = data[: starts[cap]]
        starts = starts[:cap]
    if len(_CATEGORY.findall(data)) <= limits.max_categories:
        return data
    bounds = [0, *starts, len(data)]
    pieces = []
    for lo, hi in itertools.pairwise(bounds):
        kept = 0

        def keep(match: re.Match[bytes]) -> bytes:
            nonlocal kept
            kept += 1
            return match[0] if kept <= limits.max_categories else b""

        pieces.append(_CATEGORY.sub(keep, data[lo:hi]))
    return b"".join(pieces)


def _first_line(exc: object) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def _join(base: str | None, ref: object) -> str | None:
    if not isinstance(ref, str) or not ref.strip():
        return None
    try:
        return urljoin(base or "", ref.strip())
    except ValueError:
        return ref


def _entry(e: feedparser.FeedParserDict, site: str, rss: bool) -> RawEntry:
    content = None
    base = None
    if e.get("content"):
        # Prefer the HTML alternative when a feed gives several content elements.
        best = max(e["content"], key=lambda c: "html" in (c.get("type") or ""))
        content = best.get("value")
        base = best.get("base")
    summary_detail = e.get("summary_detail") or {}
    base = base or summary_detail.get("base") or (e.get("title_detail") or {}).get("base")
    base = _join(site, base) or site
    authors = tuple(a["name"] for a in e.get("authors", []) if a.get("name"))
    if not authors and e.get("author"):
        authors = (e["author"],)
    if rss and e.get("author") and len(authors) <= 1:
        authors = (rss_author(e["author"]) or e["author"],)
    categories = tuple(t["term"] for t in e.get("tags", []) if t.get("term"))
    enclosures = tuple(
        Enclosure(
            url=_join(base, link["href"]) or link["href"],
            type=link.get("type"),
            length=_int(link.get("length")),
        )
        for link in e.get("enclosures", [])
        if link.get("href")
    )
    image = None
    for key in ("media_thumbnail", "media_content"):
        for media in e.get(key, []) or []:
            if media.get("url") and (key == "media_thumbnail" or "image" in media.get("type", "")):
                image = media["url"]
                break
        if image:
            break
    if image is None and isinstance(e.get("image"), dict):
        image = e["image"].get("href")
    link = e.get("feedburner_origlink") or e.get("link")
    if e.get("guidislink") and link == e.get("id") and not _absolute(link):
        link = None  # feedparser takes any permalink GUID as the link, even "1234"
    return RawEntry(
        guid=e.get("id") or None,
        link=_join(base, link),
        title=e.get("title"),
        summary=e.get("summary"),
        content=content,
        authors=authors,
        categories=categories,
        # dict.get: FeedParserDict.get would alias updated_parsed to published_parsed
        published=from_struct(dict.get(e, "published_parsed")),
        updated=from_struct(dict.get(e, "updated_parsed")),
        image=_join(base, image),
        enclosures=enclosures,
        language=(e.get("content") or [{}])[0].get("language") if e.get("content") else None,
        base=base,
    )


def _absolute(value: object) -> bool:
    return isinstance(value, str) and value.strip().lower().startswith(("http://", "https://"))


def _int(value: object) -> int | None:
    try:
        n = int(str(value))
    except (TypeError, ValueError):
        return None
    return n if n >= 0 else None
