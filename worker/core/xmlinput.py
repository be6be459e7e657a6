"""Feed bytes into XML text that is safe to hand to a parser: decoded, and defused.

Two jobs, both before any parser sees the document:

* **Decoding.** A byte-order mark wins; then a document that is valid UTF-8 is UTF-8
  (declarations lie far more often than bytes do); then the declared encoding, the HTTP
  charset, and Windows-1252 (which WHATWG also reads for "iso-8859-1" and "us-ascii",
  so smart quotes survive). Mostly-UTF-8 text with a few invalid bytes keeps its UTF-8
  and loses only the invalid bytes (to U+FFFD).
* **Defusing.** A DOCTYPE is removed before parsing, so no internal entity is ever
  declared and none can be expanded (the "billion laughs" bomb: feedparser's loose
  parser re-expands entities expat refused); a declaration that survives is refused.
  ``repair`` then makes the common damage well-formed for the strict parser: HTML named
  entities become character references, undefined ones and bare ``&`` become text, and
  character references to code points XML forbids (``&#xD800;``, ``&#x110000;``) go.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass
from html.entities import html5

from worker.core.errors import ParseError

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# UTF-16 and UTF-32 without a byte-order mark, told by how "<" is laid out.
_UNMARKED = (
    (b"\x00\x00\x00<", "utf-32-be"),
    (b"<\x00\x00\x00", "utf-32-le"),
    (b"\x00<", "utf-16-be"),
    (b"<\x00", "utf-16-le"),
)
# Heads that ``_decode`` reads before trying UTF-8 (an unmarked UTF-16 "<" is valid UTF-8).
_MARKED = tuple(bom for bom, _ in _BOMS) + tuple(head for head, _ in _UNMARKED)
_DECLARED = re.compile(rb"""^\s*<\?xml[^>]{0,200}?encoding\s*=\s*["']([A-Za-z0-9._:-]{1,40})["']""")
_CHARSET = re.compile(r"""charset\s*=\s*["']?([A-Za-z0-9._:-]{1,40})""", re.IGNORECASE)
# Labels that mean Windows-1252 in practice (the WHATWG Encoding Standard maps them so).
_AS_1252 = frozenset(
    {
        "iso-8859-1",
        "iso8859-1",
        "latin-1",
        "latin1",
        "us-ascii",
        "ascii",
        "l1",
        "cp819",
        "ibm819",
        "iso-ir-100",
        "windows-1252",
        "cp1252",
    }
)
_C1 = re.compile("[\x80-\x9f]")
_C1_UTF8 = re.compile(b"\xc2[\x80-\x9f]")
_DEMORONIZE = {
    code: bytes([code]).decode("windows-1252")
    for code in range(0x80, 0xA0)
    if code not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)  # undefined in Windows-1252
}
_XML_DECL = re.compile(r"^\s*<\?xml[^>]{0,300}?\?>")
# The prolog: declarations, processing instructions, comments and space before the root.
_DOCTYPE = re.compile(r"<!DOCTYPE(?:[^\[>]|\[(?:[^\]\"']|\"[^\"]*\"|'[^']*')*\])*>", re.IGNORECASE)
# The closing tag of an RSS, Atom or RDF root at the very end: the document is complete.
ROOT_END = re.compile(rb"</\s*(?:[\w.-]+:)?(?:rss|feed|RDF)\s*>\s*\Z")
_PROLOG_ITEM = re.compile(r"\s+|<\?.*?\?>|<!--.*?-->", re.DOTALL)
# Characters XML 1.0 forbids anywhere (a lone surrogate comes from a broken decoder).
_XML_ILLEGAL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_CDATA = re.compile(r"(<!\[CDATA\[.*?\]\]>)", re.DOTALL)
_AMP = re.compile(
    r"&(?:#[xX]([0-9a-fA-F]{1,16});|#([0-9]{1,20});|([A-Za-z][A-Za-z0-9._-]{0,31});)?"
)
_XML_ENTITIES = frozenset({"amp", "lt", "gt", "quot", "apos"})
_PREFIX_USED = re.compile(r"</?([A-Za-z_][\w.-]*):[A-Za-z_]")
_PREFIX_DECLARED = re.compile(r"xmlns:([A-Za-z_][\w.-]*)\s*=")
_ROOT_TAG = re.compile(r"<[A-Za-z_][\w.:-]*")
# Prefixes feeds use without declaring them, and the namespaces they always mean.
KNOWN_PREFIXES = {
    "atom": "http://www.w3.org/2005/Atom",
    "content": "http://purl.org/rss/1.0/modules/content/",
    "dc": "http://purl.org/dc/elements/1.1/",
    "dcterms": "http://purl.org/dc/terms/",
    "feedburner": "http://rssnamespace.org/feedburner/ext/1.0",
    "itunes": "http://www.itunes.com/dtds/podcast-1.0.dtd",
    "media": "http://search.yahoo.com/mrss/",
    "rdf": "http://www.w3.org/1999/02/22-rdf-syntax-ns#",
    "slash": "http://purl.org/rss/1.0/modules/slash/",
    "wfw": "http://wellformedweb.org/CommentAPI/",
}


@dataclass(frozen=True, slots=True)
class XmlInput:
    """A document as UTF-8 bytes without a DOCTYPE, and what was done to get there."""

    data: bytes
    encoding: str
    doctype_removed: bool = False


def decode(body: bytes, content_type: str | None = None) -> tuple[str, str]:
    """The document's text and the encoding it was read in.

    C1 control characters (U+0080-U+009F), which in feeds are Windows-1252 punctuation
    decoded as Latin-1 somewhere upstream, become that punctuation (U+0092 reads as a
    right single quotation mark), as feedparser does.
    """
    text, encoding, _ = _decoded(body, content_type)
    return text, encoding


def _decoded(body: bytes, content_type: str | None) -> tuple[str, str, bool]:
    """``decode``, and whether the text is ``body`` itself read as UTF-8 (no byte-order
    mark, no C1 character restored): then its UTF-8 bytes are ``body``, unchanged."""
    if not body.startswith(_MARKED):
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            pass
        else:
            # In valid UTF-8, U+0080-U+009F are exactly the pairs C2 80 to C2 9F.
            if b"\xc2" not in body or not _C1_UTF8.search(body):
                return text, "utf-8", True
    text, encoding = _decode(body, content_type)
    if _C1.search(text):
        text = text.translate(_DEMORONIZE)
    return text, encoding, False


def _decode(body: bytes, content_type: str | None) -> tuple[str, str]:
    for bom, name in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(name, errors="replace"), name
    for head, name in _UNMARKED:
        if body.startswith(head):
            return body.decode(name, errors="replace"), name
    try:
        return body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    for label in (_declared(body), _http_charset(content_type)):
        codec = _codec(label)
        if codec is None or codec == "utf-8" or codec.startswith(("utf-16", "utf-32")):
            continue
        try:
            return body.decode(codec), codec
        except UnicodeDecodeError:
            continue
    if _mostly_utf8(body):
        return body.decode("utf-8", errors="replace"), "utf-8"
    return body.decode("windows-1252", errors="replace"), "windows-1252"


def _declared(body: bytes) -> str | None:
    match = _DECLARED.match(body[:300])
    return match[1].decode("ascii") if match else None


def _http_charset(content_type: str | None) -> str | None:
    match = _CHARSET.search(content_type or "")
    return match[1] if match else None


def _codec(label: str | None) -> str | None:
    if not label:
        return None
    if label.lower() in _AS_1252:
        return "windows-1252"
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def _mostly_utf8(body: bytes) -> bool:
    """More valid multi-byte UTF-8 sequences than invalid bytes: UTF-8 with some damage."""
    text = body.decode("utf-8", errors="replace")
    bad = text.count("\ufffd")
    good = sum(1 for ch in text if ord(ch) > 0x7F) - bad
    return good > bad


def prepare(feed: str, body: bytes, content_type: str | None = None) -> XmlInput:
    """Decoded, DOCTYPE-free UTF-8 bytes; ``ParseError`` if an entity declaration remains.

    The XML declaration and any DOCTYPE are cut out of the prolog. A document that is
    UTF-8 already is cut as bytes: the whole text is never encoded again.
    """
    text, encoding, as_is = _decoded(body, content_type)
    declaration = _XML_DECL.match(text)
    cuts = [(0, declaration.end())] if declaration else []
    cuts += _doctypes(feed, text, declaration.end() if declaration else 0)
    if not cuts:
        return XmlInput(body if as_is else text.encode("utf-8"), encoding, False)
    kept, start = [], 0
    for cut_start, cut_end in cuts:
        kept.append((start, cut_start))
        start = cut_end
    if as_is:
        # Cuts are in the prolog: only its characters are counted back into bytes.
        offset = {i: len(text[:i].encode("utf-8")) for span in cuts for i in span}
        offset[0] = 0
        data = b"".join(body[offset[a] : offset[b]] for a, b in kept) + body[offset[start] :]
    else:
        data = ("".join(text[a:b] for a, b in kept) + text[start:]).encode("utf-8")
    return XmlInput(data, encoding, len(cuts) > bool(declaration))


def _doctypes(feed: str, text: str, pos: int) -> list[tuple[int, int]]:
    """Where the prolog's DOCTYPE declarations are; refuse one that cannot be read to its
    end."""
    found: list[tuple[int, int]] = []
    while True:
        item = _PROLOG_ITEM.match(text, pos)
        if item and item.end() > pos:
            pos = item.end()
            continue
        if not text.startswith("<!", pos) or text.startswith("<![CDATA[", pos):
            return found
        doctype = _DOCTYPE.match(text, pos)
        if doctype is None:
            raise ParseError(feed, "unreadable DOCTYPE declaration (refused)")
        found.append((pos, doctype.end()))
        pos = doctype.end()


def repair(data: bytes) -> bytes:
    """Well-formedness fixes for the common damage, outside CDATA sections only: HTML
    entities, bare ampersands, forbidden characters and character references, undeclared
    prefixes."""
    text = _XML_ILLEGAL.sub("", data.decode("utf-8"))
    parts = _CDATA.split(text)
    used: set[str] = set()
    for i in range(0, len(parts), 2):
        if "&" in parts[i]:
            parts[i] = _AMP.sub(_fix_reference, parts[i])
        used.update(_PREFIX_USED.findall(parts[i]))
    text = "".join(parts)
    missing = used - set(_PREFIX_DECLARED.findall(text)) - {"xml", "xmlns"}
    root = _ROOT_TAG.search(text) if missing else None
    if root is not None:
        declarations = "".join(
            f' xmlns:{p}="{KNOWN_PREFIXES.get(p, "urn:x-undeclared:" + p)}"'
            for p in sorted(missing)
        )
        text = text[: root.end()] + declarations + text[root.end() :]
    return text.encode("utf-8")


def _fix_reference(match: re.Match[str]) -> str:
    hex_code, dec_code, name = match[1], match[2], match[3]
    if hex_code or dec_code:
        code = int(hex_code, 16) if hex_code else int(dec_code)
        return match[0] if _xml_char(code) else ""
    if name is None:
        return "&amp;"  # a bare ampersand
    if name in _XML_ENTITIES:
        return match[0]
    value = html5.get(name + ";")
    if value is None:
        return "&amp;" + name + ";"
    return "".join(f"&#{ord(ch)};" for ch in value)


def _xml_char(code: int) -> bool:
    return (
        code in (0x9, 0xA, 0xD)
        or 0x20 <= code <= 0xD7FF
        or 0xE000 <= code <= 0xFFFD
        or 0x10000 <= code <= 0x10FFFF
    )
