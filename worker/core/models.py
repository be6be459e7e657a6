"""The data that flows between stages: frozen dataclasses, no behaviour beyond conversion."""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, Literal, TypeVar

# 1.1 added ``changes`` (what an article.updated event changed); see docs/dedupe.md.
SCHEMA_VERSION = "1.1"


@dataclass(frozen=True, slots=True)
class FeedSpec:
    """What the operator asked for: one feed to watch (from the config or the store)."""

    feed_id: str
    url: str
    name: str | None = None
    tags: tuple[str, ...] = ()
    min_interval: float | None = None
    max_interval: float | None = None
    headers: tuple[tuple[str, str], ...] = ()
    origin: Literal["config", "store"] = "config"
    # Name of the environment variable holding "user:password" for HTTP basic auth; the
    # secret itself never enters the spec, the store or a log line.
    auth_env: str | None = None
    # Content options of this feed; None/empty: the [content] defaults.
    full_text: Literal["auto", "always", "never"] | None = None
    remove_selectors: tuple[str, ...] = ()
    remove_patterns: tuple[str, ...] = ()
    # Sinks named for this feed; None: route by the sinks' tag filters (core/routing.py).
    sinks: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["tags"] = list(self.tags)
        d["headers"] = [list(h) for h in self.headers]
        d["remove_selectors"] = list(self.remove_selectors)
        d["remove_patterns"] = list(self.remove_patterns)
        d["sinks"] = None if self.sinks is None else list(self.sinks)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeedSpec:
        return cls(
            feed_id=d["feed_id"],
            url=d["url"],
            name=d.get("name"),
            tags=tuple(d.get("tags") or ()),
            min_interval=d.get("min_interval"),
            max_interval=d.get("max_interval"),
            headers=tuple((k, v) for k, v in d.get("headers") or ()),
            origin=d.get("origin", "config"),
            auth_env=d.get("auth_env"),
            full_text=d.get("full_text"),
            remove_selectors=tuple(d.get("remove_selectors") or ()),
            remove_patterns=tuple(d.get("remove_patterns") or ()),
            sinks=None if d.get("sinks") is None else tuple(d["sinks"]),
        )


@dataclass(frozen=True, slots=True)
class PollRecord:
    """One poll as ``syndicate explain`` shows it: when, how it went, what came next."""

    at: float
    outcome: str
    http_status: int | None = None
    new: int = 0
    duration_ms: float = 0.0
    error: str | None = None
    next_in: float | None = None
    next_reason: str | None = None


@dataclass(frozen=True, slots=True)
class FeedHints:
    """What a feed document says about its own refresh (RSS ``ttl``, the syndication
    module's ``updatePeriod``/``updateFrequency``, ``skipHours``/``skipDays``)."""

    ttl: float | None = None
    update_interval: float | None = None
    skip_hours: tuple[int, ...] = ()
    # 0 = Monday ... 6 = Sunday, as ``datetime.weekday()``.
    skip_days: tuple[int, ...] = ()


Lifecycle = Literal["active", "gone"]


@dataclass(frozen=True, slots=True)
class FeedState:
    """What the worker remembers about a feed between polls.

    ``published`` and ``polls`` are the bounded history the scheduler learns from
    (recent publication times, recent poll outcomes); ``lifecycle`` is ``gone`` once a
    410 retired the feed: it stays listed but is not polled until revived.
    """

    feed_id: str
    url: str
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    error_streak: int = 0
    last_status: str | None = None
    last_http_status: int | None = None
    last_error: str | None = None
    # The last error's kind (timeout, server_error, parse_error...): a change of it is a
    # change of the feed's condition, logged once (worker/core/condition.py).
    last_error_kind: str | None = None
    last_polled_at: float | None = None
    next_poll_at: float = 0.0
    next_reason: str | None = None
    title: str | None = None
    site_url: str | None = None
    lifecycle: Lifecycle = "active"
    # When this state began learning (the first poll), for the publication rate.
    tracked_since: float | None = None
    published: tuple[float, ...] = ()
    polls: tuple[PollRecord, ...] = ()
    hints: FeedHints = field(default_factory=FeedHints)
    # Seconds the last response said it stays fresh (Cache-Control max-age / Expires).
    cache_lifetime: float | None = None
    # A permanent redirect seen on consecutive polls: its target and how many in a row.
    moved_to: str | None = None
    moved_streak: int = 0
    # Feed events emitted so far (feed.moved, feed.gone): the next one's id is derived
    # from it, so a retried poll re-emits the same id instead of a second event.
    events_emitted: int = 0
    # Full-text "auto" mode's verdict: its items are teasers of longer pages (True), or
    # not (False); None until a page has been compared.
    teaser: bool | None = None

    def to_dict(self) -> dict[str, Any]:
        """``dataclasses.asdict(self)``, written out: asdict copies every value through
        its recursive walk, and saving the states of a fetch batch is done for every
        poll (4 % of a warm pass's worker time). A test keeps the two equal."""
        d = self._scalars()
        d["polls"] = tuple({name: getattr(p, name) for name in _POLL_FIELDS} for p in self.polls)
        return d

    def to_stored(self) -> dict[str, Any]:
        """``to_dict`` with the poll history as rows (``poll_rows``: each record's values
        in ``POLL_ROW`` order) instead of objects (``polls``): half the bytes, and a
        third of the time to write and read back for a history of 20 polls, at every
        poll (decision 0023). A release that knows only ``polls`` reads such a state
        with an empty history."""
        d = self._scalars()
        del d["polls"]
        d["poll_rows"] = [_poll_row(p) for p in self.polls]
        return d

    def _scalars(self) -> dict[str, Any]:
        """Every field as it is, the hints as a dict (the polls left to the caller)."""
        d = {name: getattr(self, name) for name in _STATE_FIELDS}
        h = self.hints
        d["hints"] = {
            "ttl": h.ttl,
            "update_interval": h.update_interval,
            "skip_hours": h.skip_hours,
            "skip_days": h.skip_days,
        }
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeedState:
        """A state from ``to_dict`` or ``to_stored``."""
        kw = {k: v for k, v in d.items() if k in _STATE_NAMES}
        kw["published"] = tuple(kw.get("published") or ())
        rows = d.get("poll_rows")
        if rows is not None:
            # Rows written before a field was appended to PollRecord are shorter: the
            # missing values take their defaults.
            kw["polls"] = tuple(PollRecord(*row) for row in rows)
        else:
            kw["polls"] = tuple(PollRecord(**p) for p in kw.get("polls") or ())
        hints = kw.get("hints") or {}
        kw["hints"] = FeedHints(
            ttl=hints.get("ttl"),
            update_interval=hints.get("update_interval"),
            skip_hours=tuple(hints.get("skip_hours") or ()),
            skip_days=tuple(hints.get("skip_days") or ()),
        )
        return cls(**kw)


_STATE_FIELDS = tuple(f.name for f in dataclasses.fields(FeedState))
_STATE_NAMES = frozenset(_STATE_FIELDS)
_POLL_FIELDS = tuple(f.name for f in dataclasses.fields(PollRecord))
# The values of a stored poll row, in order. Rows are positional: a field may only be
# appended to PollRecord, with a default, and to this tuple; a test holds the two equal.
POLL_ROW = ("at", "outcome", "http_status", "new", "duration_ms", "error", "next_in", "next_reason")
_poll_row = operator.attrgetter(*POLL_ROW)


@dataclass(frozen=True, slots=True)
class FetchRequest:
    feed_id: str
    url: str
    etag: str | None = None
    last_modified: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    auth_env: str | None = None


FetchStatus = Literal["ok", "not_modified", "error", "deferred"]


@dataclass(frozen=True, slots=True)
class FetchResult:
    """One HTTP exchange, reduced to what the pipeline decides on.

    ``error_kind``/``error`` are set when ``status == "error"``; ``retry_after`` is the
    delay the server asked for, in seconds, already parsed. ``deferred`` means the
    request was never sent: the host's politeness budget was spent (``retry_after`` is
    when it has room again). ``permanent_redirect`` is the final URL when every hop
    was a 301 or 308; ``cache_lifetime`` is how long the response says it stays fresh.
    """

    feed_id: str
    url: str
    status: FetchStatus
    http_status: int | None = None
    final_url: str | None = None
    body: bytes = b""
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    retry_after: float | None = None
    error_kind: str | None = None
    error: str | None = None
    elapsed_ms: float = 0.0
    permanent_redirect: str | None = None
    cache_lifetime: float | None = None


@dataclass(frozen=True, slots=True)
class Enclosure:
    url: str
    type: str | None = None
    length: int | None = None


@dataclass(frozen=True, slots=True)
class RawEntry:
    """One item as a parser read it: markup not yet cleaned, URLs maybe relative."""

    guid: str | None = None
    link: str | None = None
    title: str | None = None
    summary: str | None = None
    content: str | None = None
    authors: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    published: str | None = None
    updated: str | None = None
    image: str | None = None
    enclosures: tuple[Enclosure, ...] = ()
    language: str | None = None
    base: str | None = None


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A whole document as a parser read it."""

    format: str
    title: str | None = None
    link: str | None = None
    language: str | None = None
    entries: tuple[RawEntry, ...] = ()
    parser: str = ""


@dataclass(frozen=True, slots=True)
class SourceRef:
    feed_id: str
    feed_url: str
    title: str | None = None
    site: str | None = None


@dataclass(frozen=True, slots=True)
class Changes:
    """What made a revision an update: a changed title, and how much of the body stayed.

    ``content_similarity`` is the estimated Jaccard similarity of the body's word shingles
    with the previous published revision (1.0: the same words; None: the previous revision
    was recorded before fingerprints existed)."""

    title: bool
    content_similarity: float | None

    def to_dict(self) -> dict[str, Any]:
        sim = self.content_similarity
        return {"title": self.title, "content_similarity": None if sim is None else round(sim, 3)}


@dataclass(frozen=True, slots=True)
class Article:
    """The normalized article: the ``data`` of every article event."""

    article_id: str
    url: str | None
    canonical_url: str | None
    guid: str | None
    title: str | None
    summary: str | None
    content_html: str | None
    content_text: str | None
    authors: tuple[str, ...]
    categories: tuple[str, ...]
    published: str | None
    updated: str | None
    language: str | None
    image: str | None
    enclosures: tuple[Enclosure, ...]
    source: SourceRef
    content_hash: str
    revision: int = 1
    cluster_id: str | None = None
    duplicate_of: str | None = None
    removed_boilerplate: tuple[str, ...] = ()
    changes: Changes | None = None
    schema_version: str = SCHEMA_VERSION

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema_version": self.schema_version,
            "article_id": self.article_id,
            "revision": self.revision,
            "url": self.url,
            "canonical_url": self.canonical_url,
            "guid": self.guid,
            "title": self.title,
            "summary": self.summary,
            "content_html": self.content_html,
            "content_text": self.content_text,
            "authors": list(self.authors),
            "categories": list(self.categories),
            "published": self.published,
            "updated": self.updated,
            "language": self.language,
            "image": self.image,
            # written out, not dataclasses.asdict: that was 23 us of every new article's
            # event (its recursive copy), for two small records of plain values
            "enclosures": [
                {"url": e.url, "type": e.type, "length": e.length} for e in self.enclosures
            ],
            "source": {
                "feed_id": self.source.feed_id,
                "feed_url": self.source.feed_url,
                "title": self.source.title,
                "site": self.source.site,
            },
            "cluster_id": self.cluster_id,
            "duplicate_of": self.duplicate_of,
            "removed_boilerplate": list(self.removed_boilerplate),
            "content_hash": self.content_hash,
            "changes": self.changes.to_dict() if self.changes else None,
        }


# Which shingle hash made a signature (worker/core/neardup.py): 1 is SHA-1 per shingle
# (records written before 2026-12-07), 2 is CRC-32 per word, combined per shingle
# (decision 0018). A record keeps the scheme of its signature
# (worker/adapters/store/records.py stores the two where older releases can tell them).
SIGNATURE_SCHEME = 2


@dataclass(frozen=True, slots=True)
class SeenRecord:
    """What the store remembers about an article, to recognise it next time.

    Past the first three fields, the fingerprint (see worker/core/identity.py and
    worker/core/neardup.py): ``feed_key`` names the feed that first carried it (a short
    hash), ``title_key`` and ``signature`` are what the next revision is
    compared with, the cluster fields stay with the article across revisions, and
    ``window_start``/``window_updates`` count the updates of the current day for the cap;
    ``signature_scheme`` says which shingle hash made ``signature``. A record written
    before fingerprints existed has the defaults.
    """

    article_id: str
    revision: int
    content_hash: str
    feed_key: str = ""
    title_key: str = ""
    signature: bytes = b""
    cluster_id: str | None = None
    duplicate_of: str | None = None
    window_start: float = 0.0
    window_updates: int = 0
    signature_scheme: int = SIGNATURE_SCHEME


@dataclass(frozen=True, slots=True)
class Event:
    """A serialized CloudEvent ready for the outbox: ``body`` is the JSON document."""

    event_id: str
    type: str
    subject: str
    body: bytes


@dataclass(frozen=True, slots=True)
class ArticleCommit:
    """One article event to commit, conditional on the revision the store holds.

    ``expected_revision`` is 0 for an article the store must not know yet; the store
    refuses the commit (and the event) if another worker got there first.
    """

    seen: SeenRecord
    expected_revision: int
    event: Event
    sinks: tuple[str, ...]
    # Other ids the article is found by (its GUID or content key); never re-pointed.
    aliases: tuple[str, ...] = ()
    # Near-duplicate index buckets to file the article under (only a cluster's first).
    bands: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class KeyTrust:
    """How far one kind of entry key (GUID or link) of one feed can be trusted.

    ``bad_*`` count entries since the feed was first polled, by reason; they only grow
    (bounded numbers, not lists). ``clean_polls`` counts polls in a row without a bad key
    while distrusted: enough of them make the key trusted again.
    """

    trusted: bool = True
    reason: str | None = None
    clean_polls: int = 0
    bad_empty: int = 0
    bad_repeated: int = 0
    bad_shared: int = 0
    bad_unstable: int = 0

    def to_dict(self) -> dict[str, Any]:
        """``dataclasses.asdict(self)``, written out: asdict walked and copied every value,
        12 us of each parsed document's identity profile. A test keeps the two equal."""
        return {name: getattr(self, name) for name in _KEY_TRUST_FIELDS}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> KeyTrust:
        return cls(**{k: v for k, v in d.items() if k in _KEY_TRUST_FIELDS})


_KEY_TRUST_FIELDS = tuple(f.name for f in dataclasses.fields(KeyTrust))


@dataclass(frozen=True, slots=True)
class FeedIdentity:
    """Per-feed identity statistics: which keys of this feed's entries can be trusted."""

    feed_id: str
    guid: KeyTrust = KeyTrust()
    link: KeyTrust = KeyTrust()
    polls: int = 0
    entries: int = 0
    # The last poll's items: short article key -> short GUID key (at most one per item
    # of one document, so bounded by the entry limit); what "the GUID changed" compares.
    last: dict[str, str] = field(default_factory=dict)
    # The last document's entries that were known and unchanged once committed: raw entry
    # digest -> content key and hash (``normalize.entry_digest``, ``memo_value``). The
    # next document's copies of them skip normalizing their body; bounded like ``last``.
    known: dict[str, str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "feed_id": self.feed_id,
            "guid": self.guid.to_dict(),
            "link": self.link.to_dict(),
            "polls": self.polls,
            "entries": self.entries,
            "last": dict(self.last),
            "known": dict(self.known),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> FeedIdentity:
        return cls(
            feed_id=d["feed_id"],
            guid=KeyTrust.from_dict(d.get("guid") or {}),
            link=KeyTrust.from_dict(d.get("link") or {}),
            polls=int(d.get("polls", 0)),
            entries=int(d.get("entries", 0)),
            last=dict(d.get("last") or {}),
            known=dict(d.get("known") or {}),
        )


@dataclass(frozen=True, slots=True)
class PollSummary:
    """The numbers of one feed poll, for the canonical summary log line."""

    feed_id: str
    status: str
    http_status: int | None = None
    bytes: int = 0
    entries: int = 0
    new: int = 0
    duplicates: int = 0
    duration_ms: float = 0.0
    next_poll_in: float = 0.0
    next_reason: str = ""
    error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


_Record = TypeVar("_Record")


@cache
def _layout(cls: type) -> tuple[Callable[[Any], tuple[Any, ...]], dict[str, int]]:
    """A dataclass's fields in ``__init__``'s order: one getter of them all, and where
    each one is."""
    names = [f.name for f in dataclasses.fields(cls)]
    if any(not f.init or f.kw_only for f in dataclasses.fields(cls)):
        raise TypeError(f"{cls.__name__}: replaced() needs every field positional in __init__")
    return operator.attrgetter(*names), {name: n for n, name in enumerate(names)}


def replaced(record: _Record, **changes: Any) -> _Record:
    """``dataclasses.replace`` for the records copied on every poll and article (a feed
    state of 27 fields twice a poll): the fields read by one ``attrgetter`` and passed
    positionally, where ``replace`` looks each one up and passes it by name (a state
    with three changes: 10.5 -> 3.7 us). ``tests/unit/test_state_records.py`` holds it
    to ``replace``."""
    cls: type = type(record)
    get, index = _layout(cls)
    values = list(get(record))
    for name, value in changes.items():
        try:
            values[index[name]] = value
        except KeyError:
            raise TypeError(f"{cls.__name__} has no field {name!r}") from None
    made: _Record = cls(*values)
    return made
