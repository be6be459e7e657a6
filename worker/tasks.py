"""Celery tasks: thin views over ``worker.pipeline``.

A task decodes its arguments, calls one pipeline function, and sends the next stage's
messages. Every task is idempotent; the store's leases bring back any work whose
message was lost, so a task that fails is acknowledged and left to the next tick.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from celery import Task

from worker import pipeline
from worker.celery_app import TASK_TIME_LIMIT, app
from worker.logging import get_logger

log = get_logger("worker.tasks")
P = ParamSpec("P")
R = TypeVar("R")

# A message started this many times without finishing is taken to kill its worker.
MAX_STARTS = 3
# Bodies per process message. The worker's main process holds each message it passes to
# its pool in several copies (the broker's base64 envelope, the decoded body, the pipe to
# the child): with 8 MB messages its peak was 143 MB at 2,000 farm feeds, with 1 MB
# 114 MB (benchmarks/throughput.py). A body over the limit travels alone.
PROCESS_BATCH_BYTES = 1 * 1024 * 1024
# A process records "a task of this queue finished" at most this often (seconds):
# `syndicate health` tells a stalled queue from a busy one by it.
HEARTBEAT_EVERY = 5.0
_last_beat: dict[str, float] = {}
# Each stage task's queue, as declared. Celery routes by ``celery_config``'s task_routes
# (the task's own ``queue`` attribute is deprecated and goes in Celery 6); a unit test
# holds the routes to these.
STAGE_QUEUES: dict[str, str] = {}


def _queue_alive(queue: str) -> None:
    now = time.time()
    if now - _last_beat.get(queue, 0.0) >= HEARTBEAT_EVERY:
        _last_beat[queue] = now
        app.runtime.store.heartbeat(f"queue.{queue}", now)


def stage_task(
    *,
    name: str,
    queue: str,
    guard: bool = True,
    time_limit: int = TASK_TIME_LIMIT,
    on_poison: Callable[..., None] | None = None,
) -> Callable[[Callable[P, R]], Task]:
    """The one way to declare a task: explicit name and queue, reliability options fixed.

    With ``guard``, a message that has been started ``MAX_STARTS`` times without finishing
    (its worker died each time) is logged as poisoned and dropped instead of looping;
    ``on_poison`` gets its arguments, to put the work it carried on a backoff.
    """

    def wrap(fn: Callable[P, R]) -> Task:
        STAGE_QUEUES[name] = queue

        @functools.wraps(fn)
        def body(self: Task, *args: P.args, **kwargs: P.kwargs) -> R | None:
            task_id = self.request.id
            if guard and task_id:
                starts = app.runtime.store.task_started(task_id)
                if starts > MAX_STARTS:
                    log.error(
                        "task.poisoned",
                        task=name,
                        task_id=task_id,
                        starts=starts,
                        args=_describe(args),
                    )
                    if on_poison is not None:
                        on_poison(*args, **kwargs)
                    app.runtime.store.task_finished(task_id)
                    return None
            result = fn(*args, **kwargs)
            if guard and task_id:
                app.runtime.store.task_finished(task_id)
            _queue_alive(queue)
            return result

        task: Task = app.task(
            name=name,
            bind=True,
            acks_late=True,
            reject_on_worker_lost=True,
            ignore_result=True,
            time_limit=time_limit,
            soft_time_limit=time_limit - 30,
        )(body)
        return task

    return wrap


def _describe(args: tuple[Any, ...]) -> str:
    return ", ".join(f"list[{len(a)}]" if isinstance(a, list) else repr(a)[:80] for a in args)


def _send(task: Task, *args: Any) -> None:
    """Publish a message for ``task``, with the argument summary Celery keeps in the
    message written by ``_describe`` ("list[200]"): Celery's own, a ``saferepr`` of the
    arguments, walks a batch's whole list (116 us for 200 feed ids) and made a publish
    cost 500-600 us instead of about 310."""
    task.apply_async(args, argsrepr=_describe(args), kwargsrepr="{}")


@stage_task(name="feeds.tick", queue="fetch", guard=False, time_limit=120)
def tick() -> None:
    plan = pipeline.tick(app.runtime)
    for batch in plan.fetch_batches:
        _send(fetch, batch)
    for sink, batches in plan.deliveries.items():
        for ids in batches:
            _send(deliver, sink, ids)


POISON_REASON = "a worker died processing this feed several times"


def _quarantine_fetch(feed_ids: list[str]) -> None:
    pipeline.quarantine_feeds(app.runtime, feed_ids, POISON_REASON)


def _quarantine_process(docs: list[dict[str, Any]]) -> None:
    pipeline.quarantine_documents(app.runtime, docs, POISON_REASON)


def _quarantine_deliver(sink: str, event_ids: list[str]) -> None:
    pipeline.quarantine_deliveries(app.runtime, sink, event_ids)


@stage_task(name="feeds.fetch", queue="fetch", on_poison=_quarantine_fetch)
def fetch(feed_ids: list[str]) -> None:
    changed = pipeline.fetch_batch(app.runtime, feed_ids)
    for docs in pipeline.by_size(changed, PROCESS_BATCH_BYTES):
        _send(process, pipeline.hand_over(app.runtime, docs))


@stage_task(name="feeds.process", queue="parse", on_poison=_quarantine_process)
def process(docs: list[dict[str, Any]]) -> None:
    # The stashed documents are dropped after the deliver messages are sent (the outbox
    # holds the events whatever happens to the drop), or when the body raises.
    with pipeline.handed_over(app.runtime, docs) as fetched:
        outbox = pipeline.process(app.runtime, fetched)
        size = app.settings.delivery.batch_size
        for sink, ids in outbox.items():
            for start in range(0, len(ids), size):
                _send(deliver, sink, ids[start : start + size])


@stage_task(name="events.deliver", queue="publish", on_poison=_quarantine_deliver)
def deliver(sink: str, event_ids: list[str]) -> None:
    pipeline.deliver(app.runtime, sink, event_ids)
