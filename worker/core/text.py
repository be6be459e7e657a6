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
    return _UNSAFE.sub("", value.replace("\r\n", "\n"))


def fold_keywords(value: str) -> str:
    """Text as a keyword screen in front of a ``(?i)`` pattern compares it. casefold()
    sends every character that (?i) matches with an ASCII letter to that letter (U+017F
    to "s", U+212A to "k"), except two that re also matches with "i": the dotless i and
    the dotted capital I (which casefolds to "i" and a combining dot).
    tests/unit/test_boilerplate.py checks this over all of Unicode."""
    return value.casefold().replace("\u0131", "i").replace("i\u0307", "i")


def collapse(value: str) -> str:
    """One space between words, no leading or trailing space."""
    if _KEPT_SPACES.search(value) is None:
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


def html_to_text(markup: str, *, keep_tree: bool = False) -> str:
    """Readable text from an HTML fragment: blocks become paragraphs separated by a blank line.

    ``keep_tree``: the parsed tree is kept for ``fragment``'s next caller of the same
    markup (an article body, whose lines are fingerprinted later)."""
    markup = _CHAR_REF.sub(_drop_control_ref, scrub(markup))
    if not markup.strip():
        return ""
    try:
        root = (
            fragment(markup)
            if keep_tree
            else lxml.html.fragment_fromstring(markup, create_parent="div")
        )
    # lxml asserts on "<html><head>...</head></html>" (an IndexError under python -O).
    except (etree.ParserError, ValueError, AssertionError, IndexError):
        # Never hand the markup back as text: drop the tags the crude way.
        return collapse(scrub(html.unescape(_ANY_TAG.sub(" ", markup))))
    parts: list[str] = []
    _walk(root, parts)
    # Character references ("&#x202e;", "&#1;") are decoded by the parser: scrub again.
    text = scrub("".join(parts))
    lines = [collapse(line) for line in _BLANK_LINES.split(text)]
    return "\n\n".join(line for line in lines if line)


# A new article's body is read for its text when it is normalized and for its lines'
# fingerprints (learned boilerplate) once it is committed: the trees of the last few
# bodies are kept so that it is parsed once (the second parse was about 3 % of a cold
# pass's worker samples). A document's articles sit between the two reads. Each thread
# keeps its own (a `--pool threads` worker): lxml wants a tree freed, as well as
# changed, in the thread that parsed it.
_RECENT_TREES = 32
_kept = threading.local()


def fragment(markup: str) -> lxml.html.HtmlElement:
    """The HTML fragment's tree under a ``div``, shared with this thread's later callers
    of the same markup: read it, never change it (``boilerplate.remove`` parses its own
    copy). Raises what ``lxml.html.fragment_fromstring`` raises (nothing is kept then)."""
    trees: OrderedDict[str, lxml.html.HtmlElement] | None = getattr(_kept, "trees", None)
    if trees is None:
        trees = _kept.trees = OrderedDict()
    root = trees.get(markup)
    if root is not None:
        trees.move_to_end(markup)
        return root
    root = lxml.html.fragment_fromstring(markup, create_parent="div")
    trees[markup] = root
    if len(trees) > _RECENT_TREES:
        trees.popitem(last=False)
    return root


def forget_trees() -> None:
    """Drop this thread's kept trees."""
    _kept.trees = OrderedDict()


def _drop_control_ref(match: re.Match[str]) -> str:
    """``&#1;`` and its kind as nothing: lxml refuses a whole fragment over one of them."""
    code = int(match[1], 16) if match[1] else int(match[2])
    if (code < 0x20 and code not in (0x9, 0xA, 0xD)) or code in (0xFFFE, 0xFFFF):
        return ""
    return match[0]


def _walk(el: etree._Element, out: list[str]) -> None:
    tag = el.tag if isinstance(el.tag, str) else ""
    if tag in ("script", "style", "template", "noscript"):
        if el.tail:
            out.append(el.tail)
        return
    block = tag in BLOCK_TAGS
    if block:
        out.append("\n\n")
    if el.text and isinstance(el.tag, str):
        out.append(el.text)
    for child in el:
        _walk(child, out)
    if block:
        out.append("\n\n")
    if el.tail:
        out.append(el.tail)


def truncate(value: str | None, limit: int) -> str | None:
    if value is None or len(value) <= limit:
        return value
    return value[: limit - 1].rstrip() + "…"
