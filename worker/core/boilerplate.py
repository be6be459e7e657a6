"""Boilerplate out of an article body, kept aside instead of lost.

Two kinds, both acting on whole blocks (paragraphs, list items, headings...):

* **Declarative**: CSS selectors and line patterns per source, from the config, on top of
  built-in patterns for the inline promotions and trailers every news CMS adds
  ("ALSO READ: ...", "READ MORE: ...", "Related: ...", "Disclaimer: ...", WordPress's
  "The post ... appeared first on ...").
* **Learned**: a block whose text recurs in several recent articles of the same source
  (a disclaimer, a newsletter box, a "Published by X" line, a share prompt) is template,
  not story. ``fingerprints`` gives what to remember of an article; ``learn`` turns a
  source's remembered articles into the set of fingerprints to remove.

Every removed block's text goes to ``Article.removed_boilerplate``.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from urllib.parse import urlsplit

import lxml.html
from lxml import etree
from lxml.cssselect import CSSSelector

from worker.core.text import BLOCK_TAGS, LINE_TAGS, collapse, fold_keywords, line_texts

# A promotion or trailer is a line, not a story paragraph.
MAX_LINE_CHARS = 400

_PROMOTION = (
    r"(?i)(?:also read|read also|read more|more to read|related(?: stories| articles| news"
    r"| coverage| reading)?|recommended(?: reading)?|see also|don'?t miss|must read|"
    r"trending|watch|listen)\s*[:\-\u2013\u2014|>\u00bb]"
)
_DISCLAIMER = r"(?i)disclaimer\s*[:\-\u2013\u2014]"
_APPEARED_FIRST = r"(?i)the post .{1,300} appeared first on .{1,200}$"
DEFAULT_PATTERNS: tuple[str, ...] = (
    # Inline promotions of other stories.
    _PROMOTION,
    r"(?:ALSO READ|Also Read)\b",
    # Trailers.
    _DISCLAIMER,
    _APPEARED_FIRST,
)
# For a built-in pattern, words one of which every match contains (compared casefolded):
# checking for them in the whole markup is about ten times cheaper than searching it with
# the pattern (0.006 against 0.056 ms for a 1 KB body), and says just as well whether the
# markup needs parsing at all. A pattern from the config is searched as it is.
_KEYWORDS: dict[str, tuple[str, ...]] = {
    _PROMOTION: (
        "also read",
        "read also",
        "read more",
        "more to read",
        "related",
        "recommended",
        "see also",
        "miss",
        "must read",
        "trending",
        "watch",
        "listen",
    ),
    DEFAULT_PATTERNS[1]: ("also read",),
    _DISCLAIMER: ("disclaimer",),
    _APPEARED_FIRST: ("appeared first on",),
}


@dataclass(frozen=True)
class Rules:
    """Compiled removal rules for one source."""

    selectors: tuple[str, ...] = ()
    patterns: tuple[str, ...] = DEFAULT_PATTERNS
    _css: tuple[CSSSelector, ...] = field(default=(), repr=False, compare=False)
    _lines: tuple[re.Pattern[str], ...] = field(default=(), repr=False, compare=False)
    # may_occur's screen: every keyword of the patterns that have some, once; the
    # patterns that have none.
    _keywords: tuple[str, ...] = field(default=(), repr=False, compare=False)
    _unscreened: tuple[re.Pattern[str], ...] = field(default=(), repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "_css", tuple(CSSSelector(s) for s in self.selectors))
        object.__setattr__(self, "_lines", tuple(re.compile(p) for p in self.patterns))
        keywords = [_KEYWORDS.get(source) for source in self.patterns]
        object.__setattr__(
            self, "_keywords", tuple(dict.fromkeys(k for ks in keywords if ks for k in ks))
        )
        object.__setattr__(
            self,
            "_unscreened",
            tuple(p for p, ks in zip(self._lines, keywords, strict=True) if ks is None),
        )

    @classmethod
    def build(
        cls, selectors: Iterable[str] = (), patterns: Iterable[str] = (), *, defaults: bool = True
    ) -> Rules:
        base = DEFAULT_PATTERNS if defaults else ()
        return cls(selectors=tuple(selectors), patterns=(*base, *patterns))

    def matches_line(self, text: str) -> bool:
        return len(text) <= MAX_LINE_CHARS and any(p.match(text) for p in self._lines)

    def may_occur(self, markup: str) -> bool:
        """False only when no line pattern can match anywhere in ``markup``: none of the
        keywords of the patterns that have some occurs, and no other pattern matches.
        (The keywords in one loop, each once, not a generator per pattern: 11-15 -> 8.5-10
        us a farm body.)"""
        for pattern in self._unscreened:
            if pattern.search(markup):
                return True
        if self._keywords:
            folded = fold_keywords(markup)
            for keyword in self._keywords:
                if keyword in folded:
                    return True
        return False


DEFAULT_RULES = Rules()
NO_RULES = Rules(patterns=())


@lru_cache(maxsize=1024)
def rules_for(
    selectors: tuple[str, ...], patterns: tuple[str, ...], *, defaults: bool = True
) -> Rules:
    """Compiled rules, cached: a source's rules are compiled once per process."""
    return Rules.build(selectors, patterns, defaults=defaults)


# A URL whose host urlsplit would hand back as it is: lower-case scheme and host, no
# user, port or brackets, the host ended by the path, query, fragment or the end.
# Canonical URLs are so; urlsplit (4 us a URL; its cache holds 128, and a parse round
# asks about a few hundred URLs three times each) is left for the others.
_PLAIN_HOST = re.compile(r"https?://([a-z0-9.-]+)(?=[/?#]|\Z)")


def source_key(url: str | None, fallback: str) -> str:
    """Which source an article's history belongs to: its site (host without "www."),
    so an outlet's section feeds share one history; the feed when there is no URL."""
    host = ""
    if url:
        plain = _PLAIN_HOST.match(url)
        host = plain[1] if plain else (urlsplit(url).hostname or "")
    return host.removeprefix("www.") or fallback


def fingerprint(text: str) -> str:
    """The identity of a block's text: case and spacing do not matter."""
    return _fingerprint(collapse(text))


def _fingerprint(collapsed: str) -> str:
    """``fingerprint`` of a text ``collapse`` gave (collapsing again was a fifth of the
    history's line fingerprints)."""
    return hashlib.sha1(collapsed.casefold().encode(), usedforsecurity=False).hexdigest()[:16]


def remove(
    markup: str | None, rules: Rules = DEFAULT_RULES, learned: frozenset[str] = frozenset()
) -> tuple[str | None, tuple[str, ...]]:
    """The markup without boilerplate blocks, and the text of each block removed."""
    if not markup or (not rules.selectors and not rules.patterns and not learned):
        return markup, ()
    if not rules.selectors and not learned and not rules.may_occur(markup):
        return markup, ()  # no pattern occurs anywhere: no need to parse the markup
    try:
        root = lxml.html.fragment_fromstring(markup, create_parent="div")
    except (etree.ParserError, ValueError):
        return markup, ()
    removed: list[str] = []
    for css in rules._css:
        for el in css(root):
            if el is not root and el.getparent() is not None:
                removed.append(_drop(el))
    for el in list(_lines(root)):
        text = collapse(el.text_content())
        if text and (rules.matches_line(text) or _fingerprint(text) in learned):
            removed.append(_drop(el))
    if not removed:
        return markup, ()
    out = "".join(
        etree.tostring(child, encoding="unicode", method="html", with_tail=True) for child in root
    )
    out = (root.text or "") + out
    return (out.strip() or None), tuple(t for t in removed if t)


def _lines(root: etree._Element) -> Iterable[etree._Element]:
    """Block elements holding no other block element: the lines of the article."""
    for el in root.iter():
        if el is root or not isinstance(el.tag, str) or el.tag not in LINE_TAGS:
            continue
        if any(isinstance(c.tag, str) and c.tag in BLOCK_TAGS for c in el.iterdescendants()):
            continue
        yield el


def _drop(el: lxml.html.HtmlElement) -> str:
    text = collapse(el.text_content())
    el.drop_tree()  # keeps the tail text in place
    return text


def fingerprints(markup: str | None, removed: Sequence[str] = ()) -> tuple[str, ...]:
    """What to remember of one article: a fingerprint per line, removed lines included
    (so a trailer that is being removed keeps counting as recurring)."""
    found: dict[str, None] = {}
    # read with the body's text when ``html_to_text`` kept them
    for text in (line_texts(markup) if markup else None) or ():
        if text:
            found[_fingerprint(text)] = None
    for text in removed:
        found[fingerprint(text)] = None
    return tuple(found)


def learn(history: Sequence[Sequence[str]], min_articles: int) -> frozenset[str]:
    """Fingerprints present in at least ``min_articles`` of a source's recent articles."""
    counts = Counter(fp for article in history for fp in set(article))
    return frozenset(fp for fp, n in counts.items() if n >= min_articles)
