"""OPML subscription lists: read (any OPML 1.0/2.0 in the wild) and write (OPML 2.0).

Reading is as guarded as reading a feed: the DOCTYPE is removed before lxml sees the
document (no entity is ever declared), the network is off, and outlines past
``MAX_OUTLINES`` are not read. A nested outline's title (a folder) becomes a tag of the
feeds inside it, and so do the paths of OPML 2.0's ``category`` attribute. Every outline
with an ``xmlUrl`` is a candidate: a bad URL, or a feed already listed earlier in the
file, is reported with its line and skipped, never fatal.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from lxml import etree

from worker.core.errors import ParseError
from worker.core.xmlinput import prepare

MAX_OUTLINES = 100_000
MAX_NAME = 200
MAX_TAGS = 20
_CONTROL = re.compile(r"[\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True, slots=True)
class OpmlFeed:
    url: str
    name: str | None
    tags: tuple[str, ...]
    line: int


@dataclass(frozen=True, slots=True)
class OpmlProblem:
    line: int
    url: str
    reason: str


@dataclass(slots=True)
class OpmlDocument:
    title: str | None = None
    feeds: list[OpmlFeed] = field(default_factory=list)
    # Outlines refused (bad URL) or listed twice in the file.
    invalid: list[OpmlProblem] = field(default_factory=list)
    duplicates: list[OpmlProblem] = field(default_factory=list)


def check_feed_url(url: str) -> str | None:
    """Why ``url`` cannot be a feed URL, or None when it can."""
    if not url:
        return "empty URL"
    if _CONTROL.search(url) or any(c.isspace() for c in url):
        return "URL has spaces or control characters"
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return "not an absolute http:// or https:// URL"
    return None


def clean_text(value: str | None, limit: int = MAX_NAME) -> str | None:
    """A name or tag as it may be shown and logged: one line, no control characters."""
    if value is None:
        return None
    text = " ".join(_CONTROL.sub(" ", value).split())[:limit]
    return text or None


def read_opml(body: bytes, source: str = "OPML") -> OpmlDocument:
    """The feeds an OPML document lists; raises ``ParseError`` if it is not OPML."""
    data = prepare(source, body).data
    parser = etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
        recover=True,
        remove_comments=True,
    )
    try:
        root = etree.fromstring(data, parser)
    except etree.XMLSyntaxError as exc:
        raise ParseError(source, f"not XML ({exc})") from exc
    if root is None or not isinstance(root.tag, str) or root.tag.lower() != "opml":
        raise ParseError(source, "not an OPML document (no <opml> root element)")
    doc = OpmlDocument(title=clean_text(root.findtext("head/title")))
    body_el = root.find("body")
    if body_el is None:
        return doc
    seen: dict[str, int] = {}
    count = 0
    for outline, folders in _walk(body_el, ()):
        count += 1
        if count > MAX_OUTLINES:
            doc.invalid.append(
                OpmlProblem(
                    outline.sourceline or 0, "", f"more than {MAX_OUTLINES} outlines: rest not read"
                )
            )
            break
        url = (outline.get("xmlUrl") or outline.get("xmlurl") or "").strip()
        line = outline.sourceline or 0
        if not url:
            continue
        reason = check_feed_url(url)
        if reason:
            doc.invalid.append(OpmlProblem(line, clean_text(url, 300) or "", reason))
            continue
        if url in seen:
            doc.duplicates.append(OpmlProblem(line, url, f"listed before on line {seen[url]}"))
            continue
        seen[url] = line
        name = clean_text(outline.get("title") or outline.get("text"))
        tags = _tags((*folders, *_categories(outline.get("category"))))
        doc.feeds.append(OpmlFeed(url, name, tags, line))
    return doc


def _walk(
    parent: etree._Element, folders: tuple[str, ...]
) -> Iterable[tuple[etree._Element, tuple[str, ...]]]:
    stack = [(child, folders) for child in reversed(parent)]
    while stack:
        el, where = stack.pop()
        if not isinstance(el.tag, str) or el.tag.lower() != "outline":
            continue
        yield el, where
        if len(el) and not el.get("xmlUrl"):
            title = clean_text(el.get("title") or el.get("text"))
            inner = (*where, title) if title else where
            stack.extend((child, inner) for child in reversed(el))


def _categories(value: str | None) -> list[str]:
    out: list[str] = []
    for path in (value or "").split(","):
        out += [part for part in path.strip().split("/") if part.strip()]
    return out


def _tags(values: Iterable[str]) -> tuple[str, ...]:
    tags: dict[str, None] = {}
    for value in values:
        tag = clean_text(value, 100)
        if tag:
            tags[tag] = None
    return tuple(tags)[:MAX_TAGS]


def write_opml(
    feeds: Iterable[tuple[str, str | None, tuple[str, ...]]], title: str, created: str
) -> bytes:
    """OPML 2.0: one ``rss`` outline per (url, name, tags); tags as ``category`` paths."""
    root = etree.Element("opml", version="2.0")
    head = etree.SubElement(root, "head")
    etree.SubElement(head, "title").text = title
    etree.SubElement(head, "dateCreated").text = created
    body = etree.SubElement(root, "body")
    for url, name, tags in feeds:
        attrs = {"type": "rss", "text": clean_text(name) or url, "xmlUrl": url}
        if name:
            attrs["title"] = clean_text(name) or url
        if tags:
            attrs["category"] = ",".join(f"/{t}" for t in tags if "," not in t and "/" not in t)
        etree.SubElement(body, "outline", **attrs)
    out: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return out
