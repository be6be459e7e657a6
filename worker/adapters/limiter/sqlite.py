"""The per-host limiter in the embedded SQLite file (the store's ``state.db``): the same
GCRA timestamp and leased slots as the Redis one, inside ``BEGIN IMMEDIATE`` so every
process of the machine sees one budget per host."""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Sequence
from pathlib import Path

from worker.adapters.limiter.base import Grant, HostBudget
from worker.adapters.sqlite_conn import ThreadConnections

SCHEMA = """
CREATE TABLE IF NOT EXISTS host_rate (
    host TEXT PRIMARY KEY,
    tat  REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS host_slots (
    token      TEXT PRIMARY KEY,
    host       TEXT NOT NULL,
    expires_at REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS host_slots_host ON host_slots (host, expires_at);
"""


class SqliteHostLimiter:
    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._connections = ThreadConnections(self.path, SCHEMA)

    @property
    def conn(self) -> sqlite3.Connection:
        return self._connections.get()

    def acquire(self, host: str, now: float, budget: HostBudget) -> Grant:
        return self.acquire_many([host], now, budget)[0]

    def acquire_many(self, hosts: Sequence[str], now: float, budget: HostBudget) -> list[Grant]:
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            grants = [self._acquire(c, host, now, budget) for host in hosts]
        except BaseException:
            c.execute("ROLLBACK")
            raise
        c.execute("COMMIT")
        return grants

    @staticmethod
    def _acquire(c: sqlite3.Connection, host: str, now: float, budget: HostBudget) -> Grant:
        c.execute("DELETE FROM host_slots WHERE host = ? AND expires_at <= ?", (host, now))
        busy, first = c.execute(
            "SELECT count(*), min(expires_at) FROM host_slots WHERE host = ?", (host,)
        ).fetchone()
        if busy >= budget.concurrency:
            return Grant(False, retry_in=max(0.05, min(first - now, budget.interval)))
        row = c.execute("SELECT tat FROM host_rate WHERE host = ?", (host,)).fetchone()
        tat = max(row[0] if row else 0.0, now)
        new_tat = tat + budget.interval
        ahead = new_tat - now - budget.burst * budget.interval
        if ahead > 0:
            return Grant(False, retry_in=ahead)
        c.execute(
            "INSERT INTO host_rate (host, tat) VALUES (?, ?) "
            "ON CONFLICT (host) DO UPDATE SET tat = excluded.tat",
            (host, new_tat),
        )
        token = uuid.uuid4().hex
        c.execute(
            "INSERT INTO host_slots (token, host, expires_at) VALUES (?, ?, ?)",
            (token, host, now + budget.lease),
        )
        # Hosts idle for a day leave no rows behind.
        c.execute("DELETE FROM host_rate WHERE tat < ?", (now - 86400,))
        return Grant(True, token=token)

    def release(self, host: str, token: str) -> None:
        self.release_many([(host, token)])

    def release_many(self, held: Sequence[tuple[str, str]]) -> None:
        self.conn.executemany(
            "DELETE FROM host_slots WHERE token = ? AND host = ?",
            [(token, host) for host, token in held],
        )

    def close(self) -> None:
        self._connections.close()
