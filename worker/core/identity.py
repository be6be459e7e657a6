"""Who an entry is: an ``article_id`` given once, and found again by any key that still
points at it, whatever the feed's GUIDs and links do.

An entry has up to three keys, each hashed into an id of its own kind:

* ``url``: the canonical URL, across feeds (the same article in two section feeds of one
  outlet is one article);
* ``guid``: the feed and the GUID;
* ``content``: the feed, the title and the body as a reader reads them.

A new article takes the id of its first *trusted* key in that order, and every key it had
is recorded as an alias of that id. A known article is looked up by all its keys, so when
a feed's GUIDs or links stop being trusted, the articles already known keep their ids:
changing the key order never turns one article into two. A key is never used when it
could join two items into one: not when two different items of the document carry it,
not when the article it names has another title and almost none of the body (the key
was reused, unless the link and the GUID both name that article), and not from a kind
the feed has lost trust in (see ``KeyTrust``).

GUIDs are distrusted per feed when more than ``bad_ratio`` of a poll's items have an
empty one, one repeated on the same item, one shared by different items, or one that
changed since the last poll (``FeedIdentity.last``); links when they are shared. Trust
comes back after ``clean_polls`` polls in a row within the ratio.
docs/decisions/0006-article-identity.md has the reasoning.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Literal
from urllib.parse import urlsplit

from worker.core.models import Article, FeedIdentity, KeyTrust, SeenRecord
from worker.core.neardup import (
    Fingerprint,
    fingerprint,
    similarity_to,
    text_words,
    title_key,
)

KeyKind = Literal["url", "guid", "content"]
BadReason = Literal["empty", "repeated", "shared", "unstable"]


def _digest(*parts: str) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part.encode("utf-8", "surrogatepass"))
        h.update(b"\x1f")
    return h.hexdigest()


def url_id(canonical_url: str) -> str:
    return _digest("url", canonical_url)[:24]


def guid_id(feed_id: str, guid: str) -> str:
    return _digest("guid", feed_id, guid)[:24]


def content_id(feed_id: str, title: str | None, text: str | None) -> str:
    """Blind to case, punctuation, spacing, times and ad labels, like the fingerprint."""
    return _content_id(feed_id, title_key(title), text_words(text))


def _content_id(feed_id: str, tkey: str, words: tuple[str, ...]) -> str:
    """``content_id`` from the title's key and the body's words."""
    return _digest("content", feed_id, tkey, " ".join(words))[:24]


def short_key(*parts: str) -> str:
    """12 hex characters: enough to tell a feed's or a GUID's values apart."""
    return _digest(*parts)[:12]


def article_id_for(
    *,
    feed_id: str,
    canonical_url: str | None,
    guid: str | None,
    title: str | None,
    text: str | None,
) -> str:
    """The id a new article gets when its feed's GUIDs and links are trusted."""
    if canonical_url:
        return url_id(canonical_url)
    if guid:
        return guid_id(feed_id, guid)
    return content_id(feed_id, title, text)


def content_hash(title: str | None, text: str | None) -> str:
    """A hash of what a reader sees, insensitive to whitespace."""
    return _digest(" ".join((title or "").split()), " ".join((text or "").split()))[:32]


def event_id_for(article_id: str, revision: int) -> str:
    """Unique per (article, revision), the same every time it is computed."""
    return f"{article_id}.{revision}"


# -- one document ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Entry:
    """One item of a document with the ids it can be found by.

    ``url`` is None without a link, for a site's front page (no article lives there) and
    when another item of the document has the same link; ``guid`` likewise. ``bad_guid``
    and ``bad_link`` say what the document itself shows about them.
    """

    article: Article
    url: str | None
    guid: str | None
    content: str
    guid_key: str
    title_key: str
    bad_guid: BadReason | None = None
    bad_link: BadReason | None = None
    # Where the item was in the list given to ``analyse``.
    position: int = 0
    # The body's words as the fingerprint reads them, read once for the content key;
    # None for an entry whose content key came from the memo.
    words: tuple[str, ...] | None = field(default=None, repr=False, compare=False)

    def ids(self) -> list[str]:
        return [k for k in (self.url, self.guid, self.content) if k]


@dataclass(slots=True)
class _Item:
    article: Article
    canon: str | None
    tkey: str
    cid: str
    position: int
    words: tuple[str, ...] | None
    repeated: bool = False


def analyse(
    articles: Iterable[Article],
    feed_id: str,
    content_keys: Sequence[str | None] = (),
) -> list[Entry]:
    """The document's items, each once (the first, newest copy of a repeated item wins),
    with their keys and what the document shows about its GUIDs and links.

    Two entries are the same item when their titles and bodies read the same, or when
    they have the same link and the same title. ``content_keys`` gives the content key
    of articles whose body was not read again (``normalize.known_entry``), by position.
    """
    items: list[_Item] = []
    by_content: dict[str, int] = {}
    by_link: dict[tuple[str, str], int] = {}
    for position, article in enumerate(articles):
        canon = article.canonical_url if _is_article_url(article.canonical_url) else None
        tkey = title_key(article.title)
        known = content_keys[position] if position < len(content_keys) else None
        words = None if known else text_words(article.content_text)
        cid = known or _content_id(feed_id, tkey, words or ())
        index = by_content.get(cid)
        if index is None and canon:
            index = by_link.get((canon, tkey))
        if index is not None:
            if (article.guid or None) != (items[index].article.guid or None):
                items[index].repeated = True
            continue
        by_content[cid] = len(items)
        if canon:
            by_link[(canon, tkey)] = len(items)
        items.append(_Item(article, canon, tkey, cid, position, words))
    guid_users = Counter(i.article.guid for i in items if i.article.guid)
    link_users = Counter(i.canon for i in items if i.canon)
    entries = []
    for item in items:
        guid, canon = item.article.guid or None, item.canon
        bad_guid: BadReason | None = None
        if not guid:
            bad_guid = "empty"
        elif guid_users[guid] > 1:
            bad_guid = "shared"
        elif item.repeated:
            bad_guid = "repeated"
        link_shared = canon is not None and link_users[canon] > 1
        entries.append(
            Entry(
                article=item.article,
                url=url_id(canon) if canon and not link_shared else None,
                guid=guid_id(feed_id, guid) if guid and bad_guid != "shared" else None,
                content=item.cid,
                guid_key=short_key(feed_id, guid) if guid else "",
                title_key=item.tkey,
                bad_guid=bad_guid,
                bad_link="shared" if link_shared else None,
                position=item.position,
                words=item.words,
            )
        )
    return entries


def _is_article_url(url: str | None) -> bool:
    if not url:
        return False
    parts = urlsplit(url)
    return parts.path not in ("", "/") or bool(parts.query)


# -- against what the store knows ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resolved:
    """One item, identified: its id, the store's record of it (None: a new article), the
    ids to file it under besides its own, and the ids to touch if it is unchanged."""

    article: Article
    record: SeenRecord | None
    matched_by: KeyKind | None
    aliases: tuple[str, ...]
    touch: tuple[str, ...]
    feed_key: str
    fingerprint: Fingerprint | None


@dataclass(frozen=True, slots=True)
class Transition:
    """A feed's GUIDs or links became trusted or distrusted at this poll."""

    feed_id: str
    key: Literal["guid", "link"]
    trusted: bool
    reason: str | None
    bad: int
    entries: int


@dataclass(frozen=True, slots=True)
class Resolution:
    items: list[Resolved]
    profile: FeedIdentity
    transitions: list[Transition]


@dataclass(frozen=True, slots=True)
class Rules:
    """The thresholds of identity (dedupe settings)."""

    bad_ratio: float = 0.05
    clean_polls: int = 5
    # A key names another item when the titles differ and the bodies are less alike.
    reuse_similarity: float = 0.2


def resolve(
    entries: Sequence[Entry],
    profile: FeedIdentity,
    records: Mapping[str, SeenRecord],
    rules: Rules = Rules(),
) -> Resolution:
    """Identify every entry against ``records`` (the store's answer for every id of
    ``Entry.ids``), update the feed's key statistics, and give new articles their ids."""
    fkey = short_key("feed", profile.feed_id)
    prints: dict[int, Fingerprint] = {}

    def fp(n: int) -> Fingerprint:
        if n not in prints:
            e = entries[n]
            prints[n] = fingerprint(
                e.article.title, e.article.content_text, words=e.words, title_hash=e.title_key
            )
        return prints[n]

    guid_bad: Counter[str] = Counter()
    link_bad: Counter[str] = Counter()
    matches = []
    for n, entry in enumerate(entries):
        match, bad_guid, bad_link = _match(entry, profile, records, partial(fp, n), rules=rules)
        matches.append(match)
        guid_bad.update(bad_guid)
        link_bad.update(bad_link)
    new_profile, transitions = _learn(profile, guid_bad, link_bad, len(entries), rules)

    items: list[Resolved] = []
    for n, entry in enumerate(entries):
        match = matches[n]
        record: SeenRecord | None = None
        kind: KeyKind | None = None
        touch: tuple[str, ...] = ()
        if match is None:
            article_id = _first_free(entry, new_profile, records)
        else:
            record, kind, kid = match
            article_id = record.article_id
            touch = (article_id,) if kid == article_id else (article_id, kid)
        changed = record is None or record.content_hash != entry.article.content_hash
        aliases = tuple(k for k in entry.ids() if k != article_id and k not in records)
        items.append(
            Resolved(
                article=entry.article
                if entry.article.article_id == article_id
                else replace(entry.article, article_id=article_id),
                record=record,
                matched_by=kind,
                aliases=aliases if changed else (),
                touch=touch,
                feed_key=fkey,
                fingerprint=fp(n) if changed else prints.get(n),
            )
        )
    last = {
        _last_key(item.article.article_id): entry.guid_key[:_LAST]
        for item, entry in zip(items, entries, strict=True)
        if entry.guid_key and entry.bad_guid is None
    }
    return Resolution(items, replace(new_profile, last=last), transitions)


def _match(
    entry: Entry,
    profile: FeedIdentity,
    records: Mapping[str, SeenRecord],
    fp: Callable[[], Fingerprint],
    *,
    rules: Rules,
) -> tuple[tuple[SeenRecord, KeyKind, str] | None, list[BadReason], list[BadReason]]:
    """The record the entry is, by which key; and what it shows of the feed's GUIDs and
    links (reasons, one per bad key)."""
    bad_guid: list[BadReason] = [entry.bad_guid] if entry.bad_guid else []
    bad_link: list[BadReason] = [entry.bad_link] if entry.bad_link else []
    by_url = records.get(entry.url) if entry.url else None
    by_guid = records.get(entry.guid) if entry.guid else None
    # A link and a GUID that name the same article agree: that outweighs the text.
    agree = bool(by_url and by_guid and by_url.article_id == by_guid.article_id)
    url_reused = bool(by_url and not agree and _other_item(entry, by_url, fp, rules))
    guid_reused = bool(by_guid and not agree and _other_item(entry, by_guid, fp, rules))
    if url_reused:
        bad_link.append("shared")
    if guid_reused:
        bad_guid.append("shared")
    order: list[tuple[KeyKind, str | None, bool]] = [
        ("url", entry.url, profile.link.trusted and not url_reused),
        ("guid", entry.guid, profile.guid.trusted and not guid_reused),
        ("content", entry.content, True),
    ]
    match = next(
        (
            (records[kid], kind, kid)
            for kind, kid, usable in order
            if usable and kid and kid in records
        ),
        None,
    )
    if match and entry.guid_key and not bad_guid:
        before = profile.last.get(_last_key(match[0].article_id))
        if before is not None and before != entry.guid_key[:_LAST]:
            bad_guid.append("unstable")
    return match, bad_guid, bad_link


_LAST = 6  # hex characters per key in FeedIdentity.last


def _last_key(article_id: str) -> str:
    return short_key("last", article_id)[:_LAST]


def _learn(
    profile: FeedIdentity,
    guid_bad: Counter[str],
    link_bad: Counter[str],
    entries: int,
    rules: Rules,
) -> tuple[FeedIdentity, list[Transition]]:
    guid = _update(profile.guid, guid_bad, entries, rules)
    link = _update(profile.link, link_bad, entries, rules)
    kinds: tuple[tuple[Literal["guid", "link"], KeyTrust, KeyTrust, Counter[str]], ...] = (
        ("guid", profile.guid, guid, guid_bad),
        ("link", profile.link, link, link_bad),
    )
    transitions = [
        Transition(profile.feed_id, key, after.trusted, after.reason, sum(bad.values()), entries)
        for key, before, after, bad in kinds
        if before.trusted != after.trusted
    ]
    learned = replace(
        profile,
        guid=guid,
        link=link,
        polls=profile.polls + (1 if entries else 0),
        entries=profile.entries + entries,
    )
    return learned, transitions


def _other_item(
    entry: Entry, record: SeenRecord, fp: Callable[[], Fingerprint], rules: Rules
) -> bool:
    """Does the key lead to a different item: another title and hardly any of the body?"""
    if record.content_hash == entry.article.content_hash:
        return False
    if not record.title_key or record.title_key == entry.title_key:
        return False
    sim = similarity_to(fp(), record)
    return sim is not None and sim < rules.reuse_similarity


def _first_free(entry: Entry, profile: FeedIdentity, records: Mapping[str, SeenRecord]) -> str:
    candidates = [
        entry.url if profile.link.trusted else None,
        entry.guid if profile.guid.trusted else None,
    ]
    for kid in candidates:
        if kid and kid not in records:
            return kid
    return entry.content


def _update(trust: KeyTrust, bad: Counter[str], entries: int, rules: Rules) -> KeyTrust:
    if not entries:
        return trust
    counted = replace(
        trust,
        bad_empty=trust.bad_empty + bad["empty"],
        bad_repeated=trust.bad_repeated + bad["repeated"],
        bad_shared=trust.bad_shared + bad["shared"],
        bad_unstable=trust.bad_unstable + bad["unstable"],
    )
    total = sum(bad.values())
    if total > rules.bad_ratio * entries:
        reason = bad.most_common(1)[0][0]
        if trust.trusted:
            return replace(counted, trusted=False, reason=reason, clean_polls=0)
        return replace(counted, clean_polls=0)
    if trust.trusted:
        return counted
    clean = trust.clean_polls + 1
    if clean >= rules.clean_polls:
        return replace(counted, trusted=True, reason=None, clean_polls=0)
    return replace(counted, clean_polls=clean)
