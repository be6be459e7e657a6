"""The stages, one function each: what a task does, minus the task.

tick ──► fetch_batch ──► process ──► deliver

Each function takes the process's ``Runtime`` and plain data, does its I/O through the
runtime's adapters and its deciding through ``worker.core``, and returns plain data for
the next stage. None of them knows about Celery.
"""

from __future__ import annotations

import dataclasses
import hashlib
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

from worker import metrics
from worker.adapters.sinks.base import DeliveryReport
from worker.core import boilerplate
from worker.core.condition import change
from worker.core.dates import epoch_to_iso
from worker.core.delivery_stats import latency_samples
from worker.core.errors import ParseError
from worker.core.events import FEED_GONE, FEED_MOVED, feed_event
from worker.core.feed_hints import read_hints
from worker.core.http_policy import track_move, trusted_last_modified
from worker.core.identity import analyse
from worker.core.models import (
    Article,
    Event,
    FeedHints,
    FeedIdentity,
    FeedSpec,
    FeedState,
    FetchRequest,
    FetchResult,
    PollRecord,
    PollSummary,
    replaced,
)
from worker.core.normalize import (
    Document,
    Limits,
    normalize_document,
    normalize_feed,
)
from worker.core.parse import ParseLimits, parse_feed
from worker.core.retry import Failure, RetryPolicy, plan_retries
from worker.core.rhythm import publication_times, record_poll, record_publications
from worker.core.schedule import Outcome, OutcomeKind, next_poll
from worker.logging import get_logger
from worker.rounds import ROUND_BYTES, Committed, ReadDoc, Round, cleaning, next_round
from worker.runtime import Runtime

log = get_logger("worker.pipeline")

# Seconds between two housekeeping passes (``Store.prune``) of one process's ticks.
PRUNE_EVERY = 3600.0
# How long a changed document waits in the store for its parse task (``hand_over``):
# longer than a message waits to be delivered again after its worker died (the broker's
# visibility timeout, an hour) a few times over. One gone by then was never parsed, so
# its feed was never settled: its claim runs out and it is polled again.
DOCUMENT_TTL = 6 * 3600.0


@dataclass(frozen=True, slots=True)
class TickPlan:
    fetch_batches: list[list[str]] = field(default_factory=list)
    deliveries: dict[str, list[list[str]]] = field(default_factory=dict)


def tick(rt: Runtime, *, max_feeds: int = 10_000) -> TickPlan:
    """Claim the feeds and deliveries that are due; return them in message-sized batches."""
    now = rt.clock()
    s = rt.settings
    if now - rt.last_pruned >= PRUNE_EVERY:
        rt.last_pruned = now
        rt.store.prune(now)
    rt.store.heartbeat("beat", now)  # `syndicate health` checks the scheduler by it
    due = rt.store.claim_due_feeds(now, max_feeds, s.schedule.lease)
    plan = TickPlan(fetch_batches=_chunks(due, s.fetch.batch_size))
    for sink in rt.sink_names:
        ids = rt.store.claim_deliveries(sink, now, 50 * s.delivery.batch_size, s.delivery.lease)
        if ids:
            plan.deliveries[sink] = _chunks(ids, s.delivery.batch_size)
    if due or plan.deliveries:
        log.info(
            "tick.claimed",
            feeds=len(due),
            fetch_batches=len(plan.fetch_batches),
            deliveries={k: sum(map(len, v)) for k, v in plan.deliveries.items()},
        )
    return plan


def fetch_batch(rt: Runtime, feed_ids: Sequence[str]) -> list[FetchResult]:
    """Poll the feeds concurrently; settle the unchanged, failed, deferred and gone ones
    here and return the changed documents for ``process``."""
    feeds = rt.store.load_feeds(feed_ids)
    settled: list[FeedState] = []
    requests = []
    for fid in feed_ids:
        if fid not in feeds:
            continue
        spec, state = feeds[fid]
        if state.lifecycle == "gone":
            settled.append(replace(state, next_poll_at=math.inf))  # claimed in a race
            continue
        requests.append(
            FetchRequest(
                feed_id=fid,
                url=state.url or spec.url,
                etag=state.etag,
                last_modified=state.last_modified,
                headers=spec.headers,
                auth_env=spec.auth_env,
            )
        )
    results = rt.fetcher.fetch_many(requests, rt.clock())
    now = rt.clock()
    changed: list[FetchResult] = []
    events: list[Event] = []
    for fetched in results:
        spec, state = feeds[fetched.feed_id]
        status: str = fetched.status
        result = fetched
        if fetched.status == "ok" and _body_hash(fetched.body) == state.body_hash:
            # A 200 with the body we already have: as good as a 304, whatever its ETag.
            result = replace(fetched, status="not_modified", body=b"")
            status = "unchanged"
        if result.status == "ok":
            changed.append(result)
            continue
        new_state, feed_events = _settle(rt, state, spec, result, now, status=status)
        settled.append(new_state)
        events += feed_events
        _log_poll(_summary(result, new_state, now, status), spec, state, new_state)
    _save(rt, settled, events, now)
    return changed


def hand_over(rt: Runtime, changed: Sequence[FetchResult]) -> list[dict[str, Any]]:
    """Changed documents as a parse message carries them: every field but the body, which
    waits in the store under ``body_key``.

    The bodies went in the message before: the broker base64-encoded them, wrapped them
    in JSON, kept a second copy for unacknowledged messages and piped them to a pool
    process, about 5.6 % of a cold pass's worker CPU (docs/benchmarks.md).
    """
    keys = rt.store.stash_documents([r.body for r in changed], rt.clock(), DOCUMENT_TTL)
    return [
        {**dataclasses.asdict(replace(r, body=b"")), "body_key": key}
        for r, key in zip(changed, keys, strict=True)
    ]


def take_over(
    rt: Runtime, docs: Sequence[Mapping[str, Any]]
) -> tuple[list[FetchResult], list[str]]:
    """The documents of a parse message, and the stashed keys to drop once they are
    processed. A message may carry bodies itself (sent before ``hand_over`` existed). A
    document no longer in the store is left out and logged: its feed was not settled,
    so it is polled again when its claim runs out."""
    keys = [d["body_key"] for d in docs if d.get("body_key")]
    bodies = dict(zip(keys, rt.store.take_documents(keys, rt.clock()), strict=True))
    fetched: list[FetchResult] = []
    for d in docs:
        fields = {k: v for k, v in d.items() if k != "body_key"}
        key = d.get("body_key")
        if key:
            body = bodies[key]
            if body is None:
                log.warning(
                    "document.gone",
                    feed_id=d["feed_id"],
                    key=key,
                    reason="the fetched document expired or was dropped before its parse; "
                    "the feed is polled again when its claim runs out",
                )
                continue
            fields["body"] = body
        fetched.append(FetchResult(**fields))
    return fetched, keys


@contextmanager
def handed_over(rt: Runtime, docs: Sequence[Mapping[str, Any]]) -> Iterator[list[FetchResult]]:
    """``take_over`` for a parse task's body: its stashed documents are dropped when the
    body is done, and also when it raises. A task that raises is acknowledged (Celery
    acknowledges failures even with late acks), so its message never comes back to read
    them; their feeds were not settled and are polled again when their claims run out.
    A worker that dies raises nothing here: its message is delivered again and finds
    them."""
    fetched, keys = take_over(rt, docs)
    try:
        yield fetched
    except Exception:
        try:
            rt.store.drop_documents(keys)
        except Exception as exc:  # the task's own error is the one to report
            log.warning("document.drop_failed", keys=len(keys), error=str(exc))
        raise
    rt.store.drop_documents(keys)


def process(rt: Runtime, fetched: Sequence[FetchResult]) -> dict[str, list[str]]:
    """Parse, normalize and dedupe changed documents; commit their events to the outbox.

    Returns the accepted event ids per sink, for the deliver messages.

    The documents are taken ``ROUND_BYTES`` at a time: read one by one, then decided and
    committed in rounds (``rounds.Round``), each store call of the dedupe serving every
    document of a round at once; a task of 40 documents makes a handful of round trips
    instead of seven per document, and holds half a megabyte of documents at a time.
    """
    feeds = rt.store.load_feeds([f.feed_id for f in fetched])
    profiles = rt.store.load_feed_identities(list(feeds))
    out = _Outcomes()
    for part in by_size(fetched, ROUND_BYTES):
        read = (_first_read(rt, r, out, feeds=feeds, profiles=profiles) for r in part)
        todo = [d for d in read if d is not None]
        while todo:
            batch, todo = next_round(todo)
            done, stale = Round(rt, batch).commit()
            for d, committed in done:
                _settle_read(rt, d, committed, out)
            # A remembered entry the store no longer agrees with: its document, read
            # whole, goes through the next round.
            todo = [
                _read_doc(
                    rt,
                    d.result,
                    spec=d.spec,
                    state=d.state,
                    profile=d.profile,
                    now=d.now,
                    memo=None,
                )
                for d in stale
            ] + todo
    _save(rt, out.settled, out.events, rt.clock())
    return {sink: ids for sink, ids in out.outbox.items() if ids}


def _first_read(
    rt: Runtime,
    result: FetchResult,
    out: _Outcomes,
    *,
    feeds: Mapping[str, tuple[FeedSpec, FeedState]],
    profiles: Mapping[str, FeedIdentity],
) -> ReadDoc | None:
    """The document read with its feed's memo; None when its feed is gone, or when it
    cannot be read (its feed then settled as failed)."""
    if result.feed_id not in feeds:
        log.info("feed.removed_while_polling", feed_id=result.feed_id)
        return None
    spec, state = feeds[result.feed_id]
    now = rt.clock()
    started = time.perf_counter()
    profile = profiles.get(spec.feed_id) or FeedIdentity(spec.feed_id)
    try:
        doc = _read_doc(
            rt, result, spec=spec, state=state, profile=profile, now=now, memo=profile.known
        )
    except ParseError as exc:
        failed = replace(result, status="error", error_kind="parse_error", error=exc.reason)
        new_state, feed_events = _settle(rt, state, spec, failed, now, status="error")
        out.settled.append(new_state)
        out.events += feed_events
        _log_poll(_summary(failed, new_state, now, "error"), spec, state, new_state)
        return None
    metrics.parse_seconds(time.perf_counter() - started)
    for reason in doc.skipped:
        # The same broken entries come back at every poll: counted in feed.polled.
        log.debug("entry.skipped", feed_id=spec.feed_id, reason=reason)
    return doc


def by_size(results: Sequence[FetchResult], limit: int) -> list[list[FetchResult]]:
    """The results in order, in batches of at most ``limit`` bytes of bodies (a larger
    body alone)."""
    batches: list[list[FetchResult]] = []
    current: list[FetchResult] = []
    size = 0
    for result in results:
        if current and size + len(result.body) > limit:
            batches.append(current)
            current, size = [], 0
        current.append(result)
        size += len(result.body)
    if current:
        batches.append(current)
    return batches


@dataclass(slots=True)
class _Outcomes:
    """What ``process`` gathers for its one write of states and feed events at the end."""

    settled: list[FeedState] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    outbox: dict[str, list[str]] = field(default_factory=dict)


def _read_doc(
    rt: Runtime,
    result: FetchResult,
    *,
    spec: FeedSpec,
    state: FeedState,
    profile: FeedIdentity,
    now: float,
    memo: Mapping[str, str] | None,
) -> ReadDoc:
    doc, skipped, title, site = _read(rt, result, spec, memo=memo)
    entries = analyse(doc.articles, spec.feed_id, doc.content_keys)
    # Each body's lines for the boilerplate history, while the lines read with its text
    # are still kept (``text.line_texts``): a round holds more bodies than that. Every entry
    # read in full gets them, though only those the round publishes are remembered:
    # outside a first poll or a stale memo, an entry read in full is a new one.
    remember = rt.settings.content.history_size > 0
    lines = [
        boilerplate.fingerprints(a.content_html, a.removed_boilerplate)
        if remember and key is None
        else None
        for a, key in zip(doc.articles, doc.content_keys, strict=True)
    ]
    return ReadDoc(result, spec, state, profile, now, doc, skipped, title, site, entries, lines)


def _settle_read(rt: Runtime, d: ReadDoc, committed: Committed, out: _Outcomes) -> None:
    """The feed's state after a document read and committed, and its poll summary."""
    spec, state, result, now = d.spec, d.state, d.result, d.now
    for sink, ids in committed.by_sink.items():
        out.outbox.setdefault(sink, []).extend(ids)
    published = publication_times(
        (a.published for a in committed.created),
        now,
        first_poll=state.last_polled_at is None,
    )
    new_state, feed_events = _settle(
        rt,
        state,
        spec,
        result,
        now,
        status="ok",
        new_items=len(committed.accepted),
        published=published,
        hints=read_hints(result.body),
    )
    new_state = replaced(
        new_state,
        body_hash=_body_hash(result.body),
        title=d.title or state.title,
        site_url=d.site or state.site_url,
        teaser=committed.teaser,
    )
    if committed.counts["capped"]:
        # An edit waits for its article's daily cap: read the document again next time
        # instead of settling for a 304 that would hide the edit until the next change.
        new_state = replace(new_state, body_hash=None, etag=None, last_modified=None)
    out.settled.append(new_state)
    out.events += feed_events
    articles = d.doc.articles
    _log_poll(
        _summary(
            result,
            new_state,
            now,
            "ok",
            entries=len(articles),
            new=len(committed.accepted),
            duplicates=len(articles) - len(committed.accepted),
            extra={**committed.counts, **_skips(d.skipped)},
        ),
        spec,
        state,
        new_state,
    )


def _save(rt: Runtime, states: list[FeedState], events: list[Event], now: float) -> None:
    """Feed events first, then the states that record them: a crash in between re-emits
    the same event ids on the next poll, which the outbox ignores."""
    if events:
        # Due at once: the next tick hands them to the sinks.
        rt.store.enqueue_events(events, rt.sink_names, now, 0.0)
    rt.store.save_states(states)


def _read(
    rt: Runtime, result: FetchResult, spec: FeedSpec, *, memo: Mapping[str, str] | None
) -> tuple[Document, list[str], str | None, str | None]:
    url = result.final_url or result.url
    c = rt.settings.content
    parsed, skipped = parse_feed(
        result.body,
        feed=spec.feed_id,
        url=url,
        content_type=result.content_type,
        limits=ParseLimits(max_entries=c.max_entries, max_categories=c.max_categories),
    )
    limits = Limits(max_entries=c.max_entries, max_categories=c.max_categories)
    doc = normalize_document(parsed, spec, url, limits, cleaning(rt, spec), memo=memo)
    articles = doc.articles
    site = articles[0].source.site if articles else None
    title = articles[0].source.title if articles else None
    return doc, skipped, title, site


def deliver(rt: Runtime, sink_name: str, event_ids: Sequence[str]) -> dict[str, int]:
    """Hand pending events to one sink; acknowledge what it took; put the rest on a
    backoff, or on the dead-letter list when rejected or out of retry window."""
    sink = rt.sinks.get(sink_name)
    if sink is None:
        log.warning("delivery.unknown_sink", sink=sink_name, events=len(event_ids))
        return {}
    pending = rt.store.pending_events(sink_name, event_ids)
    if not pending:
        return {"delivered": 0}
    try:
        report = sink.deliver(list(pending.items()))
    except Exception as exc:  # a sink bug or an unexpected library error: back off
        log.exception("delivery.sink_crashed", sink=sink_name, events=len(pending))
        report = DeliveryReport(
            retry={e: (f"sink crashed: {type(exc).__name__}", None) for e in pending}
        )
    rt.store.ack_deliveries(sink_name, report.delivered)
    if report.delivered:
        now = rt.clock()
        rt.store.record_deliveries(
            sink_name,
            report.delivered,
            latency_samples(pending, report.delivered, now),
            now,
            duplicates=report.duplicates,
        )
    failures = [Failure(e, reason, after) for e, (reason, after) in report.retry.items()]
    failures += [Failure(e, reason, permanent=True) for e, reason in report.rejected.items()]
    dead = 0
    if failures:
        now = rt.clock()
        d = rt.settings.delivery
        plan = plan_retries(
            failures,
            rt.store.delivery_failures(sink_name, [f.event_id for f in failures]),
            now=now,
            policy=RetryPolicy(base=d.retry_base, cap=d.retry_max, window=d.retry_window),
            rands=[rt.rand() for _ in failures],
        )
        if plan.retry:
            rt.store.retry_deliveries(
                sink_name,
                [e for e, _, _ in plan.retry],
                now,
                [delay for _, delay, _ in plan.retry],
                [reason for _, _, reason in plan.retry],
            )
            log.warning(
                "delivery.failed",
                sink=sink_name,
                events=len(plan.retry),
                reason=plan.retry[0][2],
                retry_in=round(min(delay for _, delay, _ in plan.retry), 1),
            )
        if plan.dead:
            dead = rt.store.dead_letter(sink_name, plan.dead, now)
            log.error(
                "delivery.dead_lettered",
                sink=sink_name,
                events=len(plan.dead),
                reason=plan.dead[0][1],
                first=plan.dead[0][0],
            )
    counts = {
        "delivered": len(report.delivered) - report.duplicates,
        "duplicates": report.duplicates,
        "failed": len(failures),
        "dead_lettered": dead,
    }
    log.info("delivery.batch", sink=sink_name, **counts)
    metrics.deliveries(
        sink_name,
        {
            "delivered": counts["delivered"],
            "duplicate": report.duplicates,
            "retry": len(failures) - len(report.rejected),
            "rejected": len(report.rejected),
            "dead_lettered": dead,
        },
    )
    return counts


def replay_history(
    rt: Runtime,
    sink: str,
    since: float,
    until: float,
    *,
    page: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> int:
    """Queue every stored event created in [since, until] for ``sink``, due now; the
    tick hands them to the workers. Returns how many were queued."""
    queued = 0
    cursor: str | None = None
    while True:
        ids, cursor = rt.store.history_page(since, until, cursor, page)
        queued += rt.store.requeue(sink, ids, rt.clock())
        if progress is not None:
            progress(len(ids))
        if cursor is None:
            break
    log.info("replay.queued", sink=sink, since=since, until=until, events=queued)
    return queued


def _outcome_kind(result: FetchResult) -> OutcomeKind:
    if result.status == "deferred":
        return "deferred"
    if result.status != "error":
        return "success"
    if result.error_kind == "throttled":
        return "throttled"
    if result.error_kind == "gone":
        return "gone"
    return "error"


def _settle(
    rt: Runtime,
    state: FeedState,
    spec: FeedSpec,
    result: FetchResult,
    now: float,
    *,
    status: str,
    new_items: int = 0,
    published: Sequence[float] = (),
    hints: FeedHints | None = None,
) -> tuple[FeedState, list[Event]]:
    """The feed's state after one poll (or one deferral), and the feed events it causes.

    Errors grow the error streak; throttling (429) and a spent host budget are
    backpressure and leave it as it was; success resets it. 410 retires the feed.
    """
    kind = _outcome_kind(result)
    streak = {"success": 0, "error": state.error_streak + 1}.get(kind, state.error_streak)
    changes: dict[str, Any] = {
        "error_streak": streak,
        "last_status": result.status,
        "last_http_status": result.http_status,
        "last_error": result.error if kind != "success" else None,
        "last_error_kind": (result.error_kind or "error")
        if kind == "error"
        else (state.last_error_kind if kind in ("throttled", "deferred") else None),
        "tracked_since": state.tracked_since if state.tracked_since is not None else now,
        "published": record_publications(state.published, published, now),
        "hints": hints if hints is not None else state.hints,
    }
    if kind != "deferred":
        changes["last_polled_at"] = now
    if kind == "success":
        changes["cache_lifetime"] = result.cache_lifetime
        if result.http_status == 200:
            changes["etag"] = result.etag
            changes["last_modified"] = trusted_last_modified(result.last_modified, now)
    # one copy of the state, not four: _settle runs for every poll
    polled = replaced(state, **changes)
    polled, events = _lifecycle(rt, polled, spec, result, kind=kind, now=now)
    nxt = next_poll(
        polled,
        Outcome(
            kind=kind,
            retry_after=result.retry_after,
            cache_lifetime=polled.cache_lifetime if kind == "success" else None,
        ),
        now=now,
        bounds=rt.bounds(spec.min_interval, spec.max_interval),
        rand=rt.rand(),
    )
    record = PollRecord(
        at=now,
        outcome=status if kind != "gone" else "gone",
        http_status=result.http_status,
        new=new_items,
        duration_ms=round(result.elapsed_ms, 1),
        error=result.error if kind != "success" else None,
        next_in=None if math.isinf(nxt.at) else round(nxt.at - now, 1),
        next_reason=nxt.reason,
    )
    settled = replaced(
        polled,
        next_poll_at=nxt.at,
        next_reason=nxt.reason,
        polls=record_poll(state.polls, record),
    )
    return settled, events


def _lifecycle(
    rt: Runtime,
    state: FeedState,
    spec: FeedSpec,
    result: FetchResult,
    *,
    kind: str,
    now: float,
) -> tuple[FeedState, list[Event]]:
    """410 retires the feed; consecutive permanent redirects to one target move it."""
    label = spec.name or spec.url
    if kind == "gone":
        seq = state.events_emitted + 1
        event = feed_event(
            FEED_GONE,
            feed_id=state.feed_id,
            feed_url=state.url,
            sequence=seq,
            detected_at=epoch_to_iso(now),
            data={
                "url": state.url,
                "http_status": result.http_status,
                "name": spec.name,
                "retired_at": epoch_to_iso(now),
            },
        )
        log.warning(
            "feed.gone",
            feed_id=state.feed_id,
            feed=label,
            url=state.url,
            http_status=result.http_status,
        )
        return replace(state, lifecycle="gone", events_emitted=seq), [event]
    if kind != "success":
        return state, []  # an error says nothing about where the feed lives
    decision = track_move(
        state.url,
        state.moved_to,
        state.moved_streak,
        result.permanent_redirect,
        rt.settings.fetch.move_after,
    )
    if not decision.move or result.permanent_redirect is None:
        if decision.moved_to == state.moved_to and decision.streak == state.moved_streak:
            return state, []  # nearly every poll: no copy of the state (6 us)
        return replace(state, moved_to=decision.moved_to, moved_streak=decision.streak), []
    target = result.permanent_redirect
    seq = state.events_emitted + 1
    event = feed_event(
        FEED_MOVED,
        feed_id=state.feed_id,
        feed_url=state.url,
        sequence=seq,
        detected_at=epoch_to_iso(now),
        data={
            "from": state.url,
            "to": target,
            "name": spec.name,
            "after_polls": rt.settings.fetch.move_after,
        },
    )
    log.warning(
        "feed.moved",
        feed_id=state.feed_id,
        feed=label,
        from_url=state.url,
        to_url=target,
        after_polls=rt.settings.fetch.move_after,
    )
    moved = replace(state, url=target, moved_to=None, moved_streak=0, events_emitted=seq)
    return moved, [event]


def _summary(
    result: FetchResult,
    state: FeedState,
    now: float,
    status: str,
    *,
    extra: Mapping[str, object] | None = None,
    **fields: object,
) -> PollSummary:
    return PollSummary(
        feed_id=result.feed_id,
        status=status,
        http_status=result.http_status,
        bytes=len(result.body),
        duration_ms=result.elapsed_ms,
        next_poll_in=state.next_poll_at - now,
        next_reason=state.next_reason or "",
        error=result.error,
        extra={**({"error_kind": result.error_kind} if result.error_kind else {}), **(extra or {})},
        **fields,  # type: ignore[arg-type]
    )


def _skips(skipped: list[str]) -> dict[str, object]:
    return {"skipped": len(skipped), "skip_reason": skipped[0]} if skipped else {}


def _log_poll(s: PollSummary, spec: FeedSpec, before: FeedState, after: FeedState) -> None:
    """The canonical summary line, one per feed poll, at INFO whatever the outcome; and
    ``feed.state_changed`` when the poll changed the feed's condition (healthy, failing
    and how, gone): a feed failing the same way for a week warns once, not every poll."""
    next_in = None if math.isinf(s.next_poll_in) else round(s.next_poll_in, 1)
    label = spec.name or spec.url
    metrics.poll(s.status, s.extra.get("error_kind"), s.feed_id, after.last_polled_at or 0.0, s.new)
    moved = change(before, after)
    if moved is not None:
        (log.warning if moved.worse else log.info)(
            "feed.state_changed",
            feed_id=s.feed_id,
            feed=label,
            from_state=moved.before.state,
            to_state=moved.after.state,
            error_kind=moved.after.error_kind,
            previous_error_kind=moved.before.error_kind,
            error=s.error if moved.worse else None,
            http_status=s.http_status,
            error_streak=after.error_streak if moved.worse else before.error_streak,
        )
    log.info(
        "feed.polled",
        feed_id=s.feed_id,
        feed=label,
        status=s.status,
        http_status=s.http_status,
        bytes=s.bytes,
        entries=s.entries,
        new=s.new,
        duplicates=s.duplicates,
        duration_ms=round(s.duration_ms, 1),
        next_poll_in=next_in,
        next_reason=s.next_reason,
        error=s.error,
        error_streak=after.error_streak,
        **s.extra,
    )


def _body_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:32]


def _chunks(ids: Sequence[str], size: int) -> list[list[str]]:
    return [list(ids[i : i + size]) for i in range(0, len(ids), size)]


def poll_once(rt: Runtime, url: str) -> list[Article]:
    """Fetch, parse and normalize one feed without touching the store (``syndicate poll``).

    Raises ``FeedError`` (naming the URL) when the feed cannot be fetched or read.
    """
    from worker.core.errors import FetchRefused, HTTPStatusError, TransientFeedError
    from worker.settings import feed_id_for

    spec = FeedSpec(feed_id=feed_id_for(url), url=url, origin="store")
    result = rt.client.fetch(FetchRequest(feed_id=url, url=url), rt.clock())
    if result.status == "error":
        reason = result.error or "failed"
        if result.error_kind in ("throttled", "server_error", "timeout", "connect_error"):
            raise TransientFeedError(url, reason, result.retry_after)
        if result.error_kind in ("client_error", "gone"):
            raise HTTPStatusError(url, reason)
        raise FetchRefused(url, reason)
    parsed, skipped = parse_feed(
        result.body, feed=url, url=result.final_url or url, content_type=result.content_type
    )
    for reason in skipped:
        log.info("entry.skipped", feed=url, reason=reason)
    return normalize_feed(parsed, spec, result.final_url or url, cleaning=cleaning(rt, spec))


def quarantine_feeds(rt: Runtime, feed_ids: Sequence[str], reason: str) -> None:
    """Count a crash as an error of each feed in a poisoned message: they back off like
    any failing feed instead of killing a worker again at the next lease."""
    now = rt.clock()
    settled = []
    for fid, (spec, state) in rt.store.load_feeds(feed_ids).items():
        crashed = FetchResult(
            feed_id=fid, url=state.url, status="error", error_kind="poisoned", error=reason
        )
        settled.append(_settle(rt, state, spec, crashed, now, status="error")[0])
    rt.store.save_states(settled)


def quarantine_documents(rt: Runtime, docs: Sequence[Mapping[str, Any]], reason: str) -> None:
    """``quarantine_feeds`` for a poisoned parse message; its stashed documents are
    dropped too (the message is, so nothing would read them again)."""
    quarantine_feeds(rt, [d["feed_id"] for d in docs], reason)
    rt.store.drop_documents([d["body_key"] for d in docs if d.get("body_key")])


def quarantine_deliveries(rt: Runtime, sink: str, event_ids: Sequence[str]) -> None:
    """Push the deliveries of a poisoned message back by the longest retry delay."""
    rt.store.retry_deliveries(
        sink,
        event_ids,
        rt.clock(),
        [rt.settings.delivery.retry_max] * len(event_ids),
        ["a worker died delivering this batch several times"] * len(event_ids),
    )
