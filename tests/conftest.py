"""Shared fixtures: the real Redis, fresh stores, a feed server on 127.0.0.1."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from worker.adapters.store.redis import RedisStore
from worker.adapters.store.sqlite import SqliteStore
from worker.demo.server import FeedServer

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/13")
POSTGRES_DSN = os.environ.get(
    "TEST_POSTGRES_DSN", "host=127.0.0.1 port=5432 user=postgres dbname=test"
)


@pytest.fixture(scope="session")
def redis_url() -> str:
    """The real Redis the suite runs against; fail loudly (never skip) if it is down."""
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()
    except redis.RedisError as exc:
        pytest.exit(
            f"Redis is not reachable at {REDIS_URL} ({exc}). Start it (make test does, "
            "via scripts/ensure-redis.sh) or point TEST_REDIS_URL at one.",
            returncode=3,
        )
    return REDIS_URL


@pytest.fixture(scope="session")
def postgres_dsn() -> str:
    """The real PostgreSQL the sink tests write to; fail loudly (never skip) if it is down."""
    import psycopg

    try:
        psycopg.connect(POSTGRES_DSN, connect_timeout=3).close()
    except psycopg.Error as exc:
        pytest.exit(
            f"PostgreSQL is not reachable with {POSTGRES_DSN!r} ({exc}). Start it or point "
            "TEST_POSTGRES_DSN at one.",
            returncode=3,
        )
    return POSTGRES_DSN


@pytest.fixture
def pg_table(postgres_dsn: str) -> Iterator[str]:
    """A table name of this test's own; the table and its migration records are dropped
    afterwards."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:10]}"
    yield name
    with psycopg.connect(postgres_dsn, autocommit=True) as conn:
        conn.execute(f"DROP TABLE IF EXISTS {name}")
        if conn.execute("SELECT to_regclass('syndicate_migrations')").fetchone()[0]:
            conn.execute("DELETE FROM syndicate_migrations WHERE table_name = %s", (name,))


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(redis_url)
    yield client
    client.close()


@pytest.fixture
def prefix(redis_client: redis.Redis) -> Iterator[str]:
    """A key prefix of this test's own; its keys are deleted afterwards."""
    p = f"test-{uuid.uuid4().hex[:10]}"
    yield p
    keys = list(redis_client.scan_iter(match=f"{p}*", count=1000))
    if keys:
        redis_client.delete(*keys)


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqliteStore | RedisStore]:
    """Each contract test runs against both stores."""
    if request.param == "sqlite":
        s: SqliteStore | RedisStore = SqliteStore(tmp_path / "state.db", seen_ttl=3600)
    else:
        client = request.getfixturevalue("redis_client")
        s = RedisStore(client, prefix=request.getfixturevalue("prefix"), seen_ttl=3600)
    yield s
    s.close()


@pytest.fixture
def feed_server() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server
