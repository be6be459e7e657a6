"""The stages, driven by hand against a real store, a real HTTP server and a real sink."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import replace
from pathlib import Path

import pytest

from tests.feeds import rss
from worker import pipeline
from worker.demo.server import FeedServer, Resource
from worker.runtime import Runtime
from worker.settings import load_settings


class Clock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def make_runtime(
    tmp_path: Path,
    urls: list[str],
    redis_url: str | None = None,
    prefix: str = "x",
    extra: str = "",
) -> tuple[Runtime, Clock]:
    env = {
        "SYNDICATE_FETCH__ALLOW_PRIVATE_NETWORKS": "true",
        "SYNDICATE_STORE__DATA_DIR": str(tmp_path / "var"),
        "SYNDICATE_STORE__PREFIX": prefix,
        "SYNDICATE_SCHEDULE__MIN_INTERVAL": "60",
        "SYNDICATE_SCHEDULE__MAX_INTERVAL": "600",
    }
    if redis_url:
        env["REDIS_URL"] = redis_url
    config = tmp_path / "syndicate.toml"
    config.write_text("".join(f'[[feeds]]\nurl = "{u}"\n{extra}' for u in urls))
    clock = Clock()
    rt = Runtime(load_settings(config, env), clock=clock, rand=lambda: 0.0)
    rt.store.sync_feeds(rt.settings.feed_specs(), clock())
    return rt, clock


def run_cycle(rt: Runtime) -> dict[str, int]:
    """One tick's worth of work, every stage in turn, the documents handed from fetch to
    parse through the store as the tasks hand them; returns the delivery counts."""
    plan = pipeline.tick(rt)
    totals: dict[str, int] = {}
    for batch in plan.fetch_batches:
        message = pipeline.hand_over(rt, pipeline.fetch_batch(rt, batch))
        with pipeline.handed_over(rt, message) as fetched:
            for sink, ids in pipeline.process(rt, fetched).items():
                for key, n in pipeline.deliver(rt, sink, ids).items():
                    totals[key] = totals.get(key, 0) + n
    return totals


def sink_ids(rt: Runtime) -> list[str]:
    path = rt.settings.data_dir / "articles.jsonl"
    if not path.exists():
        return []
    return [json.loads(line)["id"] for line in path.read_text().splitlines()]


@pytest.fixture(params=["sqlite", "redis"])
def mode(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "redis":
        return {
            "redis_url": request.getfixturevalue("redis_url"),
            "prefix": request.getfixturevalue("prefix"),
        }
    return {}


def test_new_items_are_published_once_across_polls(tmp_path, feed_server: FeedServer, mode):
    """First poll publishes every item; a later poll publishes only the new one."""
    feed_server.routes["/a.xml"] = Resource(rss([("one", "One"), ("two", "Two")]))
    rt, clock = make_runtime(tmp_path, [feed_server.url("/a.xml")], **mode)
    assert run_cycle(rt)["delivered"] == 2
    feed_server.routes["/a.xml"] = Resource(rss([("one", "One"), ("two", "Two"), ("three", "3")]))
    clock.now += 601  # past max_interval: the adaptive schedule waits longer than min
    assert run_cycle(rt)["delivered"] == 1
    ids = sink_ids(rt)
    assert len(ids) == len(set(ids)) == 3


def test_not_modified_and_unchanged_bodies_are_not_parsed_again(tmp_path, feed_server, mode):
    """A 304, or a 200 with the same body, settles in the fetch stage with no work for parse."""
    feed_server.routes["/a.xml"] = Resource(rss([("one", "One")]))
    rt, clock = make_runtime(tmp_path, [feed_server.url("/a.xml")], **mode)
    run_cycle(rt)
    clock.now += 1000
    feed_id = rt.settings.feeds[0].feed_id
    assert pipeline.fetch_batch(rt, [feed_id]) == []
    assert feed_server.conditional_hits["/a.xml"] == 1
    # same body, but the server forgot its validators: still nothing to parse
    body = rss([("one", "One")])
    feed_server.routes["/a.xml"] = lambda: Resource(body, headers=(("X-Rand", "1"),))
    state = rt.store.load_states([feed_id])[feed_id]
    rt.store.save_states([replace(state, etag=None, last_modified=None)])
    assert pipeline.fetch_batch(rt, [feed_id]) == []
    state = rt.store.load_states([feed_id])[feed_id]
    assert state.last_status == "not_modified" and state.error_streak == 0


def test_a_broken_feed_is_recorded_and_backed_off_not_dropped(tmp_path, feed_server, mode):
    """A feed that is not a feed gets an error streak and a later poll, and stays scheduled."""
    feed_server.routes["/bad.xml"] = Resource(b"<html><body>nope</body></html>", "text/html")
    rt, clock = make_runtime(tmp_path, [feed_server.url("/bad.xml")], **mode)
    run_cycle(rt)
    feed_id = rt.settings.feeds[0].feed_id
    state = rt.store.load_states([feed_id])[feed_id]
    assert state.error_streak == 1 and "not an RSS" in (state.last_error or "")
    assert state.next_poll_at >= clock.now + 54
    clock.now = state.next_poll_at
    run_cycle(rt)
    second = rt.store.load_states([feed_id])[feed_id]
    assert second.error_streak == 2
    assert second.next_poll_at - clock.now >= 2 * 54


def test_http_errors_back_off_and_honour_retry_after(tmp_path, feed_server, mode):
    """A 503 with Retry-After is not polled again before the server asked."""
    feed_server.routes["/busy.xml"] = Resource(
        b"busy", status=503, headers=(("Retry-After", "3600"),)
    )
    rt, clock = make_runtime(tmp_path, [feed_server.url("/busy.xml")], **mode)
    run_cycle(rt)
    feed_id = rt.settings.feeds[0].feed_id
    state = rt.store.load_states([feed_id])[feed_id]
    assert state.last_http_status == 503 and state.error_streak == 1
    assert state.next_poll_at >= clock.now + 3600 and state.next_reason == "retry_after"


def test_same_article_in_two_feeds_is_published_once(tmp_path, feed_server, mode):
    """Two section feeds carrying the same story (same canonical URL) yield one article."""
    feed_server.routes["/world.xml"] = Resource(rss([("s1", "Shared story")], title="World"))
    feed_server.routes["/top.xml"] = Resource(
        rss([("s1", "Shared story"), ("t", "Top only")], title="Top")
    )
    rt, _ = make_runtime(
        tmp_path, [feed_server.url("/world.xml"), feed_server.url("/top.xml")], **mode
    )
    run_cycle(rt)
    assert len(sink_ids(rt)) == 2


def test_a_failing_sink_keeps_its_events_for_a_later_retry(tmp_path, feed_server, mode):
    """Events a sink could not take stay pending with a backoff and arrive later."""
    feed_server.routes["/a.xml"] = Resource(rss([("one", "One")]))
    rt, clock = make_runtime(tmp_path, [feed_server.url("/a.xml")], **mode)
    target = rt.settings.data_dir / "articles.jsonl"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.mkdir()  # a directory where the file should be: every write fails
    counts = run_cycle(rt)
    assert counts.get("failed") == 1
    assert rt.store.pending_counts() == {"articles": 1}
    target.rmdir()
    rt.close()
    clock.now += 3
    assert pipeline.tick(rt).deliveries == {}  # backoff not over yet
    clock.now += 60
    plan = pipeline.tick(rt)
    (ids,) = plan.deliveries["articles"]
    assert pipeline.deliver(rt, "articles", ids)["delivered"] == 1
    assert rt.store.pending_counts() == {}
    assert len(sink_ids(rt)) == 1


def test_a_parse_message_carries_keys_and_the_store_the_documents(tmp_path, feed_server, mode):
    """The message from fetch to parse holds every field but the body, and only small
    values (it is msgpack-encoded); the body comes back byte for byte from the store."""
    import msgpack

    body = rss([(f"item-{n}", f"Item number {n}") for n in range(30)])
    feed_server.routes["/a.xml"] = Resource(body)
    rt, clock = make_runtime(tmp_path, [feed_server.url("/a.xml")], **mode)
    [batch] = pipeline.tick(rt).fetch_batches
    changed = pipeline.fetch_batch(rt, batch)
    message = pipeline.hand_over(rt, changed)
    assert [m["body"] for m in message] == [b""] and message[0]["body_key"]
    assert len(msgpack.packb(message)) < 1000 and len(body) > 5000
    fetched, stashed = pipeline.take_over(rt, msgpack.unpackb(msgpack.packb(message)))
    assert fetched == changed and stashed == [message[0]["body_key"]]
    rt.store.drop_documents(stashed)
    assert rt.store.take_documents(stashed, clock()) == [None]


def test_a_parse_task_drops_its_documents_when_done_and_when_it_fails(tmp_path, feed_server, mode):
    """A parse task that raises is acknowledged and never comes back: its documents are
    dropped then too, not left for their TTL; its feed is polled again after its claim."""
    feed_server.routes["/a.xml"] = Resource(rss([("one", "One")]))
    rt, clock = make_runtime(tmp_path, [feed_server.url("/a.xml")], **mode)
    [batch] = pipeline.tick(rt).fetch_batches
    message = pipeline.hand_over(rt, pipeline.fetch_batch(rt, batch))
    keys = [m["body_key"] for m in message]
    with (
        pytest.raises(RuntimeError, match="parse crashed"),
        pipeline.handed_over(rt, message) as fetched,
    ):
        assert [f.feed_id for f in fetched] == [message[0]["feed_id"]]
        raise RuntimeError("parse crashed")
    assert rt.store.take_documents(keys, clock()) == [None]
    clock.now += rt.settings.schedule.lease + 1
    [batch] = pipeline.tick(rt).fetch_batches  # claimed again
    message = pipeline.hand_over(rt, pipeline.fetch_batch(rt, batch))
    with pipeline.handed_over(rt, message) as fetched:
        assert sum(map(len, pipeline.process(rt, fetched).values())) == 1
    assert rt.store.take_documents([m["body_key"] for m in message], clock()) == [None]
    assert pipeline.tick(rt).fetch_batches == []  # settled: nothing due


def test_a_document_gone_before_its_parse_is_polled_again_when_its_claim_runs_out(
    tmp_path, feed_server, mode
):
    """A stashed document that expired (or was dropped) is skipped with a warning naming
    the feed; the feed was never settled, so it comes due again when its claim runs
    out, and its items are published then: nothing is lost."""
    from structlog.testing import capture_logs

    feed_server.routes["/a.xml"] = Resource(rss([("one", "One"), ("two", "Two")]))
    rt, clock = make_runtime(tmp_path, [feed_server.url("/a.xml")], **mode)
    feed_id = rt.settings.feeds[0].feed_id
    [batch] = pipeline.tick(rt).fetch_batches
    message = pipeline.hand_over(rt, pipeline.fetch_batch(rt, batch))
    rt.store.drop_documents([message[0]["body_key"]])
    with capture_logs() as logs:
        fetched, _ = pipeline.take_over(rt, message)
    assert fetched == []
    gone = [e for e in logs if e["event"] == "document.gone"]
    assert gone and gone[0]["feed_id"] == feed_id and gone[0]["log_level"] == "warning"
    assert run_cycle(rt) == {}  # still claimed
    clock.now += rt.settings.schedule.lease + 1
    assert run_cycle(rt)["delivered"] == 2
    assert len(sink_ids(rt)) == 2


def test_a_document_of_a_feed_removed_while_it_was_polled_is_not_parsed(
    tmp_path, feed_server, mode
):
    """The parse stage reads the specs and states of its documents' feeds together; a
    feed removed between its fetch and its parse is logged and skipped, its neighbour in
    the same message published as usual."""
    from structlog.testing import capture_logs

    feed_server.routes["/a.xml"] = Resource(rss([("one", "One")]))
    feed_server.routes["/b.xml"] = Resource(rss([("two", "Two")]))
    rt, _ = make_runtime(tmp_path, [feed_server.url("/a.xml"), feed_server.url("/b.xml")], **mode)
    kept, removed = (f.feed_id for f in rt.settings.feeds)
    [batch] = pipeline.tick(rt).fetch_batches
    changed = pipeline.fetch_batch(rt, batch)
    assert {r.feed_id for r in changed} == {kept, removed}
    assert rt.store.remove_feed(removed)
    with capture_logs() as logs:
        outbox = pipeline.process(rt, changed)
    assert [len(ids) for ids in outbox.values()] == [1]
    skipped = [e for e in logs if e["event"] == "feed.removed_while_polling"]
    assert [e["feed_id"] for e in skipped] == [removed]
    assert rt.store.load_states([kept, removed]).keys() == {kept}


def test_a_parse_message_with_its_body_inside_is_still_read(tmp_path, feed_server, mode):
    """Messages queued before documents went through the store carry their bodies."""
    feed_server.routes["/a.xml"] = Resource(rss([("one", "One")]))
    rt, _ = make_runtime(tmp_path, [feed_server.url("/a.xml")], **mode)
    [batch] = pipeline.tick(rt).fetch_batches
    changed = pipeline.fetch_batch(rt, batch)
    old_message = [dataclasses.asdict(r) for r in changed]
    fetched, stashed = pipeline.take_over(rt, old_message)
    assert fetched == changed and stashed == []
    assert [len(ids) for ids in pipeline.process(rt, fetched).values()] == [1]


def test_quarantined_feeds_back_off_like_failing_feeds(tmp_path, feed_server, mode):
    """Feeds of a poisoned message get an error and a backoff instead of an instant retry."""
    feed_server.routes["/a.xml"] = Resource(rss([("one", "One")]))
    rt, clock = make_runtime(tmp_path, [feed_server.url("/a.xml")], **mode)
    feed_id = rt.settings.feeds[0].feed_id
    pipeline.quarantine_feeds(rt, [feed_id], "a worker died")
    state = rt.store.load_states([feed_id])[feed_id]
    assert state.error_streak == 1 and state.last_error == "a worker died"
    assert state.next_reason.startswith("error_backoff")
    assert rt.store.claim_due_feeds(clock.now + 50, 10, 60) == []


def test_a_poisoned_parse_message_backs_its_feeds_off_and_drops_its_documents(
    tmp_path, feed_server, mode
):
    """A parse message that killed its worker too often is dropped: its feeds back off
    like failing feeds, and its stashed documents go with it."""
    feed_server.routes["/a.xml"] = Resource(rss([("one", "One")]))
    rt, clock = make_runtime(tmp_path, [feed_server.url("/a.xml")], **mode)
    feed_id = rt.settings.feeds[0].feed_id
    [batch] = pipeline.tick(rt).fetch_batches
    message = pipeline.hand_over(rt, pipeline.fetch_batch(rt, batch))
    pipeline.quarantine_documents(rt, message, "a worker died")
    assert rt.store.take_documents([message[0]["body_key"]], clock()) == [None]
    state = rt.store.load_states([feed_id])[feed_id]
    assert state.error_streak == 1 and state.last_error == "a worker died"


def _count_full_reads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record the GUID of every entry normalized in full (body read)."""
    from worker.core import normalize

    seen: list[str] = []
    real = normalize.normalize_entry

    def counting(raw, *args, **kwargs):
        seen.append(raw.guid or "")
        return real(raw, *args, **kwargs)

    monkeypatch.setattr(normalize, "normalize_entry", counting)
    return seen


def test_a_changed_document_reads_the_body_of_its_new_entries_only(
    tmp_path, feed_server, mode, monkeypatch
):
    """Entries served unchanged since the last poll skip normalizing their body (the
    feed's memo); the new one is read in full and published, nothing else is."""
    items = [(f"s{n}", f"Story {n}") for n in range(5)]
    feed_server.routes["/a.xml"] = Resource(rss(items))
    rt, clock = make_runtime(tmp_path, [feed_server.url("/a.xml")], **mode)
    full_reads = _count_full_reads(monkeypatch)
    assert run_cycle(rt)["delivered"] == 5
    assert sorted(full_reads) == [f"s{n}" for n in range(5)]
    feed_id = rt.settings.feeds[0].feed_id
    assert len(rt.store.load_feed_identities([feed_id])[feed_id].known) == 5
    full_reads.clear()
    feed_server.routes["/a.xml"] = Resource(rss([*items, ("s5", "Story 5")]))
    clock.now += 601
    assert run_cycle(rt)["delivered"] == 1
    assert full_reads == ["s5"]
    assert len(rt.store.load_feed_identities([feed_id])[feed_id].known) == 6
    ids = sink_ids(rt)
    assert len(ids) == len(set(ids)) == 6


def test_a_memo_the_store_disagrees_with_falls_back_to_reading_everything(
    tmp_path, feed_server, mode, monkeypatch
):
    """A remembered content hash that is not the stored article's (another feed edited
    it, a record expired, a tampered memo): the whole document is read again, nothing is
    published twice, and the memo is written afresh."""
    items = [(f"s{n}", f"Story {n}") for n in range(3)]
    feed_server.routes["/a.xml"] = Resource(rss(items))
    rt, clock = make_runtime(tmp_path, [feed_server.url("/a.xml")], **mode)
    run_cycle(rt)
    feed_id = rt.settings.feeds[0].feed_id
    profile = rt.store.load_feed_identities([feed_id])[feed_id]
    good = dict(profile.known)
    bad = {d: v.split(" ")[0] + " " + "0" * 32 for d, v in good.items()}
    rt.store.save_feed_identities([replace(profile, known=bad)])
    full_reads = _count_full_reads(monkeypatch)
    feed_server.routes["/a.xml"] = Resource(rss([*items, ("s3", "Story 3")]))
    clock.now += 601
    assert run_cycle(rt)["delivered"] == 1
    # s3 is new, read in full in the first attempt too; the others only in the fallback
    assert sorted(full_reads) == ["s0", "s1", "s2", "s3", "s3"]
    known = rt.store.load_feed_identities([feed_id])[feed_id].known
    assert {d: known[d] for d in good} == good and len(known) == 4
    ids = sink_ids(rt)
    assert len(ids) == len(set(ids)) == 4
