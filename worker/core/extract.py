"""Main text, author, date and lead image out of an article page: three opinions, then ours.

trafilatura (pure: HTML in, XML out; no fetching here) finds the article body, author,
date and image. Its body is turned back into HTML blocks (paragraphs, sub-headings,
lists, quotes) so it goes through the same sanitizer and boilerplate rules as feed
content. Two other opinions of the same page check it (``combine``), by general signals,
never by site:

* **readability** (readability-lxml, another algorithm: it scores paragraph containers
  where trafilatura walks the tree with its own rules). When readability finds at least
  half as much again in prose paragraphs that trafilatura's text does not have (blocks of
  150 characters or more ending a sentence), trafilatura stopped inside the story and
  readability's body is taken instead.
* **trafilatura in precision mode** and readability vote on the edges: leading and
  trailing blocks that neither kept (a gallery caption, a promo, a bio) are not story.
  Blocks inside the text are never voted out: one extractor cutting a paragraph in the
  middle is its loss of recall, not a sign of boilerplate.

What every extractor leaves in is then trimmed by what it says (``trim``):

* the headline repeated in the first half (it is the ``title`` already), with what comes
  before it (page chrome above the headline);
* short trailing lines that are not story: an author bio, a "subscribe" or "follow us"
  prompt, a copyright line (``trailer``), found by what they say, not where they are.
"""

from __future__ import annotations

import html
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import lxml.html
from lxml import etree

from worker.core.dates import parse_date
from worker.core.text import collapse, fold_keywords

# A page above this size is cut before extraction: bounded time per article.
MAX_PAGE_CHARS = 3_000_000
_BLOCKS = {"p": "p", "head": "h2", "list": "ul", "item": "li", "quote": "blockquote"}
# Lines that end a story's text without being part of it: prompts, credits, bios.
_TRAILER = re.compile(
    r"(?i)^(?:"
    r"(?:sign up|subscribe|register)\b.{0,240}"
    r"|.{0,120}\b(?:newsletters?|subscribe|sign up)\b.{0,150}"
    r"|follow (?:us|me)?\b.{0,150}"
    r"|(?:like|liked) this (?:story|article)\?.{0,100}"
    r"|(?:share|tweet) this(?: article| story)?\b.{0,80}"
    r"|(?:click|tap) here to .{0,120}"
    r"|if you buy something.{0,200}"
    r"|listen to .{0,150}"
    r"|\(?reporting by\b.{0,300}"
    r"|.{0,200}\bcontributed (?:reporting|to this report)\b.{0,100}"
    r"|(?:source|sources|fonte|quelle)\s*:.{0,80}"
    r"|with .{0,40}wires?"
    r"|(?:tags?|filed under|categories|keywords)\s*:.{0,300}"
    r"|you (?:may|might) also like.{0,100}"
    r"|(?:all )?rights reserved.{0,80}"
    r"|.{0,40}(?:\u00a9|\(c\)|copyright).{0,120}"
    r"|[\w.'\- ]{2,60} is (?:a|an|the) [\w ,'\-]{0,80}(?:reporter|writer|editor|correspondent"
    r"|journalist|columnist|contributor)\b.{0,200}"
    r")$"
)
# Lines of metadata around a story: a byline, a dateline, an update time, a reading time.
_META = re.compile(
    r"(?i)^(?:(?:by|por|von|par|di|door|av)\s+[\w.'\- ,&]{2,60}"
    r"|.{0,60}\b(?:19[89]\d|20[0-3]\d)\b.{0,40}"
    r"|.{0,40}\b\d{1,2}:\d{2}\b.{0,40}"
    r"|(?:updated|published|posted|publicado|atualizado|aktualisiert)\b.{0,60}"
    r"|.{0,30}\b\d+\s*(?:min(?:ute)?s?|minutos?)\b.{0,40}"
    r"|staff reports?|photos?|image)$"
)
# A short heading that opens a block of other stories: the story ended above it.
_RECIRCULATION = re.compile(
    r"(?i)^(?:top stories|most (?:read|popular|viewed|shared)|related(?: articles?| stories"
    r"| posts| news| content| coverage| topics)?|more (?:from|stories|news|on)\b.{0,40}"
    r"|read next|up next|you (?:may|might) (?:also )?like.{0,30}|recommended(?: for you"
    r"| reading| stories)?|trending(?: now| stories)?|partner (?:news|content)"
    r"|sponsored(?: content| stories)?|popular (?:on|in|now)\b.{0,40}"
    r"|(?:latest|more) (?:news|headlines|stories)|see also|what to read next|tags?"
    r"|filed under.{0,40}|comments?|\d+ comments?)\W*$"
)
_SENTENCE_END = re.compile('[.!?;"\u201d\u2019)\\]\u2026]$')
_NON_WORD = re.compile(r"\W+")


@dataclass(frozen=True, slots=True)
class Extracted:
    """What a page gave: body as HTML blocks, and the metadata trafilatura found."""

    content_html: str
    title: str | None = None
    author: str | None = None
    published: str | None = None
    image: str | None = None
    trimmed: tuple[str, ...] = ()


_TEASER_END = re.compile(
    r"(?i)(?:\[\s*(?:\u2026|\.\.\.)\s*\]|\u2026|\.\.\.|\(more\W*\)|read more\W*|continue reading\W*"
    r"|read the (?:full|whole|rest of the) (?:story|article)\W*)\s*$"
)


# Each ending _TEASER_END knows holds one of these, folded as (?i) matches: most items
# have none in their last 200 characters and skip the pattern (9 us a body, 1.2 % of a
# cold pass's worker samples).
_TEASER_WORDS = ("\u2026", "...", "more", "reading", "story", "article")


def is_teaser(text: str | None, removed: Sequence[str] = ()) -> bool:
    """An item that stops where its page goes on: a closing "[…]", "Read more" or
    "Continue reading", or WordPress's "The post ... appeared first on ..." trailer."""
    if text:
        tail = text[-200:]
        folded = fold_keywords(tail)
        if any(w in folded for w in _TEASER_WORDS) and _TEASER_END.search(tail):
            return True
    return any("appeared first on" in line for line in removed)


def much_longer(item_text: str | None, page_text: str | None) -> bool:
    """The page's text is well beyond the item's: the feed carries teasers."""
    item, page = len(item_text or ""), len(page_text or "")
    return page >= 1.5 * item + 200


def extract(page: str | bytes, url: str | None = None) -> Extracted | None:
    """The article in an HTML page, or None when there is none to find."""
    page = page[:MAX_PAGE_CHARS]
    doc = _trafilatura(page, url, recall=True)
    tree = doc.get("body") if doc else None
    if doc is None or tree is None:
        return None
    precise = _trafilatura(page, url, recall=False, metadata=False)
    precise_tree = precise.get("body") if precise else None
    blocks = combine(
        _blocks(tree),
        _blocks(precise_tree) if precise_tree is not None else [],
        _readability(page),
    )
    title = doc.get("title")
    blocks, trimmed = trim(blocks, title)
    if not blocks:
        return None
    return Extracted(
        content_html="".join(f"<{tag}>{html.escape(text)}</{tag}>" for tag, text in blocks),
        title=title,
        author=doc.get("author"),
        published=parse_date(doc.get("date")),
        image=doc.get("image"),
        trimmed=trimmed,
    )


def _trafilatura(
    page: str | bytes, url: str | None, *, recall: bool, metadata: bool = True
) -> dict[str, Any] | None:
    """trafilatura's result as a dict (``body`` is its XML tree), or None."""
    import trafilatura

    result = trafilatura.bare_extraction(
        page,
        url=url,
        output_format="python",
        include_comments=False,
        include_tables=True,
        include_images=False,
        include_links=False,
        favor_precision=not recall,
        favor_recall=recall,
        with_metadata=metadata,
        deduplicate=False,
    )
    if result is None:
        return None
    return dict(result.as_dict() if hasattr(result, "as_dict") else result)


def _readability(page: str | bytes) -> list[tuple[str, str]]:
    """readability-lxml's opinion of the article body, as blocks (empty if it has none)."""
    from readability import Document
    from readability.readability import Unparseable

    try:
        summary = Document(page).summary(html_partial=True)
    except (Unparseable, ValueError, etree.LxmlError):
        return []
    if not summary or not summary.strip():
        return []
    try:
        root = lxml.html.fromstring(summary)
    except (ValueError, etree.LxmlError):
        return []
    out: list[tuple[str, str]] = []
    _html_blocks(root, out)
    return out


# HTML block elements and the block they become; containers holding none are paragraphs.
_HTML_BLOCKS = {
    **dict.fromkeys(("p", "pre", "td", "th", "dd", "dt", "figcaption"), "p"),
    **dict.fromkeys(("h1", "h2", "h3", "h4", "h5", "h6"), "h2"),
    "li": "li",
    "blockquote": "blockquote",
}
_SKIP = frozenset({"script", "style", "noscript", "template"})


def _html_blocks(el: etree._Element, out: list[tuple[str, str]]) -> None:
    """Blocks of an HTML tree in document order: a block element that holds no other is
    one block per line; loose text between blocks is a paragraph."""

    def add(tag: str, text: str | None) -> None:
        for raw in (text or "").split("\n"):
            line = collapse(raw)
            if line:
                out.append((tag, line))

    tag = el.tag if isinstance(el.tag, str) else ""
    if tag in _SKIP:
        return
    if tag in _HTML_BLOCKS and not any(
        isinstance(d.tag, str) and d.tag in _HTML_BLOCKS for d in el.iterdescendants()
    ):
        add(_HTML_BLOCKS[tag], "".join(_text(el)))
        return
    add("p", el.text)
    for child in el:
        _html_blocks(child, out)
        add("p", child.tail)


def _text(el: etree._Element) -> list[str]:
    """An element's text with ``<br>`` as a line break, scripts and styles left out."""
    parts = [el.text or ""]
    for child in el:
        tag = child.tag if isinstance(child.tag, str) else ""
        if tag == "br":
            parts.append("\n")
        elif tag and tag not in _SKIP:
            parts += _text(child)
        parts.append(child.tail or "")
    return parts


# A paragraph of prose: long enough, and ending a sentence.
_PROSE_CHARS = 150
# readability wins when the prose it adds is at least this share of trafilatura's text.
_MORE_PROSE = 0.5


def combine(
    main: list[tuple[str, str]],
    precise: Sequence[tuple[str, str]],
    other: list[tuple[str, str]],
) -> list[tuple[str, str]]:
    """One body out of three opinions of a page (see the module docstring): ``main``
    (trafilatura favouring recall), ``precise`` (trafilatura favouring precision) and
    ``other`` (readability).

    * ``other`` replaces ``main`` when it adds prose paragraphs amounting to at least half
      of ``main``'s text: ``main`` stopped inside the story;
    * leading and trailing blocks of the result that neither ``precise`` nor ``other``
      contains are dropped (never all of them).
    """
    if not main:
        return main
    kept = _normalized(main)
    added = sum(
        len(text)
        for _, text in other
        if len(text) >= _PROSE_CHARS
        and _SENTENCE_END.search(text)
        and f" {_norm(text)} " not in kept
    )
    if added >= _MORE_PROSE * sum(len(text) for _, text in main):
        main = other
    witnesses = [_normalized(blocks) for blocks in (precise, other) if blocks]
    if not witnesses:
        return main

    def seen(text: str) -> bool:
        needle = f" {_norm(text)} "
        return any(needle in witness for witness in witnesses)

    start, end = 0, len(main)
    while start < end and not seen(main[start][1]):
        start += 1
    while end > start and not seen(main[end - 1][1]):
        end -= 1
    return main[start:end] or main


def _normalized(blocks: Sequence[tuple[str, str]]) -> str:
    """Blocks' text as one lower-case string of words, padded so whole blocks match."""
    return f" {_norm(' '.join(text for _, text in blocks))} "


def _blocks(body: etree._Element) -> list[tuple[str, str]]:
    """trafilatura's XML body as (tag, text) blocks: one per paragraph, heading, list item,
    quote, table row or line (``<lb/>``); text between elements is a paragraph too."""
    out: list[tuple[str, str]] = []

    def add(tag: str, text: str | None) -> None:
        for raw in (text or "").split("\n"):
            line = collapse(raw)
            if line:
                out.append((tag, line))

    add("p", body.text)
    for el in body:
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag == "list":
            for item in el.iter("item"):
                add("li", _flat(item))
        elif tag == "table":
            for row in el.iter("row"):
                add("p", " ".join(_flat(cell).strip() for cell in row))
        elif tag != "lb":
            add(_BLOCKS.get(tag, "p"), _flat(el))
        add("p", el.tail)
    return out


def _flat(el: etree._Element) -> str:
    """An element's text with ``<lb/>`` as a line break and nested blocks on their own lines."""
    parts = [el.text or ""]
    for child in el:
        if child.tag == "lb":
            parts.append("\n")
        elif child.tag in ("p", "head", "list", "item", "quote", "row", "table"):
            parts.append("\n" + _flat(child) + "\n")
        else:
            parts.append(_flat(child))
        parts.append(child.tail or "")
    return "".join(parts)


def trim(
    blocks: list[tuple[str, str]], title: str | None
) -> tuple[list[tuple[str, str]], tuple[str, ...]]:
    """What every extractor leaves around a story, trimmed by what it is, not by site:

    * at the top: the headline again (its last appearance in the first half of the text,
      with everything above it: page chrome), headings before the first paragraph (title
      and standfirst repeated), and up to four metadata lines (byline, dateline, update
      time);
    * from a recirculation heading ("Top stories", "Related", "More from ...") in the
      second half to the end: other stories;
    * at the bottom: headings with no text after them, metadata lines, and trailers
      (newsletter and follow prompts, credits, tags, copyright, an author bio).
    """
    top = _through_headline(blocks, title)
    trimmed = [text for _, text in blocks[:top]]
    del blocks[:top]
    while len(blocks) > 1 and blocks[0][0] == "h2":
        trimmed.append(blocks.pop(0)[1])
    for _ in range(4):
        if len(blocks) > 1 and _is_meta(blocks[0][1]):
            trimmed.append(blocks.pop(0)[1])
    half = len(blocks) // 2
    for index in range(max(1, half), len(blocks)):
        text = blocks[index][1]
        if len(text) <= 60 and _RECIRCULATION.match(text):
            trimmed += [t for _, t in blocks[index:]]
            del blocks[index:]
            break
    while len(blocks) > 1 and blocks[-1][0] == "h2":
        trimmed.append(blocks.pop()[1])
    for _ in range(3):
        if len(blocks) > 1 and len(blocks[-1][1]) < 100 and _META.match(blocks[-1][1]):
            trimmed.append(blocks.pop()[1])
    for _ in range(4):
        if len(blocks) > 1 and len(blocks[-1][1]) < 350 and _TRAILER.match(blocks[-1][1]):
            trimmed.append(blocks.pop()[1])
    return blocks, tuple(trimmed)


def _through_headline(blocks: Sequence[tuple[str, str]], title: str | None) -> int:
    """How many blocks end with the headline's last appearance in the first half of the
    text (0 when it does not appear there)."""
    if not title:
        return 0
    half, seen, count = sum(len(text) for _, text in blocks) / 2, 0, 0
    for index, (_, text) in enumerate(blocks):
        if seen > half:
            break
        seen += len(text)
        if _same(text, title):
            count = index + 1
    return count


def _is_meta(text: str) -> bool:
    return len(text) < 100 and not _SENTENCE_END.search(text) and bool(_META.match(text))


def _norm(text: str) -> str:
    return _NON_WORD.sub(" ", text).strip().casefold()


def _same(a: str, b: str) -> bool:
    return _norm(a) == _norm(b)
