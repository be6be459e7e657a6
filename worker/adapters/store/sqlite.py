"""The embedded store: one SQLite file in WAL mode, shared by the processes of one machine.

Every process and thread opens its own connection (a connection must not cross a fork
or a thread); writers
serialise on SQLite's lock with ``BEGIN IMMEDIATE`` and a generous busy timeout.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import sqlite3
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from worker.adapters.sqlite_conn import ThreadConnections
from worker.adapters.store.base import History, NearCandidates, ParagraphEntry
from worker.adapters.store.records import pack_fingerprint, unpack_fingerprint
from worker.core.delivery_stats import (
    MAX_SAMPLES,
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

SCHEMA = """
CREATE TABLE IF NOT EXISTS feeds (
    feed_id TEXT PRIMARY KEY,
    origin  TEXT NOT NULL,
    spec    TEXT NOT NULL,
    state   TEXT,
    due_at  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS feeds_due ON feeds (due_at);
CREATE TABLE IF NOT EXISTS seen (
    article_id   TEXT PRIMARY KEY,
    revision     INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    last_seen    REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS events (
    event_id   TEXT PRIMARY KEY,
    body       BLOB NOT NULL,
    created_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS events_created ON events (created_at, event_id);
CREATE TABLE IF NOT EXISTS deliveries (
    sink     TEXT NOT NULL,
    event_id TEXT NOT NULL,
    due_at   REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    first_failed_at REAL,
    last_error TEXT,
    PRIMARY KEY (sink, event_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (sink, due_at);
CREATE TABLE IF NOT EXISTS dead_letters (
    sink     TEXT NOT NULL,
    event_id TEXT NOT NULL,
    dead_at  REAL NOT NULL,
    attempts INTEGER NOT NULL,
    first_failed_at REAL,
    error    TEXT NOT NULL,
    PRIMARY KEY (sink, event_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS dead_letters_at ON dead_letters (dead_at);
CREATE TABLE IF NOT EXISTS task_starts (
    task_id    TEXT PRIMARY KEY,
    starts     INTEGER NOT NULL,
    first_seen REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS seen_last ON seen (last_seen);
CREATE TABLE IF NOT EXISTS paragraphs (
    source       TEXT NOT NULL,
    article_id   TEXT NOT NULL,
    added_at     REAL NOT NULL,
    fingerprints TEXT NOT NULL,
    PRIMARY KEY (source, article_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS paragraphs_recent ON paragraphs (source, added_at);
CREATE TABLE IF NOT EXISTS aliases (
    alias      TEXT PRIMARY KEY,
    article_id TEXT NOT NULL,
    last_seen  REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS aliases_last ON aliases (last_seen);
CREATE TABLE IF NOT EXISTS neardup (
    band       TEXT NOT NULL,
    article_id TEXT NOT NULL,
    filed_at   REAL NOT NULL,
    PRIMARY KEY (band, article_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS neardup_filed ON neardup (filed_at);
CREATE TABLE IF NOT EXISTS feed_identity (
    feed_id TEXT PRIMARY KEY,
    doc     TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS documents (
    key     TEXT PRIMARY KEY,
    body    BLOB NOT NULL,
    expires REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS documents_expires ON documents (expires);
CREATE TABLE IF NOT EXISTS heartbeats (
    name TEXT PRIMARY KEY,
    at   REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sink_totals (
    sink      TEXT PRIMARY KEY,
    delivered INTEGER NOT NULL,
    last_at   REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS receipts (
    event_id     TEXT NOT NULL,
    sink         TEXT NOT NULL,
    delivered_at REAL NOT NULL,
    PRIMARY KEY (event_id, sink)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS receipts_at ON receipts (delivered_at);
CREATE TABLE IF NOT EXISTS latency (
    feed_id   TEXT NOT NULL,
    published REAL NOT NULL,
    latency   REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS latency_feed ON latency (feed_id);
"""

# Columns added after a table first shipped: (table, column, declaration).
# Columns added after the first release: (table, column, declaration). An older
# state.db gets them when it is opened.
MIGRATIONS = (
    ("seen", "fingerprint", "BLOB"),
    ("deliveries", "first_failed_at", "REAL"),
    ("deliveries", "last_error", "TEXT"),
)

# At most this many articles per band in a lookup (the newest), like the Redis store.
BUCKET_CAP = 8

# SQLite's default limit on host parameters is 32766; stay far below it.
CHUNK = 500


class SqliteStore:
    def __init__(
        self,
        path: Path,
        *,
        seen_ttl: float,
        event_ttl: float = 7 * 86400,
        index_ttl: float = 30 * 86400,
        receipt_ttl: float = 7 * 86400,
    ) -> None:
        self.path = Path(path)
        self.seen_ttl = seen_ttl
        self.event_ttl = event_ttl
        self.index_ttl = index_ttl
        self.receipt_ttl = receipt_ttl
        self._connections = ThreadConnections(self.path, SCHEMA, _migrate)

    # -- plumbing ----------------------------------------------------------------------
    @property
    def conn(self) -> sqlite3.Connection:
        """This thread's connection (one per thread and process, opened on first use)."""
        return self._connections.get()

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def ping(self) -> None:
        self.conn.execute("SELECT 1").fetchone()

    def close(self) -> None:
        self._connections.close()

    # -- feeds -------------------------------------------------------------------------
    def sync_feeds(self, specs: Sequence[FeedSpec], now: float) -> tuple[int, int]:
        wanted = {s.feed_id: s for s in specs}
        with self._tx() as c:
            rows = c.execute("SELECT feed_id, spec FROM feeds WHERE origin = 'config'").fetchall()
            have = {fid: spec for fid, spec in rows}
            removed = [fid for fid in have if fid not in wanted]
            c.executemany("DELETE FROM feeds WHERE feed_id = ?", [(f,) for f in removed])
            added = 0
            for fid, spec in wanted.items():
                doc = json.dumps(spec.to_dict())
                if fid not in have:
                    cur = c.execute(
                        "INSERT OR IGNORE INTO feeds (feed_id, origin, spec, due_at) "
                        "VALUES (?, 'config', ?, ?)",
                        (fid, doc, now),
                    )
                    added += cur.rowcount
                elif have[fid] != doc:
                    c.execute("UPDATE feeds SET spec = ? WHERE feed_id = ?", (doc, fid))
        return added, len(removed)

    def add_feed(self, spec: FeedSpec, now: float) -> bool:
        with self._tx() as c:
            cur = c.execute(
                "INSERT OR IGNORE INTO feeds (feed_id, origin, spec, due_at) VALUES (?, ?, ?, ?)",
                (spec.feed_id, spec.origin, json.dumps(spec.to_dict()), now),
            )
            return cur.rowcount == 1

    def add_feeds(self, specs: Sequence[FeedSpec], now: float) -> list[str]:
        added: list[str] = []
        with self._tx() as c:
            for spec in specs:
                cur = c.execute(
                    "INSERT OR IGNORE INTO feeds (feed_id, origin, spec, due_at) "
                    "VALUES (?, ?, ?, ?)",
                    (spec.feed_id, spec.origin, json.dumps(spec.to_dict()), now),
                )
                if cur.rowcount == 1:
                    added.append(spec.feed_id)
        return added

    def remove_feed(self, feed_id: str) -> bool:
        with self._tx() as c:
            return c.execute("DELETE FROM feeds WHERE feed_id = ?", (feed_id,)).rowcount == 1

    def feed_specs(self, feed_ids: Sequence[str] | None = None) -> dict[str, FeedSpec]:
        if feed_ids is None:
            rows = self.conn.execute("SELECT spec FROM feeds").fetchall()
        else:
            rows = []
            for part in _chunks(feed_ids):
                rows += self.conn.execute(
                    f"SELECT spec FROM feeds WHERE feed_id IN ({_marks(part)})", part
                ).fetchall()
        specs = (FeedSpec.from_dict(json.loads(r[0])) for r in rows)
        return {s.feed_id: s for s in specs}

    def claim_due_feeds(self, now: float, limit: int, lease: float) -> list[str]:
        with self._tx() as c:
            rows = c.execute(
                "SELECT feed_id FROM feeds WHERE due_at <= ? ORDER BY due_at LIMIT ?",
                (now, limit),
            ).fetchall()
            ids = [r[0] for r in rows]
            c.executemany(
                "UPDATE feeds SET due_at = ? WHERE feed_id = ?", [(now + lease, f) for f in ids]
            )
        return ids

    def load_states(self, feed_ids: Sequence[str]) -> dict[str, FeedState]:
        return {fid: state for fid, (_, state) in self.load_feeds(feed_ids).items()}

    def load_feeds(self, feed_ids: Sequence[str]) -> dict[str, tuple[FeedSpec, FeedState]]:
        out: dict[str, tuple[FeedSpec, FeedState]] = {}
        for part in _chunks(feed_ids):
            rows = self.conn.execute(
                f"SELECT feed_id, spec, state FROM feeds WHERE feed_id IN ({_marks(part)})", part
            ).fetchall()
            for fid, spec, state in rows:
                doc = json.loads(spec)
                out[fid] = (
                    FeedSpec.from_dict(doc),
                    FeedState.from_dict(json.loads(state))
                    if state
                    else FeedState(feed_id=fid, url=doc["url"]),
                )
        return out

    def save_states(self, states: Sequence[FeedState]) -> None:
        with self._tx() as c:
            c.executemany(
                "UPDATE feeds SET state = ?, due_at = ? WHERE feed_id = ?",
                [(json.dumps(s.to_dict()), s.next_poll_at, s.feed_id) for s in states],
            )

    # -- articles ----------------------------------------------------------------------
    def seen(self, article_ids: Sequence[str]) -> dict[str, SeenRecord]:
        out: dict[str, SeenRecord] = {}
        for part in _chunks(article_ids):
            rows = self.conn.execute(
                f"SELECT article_id, revision, content_hash, fingerprint FROM seen "
                f"WHERE article_id IN ({_marks(part)})",
                part,
            ).fetchall()
            out.update({r[0]: unpack_fingerprint(r[0], r[1], r[2], r[3] or b"") for r in rows})
        return out

    def lookup_articles(self, key_ids: Sequence[str]) -> dict[str, SeenRecord]:
        found = self.seen(key_ids)
        aliased: dict[str, str] = {}
        for part in _chunks([k for k in key_ids if k not in found]):
            rows = self.conn.execute(
                f"SELECT alias, article_id FROM aliases WHERE alias IN ({_marks(part)})", part
            ).fetchall()
            aliased.update(dict(rows))
        records = self.seen(sorted(set(aliased.values())))
        found.update({k: records[t] for k, t in aliased.items() if t in records})
        return found

    def touch_seen(self, article_ids: Sequence[str], now: float) -> None:
        if not article_ids:
            return
        with self._tx() as c:
            c.executemany(
                "UPDATE seen SET last_seen = ? WHERE article_id = ?",
                [(now, a) for a in article_ids],
            )
            c.executemany(
                "UPDATE aliases SET last_seen = ? WHERE alias = ?",
                [(now, a) for a in article_ids],
            )

    def commit_articles(
        self, commits: Sequence[ArticleCommit], now: float, lease: float
    ) -> list[str]:
        accepted: list[str] = []
        with self._tx() as c:
            for item in commits:
                row = c.execute(
                    "SELECT revision FROM seen WHERE article_id = ?", (item.seen.article_id,)
                ).fetchone()
                if (row[0] if row else 0) != item.expected_revision:
                    continue
                c.execute(
                    "INSERT INTO seen (article_id, revision, content_hash, last_seen, "
                    "fingerprint) VALUES (?, ?, ?, ?, ?) ON CONFLICT (article_id) DO UPDATE "
                    "SET revision = excluded.revision, content_hash = excluded.content_hash, "
                    "last_seen = excluded.last_seen, fingerprint = excluded.fingerprint",
                    (
                        item.seen.article_id,
                        item.seen.revision,
                        item.seen.content_hash,
                        now,
                        pack_fingerprint(item.seen),
                    ),
                )
                c.execute(
                    "INSERT OR IGNORE INTO events (event_id, body, created_at) VALUES (?, ?, ?)",
                    (item.event.event_id, item.event.body, now),
                )
                c.executemany(
                    "INSERT OR IGNORE INTO deliveries (sink, event_id, due_at) VALUES (?, ?, ?)",
                    [(sink, item.event.event_id, now + lease) for sink in item.sinks],
                )
                # An alias past its time names nothing: it may be taken again.
                c.executemany(
                    "INSERT INTO aliases (alias, article_id, last_seen) VALUES (?, ?, ?) "
                    "ON CONFLICT (alias) DO UPDATE SET article_id = excluded.article_id, "
                    "last_seen = excluded.last_seen WHERE aliases.last_seen < ?",
                    [(a, item.seen.article_id, now, now - self.seen_ttl) for a in item.aliases],
                )
                c.executemany(
                    "INSERT OR IGNORE INTO neardup (band, article_id, filed_at) VALUES (?, ?, ?)",
                    [(band, item.seen.article_id, now) for band in item.bands],
                )
                accepted.append(item.event.event_id)
        return accepted

    # -- boilerplate history -----------------------------------------------------------
    def paragraph_histories(self, sources: Sequence[str], limit: int) -> dict[str, History]:
        out: dict[str, History] = {}
        for source in sources:
            rows = self.conn.execute(
                "SELECT article_id, fingerprints FROM paragraphs WHERE source = ? "
                "ORDER BY added_at DESC, article_id DESC LIMIT ?",
                (source, max(0, limit)),
            ).fetchall()
            out[source] = [(r[0], tuple(json.loads(r[1]))) for r in rows]
        return out

    def remember_paragraphs(self, entries: Sequence[ParagraphEntry], now: float, keep: int) -> None:
        if not entries:
            return
        with self._tx() as c:
            c.executemany(
                "INSERT OR IGNORE INTO paragraphs (source, article_id, added_at, fingerprints) "
                "VALUES (?, ?, ?, ?)",
                [(src, aid, now, json.dumps(list(fps))) for src, aid, fps in entries],
            )
            c.executemany(
                "DELETE FROM paragraphs WHERE source = ? AND article_id NOT IN ("
                "SELECT article_id FROM paragraphs WHERE source = ? "
                "ORDER BY added_at DESC, article_id DESC LIMIT ?)",
                [(src, src, keep) for src in dict.fromkeys(e[0] for e in entries)],
            )

    def stash_documents(self, bodies: Sequence[bytes], now: float, ttl: float) -> list[str]:
        keys = [uuid.uuid4().hex for _ in bodies]
        if keys:
            with self._tx() as c:
                c.executemany(
                    "INSERT INTO documents (key, body, expires) VALUES (?, ?, ?)",
                    [(k, b, now + ttl) for k, b in zip(keys, bodies, strict=True)],
                )
        return keys

    def take_documents(self, keys: Sequence[str], now: float) -> list[bytes | None]:
        found: dict[str, bytes] = {}
        for part in _chunks(keys):
            rows = self.conn.execute(
                f"SELECT key, body FROM documents WHERE key IN ({_marks(part)}) AND expires > ?",
                [*part, now],
            ).fetchall()
            found.update({r[0]: bytes(r[1]) for r in rows})
        return [found.get(k) for k in keys]

    def drop_documents(self, keys: Sequence[str]) -> None:
        if not keys:
            return
        with self._tx() as c:
            for part in _chunks(keys):
                c.execute(f"DELETE FROM documents WHERE key IN ({_marks(part)})", part)

    def near_duplicates(self, bands: Sequence[str], now: float) -> list[str]:
        filed = self._filed(bands, now)
        return list(dict.fromkeys(a for ids in filed.values() for a in ids))

    def near_duplicate_candidates(self, bands: Sequence[str], now: float) -> NearCandidates:
        filed = self._filed(bands, now)
        return filed, self.seen(list(dict.fromkeys(a for ids in filed.values() for a in ids)))

    def _filed(self, bands: Sequence[str], now: float) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for band in bands:
            rows = self.conn.execute(
                "SELECT article_id FROM (SELECT article_id, filed_at FROM neardup "
                "WHERE band = ? AND filed_at >= ? ORDER BY filed_at DESC LIMIT ?) "
                "ORDER BY filed_at",
                (band, now - self.index_ttl, BUCKET_CAP),
            ).fetchall()
            if rows:
                out[band] = [r[0] for r in rows]
        return out

    # -- identity statistics -------------------------------------------------------------
    def load_feed_identities(self, feed_ids: Sequence[str]) -> dict[str, FeedIdentity]:
        out: dict[str, FeedIdentity] = {}
        for part in _chunks(feed_ids):
            rows = self.conn.execute(
                f"SELECT feed_id, doc FROM feed_identity WHERE feed_id IN ({_marks(part)})",
                part,
            ).fetchall()
            out.update({r[0]: FeedIdentity.from_dict(json.loads(r[1])) for r in rows})
        return out

    def save_feed_identities(self, profiles: Sequence[FeedIdentity]) -> None:
        if not profiles:
            return
        with self._tx() as c:
            c.executemany(
                "INSERT INTO feed_identity (feed_id, doc) VALUES (?, ?) "
                "ON CONFLICT (feed_id) DO UPDATE SET doc = excluded.doc",
                [(p.feed_id, json.dumps(p.to_dict(), separators=(",", ":"))) for p in profiles],
            )

    # -- outbox ------------------------------------------------------------------------
    def enqueue_events(
        self, events: Sequence[Event], sinks: Sequence[str], now: float, lease: float
    ) -> list[str]:
        queued: list[str] = []
        with self._tx() as c:
            for event in events:
                cur = c.execute(
                    "INSERT OR IGNORE INTO events (event_id, body, created_at) VALUES (?, ?, ?)",
                    (event.event_id, event.body, now),
                )
                if cur.rowcount != 1:
                    continue
                c.executemany(
                    "INSERT OR IGNORE INTO deliveries (sink, event_id, due_at) VALUES (?, ?, ?)",
                    [(sink, event.event_id, now + lease) for sink in sinks],
                )
                queued.append(event.event_id)
        return queued

    def claim_deliveries(self, sink: str, now: float, limit: int, lease: float) -> list[str]:
        with self._tx() as c:
            rows = c.execute(
                "SELECT event_id FROM deliveries WHERE sink = ? AND due_at <= ? "
                "ORDER BY due_at LIMIT ?",
                (sink, now, limit),
            ).fetchall()
            ids = [r[0] for r in rows]
            c.executemany(
                "UPDATE deliveries SET due_at = ? WHERE sink = ? AND event_id = ?",
                [(now + lease, sink, e) for e in ids],
            )
        return ids

    def pending_events(self, sink: str, event_ids: Sequence[str]) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for part in _chunks(event_ids):
            rows = self.conn.execute(
                f"SELECT d.event_id, e.body FROM deliveries d JOIN events e USING (event_id) "
                f"WHERE d.sink = ? AND d.event_id IN ({_marks(part)})",
                [sink, *part],
            ).fetchall()
            out.update({r[0]: bytes(r[1]) for r in rows})
        return out

    def ack_deliveries(self, sink: str, event_ids: Sequence[str]) -> None:
        with self._tx() as c:
            c.executemany(
                "DELETE FROM deliveries WHERE sink = ? AND event_id = ?",
                [(sink, e) for e in event_ids],
            )

    def retry_deliveries(
        self,
        sink: str,
        event_ids: Sequence[str],
        now: float,
        delays: Sequence[float],
        errors: Sequence[str] | None = None,
    ) -> None:
        errs = list(errors) if errors is not None else [None] * len(event_ids)
        with self._tx() as c:
            c.executemany(
                "UPDATE deliveries SET due_at = ?, attempts = attempts + 1, "
                "first_failed_at = coalesce(first_failed_at, ?), "
                "last_error = coalesce(?, last_error) WHERE sink = ? AND event_id = ?",
                [
                    (now + d, now, err, sink, e)
                    for e, d, err in zip(event_ids, delays, errs, strict=True)
                ],
            )

    def delivery_attempts(self, sink: str, event_ids: Sequence[str]) -> dict[str, int]:
        return {e: h.attempts for e, h in self.delivery_failures(sink, event_ids).items()}

    def delivery_failures(self, sink: str, event_ids: Sequence[str]) -> dict[str, FailureHistory]:
        out: dict[str, FailureHistory] = {}
        for part in _chunks(event_ids):
            rows = self.conn.execute(
                f"SELECT event_id, attempts, first_failed_at, last_error FROM deliveries "
                f"WHERE sink = ? AND event_id IN ({_marks(part)})",
                [sink, *part],
            ).fetchall()
            out.update({r[0]: FailureHistory(r[1], r[2], r[3]) for r in rows})
        return out

    # -- dead letters ------------------------------------------------------------------
    def dead_letter(self, sink: str, failed: Sequence[tuple[str, str]], now: float) -> int:
        moved = 0
        with self._tx() as c:
            for event_id, reason in failed:
                row = c.execute(
                    "DELETE FROM deliveries WHERE sink = ? AND event_id = ? "
                    "RETURNING attempts, first_failed_at",
                    (sink, event_id),
                ).fetchone()
                if row is None:
                    continue
                c.execute(
                    "INSERT OR REPLACE INTO dead_letters "
                    "(sink, event_id, dead_at, attempts, first_failed_at, error) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (
                        sink,
                        event_id,
                        now,
                        row[0] + 1,
                        row[1] if row[1] is not None else now,
                        reason,
                    ),
                )
                moved += 1
        return moved

    def dead_letters(self, sink: str | None = None, limit: int = 100) -> list[DeadLetter]:
        where, args = ("WHERE sink = ?", [sink]) if sink is not None else ("", [])
        rows = self.conn.execute(
            "SELECT sink, event_id, dead_at, attempts, first_failed_at, error "
            f"FROM dead_letters {where} ORDER BY dead_at, sink, event_id LIMIT ?",
            [*args, limit],
        ).fetchall()
        return [DeadLetter(*r) for r in rows]

    def dead_letter_counts(self) -> dict[str, int]:
        rows = self.conn.execute("SELECT sink, count(*) FROM dead_letters GROUP BY sink").fetchall()
        return dict(rows)

    def replay_dead_letters(
        self, sink: str | None, event_ids: Sequence[str] | None, now: float
    ) -> int:
        conds, args = [], []
        if sink is not None:
            conds.append("sink = ?")
            args.append(sink)
        with self._tx() as c:
            if event_ids is None:
                where = f"WHERE {' AND '.join(conds)}" if conds else ""
                rows = c.execute(
                    f"SELECT sink, event_id FROM dead_letters {where}", args
                ).fetchall()
            else:
                rows = []
                for part in _chunks(event_ids):
                    where = " AND ".join([*conds, f"event_id IN ({_marks(part)})"])
                    rows += c.execute(
                        f"SELECT sink, event_id FROM dead_letters WHERE {where}", [*args, *part]
                    ).fetchall()
            c.executemany("DELETE FROM dead_letters WHERE sink = ? AND event_id = ?", rows)
            c.executemany(
                "INSERT OR IGNORE INTO deliveries (sink, event_id, due_at) VALUES (?, ?, ?)",
                [(s, e, now) for s, e in rows],
            )
        return len(rows)

    # -- history (replay) --------------------------------------------------------------
    def history_count(self, since: float, until: float) -> int:
        row = self.conn.execute(
            "SELECT count(*) FROM events WHERE created_at >= ? AND created_at <= ?",
            (since, until),
        ).fetchone()
        return int(row[0])

    def history_page(
        self, since: float, until: float, cursor: str | None, limit: int
    ) -> tuple[list[str], str | None]:
        after_at, after_id = since, ""
        if cursor:
            at, _, after_id = cursor.partition("|")
            after_at = float(at)
        rows = self.conn.execute(
            "SELECT created_at, event_id FROM events "
            "WHERE created_at >= ? AND created_at <= ? "
            "AND (created_at > ? OR (created_at = ? AND event_id > ?)) "
            "ORDER BY created_at, event_id LIMIT ?",
            (since, until, after_at, after_at, after_id, limit),
        ).fetchall()
        if len(rows) < limit:
            return [r[1] for r in rows], None
        return [r[1] for r in rows], f"{rows[-1][0]!r}|{rows[-1][1]}"

    def requeue(self, sink: str, event_ids: Sequence[str], now: float) -> int:
        queued = 0
        with self._tx() as c:
            for part in _chunks(event_ids):
                have = [
                    r[0]
                    for r in c.execute(
                        f"SELECT event_id FROM events WHERE event_id IN ({_marks(part)})", part
                    ).fetchall()
                ]
                c.executemany(
                    "DELETE FROM dead_letters WHERE sink = ? AND event_id = ?",
                    [(sink, e) for e in have],
                )
                c.executemany(
                    "INSERT INTO deliveries (sink, event_id, due_at) VALUES (?, ?, ?) "
                    "ON CONFLICT (sink, event_id) DO UPDATE SET due_at = min(due_at, ?)",
                    [(sink, e, now, now) for e in have],
                )
                queued += len(have)
        return queued

    def pending_counts(self) -> dict[str, int]:
        rows = self.conn.execute("SELECT sink, count(*) FROM deliveries GROUP BY sink").fetchall()
        return dict(rows)

    # -- operations: heartbeats, delivery receipts and totals (stats, health, trace) ----
    def heartbeat(self, name: str, now: float) -> None:
        with self._tx() as c:
            c.execute(
                "INSERT INTO heartbeats (name, at) VALUES (?, ?) "
                "ON CONFLICT (name) DO UPDATE SET at = max(at, excluded.at)",
                (name, now),
            )

    def heartbeats(self) -> dict[str, float]:
        return dict(self.conn.execute("SELECT name, at FROM heartbeats").fetchall())

    def record_deliveries(
        self,
        sink: str,
        event_ids: Sequence[str],
        samples: Sequence[LatencySample],
        now: float,
        *,
        duplicates: int = 0,
    ) -> None:
        if not event_ids:
            return
        with self._tx() as c:
            c.execute(
                "INSERT INTO sink_totals (sink, delivered, last_at) VALUES (?, ?, ?) "
                "ON CONFLICT (sink) DO UPDATE SET delivered = delivered + excluded.delivered, "
                "last_at = max(last_at, excluded.last_at)",
                (sink, max(0, len(event_ids) - duplicates), now),
            )
            c.executemany(
                "INSERT OR REPLACE INTO receipts (event_id, sink, delivered_at) VALUES (?, ?, ?)",
                [(e, sink, now) for e in event_ids],
            )
            c.execute("DELETE FROM receipts WHERE delivered_at < ?", (now - self.receipt_ttl,))
            c.executemany(
                "INSERT INTO latency (feed_id, published, latency) VALUES (?, ?, ?)",
                [(s.feed_id, s.published, s.latency) for s in samples],
            )
            c.executemany(
                "DELETE FROM latency WHERE feed_id = ? AND rowid NOT IN (SELECT rowid FROM "
                "latency WHERE feed_id = ? ORDER BY rowid DESC LIMIT ?)",
                [(f, f, MAX_SAMPLES) for f in {s.feed_id for s in samples}],
            )

    def delivery_totals(self) -> dict[str, DeliveryTotals]:
        c = self.conn
        out: dict[str, DeliveryTotals] = {}
        for sink, delivered, last_at in c.execute(
            "SELECT sink, delivered, last_at FROM sink_totals"
        ).fetchall():
            out[sink] = DeliveryTotals(delivered=delivered, last_delivered_at=last_at)
        for sink, pending, retrying, oldest in c.execute(
            "SELECT sink, count(*), sum(attempts > 0), min(due_at) FROM deliveries GROUP BY sink"
        ).fetchall():
            base = out.get(sink, DeliveryTotals())
            out[sink] = DeliveryTotals(
                delivered=base.delivered,
                pending=pending,
                retrying=int(retrying or 0),
                dead_lettered=base.dead_lettered,
                oldest_due=oldest,
                last_delivered_at=base.last_delivered_at,
            )
        for sink, n in self.dead_letter_counts().items():
            out[sink] = dataclasses.replace(out.get(sink, DeliveryTotals()), dead_lettered=n)
        return out

    def delivery_states(
        self, event_ids: Sequence[str], now: float
    ) -> dict[str, dict[str, DeliveryState]]:
        out: dict[str, dict[str, DeliveryState]] = {}
        for part in _chunks(event_ids):
            for event_id, sink, at in self.conn.execute(
                f"SELECT event_id, sink, delivered_at FROM receipts "
                f"WHERE event_id IN ({_marks(part)})",
                part,
            ).fetchall():
                out.setdefault(event_id, {})[sink] = DeliveryState("delivered", at)
            for event_id, sink, due, attempts in self.conn.execute(
                f"SELECT event_id, sink, due_at, attempts FROM deliveries "
                f"WHERE event_id IN ({_marks(part)})",
                part,
            ).fetchall():
                out.setdefault(event_id, {})[sink] = DeliveryState(
                    "retrying" if attempts else "pending", due, attempts
                )
            for event_id, sink, dead_at, attempts in self.conn.execute(
                f"SELECT event_id, sink, dead_at, attempts FROM dead_letters "
                f"WHERE event_id IN ({_marks(part)})",
                part,
            ).fetchall():
                out.setdefault(event_id, {})[sink] = DeliveryState(
                    "dead_lettered", dead_at, attempts
                )
        return out

    def latency_samples(self, feed_ids: Sequence[str]) -> dict[str, list[tuple[float, float]]]:
        out: dict[str, list[tuple[float, float]]] = {}
        for part in _chunks(feed_ids):
            for feed_id, published, latency in self.conn.execute(
                f"SELECT feed_id, published, latency FROM latency "
                f"WHERE feed_id IN ({_marks(part)}) ORDER BY rowid DESC",
                part,
            ).fetchall():
                out.setdefault(feed_id, []).append((published, latency))
        return out

    def feed_backlog(self, now: float) -> FeedBacklog:
        due, oldest = self.conn.execute(
            "SELECT sum(due_at <= ?), min(due_at) FROM feeds", (now,)
        ).fetchone()
        return FeedBacklog(due=int(due or 0), oldest_due=oldest)

    # -- task guard --------------------------------------------------------------------
    def task_started(self, task_id: str) -> int:
        with self._tx() as c:
            row = c.execute(
                "INSERT INTO task_starts (task_id, starts, first_seen) VALUES (?, 1, ?) "
                "ON CONFLICT (task_id) DO UPDATE SET starts = starts + 1 RETURNING starts",
                (task_id, time.time()),
            ).fetchone()
        return int(row[0])

    def task_finished(self, task_id: str) -> None:
        with self._tx() as c:
            c.execute("DELETE FROM task_starts WHERE task_id = ?", (task_id,))

    # -- housekeeping ------------------------------------------------------------------
    def prune(self, now: float) -> int:
        with self._tx() as c:
            c.execute("DELETE FROM task_starts WHERE first_seen < ?", (now - 86400,))
            gone = c.execute(
                "DELETE FROM seen WHERE last_seen < ?", (now - self.seen_ttl,)
            ).rowcount
            gone += c.execute(
                "DELETE FROM paragraphs WHERE added_at < ?", (now - self.seen_ttl,)
            ).rowcount
            gone += c.execute(
                "DELETE FROM aliases WHERE last_seen < ?", (now - self.seen_ttl,)
            ).rowcount
            gone += c.execute(
                "DELETE FROM neardup WHERE filed_at < ?", (now - self.index_ttl,)
            ).rowcount
            gone += c.execute(
                "DELETE FROM feed_identity WHERE feed_id NOT IN (SELECT feed_id FROM feeds)"
            ).rowcount
            gone += c.execute("DELETE FROM documents WHERE expires <= ?", (now,)).rowcount
            gone += c.execute(
                "DELETE FROM receipts WHERE delivered_at < ?", (now - self.receipt_ttl,)
            ).rowcount
            gone += c.execute(
                "DELETE FROM latency WHERE feed_id NOT IN (SELECT feed_id FROM feeds)"
            ).rowcount
            gone += c.execute(
                "DELETE FROM events WHERE created_at < ? AND event_id NOT IN "
                "(SELECT event_id FROM deliveries) AND event_id NOT IN "
                "(SELECT event_id FROM dead_letters)",
                (now - self.event_ttl,),
            ).rowcount
        return gone


def _migrate(conn: sqlite3.Connection) -> None:
    for table, column, decl in MIGRATIONS:
        have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        if column not in have:
            # Two processes may race here; the loser's ALTER fails harmlessly.
            with contextlib.suppress(sqlite3.OperationalError):
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")


def _chunks(ids: Sequence[str]) -> Iterator[list[str]]:
    for i in range(0, len(ids), CHUNK):
        yield list(ids[i : i + CHUNK])


def _marks(part: Sequence[str]) -> str:
    return ",".join("?" * len(part))
