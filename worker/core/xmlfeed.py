"""RSS 0.9x/1.0/2.0 and Atom 0.3/1.0 read from a parsed lxml tree: the fast path.

``read_tree`` maps a well-formed document to ``ParsedFeed`` the way feedparser maps it
(the differential test in tests/unit/test_parse_paths.py holds the two together), at a
fraction of the cost: one strict libxml2 parse and a walk over each item's children.
The deliberate differences are listed in docs/content.md.

URLs are resolved here, because only the tree knows ``xml:base``: an Atom entry against
its ``xml:base`` and the document URL; an RSS item against its ``xml:base`` and the
channel's ``<link>`` (the site), then the document URL. A proxied or mirrored RSS feed
therefore still links to the site it describes.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable
from copy import deepcopy
from dataclasses import dataclass, field
from urllib.parse import urljoin

from lxml import etree

from worker.core.dates import from_struct, parse_date
from worker.core.models import Enclosure, ParsedFeed, RawEntry

ATOM10 = "http://www.w3.org/2005/Atom"
ATOM03 = "http://purl.org/atom/ns#"
RSS10 = "http://purl.org/rss/1.0/"
RSS090 = "http://my.netscape.com/rdf/simple/0.9/"
RDF = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
DC = "http://purl.org/dc/elements/1.1/"
DCTERMS = "http://purl.org/dc/terms/"
CONTENT = "http://purl.org/rss/1.0/modules/content/"
MEDIA = "http://search.yahoo.com/mrss/"
ITUNES = "http://www.itunes.com/dtds/podcast-1.0.dtd"
FEEDBURNER = "http://rssnamespace.org/feedburner/ext/1.0"
XHTML = "http://www.w3.org/1999/xhtml"
XML_LANG = "{http://www.w3.org/XML/1998/namespace}lang"

# Namespaces whose elements count as "plain" RSS elements (RSS 2.0 has none; RSS 1.0 and
# 0.90 put theirs in a namespace; a few feeds put RSS 2.0 in userland's namespace).
_RSS_NS = frozenset({"", RSS10, RSS090})
_ATOM_NS = frozenset({ATOM10, ATOM03})


# RSS's <author> is "e-mail (Name)"; feedparser's e-mail pattern stops at four-letter
# top-level domains, so "desk@paper.media (News Desk)" would come out as "ia (News Desk".
_EMAIL = r"[^\s@()<>]+@[^\s()<>]+"
_RSS_AUTHOR = re.compile(
    rf"{_EMAIL}\s*\((?P<a>[^()]*)\)"  # desk@paper.media (News Desk)
    rf"|(?P<b>[^<>]*?)\s*<{_EMAIL}>"  # News Desk <desk@paper.media>
    rf"|(?P<c>{_EMAIL})"  # desk@paper.media
)


def rss_author(value: object) -> str | None:
    """The name in RSS's ``e-mail (Name)`` or ``Name <e-mail>``; the address when alone;
    any other text as it is."""
    if not isinstance(value, str) or not value.strip():
        return None
    match = _RSS_AUTHOR.fullmatch(value.strip())
    if match is None:
        return value.strip()
    return (match["a"] or match["b"] or match["c"] or "").strip() or None


class NotAFeed(Exception):
    """The document is well-formed XML but not RSS or Atom."""


@dataclass(slots=True)
class _Entry:
    """Fields collected while walking one item, in document order."""

    guid: str | None = None
    link: str | None = None
    guid_link: str | None = None
    orig_link: str | None = None
    title: str | None = None
    summary: str | None = None
    content: str | None = None
    content_el: etree._Element | None = None
    content_encoded: bool = False
    authors: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)
    published: str | None = None
    updated: str | None = None
    thumbnail: str | None = None
    media_image: str | None = None
    itunes_image: str | None = None
    enclosures: list[Enclosure] = field(default_factory=list)


# Namespace URIs as feeds really write them (case, a missing slash, old aliases), mapped
# to the one each means; feedparser accepts the same variants.
_ALIASES = {
    uri.lower().rstrip("/"): uri
    for uri in (
        ATOM10,
        ATOM03,
        RSS10,
        RSS090,
        RDF,
        DC,
        DCTERMS,
        CONTENT,
        MEDIA,
        ITUNES,
        FEEDBURNER,
        XHTML,
    )
} | {
    "http://backend.userland.com/rss": "",
    "http://blogs.law.harvard.edu/tech/rss": "",
    "http://purl.org/rss/1.0/modules/rss091#": "",
    "http://example.com/dtds/podcast-1.0.dtd": ITUNES,
}
_SPLIT: dict[object, tuple[str, str]] = {}


def split(tag: object) -> tuple[str, str]:
    """(namespace, local name) of an element's tag; ("", "") for comments and PIs."""
    found = _SPLIT.get(tag)
    if found is None:
        if not isinstance(tag, str):
            return "", ""
        if tag[:1] == "{":
            ns, _, local = tag[1:].partition("}")
            found = (_ALIASES.get(ns.lower().rstrip("/"), ns), local)
        else:
            found = ("", tag)
        if len(_SPLIT) > 4096:  # a hostile document may invent endless tag names
            _SPLIT.clear()
        _SPLIT[tag] = found
    return found


def version_of(root: etree._Element) -> str:
    """feedparser's name for the format ("rss20", "atom10"...); raises ``NotAFeed``."""
    ns, local = split(root.tag)
    if local == "rss" and ns in _RSS_NS:
        digits = (root.get("version") or "").strip().replace(".", "")
        if digits == "091":
            return "rss091u"  # feedparser's name: UserLand's 0.91, not Netscape's
        return "rss" + digits if digits.isdigit() else "rss"
    if local == "RDF" and ns == RDF:
        for child in root:
            cns, clocal = split(child.tag)
            if clocal in ("channel", "item"):
                if cns == RSS090:
                    return "rss090"
                if cns == RSS10:
                    return "rss10"
        raise NotAFeed("an RDF document without an RSS channel")
    if local == "feed" and ns == ATOM10:
        return "atom10"
    if local == "feed" and ns == ATOM03:
        return "atom03"
    raise NotAFeed(f"root element is <{local or root.tag}>")


def items_of(root: etree._Element, version: str) -> list[etree._Element]:
    """The item or entry elements, in document order."""
    if version.startswith("atom"):
        return [el for el in root if _is_atom(el, "entry")]
    found: list[etree._Element] = []
    for el in root:
        ns, local = split(el.tag)
        if local == "item" and ns in _RSS_NS:
            found.append(el)
        elif local == "channel" and ns in _RSS_NS:
            found += [c for c in el if split(c.tag)[1] == "item" and split(c.tag)[0] in _RSS_NS]
    return found


def _is_atom(el: etree._Element, local: str) -> bool:
    ns, name = split(el.tag)
    return name == local and ns in _ATOM_NS


def read_tree(
    root: etree._Element,
    url: str,
    *,
    items: list[etree._Element] | None = None,
    max_categories: int = 50,
) -> ParsedFeed:
    """The document as a ``ParsedFeed``; ``items`` limits which items are read."""
    version = version_of(root)
    if items is None:
        items = items_of(root, version)
    atom = version.startswith("atom")
    if atom:
        title, link, language = _atom_meta(root, url)
        entries = [_atom_entry(el, url, max_categories) for el in items]
    else:
        title, link, language = _rss_meta(root, version, url)
        site = link or url
        entries = [_rss_entry(el, site, max_categories) for el in items]
    return ParsedFeed(
        format=version,
        title=title,
        link=link,
        language=language,
        entries=tuple(entries),
        parser="lxml",
    )


# -- text ----------------------------------------------------------------------------------


def inner(el: etree._Element) -> str:
    """The element's content as markup: its text plus any child elements serialized."""
    if len(el) == 0:
        return el.text or ""
    parts = [html.escape(el.text, quote=False)] if el.text else []
    for child in el:
        if isinstance(child.tag, str):
            parts.append(etree.tostring(child, encoding="unicode", with_tail=False))
        if child.tail:
            parts.append(html.escape(child.tail, quote=False))
    return "".join(parts)


def _text(el: etree._Element) -> str | None:
    value = el.text if len(el) == 0 else "".join(el.itertext())
    value = value.strip() if value else ""
    return value or None


def _xhtml(el: etree._Element) -> str:
    """Inline XHTML content (Atom type="xhtml", mode="xml") as an HTML fragment."""
    children = [c for c in el if isinstance(c.tag, str)]
    holder = el
    if (
        len(children) == 1
        and split(children[0].tag) == (XHTML, "div")
        and not (el.text or "").strip()
    ):
        holder = children[0]
    parts = [html.escape(holder.text, quote=False)] if holder.text else []
    for child in holder:
        if not isinstance(child.tag, str):
            if child.tail:
                parts.append(html.escape(child.tail, quote=False))
            continue
        copy = deepcopy(child)  # a tree of its own, carrying the namespaces it uses
        copy.tail = None
        for node in copy.iter():
            if isinstance(node.tag, str) and node.tag[:1] == "{":
                node.tag = split(node.tag)[1]
        etree.cleanup_namespaces(copy)
        parts.append(etree.tostring(copy, encoding="unicode", method="html", with_tail=False))
        if child.tail:
            parts.append(html.escape(child.tail, quote=False))
    return "".join(parts)


def _atom_text(el: etree._Element, as_html: bool) -> str | None:
    """An Atom text construct: plain text escaped into HTML when ``as_html``."""
    kind = (el.get("type") or "text").lower()
    mode = (el.get("mode") or "").lower()
    if kind in ("xhtml", "application/xhtml+xml") or mode == "xml":
        value = _xhtml(el)
    elif "html" in kind or mode == "escaped":
        value = inner(el)
    elif as_html:
        value = html.escape(inner(el) if len(el) else el.text or "", quote=False)
    else:
        value = inner(el)
    return value if value.strip() else None


def _date(el: etree._Element) -> str | None:
    value = _text(el)
    if value is None:
        return None
    iso = parse_date(value)
    if iso is None:
        from feedparser.datetimes import _parse_date  # the many odd formats feeds use

        iso = from_struct(_parse_date(value))
    return iso


def _add(values: list[str], value: str | None, limit: int) -> None:
    if value and len(values) < limit and value not in values:
        values.append(value)


def _join(base: str | None, ref: str | None) -> str | None:
    if not ref:
        return None
    ref = ref.strip()
    if not base or ref.startswith(("http://", "https://")):
        return ref
    try:
        return urljoin(base, ref)
    except ValueError:
        return ref


def _base(el: etree._Element, fallback: str) -> str:
    """The element's xml:base resolved against ``fallback`` (or ``fallback`` itself)."""
    declared = el.base
    return _join(fallback, declared) or fallback if declared else fallback


# -- RSS -------------------------------------------------------------------------------------


def _rss_meta(
    root: etree._Element, version: str, url: str
) -> tuple[str | None, str | None, str | None]:
    channel = next(
        (el for el in root if split(el.tag)[1] == "channel" and split(el.tag)[0] in _RSS_NS), None
    )
    title = link = language = None
    atom_link = None
    for el in channel if channel is not None else ():
        ns, local = split(el.tag)
        if ns in _RSS_NS:
            if local == "title" and title is None:
                title = _text(el)
            elif local == "link" and link is None:
                link = _text(el)
            elif local == "language" and language is None:
                language = _text(el)
        elif ns == DC:
            if local == "language" and language is None:
                language = _text(el)
            elif local == "title" and title is None:
                title = _text(el)
        elif ns in _ATOM_NS and local == "link" and atom_link is None and _alternate(el):
            atom_link = el.get("href")
    link = link or atom_link
    if channel is not None:
        link = _join(_base(channel, url), link)
    return title, link, language


def _rss_entry(item: etree._Element, site: str, max_categories: int) -> RawEntry:
    e = _Entry()
    guid_is_link = False
    if version_about := item.get(f"{{{RDF}}}about"):
        e.guid = version_about.strip() or None
    for el in item:
        ns, local = split(el.tag)
        if not local:
            continue
        if ns in _RSS_NS:
            _rss_element(e, el, local, max_categories)
            if local == "guid":
                guid_is_link = (el.get("isPermaLink") or "true").strip().lower() == "true"
        else:
            _extension_element(e, el, ns, local, max_categories)
    if guid_is_link and e.guid and e.guid.lower().startswith(("http://", "https://")):
        e.guid_link = e.guid
    base = _base(item, site)
    return _finish(e, base, base, item)


def _rss_element(  # noqa: PLR0912 - one branch per RSS element, flat on purpose
    e: _Entry, el: etree._Element, local: str, max_categories: int
) -> None:
    if local == "title":
        if e.title is None:
            e.title = inner(el) or None
    elif local == "link":
        if e.link is None:
            e.link = _text(el)
    elif local == "guid":
        e.guid = _text(el)
    elif local == "description":
        _second_summary(e, el, inner(el))
    elif local == "author":
        name = next((c for c in el if split(c.tag)[1] == "name"), None)
        _add(e.authors, _text(name) if name is not None else rss_author(_text(el)), 50)
    elif local == "category":
        _add(e.categories, _text(el), max_categories)
    elif local == "categories":  # a wrapper some publishers invent; feedparser reads through it
        for child in el:
            if split(child.tag)[1] == "category":
                _add(e.categories, _text(child), max_categories)
    elif local == "pubDate":
        e.published = _date(el) or e.published
    elif local == "enclosure":
        _enclosure(e, el.get("url"), el.get("type"), el.get("length"))


def _extension_element(
    e: _Entry, el: etree._Element, ns: str, local: str, max_categories: int
) -> None:
    handler = _EXTENSIONS.get(ns)
    if handler is not None:
        handler(e, el, local, max_categories)


def _content_ns(e: _Entry, el: etree._Element, local: str, max_categories: int) -> None:
    if local == "encoded" and (e.content is None or not e.content_encoded):
        e.content = inner(el) or None
        e.content_el = el
        e.content_encoded = True


def _dc(e: _Entry, el: etree._Element, local: str, max_categories: int) -> None:
    if local in ("creator", "author"):
        _add(e.authors, _text(el), 50)
    elif local == "subject":
        _add(e.categories, _text(el), max_categories)
    elif local == "date":
        e.updated = _date(el) or e.updated
    elif local == "title" and e.title is None:
        e.title = inner(el) or None
    elif local == "description" and e.summary is None:
        e.summary = inner(el) or None
    elif local == "identifier" and e.guid is None:
        e.guid = _text(el)


def _dcterms(e: _Entry, el: etree._Element, local: str, max_categories: int) -> None:
    if local == "issued":
        e.published = _date(el) or e.published
    elif local == "modified":
        e.updated = _date(el) or e.updated


def _feedburner(e: _Entry, el: etree._Element, local: str, max_categories: int) -> None:
    if local == "origLink":
        e.orig_link = _text(el)


def _itunes(e: _Entry, el: etree._Element, local: str, max_categories: int) -> None:
    if local == "author":
        _add(e.authors, _text(el), 50)
    elif local == "image" and e.itunes_image is None:
        e.itunes_image = el.get("href") or el.get("url")
    elif local == "summary":
        _second_summary(e, el, inner(el))
    elif local == "keywords":
        for term in (_text(el) or "").split(","):
            _add(e.categories, term.strip(), max_categories)
    elif local == "category":
        _add(e.categories, el.get("text"), max_categories)


def _xhtml_ns(e: _Entry, el: etree._Element, local: str, max_categories: int) -> None:
    if local == "body":
        e.content = _xhtml(el) or e.content
        e.content_el = el


def _atom_in_rss(e: _Entry, el: etree._Element, local: str, max_categories: int) -> None:
    if local == "link":
        rel = el.get("rel") or "alternate"
        if rel == "alternate" and e.link is None:
            e.link = el.get("href")
        elif rel == "enclosure":
            _enclosure(e, el.get("href"), el.get("type"), el.get("length"))
    elif local in ("updated", "modified"):
        e.updated = _date(el) or e.updated
    elif local in ("published", "issued"):
        e.published = _date(el) or e.published


def _media(  # noqa: PLR0912 - one branch per Media RSS element
    e: _Entry, el: etree._Element, local: str, max_categories: int
) -> None:
    if local == "group":
        for child in el:
            cns, clocal = split(child.tag)
            if cns == MEDIA and clocal != "group":
                _media(e, child, clocal, max_categories)
    elif local == "thumbnail":
        if e.thumbnail is None:
            e.thumbnail = el.get("url") or _text(el)
    elif local == "content":
        kind = el.get("type") or ""
        if e.media_image is None and el.get("url") and ("image" in kind):
            e.media_image = el.get("url")
        for child in el:
            cns, clocal = split(child.tag)
            if cns == MEDIA and clocal == "thumbnail" and e.thumbnail is None:
                e.thumbnail = child.get("url")
    elif local == "category":
        _add(e.categories, _text(el), max_categories)
    elif local == "keywords":
        for term in (_text(el) or "").split(","):
            _add(e.categories, term.strip(), max_categories)
    elif local == "description":
        _second_summary(e, el, inner(el))


def _second_summary(e: _Entry, el: etree._Element, value: str) -> None:
    """itunes:summary and media:description: the summary, or (as feedparser reads them)
    the content when the item has a summary and no content yet."""
    if not value.strip():
        return
    if e.summary is None:
        e.summary = value
    elif e.content is None:
        e.content = value
        e.content_el = el


_EXTENSIONS: dict[str, Callable[[_Entry, etree._Element, str, int], None]] = {
    CONTENT: _content_ns,
    DC: _dc,
    DCTERMS: _dcterms,
    FEEDBURNER: _feedburner,
    MEDIA: _media,
    ITUNES: _itunes,
    XHTML: _xhtml_ns,
    ATOM10: _atom_in_rss,
    ATOM03: _atom_in_rss,
}


def _enclosure(e: _Entry, url: str | None, kind: str | None, length: str | None) -> None:
    if not url or not url.strip() or len(e.enclosures) >= 50:
        return
    size: int | None
    try:
        size = int(str(length).strip())
    except ValueError:
        size = None
    e.enclosures.append(
        Enclosure(
            url=url.strip(),
            type=(kind or "").strip() or None,
            length=size if size is not None and size >= 0 else None,
        )
    )


def _finish(e: _Entry, link_base: str, base: str, item: etree._Element) -> RawEntry:
    content_base = _base(e.content_el, base) if e.content_el is not None else base
    link = e.orig_link or e.link or e.guid_link
    return RawEntry(
        guid=e.guid,
        link=_join(link_base, link),
        title=e.title,
        summary=e.summary,
        content=e.content,
        authors=tuple(e.authors),
        categories=tuple(e.categories),
        published=e.published,
        updated=e.updated,
        image=_join(base, e.thumbnail or e.media_image or e.itunes_image),
        enclosures=tuple(
            Enclosure(url=_join(base, enc.url) or enc.url, type=enc.type, length=enc.length)
            for enc in e.enclosures
        ),
        language=_lang(e.content_el if e.content_el is not None else item),
        base=content_base,
    )


def _lang(el: etree._Element) -> str | None:
    node: etree._Element | None = el
    while node is not None:
        value = node.get(XML_LANG)
        if value is not None:
            return value.strip() or None
        node = node.getparent()
    return None


# -- Atom ------------------------------------------------------------------------------------


def _atom_meta(root: etree._Element, url: str) -> tuple[str | None, str | None, str | None]:
    base = _base(root, url)
    title = link = None
    for el in root:
        ns, local = split(el.tag)
        if ns not in _ATOM_NS:
            continue
        if local == "title" and title is None:
            title = _atom_text(el, as_html=False)
        elif local == "link" and link is None and _alternate(el):
            link = _join(_base(el, base), el.get("href"))
    language = root.get(XML_LANG)
    return title, link, (language.strip() or None) if language else None


def _alternate(el: etree._Element) -> bool:
    rel = (el.get("rel") or "alternate").strip()
    kind = (el.get("type") or "text/html").strip().lower()
    return (
        rel == "alternate"
        and kind in ("text/html", "application/xhtml+xml")
        and bool(el.get("href"))
    )


def _atom_entry(  # noqa: PLR0912 - one branch per Atom element, flat on purpose
    entry: etree._Element, url: str, max_categories: int
) -> RawEntry:
    e = _Entry()
    base = _base(entry, url)
    summary_el: etree._Element | None = None
    for el in entry:
        ns, local = split(el.tag)
        if not local:
            continue
        if ns not in _ATOM_NS:
            _extension_element(e, el, ns, local, max_categories)
            continue
        if local == "id":
            e.guid = _text(el)
        elif local == "title":
            if e.title is None:
                e.title = _atom_text(el, as_html=False)
        elif local == "link":
            rel = (el.get("rel") or "alternate").strip()
            if rel == "enclosure":
                _enclosure(
                    e, _join(_base(el, base), el.get("href")), el.get("type"), el.get("length")
                )
            elif e.link is None and _alternate(el):
                e.link = _join(_base(el, base), el.get("href"))
        elif local == "summary":
            if e.summary is None:
                e.summary = _atom_text(el, as_html=True)
                summary_el = el
        elif local == "content":
            if e.content is None:
                e.content = _atom_text(el, as_html=True)
                e.content_el = el
        elif local == "author":
            for child in el:
                if split(child.tag)[1] == "name":
                    _add(e.authors, _text(child), 50)
        elif local == "category":
            _add(e.categories, (el.get("term") or "").strip() or _text(el), max_categories)
        elif local in ("published", "issued"):
            e.published = _date(el) or e.published
        elif local in ("updated", "modified"):
            e.updated = _date(el) or e.updated
    if e.content_el is None:
        e.content_el = summary_el  # base and language of the text the entry has
    return _finish(e, base, base, entry)
