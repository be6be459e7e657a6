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
from collections.abc import Callable
from pathlib import Path


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
            conn = sqlite3.connect(self.path, timeout=60, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
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
