"""The ``Store`` port.

Two rules every implementation keeps:

* **Claims are leases.** ``claim_due_feeds`` and the outbox hand work out by moving its due
  time ``lease`` seconds ahead; work that is never finished (a killed worker, a lost
  message) comes due again by itself. Nothing depends on a broker message arriving.
* **Commits are conditional.** ``commit_articles`` accepts an article event only if the
  revision the store holds is the one the caller decided against, atomically with
  recording it as seen and queueing it for every sink. Two workers racing on one article
  produce one event.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

from worker.core.delivery_stats import (
    DeliveryState,
    DeliveryTotals,
    FeedBacklog,
    LatencySample,
)
from worker.core.models import (
    ArticleCommit,
    Event,
    FeedIdentity,
    FeedSpec,
    FeedState,
    SeenRecord,
)
from worker.core.retry import DeadLetter, FailureHistory

if TYPE_CHECKING:
    from worker.settings import Settings


# (source, article_id, paragraph fingerprints): one article for the boilerplate history.
ParagraphEntry = tuple[str, str, Sequence[str]]
# One source's boilerplate history: (article_id, paragraph fingerprints), newest first.
History = list[tuple[str, tuple[str, ...]]]
# The ids filed under each band that has any (oldest first), and the seen record of each.
NearCandidates = tuple[dict[str, list[str]], dict[str, SeenRecord]]


class Store(Protocol):
    # -- feeds -------------------------------------------------------------------------
    def sync_feeds(self, specs: Sequence[FeedSpec], now: float) -> tuple[int, int]:
        """Make the config-defined feeds the given ones; new feeds are due now.

        Feeds of origin ``store`` are left alone. Returns (added, removed).
        """
        ...

    def add_feed(self, spec: FeedSpec, now: float) -> bool:
        """Register one feed; False if it is already there."""
        ...

    def add_feeds(self, specs: Sequence[FeedSpec], now: float) -> list[str]:
        """Register many feeds in a few round trips (an OPML import); new ones are due
        now. Returns the ids of those that were not there yet."""
        ...

    def remove_feed(self, feed_id: str) -> bool: ...

    def feed_specs(self, feed_ids: Sequence[str] | None = None) -> dict[str, FeedSpec]:
        """The given feeds (all when None)."""
        ...

    def claim_due_feeds(self, now: float, limit: int, lease: float) -> list[str]:
        """Atomically take up to ``limit`` feeds due at ``now``; each is leased for ``lease`` s."""
        ...

    def load_states(self, feed_ids: Sequence[str]) -> dict[str, FeedState]:
        """Current states; a feed never polled gets a fresh state."""
        ...

    def load_feeds(self, feed_ids: Sequence[str]) -> dict[str, tuple[FeedSpec, FeedState]]:
        """Each known feed's spec and current state, read together (a fetch task reads
        both for every feed of its batch); unknown ids are left out."""
        ...

    def save_states(self, states: Sequence[FeedState]) -> None:
        """Record poll outcomes; each feed becomes due at its ``next_poll_at``."""
        ...

    # -- articles ----------------------------------------------------------------------
    def seen(self, article_ids: Sequence[str]) -> dict[str, SeenRecord]: ...

    def lookup_articles(self, key_ids: Sequence[str]) -> dict[str, SeenRecord]:
        """The record behind each id that is an article's id or one of its aliases (see
        ``ArticleCommit.aliases``), keyed by the id asked for; unknown ids are left out."""
        ...

    def touch_seen(self, article_ids: Sequence[str], now: float) -> None:
        """Keep remembering articles still present in their feed (ids or aliases)."""
        ...

    def commit_articles(
        self, commits: Sequence[ArticleCommit], now: float, lease: float
    ) -> list[str]:
        """Record each article as seen and queue its event for its sinks, if its expected
        revision still holds. Queued deliveries are leased for ``lease`` s, for the
        deliver message the caller sends next. Returns the accepted event ids.

        With an accepted commit, each of its ``aliases`` not yet taken comes to name the
        article (one already naming another article keeps it), and the article is filed
        under its ``bands`` in the near-duplicate index for the index window."""
        ...

    # -- boilerplate history -----------------------------------------------------------
    def paragraph_histories(self, sources: Sequence[str], limit: int) -> dict[str, History]:
        """Each source's most recently remembered articles with their paragraph
        fingerprints, newest first (the greater id first among those remembered at the
        same time), at most ``limit`` articles; every source asked for is in the answer."""
        ...

    def remember_paragraphs(self, entries: Sequence[ParagraphEntry], now: float, keep: int) -> None:
        """Remember articles' paragraph fingerprints, each ``(source, article_id,
        fingerprints)``, in one round trip (once per article: remembering an id again
        changes nothing), keeping only each source's newest ``keep``."""
        ...

    def near_duplicates(self, bands: Sequence[str], now: float) -> list[str]:
        """Articles filed under any of ``bands`` within the index window before ``now``,
        oldest first per band; a band keeps at most its newest few per period."""
        ...

    def near_duplicate_candidates(self, bands: Sequence[str], now: float) -> NearCandidates:
        """What ``near_duplicates`` finds, per band (a band with none is left out), with
        the seen record of each article found (``seen``), in one round trip where the
        store can: the candidates of many documents' new articles at once, each
        document taking those of its own bands."""
        ...

    # -- fetched documents waiting for the parse stage -----------------------------------
    def stash_documents(self, bodies: Sequence[bytes], now: float, ttl: float) -> list[str]:
        """Keep fetched documents for the parse stage, each under a new key (returned in
        order), for at most ``ttl`` seconds: the parse message carries the key, not the
        bytes. A document that is never taken costs memory only until then."""
        ...

    def take_documents(self, keys: Sequence[str], now: float) -> list[bytes | None]:
        """The stashed documents, in order; None for one that expired or was dropped."""
        ...

    def drop_documents(self, keys: Sequence[str]) -> None:
        """Forget stashed documents (their parse task is done with them)."""
        ...

    # -- identity statistics -------------------------------------------------------------
    def load_feed_identities(self, feed_ids: Sequence[str]) -> dict[str, FeedIdentity]:
        """Saved identity statistics; a feed without any is left out."""
        ...

    def save_feed_identities(self, profiles: Sequence[FeedIdentity]) -> None: ...

    # -- outbox ------------------------------------------------------------------------
    def enqueue_events(
        self, events: Sequence[Event], sinks: Sequence[str], now: float, lease: float
    ) -> list[str]:
        """Queue events that are not about an article (``feed.moved``, ``feed.gone``) for
        every sink, due after ``lease`` s. Idempotent on the event id: an id the outbox
        already holds is neither stored nor queued again. Returns the ids newly queued."""
        ...

    def claim_deliveries(self, sink: str, now: float, limit: int, lease: float) -> list[str]:
        """Take up to ``limit`` deliveries due for ``sink``, leasing each for ``lease`` s."""
        ...

    def pending_events(self, sink: str, event_ids: Sequence[str]) -> dict[str, bytes]:
        """Bodies of the given events still pending for ``sink``."""
        ...

    def ack_deliveries(self, sink: str, event_ids: Sequence[str]) -> None: ...

    def retry_deliveries(
        self,
        sink: str,
        event_ids: Sequence[str],
        now: float,
        delays: Sequence[float],
        errors: Sequence[str] | None = None,
    ) -> None:
        """Put failed deliveries back, each due after its delay; counts an attempt and
        remembers the first failure's time and the latest error. Deliveries no longer
        pending (acknowledged meanwhile) are left alone."""
        ...

    def delivery_attempts(self, sink: str, event_ids: Sequence[str]) -> dict[str, int]: ...

    def delivery_failures(self, sink: str, event_ids: Sequence[str]) -> dict[str, FailureHistory]:
        """Attempts, first failure and last error of the given deliveries still pending."""
        ...

    # -- dead letters ------------------------------------------------------------------
    def dead_letter(self, sink: str, failed: Sequence[tuple[str, str]], now: float) -> int:
        """Move pending deliveries ``(event_id, reason)`` to the sink's dead-letter list;
        the event body is kept while it is there. Returns how many moved."""
        ...

    def dead_letters(self, sink: str | None = None, limit: int = 100) -> list[DeadLetter]:
        """Dead letters of one sink (all when None), oldest first."""
        ...

    def dead_letter_counts(self) -> dict[str, int]: ...

    def replay_dead_letters(
        self, sink: str | None, event_ids: Sequence[str] | None, now: float
    ) -> int:
        """Queue dead letters again, due at ``now`` with a fresh retry budget: of one sink
        or all (``sink`` None), only the given ids or all (``event_ids`` None)."""
        ...

    # -- history (replay) --------------------------------------------------------------
    def history_count(self, since: float, until: float) -> int:
        """Events created in [since, until] whose bodies are still kept."""
        ...

    def history_page(
        self, since: float, until: float, cursor: str | None, limit: int
    ) -> tuple[list[str], str | None]:
        """Event ids created in [since, until] in creation order, ``limit`` at a time;
        pass the returned cursor for the next page (None when done)."""
        ...

    def requeue(self, sink: str, event_ids: Sequence[str], now: float) -> int:
        """Queue stored events for ``sink`` again, due at ``now`` (replay). Ids whose body
        is gone are skipped; a dead letter among them leaves the dead-letter list.
        Returns how many were queued."""
        ...

    def pending_counts(self) -> dict[str, int]:
        """Deliveries not yet acknowledged, per sink."""
        ...

    # -- operations: heartbeats, delivery receipts and totals (stats, health, trace) ----
    def heartbeat(self, name: str, now: float) -> None:
        """Record that ``name`` (``beat``, ``queue.fetch``...) was alive at ``now``."""
        ...

    def heartbeats(self) -> dict[str, float]:
        """The last time each name recorded a heartbeat."""
        ...

    def record_deliveries(
        self,
        sink: str,
        event_ids: Sequence[str],
        samples: Sequence[LatencySample],
        now: float,
        *,
        duplicates: int = 0,
    ) -> None:
        """After ``sink`` acknowledged ``event_ids``: count them (less ``duplicates``, ids
        the sink already had), keep a receipt per event for the receipt retention, and
        keep each feed's newest ``MAX_SAMPLES`` latency samples."""
        ...

    def delivery_totals(self) -> dict[str, DeliveryTotals]:
        """Per sink that ever had a delivery: delivered, pending, retrying, dead-lettered,
        the earliest due time in its outbox and the last acknowledgement."""
        ...

    def delivery_states(
        self, event_ids: Sequence[str], now: float
    ) -> dict[str, dict[str, DeliveryState]]:
        """Where each event stands at each sink: still in the outbox (pending or
        retrying), or delivered (while its receipt is kept). Events with neither are
        left out."""
        ...

    def latency_samples(self, feed_ids: Sequence[str]) -> dict[str, list[tuple[float, float]]]:
        """Each feed's kept (published, latency) samples, newest first."""
        ...

    def feed_backlog(self, now: float) -> FeedBacklog:
        """How many feeds are due and unclaimed at ``now``, and the earliest due time."""
        ...

    # -- task guard --------------------------------------------------------------------
    def task_started(self, task_id: str) -> int:
        """Count one more start of this task message; returns the count so far."""
        ...

    def task_finished(self, task_id: str) -> None: ...

    # -- housekeeping ------------------------------------------------------------------
    def prune(self, now: float) -> int:
        """Forget what has outlived its retention; returns how many records went."""
        ...

    def ping(self) -> None: ...

    def close(self) -> None: ...


def open_store(settings: Settings) -> Store:
    """The store for this mode: Redis when a Redis URL is configured, SQLite otherwise."""
    if settings.store.redis_url:
        from worker.adapters.store.redis import RedisStore

        return RedisStore.from_url(
            settings.store.redis_url,
            prefix=settings.store.prefix,
            seen_ttl=settings.store.seen_ttl_days * 86400,
            index_ttl=settings.dedupe.window_days * 86400,
            event_ttl=settings.store.history_days * 86400,
            receipt_ttl=settings.store.receipt_days * 86400,
        )
    from worker.adapters.store.sqlite import SqliteStore

    return SqliteStore(
        settings.data_dir / "state.db",
        seen_ttl=settings.store.seen_ttl_days * 86400,
        index_ttl=settings.dedupe.window_days * 86400,
        event_ttl=settings.store.history_days * 86400,
        receipt_ttl=settings.store.receipt_days * 86400,
    )
