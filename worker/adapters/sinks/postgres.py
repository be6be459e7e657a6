"""Write article events to a PostgreSQL table, one row per (article_id, revision).

* **Upserts.** The primary key is ``(article_id, revision)``, so a redelivered event
  lands on its own row: an identical body changes nothing (and counts as a duplicate), a
  different body for the same revision replaces it. An event id is never stored twice.
* **Schema owned by the worker.** ``migrate`` applies the ordered ``MIGRATIONS`` that
  the database has not seen yet, each recorded in ``syndicate_migrations`` (table,
  version, description, applied_at), under an advisory lock so that workers starting
  together migrate once. It runs on a process's first delivery.
* **Batches that never fail silently.** A batch goes in as one ``executemany`` in one
  transaction. If the database refuses a row (a data error: a NUL character, an
  impossible date), the batch is rolled back and written again row by row, each in its
  own savepoint: the good rows are stored, each bad one is reported *rejected* with the
  database's reason, and so reaches the dead-letter list. Connection problems retry the
  whole batch.

Feed events (``feed.moved``, ``feed.gone``) carry no article; this sink acknowledges
them without writing.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Sequence
from typing import Any

import psycopg
from psycopg import sql

from worker.adapters.sinks.base import DeliveryReport
from worker.logging import get_logger

log = get_logger(__name__)

VERSION_TABLE = "syndicate_migrations"

# (version, description, statements). Append only; never edit an applied one.
MIGRATIONS: list[tuple[int, str, list[str]]] = [
    (
        1,
        "articles table keyed on (article_id, revision)",
        [
            """CREATE TABLE {table} (
                article_id  text        NOT NULL,
                revision    integer     NOT NULL CHECK (revision > 0),
                event_id    text        NOT NULL UNIQUE,
                type        text        NOT NULL,
                source      text        NOT NULL,
                detected_at timestamptz NOT NULL,
                title       text,
                url         text,
                published   timestamptz,
                event       jsonb       NOT NULL,
                received_at timestamptz NOT NULL DEFAULT now(),
                PRIMARY KEY (article_id, revision)
            )""",
        ],
    ),
    (
        2,
        "cluster_id column; index on detected_at for time-range reads",
        [
            "ALTER TABLE {table} ADD COLUMN cluster_id text",
            "CREATE INDEX {index_detected} ON {table} (detected_at)",
        ],
    ),
]
LATEST = MIGRATIONS[-1][0]

_COLUMNS = (
    "article_id",
    "revision",
    "event_id",
    "type",
    "source",
    "detected_at",
    "title",
    "url",
    "published",
    "cluster_id",
    "event",
)


class NotAnArticle(ValueError):
    pass


def _table_ident(table: str) -> sql.Identifier:
    return sql.Identifier(*table.split("."))


def migrate(conn: psycopg.Connection[Any], table: str) -> list[int]:
    """Bring ``table`` to the latest schema; returns the versions applied now."""
    bare = table.rsplit(".", maxsplit=1)[-1]
    names = {
        "table": _table_ident(table),
        "index_detected": sql.Identifier(f"{bare}_detected_at"),
    }
    applied: list[int] = []
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (f"syndicate:{table}",))
        conn.execute(
            sql.SQL(
                "CREATE TABLE IF NOT EXISTS {} (table_name text NOT NULL, "
                "version integer NOT NULL, description text NOT NULL, "
                "applied_at timestamptz NOT NULL DEFAULT now(), "
                "PRIMARY KEY (table_name, version))"
            ).format(sql.Identifier(VERSION_TABLE))
        )
        row = conn.execute(
            sql.SQL("SELECT coalesce(max(version), 0) FROM {} WHERE table_name = %s").format(
                sql.Identifier(VERSION_TABLE)
            ),
            (table,),
        ).fetchone()
        current = int(row[0]) if row else 0
        if current > LATEST:
            log.warning("sink.postgres_schema_newer", table=table, version=current, known=LATEST)
        for version, description, statements in MIGRATIONS:
            if version <= current:
                continue
            for statement in statements:
                conn.execute(sql.SQL(statement).format(**names))
            conn.execute(
                sql.SQL(
                    "INSERT INTO {} (table_name, version, description) VALUES (%s, %s, %s)"
                ).format(sql.Identifier(VERSION_TABLE)),
                (table, version, description),
            )
            applied.append(version)
    if applied:
        log.info("sink.postgres_migrated", table=table, versions=applied)
    return applied


def row_for(body: bytes) -> tuple[Any, ...]:
    """The column values of one article event; ``NotAnArticle`` for anything else."""
    try:
        doc = json.loads(body)
        data = doc["data"]
        return (
            data["article_id"],
            int(data["revision"]),
            doc["id"],
            doc["type"],
            doc["source"],
            doc["time"],
            data.get("title"),
            data.get("canonical_url") or data.get("url"),
            data.get("published"),
            data.get("cluster_id"),
            body.decode(),
        )
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as exc:
        raise NotAnArticle(f"not an article event: {type(exc).__name__}: {exc}") from exc


class PostgresSink:
    def __init__(self, name: str, dsn: str, *, table: str, connect_timeout: float = 10.0) -> None:
        self.name = name
        self.dsn = dsn
        self.table = table
        self.connect_timeout = connect_timeout
        self._conn: psycopg.Connection[Any] | None = None
        self._pid = 0
        cols = sql.SQL(", ").join(map(sql.Identifier, _COLUMNS))
        values = sql.SQL(", ").join(
            [sql.Placeholder()] * (len(_COLUMNS) - 1) + [sql.SQL("%s::jsonb")]
        )
        updates = sql.SQL(", ").join(
            sql.SQL("{0} = excluded.{0}").format(sql.Identifier(c))
            for c in _COLUMNS
            if c not in ("article_id", "revision")
        )
        self._upsert = sql.SQL(
            "INSERT INTO {t} ({cols}) VALUES ({values}) "
            "ON CONFLICT (article_id, revision) DO UPDATE SET {updates} "
            "WHERE {t}.event IS DISTINCT FROM excluded.event RETURNING event_id"
        ).format(t=_table_ident(table), cols=cols, values=values, updates=updates)

    def _connect(self) -> psycopg.Connection[Any]:
        if self._conn is None or self._pid != os.getpid() or self._conn.closed:
            conn = psycopg.connect(self.dsn, connect_timeout=max(1, int(self.connect_timeout)))
            self._conn, self._pid = conn, os.getpid()
            migrate(conn, self.table)
        return self._conn

    def deliver(self, events: Sequence[tuple[str, bytes]]) -> DeliveryReport:
        report = DeliveryReport()
        rows: list[tuple[str, tuple[Any, ...]]] = []
        for event_id, body in events:
            try:
                rows.append((event_id, row_for(body)))
            except NotAnArticle as exc:
                if _is_feed_event(body):  # nothing to store here
                    report.delivered.append(event_id)
                else:
                    report.rejected[event_id] = str(exc)
        if not rows:
            return report
        try:
            conn = self._connect()
            written = self._write_batch(conn, rows, report)
        except psycopg.Error as exc:
            self._drop_connection()
            reason = f"postgres: {type(exc).__name__}: {_first_line(exc)}"
            for event_id, _ in rows:
                report.retry[event_id] = (reason, None)
            return report
        for event_id, _ in rows:
            if event_id in report.rejected:
                continue
            report.delivered.append(event_id)
            if event_id not in written:
                report.duplicates += 1
        return report

    def _write_batch(
        self,
        conn: psycopg.Connection[Any],
        rows: list[tuple[str, tuple[Any, ...]]],
        report: DeliveryReport,
    ) -> set[str]:
        """Write rows; returns the event ids inserted or changed. Bad rows go to
        ``report.rejected``; a connection problem raises."""
        written: set[str] = set()
        try:
            with conn.transaction(), conn.cursor() as cur:
                cur.executemany(self._upsert, [r for _, r in rows], returning=True)
                while True:
                    for (event_id,) in cur.fetchall():
                        written.add(event_id)
                    if not cur.nextset():
                        break
            return written
        except (psycopg.DataError, psycopg.IntegrityError) as exc:
            log.warning(
                "sink.postgres_batch_refused",
                sink=self.name,
                rows=len(rows),
                error=_first_line(exc),
                fallback="row by row",
            )
        with conn.transaction(), conn.cursor() as cur:
            for event_id, row in rows:
                try:
                    with conn.transaction():  # a savepoint: one bad row stays alone
                        cur.execute(self._upsert, row)
                        if cur.fetchone() is not None:
                            written.add(event_id)
                except (psycopg.DataError, psycopg.IntegrityError) as exc:
                    report.rejected[event_id] = f"postgres refused the row: {_first_line(exc)}"
                    log.warning(
                        "sink.postgres_row_rejected",
                        sink=self.name,
                        event_id=event_id,
                        error=_first_line(exc),
                    )
        return written

    def _drop_connection(self) -> None:
        if self._conn is not None and self._pid == os.getpid():
            with contextlib.suppress(psycopg.Error):
                self._conn.close()
        self._conn = None

    def close(self) -> None:
        self._drop_connection()


def _is_feed_event(body: bytes) -> bool:
    try:
        doc = json.loads(body)
    except ValueError:
        return False
    return isinstance(doc, dict) and str(doc.get("type", "")).startswith("feed.")


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
