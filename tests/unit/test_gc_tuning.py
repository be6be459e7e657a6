"""A worker process tunes the cyclic collector once it has started (celery_app._tune_gc)."""

from __future__ import annotations

import gc

from celery import signals

from worker import celery_app  # noqa: F401 - connects the signal handlers
from worker.runtime import GC_THRESHOLD


def test_a_started_worker_process_freezes_its_heap_and_collects_less_often():
    before = gc.get_threshold()
    try:
        signals.worker_process_init.send(sender=None)
        assert gc.get_threshold() == (GC_THRESHOLD, *before[1:])
        assert gc.get_freeze_count() > 1000  # the modules and settings loaded so far
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)


def test_a_starting_worker_imports_the_fetch_transport_before_its_pool_forks(monkeypatch):
    """The aiohttp transport is imported by the worker's main process (worker_init), so
    pool processes inherit it instead of importing it in their first fetch task."""
    import sys

    monkeypatch.delitem(sys.modules, "worker.adapters.aiofetch", raising=False)
    before = gc.get_threshold()
    try:
        signals.worker_init.send(sender=None)
        assert "worker.adapters.aiofetch" in sys.modules
        assert gc.get_threshold() == (GC_THRESHOLD, *before[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
