"""The Celery application: the one module-level global of the project.

Its configuration comes from ``Settings`` (``SYNDICATE_CONFIG`` or config/syndicate.toml
plus the environment). Redis is broker and store when a Redis URL is set; otherwise the
broker is kombu's filesystem transport (made atomic in ``worker.adapters.fsbroker``)
under the data directory, for the embedded mode.
The reasoning behind the delivery settings is in docs/decisions/0002-celery-delivery.md.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import structlog
from celery import Celery, signals

from worker.adapters import fsbroker
from worker.logging import configure_logging, get_logger
from worker.pool import PREFORK
from worker.runtime import Runtime, tune_collector
from worker.settings import Settings, load_settings

QUEUES = ("fetch", "parse", "publish")
# Longest a task may run (seconds); the broker's visibility timeout stays well above it.
TASK_TIME_LIMIT = 600
VISIBILITY_TIMEOUT = 3600

log = get_logger("worker.celery")


def celery_config(settings: Settings) -> dict[str, Any]:
    conf: dict[str, Any] = {
        "task_serializer": "msgpack",
        "accept_content": ["msgpack", "json"],
        "task_ignore_result": True,
        "result_backend": None,
        # At-least-once: acknowledge after the task ran; requeue if its worker died.
        "task_acks_late": True,
        "task_reject_on_worker_lost": True,
        "worker_prefetch_multiplier": 1,
        "task_time_limit": TASK_TIME_LIMIT,
        "task_soft_time_limit": TASK_TIME_LIMIT - 30,
        "task_default_queue": "fetch",
        "task_routes": {
            "feeds.tick": {"queue": "fetch"},
            "feeds.fetch": {"queue": "fetch"},
            "feeds.process": {"queue": "parse"},
            "events.deliver": {"queue": "publish"},
        },
        "beat_schedule": {
            "feeds-tick": {
                "task": "feeds.tick",
                "schedule": settings.schedule.tick_interval,
                # A tick that waited longer than two intervals is stale: drop it.
                "options": {"expires": settings.schedule.tick_interval * 2},
            }
        },
        "beat_schedule_filename": str(settings.data_dir / "celerybeat-schedule"),
        "worker_hijack_root_logger": False,
        "worker_redirect_stdouts": False,
        "worker_send_task_events": False,
        # `--pool prefork` (the default) means this subclass; see the module.
        "worker_pool": PREFORK,
        "broker_connection_retry_on_startup": True,
        "timezone": "UTC",
    }
    if settings.store.redis_url:
        conf["broker_url"] = settings.store.redis_url
        conf["broker_transport_options"] = {"visibility_timeout": VISIBILITY_TIMEOUT}
    else:
        folder = (settings.data_dir / "broker").resolve()
        for sub in ("queue", "processed", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        conf["broker_url"] = "filesystem://localhost//"
        # kombu's filesystem transport, with atomic message files (see the module).
        conf["broker_transport"] = fsbroker.TRANSPORT
        conf["broker_transport_options"] = {
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"),
            # exchange bindings; kombu's default is ./control in the working directory
            "control_folder": str(folder / "control"),
            "store_processed": False,
            # The directory is polled; a short interval keeps stage hops and Ctrl-C quick.
            "polling_interval": 0.2,
        }
        # The filesystem transport has no fanout: no remote control, no mingle/gossip.
        conf["worker_enable_remote_control"] = False
    return conf


def _tolerate_released_broker_connection() -> None:
    """Keep a worker alive when Redis goes away and comes back.

    kombu 5.7.0 releases a lost connection before it is done with that connection's
    channel. Whatever then touches the old channel (closing it restores the unacked
    messages; a task that finishes after the reconnect acknowledges through it) builds a
    Redis client from the released connection and gets an ``AttributeError``, which
    escapes Celery's connection-error handling: the worker stops with "Unrecoverable
    error" (one Redis restart in four in tests/faults). Raising a connection error there
    instead lets Celery's own handling take over: the close is skipped, the late ack is
    logged as failed, and the message stays in Redis's unacked set, restored after the
    visibility timeout; the store's leases bring its work back sooner.
    """
    import redis as redis_lib
    from kombu.transport import redis as kombu_redis

    original: Any = kombu_redis.Channel._connparams
    if getattr(original, "syndicate_guarded", False):
        return

    def _connparams(self: Any, asynchronous: bool = False) -> Any:
        if getattr(self.connection, "client", None) is None:
            raise redis_lib.exceptions.ConnectionError(
                "this channel's broker connection was already released"
            )
        return original(self, asynchronous=asynchronous)

    _connparams.syndicate_guarded = True  # type: ignore[attr-defined]
    kombu_redis.Channel._connparams = _connparams  # type: ignore[method-assign]


_tolerate_released_broker_connection()


class SyndicateCelery(Celery):  # type: ignore[misc]
    """Celery plus the settings it was built from and a per-process ``Runtime``."""

    _settings: Settings | None = None
    _runtime: Runtime | None = None
    _runtime_pid: int = 0

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self.use_settings(load_settings())
        assert self._settings is not None
        return self._settings

    def use_settings(self, settings: Settings) -> None:
        self._settings = settings
        self.conf.update(celery_config(settings))

    @property
    def runtime(self) -> Runtime:
        """This process's adapters; a forked child builds its own."""
        if self._runtime is None or self._runtime_pid != os.getpid():
            self._runtime = Runtime(self.settings)
            self._runtime_pid = os.getpid()
        return self._runtime


app = SyndicateCelery("syndicate", include=["worker.tasks"])
app.use_settings(load_settings())


@signals.setup_logging.connect
def _setup_logging(**_: Any) -> None:
    """Celery's own records go through our formatter (connecting here stops Celery's)."""
    configure_logging(app.settings.log.level, app.settings.log.format)


@signals.worker_init.connect
def _prepare_worker(**_: Any) -> None:
    """Before the pool forks: import what the first fetch task would (the aiohttp
    transport, a third of a second a process, was 1.8 % of a cold pass's worker samples
    at 2,000 feeds), so the pool processes share it and the collector is spared it."""
    if app.settings.fetch.transport != "httpx":
        import worker.adapters.aiofetch  # noqa: F401
    _tune_gc()


@signals.worker_process_init.connect
def _tune_gc(**_: Any) -> None:
    """A pool process has started (modules, settings, Celery's machinery): ``tune_collector``."""
    tune_collector()


@signals.task_prerun.connect
def _bind_task(task_id: str | None = None, task: Any = None, **_: Any) -> None:
    structlog.contextvars.clear_contextvars()
    structlog.contextvars.bind_contextvars(task_id=task_id, task=getattr(task, "name", None))


@signals.task_postrun.connect
def _unbind_task(**_: Any) -> None:
    structlog.contextvars.clear_contextvars()


@signals.worker_process_shutdown.connect
def _close_runtime(**_: Any) -> None:
    """Close this process's connections (stores, sinks, the fetch event loop) on exit."""
    if app._runtime is not None and app._runtime_pid == os.getpid():
        app._runtime.close()


@signals.beat_init.connect
def _sync_feeds_on_beat(**_: Any) -> None:
    """The scheduler makes the store's config-defined feeds match the config file."""
    sync_config_feeds(app.runtime)


def sync_config_feeds(rt: Runtime) -> None:
    added, removed = rt.store.sync_feeds(rt.settings.feed_specs(), rt.clock())
    log.info("feeds.synced", configured=len(rt.settings.feeds), added=added, removed=removed)


def data_dir() -> Path:
    return app.settings.data_dir
