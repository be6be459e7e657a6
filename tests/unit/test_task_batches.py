"""How stage messages are made: documents grouped under a byte limit, arguments
summarized, each task routed to its queue."""

from __future__ import annotations

from worker.core.models import FetchResult
from worker.pipeline import by_size
from worker.tasks import PROCESS_BATCH_BYTES


def _doc(n: int, size: int) -> FetchResult:
    return FetchResult(
        feed_id=f"f{n}",
        url=f"https://x.example/{n}",
        status="ok",
        http_status=200,
        body=b"x" * size,
    )


def test_documents_are_grouped_under_the_byte_limit_in_order() -> None:
    quarter = PROCESS_BATCH_BYTES // 4
    docs = [_doc(n, quarter) for n in range(9)]
    batches = by_size(docs, PROCESS_BATCH_BYTES)
    assert [[d.feed_id for d in b] for b in batches] == [
        ["f0", "f1", "f2", "f3"],
        ["f4", "f5", "f6", "f7"],
        ["f8"],
    ]
    assert all(sum(len(d.body) for d in b) <= PROCESS_BATCH_BYTES for b in batches)


def test_a_document_over_the_limit_travels_alone() -> None:
    docs = [_doc(0, 10), _doc(1, PROCESS_BATCH_BYTES + 1), _doc(2, 10)]
    assert [[d.feed_id for d in b] for b in by_size(docs, PROCESS_BATCH_BYTES)] == [
        ["f0"],
        ["f1"],
        ["f2"],
    ]
    assert by_size([], PROCESS_BATCH_BYTES) == []


def test_send_publishes_the_arguments_with_a_short_summary_of_them(monkeypatch) -> None:
    """``_send`` (how the stages publish) passes the arguments as given and the summary
    "list[N]" as Celery's argsrepr, in place of Celery's repr of every feed id (what
    logs and monitors show)."""
    from worker import tasks

    sent: list[tuple[tuple[object, ...], dict[str, object]]] = []
    monkeypatch.setattr(
        tasks.deliver, "apply_async", lambda args, **options: sent.append((args, options))
    )
    ids = [f"a{n}.1" for n in range(300)]
    tasks._send(tasks.deliver, "stream", ids)
    assert sent == [(("stream", ids), {"argsrepr": "'stream', list[300]", "kwargsrepr": "{}"})]


def test_every_stage_task_is_routed_to_the_queue_it_declares() -> None:
    """Celery routes by ``task_routes`` (a task's own queue attribute is deprecated, gone
    in Celery 6): each stage task declared with ``stage_task`` is routed to its queue, and
    the routes name no task that is not declared."""
    from worker import tasks

    assert set(tasks.STAGE_QUEUES) >= {
        "feeds.tick",
        "feeds.fetch",
        "feeds.process",
        "events.deliver",
    }
    for name, queue in tasks.STAGE_QUEUES.items():
        assert tasks.app.amqp.router.route({}, name)["queue"].name == queue, name
    assert set(tasks.app.conf.task_routes) <= set(tasks.STAGE_QUEUES)
