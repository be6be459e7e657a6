"""The PostgreSQL sink against the real server: its own schema, upserts, bad rows alone."""

from __future__ import annotations

import json
import multiprocessing
from typing import Any

import psycopg
import pytest

from tests.schemas import assert_valid_event, real_events
from worker.adapters.sinks.postgres import LATEST, MIGRATIONS, PostgresSink, migrate


def rows(dsn: str, table: str) -> list[dict[str, Any]]:
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        cur.execute(f"SELECT * FROM {table} ORDER BY event_id")
        names = [d.name for d in cur.description or ()]
        return [dict(zip(names, r, strict=True)) for r in cur.fetchall()]


def versions(dsn: str, table: str) -> list[int]:
    with psycopg.connect(dsn) as conn:
        got = conn.execute(
            "SELECT version FROM syndicate_migrations WHERE table_name = %s ORDER BY version",
            (table,),
        ).fetchall()
    return [v for (v,) in got]


def test_first_delivery_creates_the_schema_and_writes_valid_events(postgres_dsn, pg_table):
    """A fresh database gets the table at the latest version; each row holds a
    schema-valid event keyed on (article_id, revision)."""
    events = real_events()
    sink = PostgresSink("pg", postgres_dsn, table=pg_table)
    report = sink.deliver(events)
    sink.close()
    assert sorted(report.delivered) == sorted(e for e, _ in events)
    assert report.duplicates == 0 and not report.retry and not report.rejected
    assert versions(postgres_dsn, pg_table) == [v for v, _, _ in MIGRATIONS] == [1, 2]
    stored = rows(postgres_dsn, pg_table)
    assert [r["event_id"] for r in stored] == sorted(e for e, _ in events)
    for row in stored:
        doc = assert_valid_event(row["event"])
        assert (row["article_id"], row["revision"]) == (
            doc["data"]["article_id"],
            doc["data"]["revision"],
        )
        assert row["type"] == "article.created"
        assert row["received_at"] is not None


def test_redelivery_is_an_upsert_that_never_stores_an_id_twice(postgres_dsn, pg_table):
    """The same events again are duplicates; a changed body for the same revision
    replaces its row instead of adding one."""
    events = real_events()
    sink = PostgresSink("pg", postgres_dsn, table=pg_table)
    sink.deliver(events)
    again = sink.deliver(events[:2])
    assert again.duplicates == 2 and len(again.delivered) == 2
    event_id, body = events[0]
    doc = json.loads(body)
    doc["data"]["title"] = "Corrected headline"
    changed = sink.deliver([(event_id, json.dumps(doc).encode())])
    sink.close()
    assert changed.duplicates == 0 and changed.delivered == [event_id]
    stored = rows(postgres_dsn, pg_table)
    assert len(stored) == len(events)
    assert next(r for r in stored if r["event_id"] == event_id)["title"] == "Corrected headline"


def test_one_bad_row_is_rejected_and_the_rest_of_the_batch_is_stored(postgres_dsn, pg_table):
    """A row PostgreSQL refuses (a NUL character, an impossible date) is reported rejected
    with the reason; every other row of its batch is written."""
    events = real_events()
    bad_nul = (events[1][0], events[1][1].replace(b'"title":"', b'"title":"\\u0000', 1))
    doc = json.loads(events[2][1])
    doc["data"]["published"] = "2024-02-30T25:00:00Z"
    bad_date = (events[2][0], json.dumps(doc).encode())
    batch = [events[0], bad_nul, bad_date, *events[3:]]
    sink = PostgresSink("pg", postgres_dsn, table=pg_table)
    report = sink.deliver(batch)
    sink.close()
    assert set(report.rejected) == {bad_nul[0], bad_date[0]}
    assert all("postgres refused the row" in r for r in report.rejected.values())
    good = {e for e, _ in batch} - set(report.rejected)
    assert set(report.delivered) == good
    assert {r["event_id"] for r in rows(postgres_dsn, pg_table)} == good


def test_not_an_article_event_is_rejected_and_feed_events_are_skipped(postgres_dsn, pg_table):
    """A body that is not an article event is rejected; a feed event is acknowledged
    without a row (the table is for articles)."""
    sink = PostgresSink("pg", postgres_dsn, table=pg_table)
    feed_event = json.dumps(
        {"specversion": "1.0", "id": "f1.gone", "type": "feed.gone", "data": {"feed_id": "f1"}}
    ).encode()
    report = sink.deliver([("x.1", b"{not json"), ("f1.gone", feed_event)])
    sink.close()
    assert list(report.rejected) == ["x.1"] and report.delivered == ["f1.gone"]


def test_an_older_schema_is_migrated_in_order_keeping_its_rows(postgres_dsn, pg_table):
    """A table at version 1 with rows gets version 2 applied, once, data intact."""
    with psycopg.connect(postgres_dsn) as conn:
        first = MIGRATIONS[:1]
        import worker.adapters.sinks.postgres as pg

        saved = pg.MIGRATIONS[:]
        pg.MIGRATIONS[:] = first
        try:
            assert migrate(conn, pg_table) == [1]
        finally:
            pg.MIGRATIONS[:] = saved
        event_id, body = real_events()[0]
        data = json.loads(body)["data"]
        conn.execute(
            f"INSERT INTO {pg_table} (article_id, revision, event_id, type, source, "
            "detected_at, event) VALUES (%s, %s, %s, 'article.created', 's', now(), %s)",
            (data["article_id"], 1, event_id, body.decode()),
        )
        conn.commit()
        assert migrate(conn, pg_table) == [2]
        assert migrate(conn, pg_table) == []
    assert versions(postgres_dsn, pg_table) == [1, 2] and LATEST == 2
    (row,) = rows(postgres_dsn, pg_table)
    assert row["event_id"] == event_id and row["cluster_id"] is None


def _migrate_in_process(dsn: str, table: str) -> None:
    with psycopg.connect(dsn) as conn:
        migrate(conn, table)


def test_workers_starting_together_migrate_once(postgres_dsn, pg_table):
    """Four processes migrating a fresh database at once apply each version exactly once."""
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_migrate_in_process, args=(postgres_dsn, pg_table)) for _ in range(4)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert versions(postgres_dsn, pg_table) == [1, 2]


def test_unreachable_database_asks_for_a_retry():
    """A sink that cannot connect reports every event for retry instead of raising."""
    sink = PostgresSink("pg", "host=127.0.0.1 port=1 user=x dbname=x", table="t", connect_timeout=1)
    events = real_events()[:2]
    report = sink.deliver(events)
    assert report.delivered == [] and set(report.retry) == {e for e, _ in events}
    assert all(r.startswith("postgres: OperationalError") for r, _ in report.retry.values())


@pytest.mark.parametrize("table", ["public.{t}"])
def test_schema_qualified_table_names_work(postgres_dsn, pg_table, table):
    """A schema-qualified table name is created and written like a bare one."""
    sink = PostgresSink("pg", postgres_dsn, table=table.format(t=pg_table))
    assert len(sink.deliver(real_events()[:1]).delivered) == 1
    sink.close()
    assert len(rows(postgres_dsn, pg_table)) == 1
