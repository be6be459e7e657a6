"""State stores: where feeds, their schedule, seen articles and the outbox live.

``Store`` is the port; ``SqliteStore`` (embedded mode) and ``RedisStore`` (distributed
mode) implement it and pass the same contract tests (tests/contract/test_store.py).
"""

from worker.adapters.store.base import Store, open_store

__all__ = ["Store", "open_store"]
