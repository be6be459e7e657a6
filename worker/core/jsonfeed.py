"""JSON Feed 1.0 and 1.1 (https://jsonfeed.org/version/1.1), read strictly but forgivingly.

An item with the wrong type in a field it cannot do without is skipped with a reason;
its neighbours are kept. A document that is not a JSON Feed at all is a ``ParseError``.
"""

from __future__ import annotations

import json
from typing import Any

from worker.core.dates import parse_date
from worker.core.errors import ParseError
from worker.core.models import Enclosure, ParsedFeed, RawEntry


def parse_json_feed(text: str, feed: str) -> tuple[ParsedFeed, list[str]]:
    """Return the feed and the reasons for any items skipped."""
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ParseError(feed, f"invalid JSON at line {exc.lineno} column {exc.colno}") from exc
    if not isinstance(doc, dict):
        raise ParseError(feed, "JSON document is not an object")
    version = doc.get("version")
    if not isinstance(version, str) or "jsonfeed.org" not in version:
        raise ParseError(feed, "JSON document has no jsonfeed.org 'version'")
    items = doc.get("items")
    if not isinstance(items, list):
        raise ParseError(feed, "JSON Feed 'items' is missing or not a list")
    feed_authors = _authors(doc)
    entries: list[RawEntry] = []
    skipped: list[str] = []
    for index, item in enumerate(items):
        try:
            entries.append(_entry(item, feed_authors))
        except ValueError as exc:
            skipped.append(f"items[{index}]: {exc}")
    parsed = ParsedFeed(
        format="json" + ("1.1" if version.endswith("1.1") else "1.0"),
        title=_str(doc.get("title")),
        link=_str(doc.get("home_page_url")),
        language=_str(doc.get("language")),
        entries=tuple(entries),
        parser="jsonfeed",
    )
    return parsed, skipped


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() else None


def _authors(obj: dict[str, Any]) -> tuple[str, ...]:
    names: list[str] = []
    authors = obj.get("authors")
    if isinstance(authors, list):
        names += [a["name"] for a in authors if isinstance(a, dict) and _str(a.get("name"))]
    author = obj.get("author")
    if isinstance(author, dict) and _str(author.get("name")):
        names.append(author["name"])
    return tuple(dict.fromkeys(names))


def _entry(item: Any, feed_authors: tuple[str, ...]) -> RawEntry:
    if not isinstance(item, dict):
        raise ValueError(f"item is a {type(item).__name__}, not an object")
    raw_id = item.get("id")
    if raw_id is not None and not isinstance(raw_id, (str, int, float)):
        raise ValueError(f"'id' is a {type(raw_id).__name__}, not a string")
    guid = str(raw_id) if raw_id is not None and str(raw_id).strip() else None
    link = _str(item.get("url")) or _str(item.get("external_url"))
    content_html = _str(item.get("content_html"))
    content_text = _str(item.get("content_text"))
    title = _str(item.get("title"))
    summary = _str(item.get("summary"))
    if not any((guid, link, content_html, content_text, title)):
        raise ValueError("no id, url, title or content")
    tags = item.get("tags")
    categories = tuple(t for t in tags if _str(t)) if isinstance(tags, list) else ()
    enclosures = []
    attachments = item.get("attachments")
    if isinstance(attachments, list):
        for att in attachments:
            if isinstance(att, dict) and _str(att.get("url")):
                size = att.get("size_in_bytes")  # type() and not isinstance(): true is no size
                enclosures.append(
                    Enclosure(
                        url=att["url"],
                        type=_str(att.get("mime_type")),
                        length=size if type(size) is int and size >= 0 else None,
                    )
                )
    if content_html is None and content_text is not None:
        from html import escape

        content_html = "".join(f"<p>{escape(p)}</p>" for p in content_text.split("\n\n"))
    return RawEntry(
        guid=guid,
        link=link,
        title=title,
        summary=summary,
        content=content_html,
        authors=_authors(item) or feed_authors,
        categories=categories,
        published=parse_date(item.get("date_published")),
        updated=parse_date(item.get("date_modified")),
        image=_str(item.get("image")) or _str(item.get("banner_image")),
        enclosures=tuple(enclosures),
        language=_str(item.get("language")),
    )
