"""Celery's prefork pool, without its hang at exit after a signal to the whole group
(docs/decisions/0024).

With a broker Celery cannot drive from its event loop (the embedded mode's filesystem
transport), the prefork pool is billiard's plain ``Pool``: its processes share one
in-queue and take turns reading it under one lock, which an idle process holds while
it waits for a message. A SIGTERM to the whole process group (``kill -TERM -PGID``,
systemd stopping the service's control group, ``timeout``) reaches the pool processes
too, and they die at once, the one waiting with the lock still holding it. The main
process then shuts down warmly, joins its dead pool processes, returns, and hangs
forever at interpreter exit: the pool's exit finalizer acquires that lock "to help the
task handler finish", and no process is left to release it.

Once the pool is closed and joined there is nothing for that finalizer to do (its
threads have stopped, every process has exited), so this pool cancels it. A pool
stopped any other way (a cold shutdown terminates it) is left to billiard.
"""

from __future__ import annotations

from typing import Any

from celery.concurrency.prefork import TaskPool

# Celery's ``worker_pool`` setting, which ``--pool prefork`` (the default) then means.
PREFORK = "worker.pool:PreforkPool"


class PreforkPool(TaskPool):  # type: ignore[misc]
    def on_stop(self) -> None:
        pool: Any = self._pool
        super().on_stop()
        if pool is not None and self._pool is None:  # closed and joined
            finalizer = getattr(pool, "_terminate", None)
            if finalizer is not None:
                finalizer.cancel()
