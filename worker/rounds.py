"""The parse stage's deciding: the documents of a task identified, judged, clustered,
made whole and committed together, in rounds (``Round``), one store call per step.

``pipeline.process`` reads the documents and settles their feeds; this module decides
what their entries publish.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace

from worker.adapters.store.base import History, ParagraphEntry, Store
from worker.core import boilerplate
from worker.core.dates import epoch_to_iso
from worker.core.events import article_event
from worker.core.extract import extract, is_teaser, much_longer
from worker.core.identity import Entry, Resolution, Resolved, Rules, resolve
from worker.core.models import (
    Article,
    ArticleCommit,
    FeedIdentity,
    FeedSpec,
    FeedState,
    FetchRequest,
    FetchResult,
    SeenRecord,
    replaced,
)
from worker.core.neardup import Cluster, Fingerprint, assign_cluster
from worker.core.normalize import Cleaning, Document, memo_value, with_page, without_learned
from worker.core.revisions import Judgement, Policy, judge
from worker.logging import get_logger
from worker.runtime import Runtime

log = get_logger("worker.pipeline")

ACCEPT_PAGES = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"
# Bytes of documents a parse task reads and decides at a time (``pipeline.process``; a
# larger document alone): a round holds all its documents' articles, fingerprints and
# events at once, so it costs memory as it saves round trips. 512 KB is about 20
# documents of 20 items; the whole 1 MB of a parse message put 20 MB more in the largest
# worker process (docs/benchmarks.md).
ROUND_BYTES = 512 * 1024


@dataclass(frozen=True, slots=True)
class ReadDoc:
    """A changed document, read: its articles, their entries (identity keys, words) and
    their lines' fingerprints, with its feed as the parse task found it."""

    result: FetchResult
    spec: FeedSpec
    state: FeedState
    profile: FeedIdentity
    now: float
    doc: Document
    skipped: list[str]
    title: str | None
    site: str | None
    entries: list[Entry]
    # Per article, the fingerprints of its body's lines for the boilerplate history,
    # taken while its tree was at hand; None for a known entry or without a history.
    lines: list[tuple[str, ...] | None]

    def identity_keys(self) -> set[str]:
        return {k for e in self.entries for k in e.ids()}


def next_round(docs: list[ReadDoc]) -> tuple[list[ReadDoc], list[ReadDoc]]:
    """The documents that can be decided together, and the rest: none of a round shares
    a feed or an identity key with another, so none needs to see what another commits
    (the same article in two feeds of one task is decided once, then again in the next
    round against the first decision, as when they came in two tasks)."""
    taken: set[str] = set()
    batch: list[ReadDoc] = []
    later: list[ReadDoc] = []
    for d in docs:
        keys = d.identity_keys() | {"feed:" + d.spec.feed_id}
        if keys & taken:
            later.append(d)
        else:
            taken |= keys
            batch.append(d)
    return batch, later


def cleaning(rt: Runtime, spec: FeedSpec) -> Cleaning:
    c = rt.settings.content
    rules = boilerplate.rules_for(
        (*c.remove_selectors, *spec.remove_selectors),
        (*c.remove_patterns, *spec.remove_patterns),
        defaults=c.default_rules,
    )
    return Cleaning(rules=rules, detect_language=c.detect_language)


@dataclass(frozen=True, slots=True)
class Committed:
    """What committing one feed document's articles did."""

    accepted: list[str]  # event ids the outbox took
    by_sink: dict[str, list[str]]  # the same, per sink (a sink may suppress copies)
    counts: dict[str, int]  # updated / capped / syndicated, for the poll summary
    created: list[Article]  # accepted articles that are new (revision 1)
    teaser: bool | None  # full-text "auto" verdict for the feed


@dataclass(slots=True)
class _Plan:
    """One document of a round as it is decided: its articles identified and judged,
    then clustered, made whole, and turned into commits."""

    d: ReadDoc
    resolution: Resolution
    judged: list[tuple[Resolved, Judgement]]
    clusters: dict[int, Cluster] = field(default_factory=dict)
    whole: dict[str, Article] = field(default_factory=dict)  # published articles, made whole
    teaser: bool | None = None
    remembered: list[ParagraphEntry] = field(default_factory=list)
    commits: list[ArticleCommit] = field(default_factory=list)
    event_at: dict[int, str] = field(default_factory=dict)  # judged position -> event id
    touch: list[str] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)

    def identity(self, taken: set[str]) -> FeedIdentity:
        """The feed's identity statistics, with the memo of the entries the store now
        holds as they are: known and unchanged, or just committed."""
        doc, entries = self.d.doc, self.d.entries
        known = {
            doc.digests[entries[n].position]: memo_value(
                entries[n].content, item.article.content_hash
            )
            for n, (item, _) in enumerate(self.judged)
            if self.event_at.get(n) in taken
            or (item.record is not None and item.record.content_hash == item.article.content_hash)
        }
        return replace(self.resolution.profile, known=known)

    def committed(self, taken: set[str]) -> Committed:
        accepted = [c.event.event_id for c in self.commits if c.event.event_id in taken]
        by_sink: dict[str, list[str]] = {}
        created: list[Article] = []
        for commit in self.commits:
            if commit.event.event_id in taken:
                for sink in commit.sinks:
                    by_sink.setdefault(sink, []).append(commit.event.event_id)
                if commit.seen.revision == 1:
                    created.append(self.whole[commit.seen.article_id])
        return Committed(accepted, by_sink, self.counts, created, self.teaser)


class Round:
    """Documents decided together (``next_round``): one identity lookup, one read of
    near-duplicate candidates, one of boilerplate history, and one commit for all of them.

    Each document decides what it would decide alone, in order: the stories an earlier
    document of the round starts and the paragraphs it adds to a source's history are
    there for the later ones, as the store would have them had it committed first.
    Identity, edits and near-duplicates are decided on each item as the feed gives it, so
    a teaser completed from its page does not look edited at the next poll; the event
    carries the completed article."""

    def __init__(self, rt: Runtime, docs: list[ReadDoc]) -> None:
        self.rt = rt
        self.docs = docs

    def commit(self) -> tuple[list[tuple[ReadDoc, Committed]], list[ReadDoc]]:
        """The round's documents committed, and the ones read with a stale memo (left
        for the caller to read whole)."""
        rt, store = self.rt, self.rt.store
        records = store.lookup_articles(
            sorted(set().union(*(d.identity_keys() for d in self.docs)))
        )
        fresh: list[ReadDoc] = []
        stale: list[ReadDoc] = []
        for d in self.docs:
            holds = not d.doc.light or _memo_holds(d.entries, d.doc, records)
            (fresh if holds else stale).append(d)
        plans = [self._judge(d, records) for d in fresh]
        self._cluster(plans)
        self._enrich(plans)
        for plan in plans:
            self._commits(plan)
        now = rt.clock()
        accepted = store.commit_articles(
            [c for p in plans for c in p.commits], now, rt.settings.delivery.lease
        )
        store.touch_seen([k for p in plans for k in p.touch], now)
        taken = set(accepted)
        store.save_feed_identities([p.identity(taken) for p in plans])
        c = rt.settings.content
        if c.history_size:
            store.remember_paragraphs([e for p in plans for e in p.remembered], now, c.history_size)
        return [(p.d, p.committed(taken)) for p in plans], stale

    def _judge(self, d: ReadDoc, records: Mapping[str, SeenRecord]) -> _Plan:
        """Identify the document's articles and judge their changes."""
        s = self.rt.settings.dedupe
        resolution = resolve(
            d.entries,
            d.profile,
            {k: records[k] for k in d.identity_keys() if k in records},
            Rules(bad_ratio=s.bad_key_ratio, clean_polls=s.clean_polls),
        )
        for t in resolution.transitions:
            log.warning(
                "feed.identity_changed",
                feed_id=d.spec.feed_id,
                key=t.key,
                trusted=t.trusted,
                reason=t.reason,
                bad=t.bad,
                entries=t.entries,
            )
        policy = Policy(
            update_similarity=s.update_similarity, max_updates_per_day=s.max_updates_per_day
        )
        judged = [
            (
                item,
                judge(
                    item.article,
                    item.fingerprint,
                    item.record,
                    d.now,
                    policy,
                    feed_key=item.feed_key,
                ),
            )
            for item in resolution.items
        ]
        return _Plan(d, resolution, judged)

    def _cluster(self, plans: list[_Plan]) -> None:
        """The story cluster of each article to publish that has none yet and is long
        enough: among the candidates the shared index offers under its bands, the stories
        earlier documents of the round start under them, and its own document's."""
        s = self.rt.settings.dedupe
        todo = {
            id(p): [
                n
                for n, (item, verdict) in enumerate(p.judged)
                if verdict.publish
                and item.fingerprint is not None
                and item.fingerprint.words >= s.min_words
                and (item.record is None or item.record.cluster_id is None)
            ]
            for p in plans
        }
        bands = sorted({b for p in plans for n in todo[id(p)] for b in _fingerprint(p, n).bands})
        if not bands:
            return
        filed, records = self.rt.store.near_duplicate_candidates(bands, self.rt.clock())
        started: dict[str, list[SeenRecord]] = {}  # band -> stories the round starts
        for p in plans:
            mine = {b for n in todo[id(p)] for b in _fingerprint(p, n).bands}
            known = {a: records[a] for b in mine for a in filed.get(b, ()) if a in records}
            known.update((r.article_id, r) for b in mine for r in started.get(b, ()))
            for n in todo[id(p)]:
                article, fp = p.judged[n][0].article, _fingerprint(p, n)
                cluster = assign_cluster(
                    article.article_id,
                    fp,
                    known,
                    threshold=s.duplicate_similarity,
                    min_words=s.min_words,
                )
                p.clusters[n] = cluster
                if cluster.original:
                    record = SeenRecord(
                        article.article_id,
                        1,
                        article.content_hash,
                        signature=fp.signature,
                        cluster_id=cluster.cluster_id,
                    )
                    # A later copy in this document, or in a later one, finds it here.
                    known[article.article_id] = record
                    for b in fp.bands:
                        started.setdefault(b, []).append(record)

    def _enrich(self, plans: list[_Plan]) -> None:
        c = self.rt.settings.content
        history = None
        if c.history_size:
            sources = {
                boilerplate.source_key(item.article.canonical_url, p.d.spec.feed_id)
                for p in plans
                for item, verdict in p.judged
                if verdict.publish
            }
            history = _History(self.rt.store, sources, c.history_size, c.learn_min_articles)
        for p in plans:
            publish = [item.article for item, verdict in p.judged if verdict.publish]
            enriched, p.teaser, paged = _enrich(self.rt, p.d.spec, p.d.state, publish, history)
            p.whole = {a.article_id: a for a in enriched}
            if history is not None:
                # The lines read when the document was (learning moves some of them to
                # removed_boilerplate, which counts them too); a page's are read now.
                lines = {
                    item.article.article_id: p.d.lines[p.d.entries[n].position]
                    for n, (item, verdict) in enumerate(p.judged)
                    if verdict.publish and item.article.article_id not in paged
                }
                p.remembered = history.remember(enriched, lines)

    def _commits(self, p: _Plan) -> None:
        """The document's commits; ``sinks`` are the feed's routes, and a sink that
        suppresses syndicated copies does not get them."""
        rt = self.rt
        sinks = rt.sinks_for(p.d.spec)
        conf = rt.settings.effective_sinks()
        copy_sinks = tuple(s for s in sinks if conf[s].duplicates != "suppress")
        detected = epoch_to_iso(p.d.now)
        p.counts = {"updated": 0, "capped": 0, "syndicated": 0}
        for n, (item, verdict) in enumerate(p.judged):
            if not verdict.publish:
                p.touch.extend(item.touch)
                p.counts["capped"] += verdict.verdict == "capped"
                continue
            commit = _article_commit(
                item,
                p.whole[item.article.article_id],
                verdict,
                p.clusters.get(n),
                detected,
                sinks=copy_sinks,
                all_sinks=sinks,
            )
            p.commits.append(commit)
            p.event_at[n] = commit.event.event_id
            p.counts["updated"] += verdict.verdict == "updated"
            p.counts["syndicated"] += (
                verdict.verdict == "new" and commit.seen.duplicate_of is not None
            )


def _fingerprint(p: _Plan, n: int) -> Fingerprint:
    fp = p.judged[n][0].fingerprint
    assert fp is not None
    return fp


class _History:
    """The boilerplate history of the sources a round publishes from, read in one round
    trip. A document's new articles join it (as the store's ``remember_paragraphs`` will
    add them, newest first, the greater id first among one document's) before the next
    document learns from it."""

    def __init__(self, store: Store, sources: set[str], size: int, min_articles: int) -> None:
        self.store = store
        self.size = size
        self.min_articles = min_articles
        self.kept = store.paragraph_histories(sorted(sources), size) if sources else {}
        self.learned_sets: dict[str, frozenset[str]] = {}

    def learned(self, source: str) -> frozenset[str]:
        found = self.learned_sets.get(source)
        if found is None:
            history = [fps for _, fps in self._kept(source)]
            found = self.learned_sets[source] = boilerplate.learn(history, self.min_articles)
        return found

    def remember(
        self, articles: list[Article], lines: Mapping[str, tuple[str, ...] | None]
    ) -> list[ParagraphEntry]:
        """The articles' entries for ``remember_paragraphs``, added here too; ``lines``
        has the fingerprints of some articles' lines already."""
        entries: list[ParagraphEntry] = []
        for a in articles:
            prints = lines.get(a.article_id)
            if prints is None:
                prints = boilerplate.fingerprints(a.content_html, a.removed_boilerplate)
            entries.append(
                (boilerplate.source_key(a.canonical_url, a.source.feed_id), a.article_id, prints)
            )
        added: dict[str, dict[str, tuple[str, ...]]] = {}
        for source, article_id, fps in entries:
            added.setdefault(source, {}).setdefault(article_id, tuple(fps))
        for source, new in added.items():
            kept = self._kept(source)
            held = {a for a, _ in kept}  # remembering an id again changes nothing
            fresh = sorted(((a, fps) for a, fps in new.items() if a not in held), reverse=True)
            if fresh:
                self.kept[source] = (fresh + kept)[: self.size]
                self.learned_sets.pop(source, None)
        return entries

    def _kept(self, source: str) -> History:
        if source not in self.kept:  # a page's canonical URL on another site
            self.kept.update(self.store.paragraph_histories([source], self.size))
        return self.kept[source]


def _memo_holds(entries: Sequence[Entry], doc: Document, records: Mapping[str, SeenRecord]) -> bool:
    """Every entry read from the memo is one the store holds, under every key it has, with
    the content hash remembered: then it is unchanged, and nothing in resolving it needs
    its body (``identity._other_item`` stops at equal hashes)."""
    for entry in entries:
        if doc.content_keys[entry.position] is None:
            continue
        found = [records[k] for k in entry.ids() if k in records]
        if not found or any(r.content_hash != entry.article.content_hash for r in found):
            return False
    return True


def _article_commit(
    item: Resolved,
    published: Article,
    verdict: Judgement,
    cluster: Cluster | None,
    detected: str,
    *,
    sinks: tuple[str, ...],
    all_sinks: tuple[str, ...],
) -> ArticleCommit:
    """``sinks`` take syndicated copies; ``all_sinks`` take every other article.

    The seen record describes ``item.article`` (the feed's version, for change
    detection); the event carries ``published`` (the same article made whole)."""
    record = item.record
    if cluster is None:
        cluster = Cluster(record.cluster_id, record.duplicate_of) if record else Cluster(None, None)
    expected = record.revision if record else 0
    article = replaced(
        published,
        revision=expected + 1,
        cluster_id=cluster.cluster_id,
        duplicate_of=cluster.duplicate_of,
        changes=verdict.changes,
    )
    fp = item.fingerprint
    assert fp is not None
    seen = SeenRecord(
        article.article_id,
        article.revision,
        item.article.content_hash,
        feed_key=record.feed_key if record and record.feed_key else item.feed_key,
        title_key=fp.title_key,
        signature=fp.signature,
        cluster_id=cluster.cluster_id,
        duplicate_of=cluster.duplicate_of,
        window_start=verdict.window_start,
        window_updates=verdict.window_updates,
    )
    original = cluster.cluster_id is not None and cluster.cluster_id == article.article_id
    return ArticleCommit(
        seen=seen,
        expected_revision=expected,
        event=article_event(article, detected),
        sinks=sinks if article.duplicate_of else all_sinks,
        aliases=item.aliases,
        bands=fp.bands if original else (),
    )


def _enrich(
    rt: Runtime,
    spec: FeedSpec,
    state: FeedState,
    articles: list[Article],
    history: _History | None,
) -> tuple[list[Article], bool | None, set[str]]:
    """New articles made whole: the page's full text where the feed has only a teaser,
    then the paragraphs their source repeats everywhere (``history``) set aside. Also
    the verdict on the feed's teasers, and the ids of the articles completed from their
    page."""
    c = rt.settings.content
    mode = spec.full_text or c.full_text
    teaser = state.teaser

    def wanted(a: Article) -> bool:
        if mode == "always":
            return True
        if mode == "never" or teaser is False:
            return False
        return bool(teaser) or is_teaser(a.content_text, a.removed_boilerplate)

    todo = [a for a in articles if a.url and wanted(a)][: c.max_pages_per_poll]
    full: dict[str, Article] = {}
    if todo:
        requests = [
            FetchRequest(feed_id=spec.feed_id, url=a.url or "", headers=(("Accept", ACCEPT_PAGES),))
            for a in todo
        ]
        for article, page in zip(todo, rt.client.fetch_many(requests, rt.clock()), strict=True):
            if page.status != "ok":
                log.info("page.failed", feed_id=spec.feed_id, url=article.url, error=page.error)
                continue
            extracted = extract(page.body, page.final_url or article.url)
            if extracted is None:
                log.info("page.no_article", feed_id=spec.feed_id, url=article.url)
                continue
            whole = with_page(article, extracted, cleaning(rt, spec))
            if mode == "auto":
                teaser = much_longer(article.content_text, whole.content_text)
            full[article.article_id] = whole
        articles = [full.get(a.article_id, a) for a in articles]
    if history is not None:
        articles = [
            without_learned(
                a, history.learned(boilerplate.source_key(a.canonical_url, spec.feed_id))
            )
            for a in articles
        ]
    return articles, teaser, set(full)
