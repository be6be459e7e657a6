"""``RawEntry`` into a clean ``Article``: plain text fields, sanitized HTML, absolute URLs,
boilerplate set aside, language known.

``with_page`` and ``without_learned`` refine an Article later, once the pipeline has the
article's page or its source's history; both keep every field consistent (text, hash).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TypedDict

from worker.core import boilerplate, language
from worker.core.boilerplate import DEFAULT_RULES, Rules
from worker.core.extract import Extracted
from worker.core.identity import article_id_for, content_hash, guid_id, url_id
from worker.core.models import Article, Enclosure, FeedSpec, ParsedFeed, RawEntry, SourceRef
from worker.core.sanitize import sanitize_html
from worker.core.text import html_to_text, plain_text, truncate
from worker.core.urls import canonical_url, http_url

# A teaser's closing marker: "[…]", "[...]", a bare ellipsis.
_CUT_MARK = re.compile(r"\s*(?:\[\s*(?:\u2026|\.\.\.)\s*\]|\u2026|\.\.\.)\s*$")


@dataclass(frozen=True, slots=True)
class Limits:
    """Bounds that keep one hostile feed from costing unbounded time or storage."""

    max_entries: int = 500
    max_categories: int = 50
    max_authors: int = 20
    max_enclosures: int = 20
    max_title_chars: int = 1_000
    max_summary_chars: int = 4_000
    max_content_chars: int = 1_000_000
    max_label_chars: int = 200


DEFAULT_LIMITS = Limits()


@dataclass(frozen=True, slots=True)
class Cleaning:
    """How an entry's text is cleaned: its source's boilerplate rules, language guessing."""

    rules: Rules = DEFAULT_RULES
    detect_language: bool = True


DEFAULT_CLEANING = Cleaning()


def normalize_feed(
    parsed: ParsedFeed,
    spec: FeedSpec,
    fetched_url: str,
    limits: Limits = DEFAULT_LIMITS,
    cleaning: Cleaning = DEFAULT_CLEANING,
) -> list[Article]:
    """Every entry of the document as an Article, newest first, capped at ``max_entries``.

    Entry URLs the parser left relative resolve against the document URL.
    """
    return normalize_document(parsed, spec, fetched_url, limits, cleaning).articles


@dataclass(frozen=True, slots=True)
class Document:
    """A document's articles with, per article, the digest of the raw entry it came from
    and, for an entry found in the feed's memo, the content key it had (``None``: the
    entry was normalized in full)."""

    articles: list[Article]
    digests: list[str]
    content_keys: list[str | None]

    @property
    def light(self) -> bool:
        return any(k is not None for k in self.content_keys)


def normalize_document(
    parsed: ParsedFeed,
    spec: FeedSpec,
    fetched_url: str,
    limits: Limits = DEFAULT_LIMITS,
    cleaning: Cleaning = DEFAULT_CLEANING,
    *,
    memo: Mapping[str, str] | None = None,
) -> Document:
    """``normalize_feed``, skipping the body of entries the feed served unchanged before.

    ``memo`` maps the digest of a raw entry (``entry_digest``) to the content key and
    content hash its full normalization gave (``memo_value``). Such an entry becomes a
    *known entry* (``known_entry``): every field but the body's, which stays empty. It is
    only good for recognising an unchanged article; the pipeline normalizes the whole
    document again if any known entry turns out otherwise.
    """
    site = http_url(parsed.link, fetched_url)
    source = SourceRef(
        feed_id=spec.feed_id,
        feed_url=spec.url,
        title=plain_text(parsed.title),
        site=site,
    )
    entries = sorted(parsed.entries, key=lambda e: e.published or e.updated or "", reverse=True)
    context = _context(fetched_url, parsed.language, limits, cleaning)
    articles: list[Article] = []
    digests: list[str] = []
    keys: list[str | None] = []
    for entry in entries[: limits.max_entries]:
        digest = entry_digest(entry, context)
        remembered = memo.get(digest) if memo else None
        if remembered is not None:
            content_key, _, hashed = remembered.partition(" ")
            articles.append(
                known_entry(
                    entry,
                    source,
                    fetched_url,
                    parsed.language,
                    limits=limits,
                    content_key=content_key,
                    content_hash=hashed,
                )
            )
            keys.append(content_key)
        else:
            articles.append(
                normalize_entry(
                    entry, source, fetched_url, parsed.language, limits=limits, cleaning=cleaning
                )
            )
            keys.append(None)
        digests.append(digest)
    return Document(articles, digests, keys)


# Bump when normalization changes what it makes of the same entry: every memo is void.
MEMO_VERSION = "1"


def _context(
    fetched_url: str, feed_language: str | None, limits: Limits, cleaning: Cleaning
) -> bytes:
    """What besides the entry itself decides its normalized body."""
    rules = cleaning.rules
    return repr(
        (MEMO_VERSION, fetched_url, feed_language, limits, rules.selectors, rules.patterns)
    ).encode("utf-8", "surrogatepass")


def entry_digest(entry: RawEntry, context: bytes) -> str:
    """A digest of everything normalization reads of one entry, in its context."""
    h = hashlib.blake2b(context, digest_size=9)
    for value in (
        entry.guid,
        entry.link,
        entry.title,
        entry.summary,
        entry.content,
        entry.published,
        entry.updated,
        entry.image,
        entry.language,
        entry.base,
    ):
        h.update(b"\x00" if value is None else b"\x01" + value.encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
    h.update(
        repr((entry.authors, entry.categories, entry.enclosures)).encode("utf-8", "surrogatepass")
    )
    return h.hexdigest()


def memo_value(content_key: str, hashed: str) -> str:
    return f"{content_key} {hashed}"


def known_entry(
    raw: RawEntry,
    source: SourceRef,
    fetched_url: str,
    feed_language: str | None = None,
    *,
    limits: Limits = DEFAULT_LIMITS,
    content_key: str,
    content_hash: str,
) -> Article:
    """An entry met before, unchanged: its Article without the body (content, summary,
    removed boilerplate), with the content key and hash its full normalization gave."""
    return _without_body(
        raw,
        source,
        fetched_url,
        feed_language,
        limits,
        content_key=content_key,
        content_hash=content_hash,
    )


def normalize_entry(
    raw: RawEntry,
    source: SourceRef,
    fetched_url: str,
    feed_language: str | None = None,
    *,
    limits: Limits = DEFAULT_LIMITS,
    cleaning: Cleaning = DEFAULT_CLEANING,
) -> Article:
    head = _head(raw, source, fetched_url, feed_language, limits)
    base = http_url(raw.base, fetched_url) or fetched_url
    body_html = raw.content or raw.summary
    content_html = sanitize_html(truncate(body_html, limits.max_content_chars), base)
    content_html, removed = boilerplate.remove(content_html, cleaning.rules)
    content_text = (
        html_to_text(content_html, keep_lines=True, sanitized=True) if content_html else None
    )
    summary = None
    if raw.summary and raw.summary != raw.content:
        summary_html = sanitize_html(truncate(raw.summary, limits.max_content_chars), base)
        summary_html, removed_too = boilerplate.remove(summary_html, cleaning.rules)
        removed += tuple(t for t in removed_too if t not in removed)
        summary = truncate(_uncut(plain_text(summary_html)), limits.max_summary_chars)
    elif content_text:
        summary = truncate(content_text.split("\n\n", 1)[0], limits.max_summary_chars)
    if head["language"] is None and cleaning.detect_language:
        head["language"] = language.detect(head["title"], summary, content_text)
    # Built once, from its head and its body (a replace() of the head's Article was 8.8
    # us of every new entry).
    return Article(
        **head,
        article_id=article_id_for(
            feed_id=source.feed_id,
            canonical_url=head["canonical_url"],
            guid=head["guid"],
            title=head["title"],
            text=content_text,
        ),
        summary=summary,
        content_html=content_html,
        content_text=content_text or None,
        content_hash=content_hash(head["title"], content_text),
        removed_boilerplate=removed,
    )


def _without_body(
    raw: RawEntry,
    source: SourceRef,
    fetched_url: str,
    feed_language: str | None,
    limits: Limits,
    *,
    content_key: str,
    content_hash: str,
) -> Article:
    """Every field of the entry's Article but the body and what depends on it (a detected
    language), with the id and content hash the entry's content key and hash give, as for
    an entry met before."""
    head = _head(raw, source, fetched_url, feed_language, limits)
    # as article_id_for: the content key is content_id(feed, title, body text)
    if head["canonical_url"]:
        article_id = url_id(head["canonical_url"])
    elif head["guid"]:
        article_id = guid_id(source.feed_id, head["guid"])
    else:
        article_id = content_key
    return Article(
        **head,
        article_id=article_id,
        summary=None,
        content_html=None,
        content_text=None,
        content_hash=content_hash,
    )


class _Head(TypedDict):
    url: str | None
    canonical_url: str | None
    guid: str | None
    title: str | None
    authors: tuple[str, ...]
    categories: tuple[str, ...]
    published: str | None
    updated: str | None
    language: str | None
    image: str | None
    enclosures: tuple[Enclosure, ...]
    source: SourceRef


def _head(
    raw: RawEntry,
    source: SourceRef,
    fetched_url: str,
    feed_language: str | None,
    limits: Limits,
) -> _Head:
    """The Article's fields that do not depend on the body."""
    base = http_url(raw.base, fetched_url) or fetched_url
    url = http_url(raw.link, base)
    return {
        "url": url,
        "canonical_url": canonical_url(url),
        "guid": plain_text(raw.guid),
        "title": truncate(plain_text(raw.title), limits.max_title_chars),
        "authors": _labels(raw.authors, limits.max_authors, limits.max_label_chars),
        "categories": _labels(raw.categories, limits.max_categories, limits.max_label_chars),
        "published": raw.published or raw.updated,
        "updated": raw.updated,
        "language": _language(raw.language or feed_language),
        "image": http_url(raw.image, base),
        "enclosures": _enclosures(raw.enclosures, base, limits.max_enclosures),
        "source": source,
    }


def _uncut(text: str | None) -> str | None:
    """A summary without the "[…]" its feed put where it cut the text."""
    return _CUT_MARK.sub("", text).strip() or None if text else None


def with_page(
    article: Article,
    page: Extracted,
    cleaning: Cleaning = DEFAULT_CLEANING,
    limits: Limits = DEFAULT_LIMITS,
) -> Article:
    """The article with the full text extracted from its page; the feed's own fields win
    where it has them (title, summary, authors, date, image)."""
    base = article.url or article.source.feed_url
    content_html = sanitize_html(truncate(page.content_html, limits.max_content_chars), base)
    content_html, removed = boilerplate.remove(content_html, cleaning.rules)
    content_text = (
        html_to_text(content_html, keep_lines=True, sanitized=True) if content_html else None
    )
    if not content_text:
        return article
    author = plain_text(page.author)
    kept = tuple(t for t in (*article.removed_boilerplate, *page.trimmed, *removed) if t)
    return replace(
        article,
        content_html=content_html,
        content_text=content_text,
        summary=article.summary or truncate(content_text.split("\n\n", 1)[0], 4_000),
        authors=article.authors or ((author,) if author else ()),
        published=article.published or page.published,
        image=article.image or http_url(page.image, base),
        removed_boilerplate=tuple(dict.fromkeys(kept)),
        content_hash=content_hash(article.title, content_text),
    )


def without_learned(article: Article, learned: frozenset[str]) -> Article:
    """The article without the paragraphs its source repeats in every article."""
    if not learned or not article.content_html:
        return article
    content_html, removed = boilerplate.remove(article.content_html, boilerplate.NO_RULES, learned)
    if not removed:
        return article
    content_text = (
        html_to_text(content_html, keep_lines=True, sanitized=True) if content_html else None
    )
    return replace(
        article,
        content_html=content_html,
        content_text=content_text or None,
        removed_boilerplate=tuple(dict.fromkeys((*article.removed_boilerplate, *removed))),
        content_hash=content_hash(article.title, content_text),
    )


def _labels(values: tuple[str, ...], limit: int, max_chars: int) -> tuple[str, ...]:
    out: dict[str, None] = {}
    for value in values:
        text = truncate(plain_text(value), max_chars)
        if text:
            out[text] = None
        if len(out) >= limit:
            break
    return tuple(out)


def _enclosures(values: tuple[Enclosure, ...], base: str, limit: int) -> tuple[Enclosure, ...]:
    out = []
    for enc in values[:limit]:
        url = http_url(enc.url, base)
        if url:
            out.append(Enclosure(url=url, type=plain_text(enc.type), length=enc.length))
    return tuple(out)


def _language(value: str | None) -> str | None:
    text = plain_text(value)
    if not text:
        return None
    return text.replace("_", "-").split(",")[0].strip().lower()[:35] or None
