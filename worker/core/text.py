"""Plain text out of feed strings: no markup, no entities, no control characters."""

from __future__ import annotations

import html
import re
import threading
from collections import OrderedDict

import lxml.html
from lxml import etree

# C0 controls except \t \n, DEL, C1 controls, bidi embeddings/overrides/isolates,
# the surrogate range (a lone surrogate cannot be encoded as UTF-8) and the noncharacters
# U+FFFE/U+FFFF (lxml refuses a fragment holding one).
_UNSAFE = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff\ufeff\ufffe\uffff]"
)
# The ASCII characters of _UNSAFE, deleted from an ASCII string's bytes to find out
# whether it holds any: a third of the regex's time for a body (0.48 against 1.6 us
# for 490 characters).
_ASCII_UNSAFE = bytes(c for c in range(128) if _UNSAFE.match(chr(c)))
_SPACES = re.compile(r"[ \t\r\f\v\u00a0\u2000-\u200a\u3000]+")
# Whitespace to str.split() that _SPACES keeps inside a line (separators, NEL, ogham and
# narrow spaces): where one occurs, collapse() cannot take the str.split() route.
_KEPT_SPACES = re.compile("[\x1c-\x1f\x85\u1680\u2028\u2029\u202f\u205f]")
_BLANK_LINES = re.compile(r"\n\s*\n\s*")
_TAG_HINT = re.compile(r"<[a-zA-Z/!]")
_CHAR_REF = re.compile(r"&#(?:[xX]([0-9a-fA-F]+)|([0-9]+));?")
_ANY_TAG = re.compile(r"<[^<>]*>")

BLOCK_TAGS = frozenset(
    [
        "address",
        "article",
        "aside",
        "blockquote",
        "br",
        "dd",
        "details",
        "div",
        "dl",
        "dt",
        "figcaption",
        "figure",
        "footer",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "header",
        "hr",
        "li",
        "main",
        "nav",
        "ol",
        "p",
        "pre",
        "section",
        "summary",
        "table",
        "tbody",
        "td",
        "tfoot",
        "th",
        "thead",
        "tr",
        "ul",
    ]
)


def scrub(value: str) -> str:
    """Remove characters that must never be stored: NUL, controls, bidi overrides, surrogates."""
    value = value.replace("\r\n", "\n")
    if value.isascii() and len(value.encode().translate(None, _ASCII_UNSAFE)) == len(value):
        return value
    return _UNSAFE.sub("", value)


def fold_keywords(value: str) -> str:
    """Text as a keyword screen in front of a ``(?i)`` pattern compares it. casefold()
    sends every character that (?i) matches with an ASCII letter to that letter (U+017F
    to "s", U+212A to "k"), except two that re also matches with "i": the dotless i and
    the dotted capital I (which casefolds to "i" and a combining dot).
    tests/unit/test_boilerplate.py checks this over all of Unicode."""
    return value.casefold().replace("\u0131", "i").replace("i\u0307", "i")


def collapse(value: str) -> str:
    """One space between words, no leading or trailing space."""
    if value.isascii():
        # four scans at C speed, a tenth of the regex's time for a paragraph
        kept = "\x1c" in value or "\x1d" in value or "\x1e" in value or "\x1f" in value
    else:
        kept = _KEPT_SPACES.search(value) is not None
    if not kept:
        # Every whitespace character here is one the rule below collapses: str.split()
        # gives the same, about twice as fast (collapse was 8 % of a cold pass).
        return " ".join(value.split())
    return _SPACES.sub(" ", value.replace("\n", " ")).strip()


def plain_text(value: str | None) -> str | None:
    """A one-line text field (title, author, category) from a string that may hold markup."""
    if not value:
        return None
    value = html_to_text(value) if _TAG_HINT.search(value) else html.unescape(value)
    out = collapse(scrub(value))
    return out or None


def html_to_text(markup: str, *, keep_lines: bool = False, sanitized: bool = False) -> str:
    """Readable text from an HTML fragment: blocks become paragraphs separated by a blank line.

    ``keep_lines``: the text of the fragment's lines (``line_texts``) is kept for that
    function's next caller of the same markup (an article body, whose lines are
    fingerprinted later): read in the same walk, not parsed and walked again.
    ``sanitized``: the markup is ``sanitize_html``'s (which holds no unsafe character:
    its input was scrubbed, and its output too wherever nh3 decoded a numeric reference),
    or what ``boilerplate.remove`` wrote of it: not scrubbed again (a scan of the whole body, 1.4 %
    of a cold pass's worker samples). Neither writes a character reference scrub would
    have dropped: nh3 escapes only ``&<>"`` and no-break spaces, lxml only ``&<>"``."""
    markup = _CHAR_REF.sub(_drop_control_ref, markup if sanitized else scrub(markup))
    if not markup.strip():
        return ""
    try:
        root = parse_fragment(markup)
    # lxml asserts on "<html><head>...</head></html>" (an IndexError under python -O).
    except _PARSE_ERRORS:
        # Never hand the markup back as text: drop the tags the crude way.
        return collapse(scrub(html.unescape(_ANY_TAG.sub(" ", markup))))
    parts: list[str] = []
    lines: list[str] | None = [] if keep_lines else None
    _walk_root(root, parts, lines)
    text = "".join(parts)
    # Numeric character references ("&#x202e;", "&#1;") are decoded by the parser: scrub
    # again where there were any (no named reference stands for a character scrub drops).
    if "&#" in markup:
        text = scrub(text)
    paragraphs = _BLANK_LINES.split(text)
    out = [collapse(paragraph) for paragraph in paragraphs]
    if lines is not None:
        # a line is most often a paragraph too: collapsed once
        collapsed = dict(zip(paragraphs, out, strict=True))
        _keep_lines(markup, tuple(collapsed.get(line) or collapse(line) for line in lines))
    return "\n\n".join(line for line in out if line)


_PARSE_ERRORS = (etree.ParserError, ValueError, AssertionError, IndexError)
_FULL_HTML = re.compile(r"^\s*<(?:html|!doctype)", re.IGNORECASE)


def parse_fragment(markup: str) -> etree._Element:
    """The element holding an HTML fragment's nodes, as ``lxml.html.fragment_fromstring(
    markup, create_parent="div")`` would give them: the body the parser makes around the
    fragment, which lxml would then move node by node into a new ``div`` (two thirds of
    its 17 us a farm body). The root's tag and attributes, and any whitespace-only text
    before its first child, differ from lxml's: read it with ``_walk_root``. Raises what
    lxml raises."""
    if _FULL_HTML.match(markup):  # lxml reads a whole document its own way
        return lxml.html.fragment_fromstring(markup, create_parent="div")
    doc = etree.fromstring(f"<html><body>{markup}</body></html>", lxml.html.html_parser)
    if doc is None:
        raise etree.ParserError("Document is empty")
    bodies = [e for e in doc if e.tag == "body"]
    if len(bodies) != 1:
        return lxml.html.fragment_fromstring(markup, create_parent="div")
    return bodies[0]


def line_texts(markup: str) -> tuple[str, ...] | None:
    """The text of each line of an HTML fragment (``collapse``d), in order: each block
    element (but ``br``, ``hr`` and the table's rows and sections) that holds no other
    block element, outside the fragment's root. None when the markup does not parse.

    Kept by ``html_to_text(keep_lines=True)`` for the same markup, in this thread."""
    kept: OrderedDict[str, tuple[str, ...]] | None = getattr(_kept, "lines", None)
    if kept is not None:
        found = kept.get(markup)
        if found is not None:
            return found
    try:
        root = parse_fragment(markup)
    except _PARSE_ERRORS:
        return None
    lines: list[str] = []
    _walk_root(root, [], lines)
    return tuple(collapse(line) for line in lines)


# A new article's body is read for its text when it is normalized and for its lines'
# fingerprints (learned boilerplate) right after: the lines of the last few bodies are
# kept, read in the same walk as the text, so a body is parsed and walked once (a second
# parse was about 3 % of a cold pass's worker samples, and reading each line's text from
# the tree 30 us a farm body). A document's articles sit between the two reads. Each
# thread keeps its own (a `--pool threads` worker).
_RECENT_BODIES = 32
_kept = threading.local()
# Blocks that are whole lines of text. Containers (div, section...) count only when they
# hold no other block, so a wrapper is never removed for one line it contains.
LINE_TAGS = frozenset(BLOCK_TAGS - {"br", "hr", "table", "tbody", "thead", "tfoot", "tr"})
_SKIPPED = frozenset(["script", "style", "template", "noscript"])
# What _walk reports of an element's subtree, for the lines around it.
_BLOCK_BELOW = 1  # a block element: no enclosing element is a line
_SKIPPED_BELOW = 2  # a skipped element: a line around it reads its text from the tree


def _keep_lines(markup: str, lines: tuple[str, ...]) -> None:
    kept: OrderedDict[str, tuple[str, ...]] | None = getattr(_kept, "lines", None)
    if kept is None:
        kept = _kept.lines = OrderedDict()
    kept[markup] = lines
    kept.move_to_end(markup)
    if len(kept) > _RECENT_BODIES:
        kept.popitem(last=False)


def forget_lines() -> None:
    """Drop this thread's kept lines."""
    _kept.lines = OrderedDict()


def _drop_control_ref(match: re.Match[str]) -> str:
    """``&#1;`` and its kind as nothing: lxml refuses a whole fragment over one of them."""
    code = int(match[1], 16) if match[1] else int(match[2])
    if (code < 0x20 and code not in (0x9, 0xA, 0xD)) or code in (0xFFFE, 0xFFFF):
        return ""
    return match[0]


def _walk_root(root: etree._Element, out: list[str], lines: list[str] | None) -> None:
    """``_walk`` of a fragment's root as a ``div`` (a block), never itself a line."""
    out.append("\n\n")
    if root.text:
        out.append(root.text)
    for child in root:
        _walk(child, out, lines)
    out.append("\n\n")


def _walk(el: etree._Element, out: list[str], lines: list[str] | None) -> int:
    """The element's text, blocks set apart by blank lines, onto ``out``; with ``lines``,
    the text of each line in it (``line_texts``) onto ``lines``. Returns what it found
    below and in the element (``_BLOCK_BELOW``, ``_SKIPPED_BELOW``)."""
    tag = el.tag if isinstance(el.tag, str) else ""
    if tag in _SKIPPED:
        if el.tail:
            out.append(el.tail)
        return _skipped(el, lines) if lines is not None else 0
    block = tag in BLOCK_TAGS
    if block:
        out.append("\n\n")
    start = len(out)
    if el.text and tag:
        out.append(el.text)
    below = 0
    for child in el:
        below |= _walk(child, out, lines)
    if lines is not None and tag in LINE_TAGS and not below & _BLOCK_BELOW:
        # a line's text is the text of the nodes below it, which is what it added to out
        # unless a skipped element (whose text the tree counts) is among them
        lines.append(el.text_content() if below & _SKIPPED_BELOW else "".join(out[start:]))
    if block:
        out.append("\n\n")
        below |= _BLOCK_BELOW
    if el.tail:
        out.append(el.tail)
    return below


def _skipped(el: etree._Element, lines: list[str]) -> int:
    """A skipped element (a script, a template) as its lines count it: the lines inside
    it (markup that was not sanitized), and whether a block is in it."""
    inner = [c for c in el.iterdescendants() if isinstance(c.tag, str) and c.tag in BLOCK_TAGS]
    if not inner:
        return _SKIPPED_BELOW
    for c in inner:
        if c.tag in LINE_TAGS and not any(
            isinstance(d.tag, str) and d.tag in BLOCK_TAGS for d in c.iterdescendants()
        ):
            lines.append(c.text_content())
    return _SKIPPED_BELOW | _BLOCK_BELOW


def truncate(value: str | None, limit: int) -> str | None:
    if value is None or len(value) <= limit:
        return value
    return value[: limit - 1].rstrip() + "…"
