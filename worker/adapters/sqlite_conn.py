"""SQLite connections for the embedded mode: one per thread and process.

A connection must not cross a fork or a thread, and several processes share one file, so
each thread of each process opens its own on first use: WAL (readers never block the
writer), ``synchronous=NORMAL``, autocommit (callers open ``BEGIN IMMEDIATE`` themselves),
the schema created if missing, and a generous busy timeout.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections.abc import Callable
from pathlib import Path

# Seconds a statement waits for another connection's lock before "database is locked".
BUSY_TIMEOUT = 60.0


def _wal(conn: sqlite3.Connection) -> None:
    """Switch the file to WAL (it stays so). The switch takes an exclusive lock and SQLite
    does not wait for it as it waits for other locks: threads opening a new file
    together got "database is locked" at once (2 runs in 30 of 12 threads, the host
    limiter's contract test now and then): SQLite refuses a lock that could deadlock
    instead of waiting. So the switch is retried for the busy timeout."""
    deadline = time.monotonic() + BUSY_TIMEOUT
    pause = 0.001
    while True:
        try:
            # the mode the file is in afterwards: the old one when it could not switch
            mode = str(conn.execute("PRAGMA journal_mode=WAL").fetchone()[0]).lower()
            if mode in ("wal", "memory"):  # an in-memory database has no WAL
                return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
        if time.monotonic() + pause > deadline:
            raise sqlite3.OperationalError(
                f"database is locked: {conn.execute('PRAGMA database_list').fetchone()[2]} "
                f"could not be switched to WAL in {BUSY_TIMEOUT:.0f} s"
            )
        time.sleep(pause)
        pause = min(0.05, pause * 2)


class ThreadConnections:
    def __init__(
        self,
        path: Path,
        schema: str,
        setup: Callable[[sqlite3.Connection], None] | None = None,
    ) -> None:
        self.path = Path(path)
        self._schema = schema
        self._setup = setup
        self._local = threading.local()

    def get(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=BUSY_TIMEOUT, isolation_level=None)
            _wal(conn)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.executescript(self._schema)
            if self._setup is not None:
                self._setup(conn)
            local.conn, local.pid = conn, os.getpid()
        conn_: sqlite3.Connection = local.conn
        return conn_

    def close(self) -> None:
        """Close this thread's connection (a connection inherited through a fork is left
        to its own process)."""
        local = self._local
        if getattr(local, "pid", None) == os.getpid():
            local.conn.close()
        local.pid = local.conn = None
