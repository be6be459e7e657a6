"""Delivery stages driven by hand: routing, retries, dead letters and replay, against a
real store, a real feed server, a real webhook receiver and real file sinks."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.feeds import rss
from tests.integration.test_pipeline import Clock
from tests.receiver import Answer, Receiver
from tests.schemas import assert_valid_event
from worker import pipeline
from worker.demo.server import FeedServer, Resource
from worker.runtime import Runtime
from worker.settings import load_settings

SECRET = "whsec_" + base64.b64encode(b"k" * 32).decode()


def make_runtime(
    tmp_path: Path, feeds: str, sinks: str, mode: dict[str, str], **delivery: float
) -> tuple[Runtime, Clock]:
    env = {
        "SYNDICATE_FETCH__ALLOW_PRIVATE_NETWORKS": "true",
        "SYNDICATE_STORE__DATA_DIR": str(tmp_path / "var"),
        "SYNDICATE_STORE__PREFIX": mode.get("prefix", "x"),
        **{f"SYNDICATE_DELIVERY__{k.upper()}": str(v) for k, v in delivery.items()},
    }
    if mode.get("redis_url"):
        env["REDIS_URL"] = mode["redis_url"]
    if "[sinks.hook]" in sinks:
        env["SYNDICATE_SINKS__HOOK__SECRET"] = SECRET
    config = tmp_path / "syndicate.toml"
    config.write_text(feeds + "\n" + sinks)
    clock = Clock()
    rt = Runtime(load_settings(config, env), clock=clock, rand=lambda: 0.0)
    rt.store.sync_feeds(rt.settings.feed_specs(), clock())
    return rt, clock


def poll_all(rt: Runtime) -> dict[str, list[str]]:
    outbox: dict[str, list[str]] = {}
    for batch in pipeline.tick(rt).fetch_batches:
        for sink, ids in pipeline.process(rt, pipeline.fetch_batch(rt, batch)).items():
            outbox.setdefault(sink, []).extend(ids)
    return outbox


def deliver_due(rt: Runtime) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for sink, batches in pipeline.tick(rt).deliveries.items():
        for ids in batches:
            for k, n in pipeline.deliver(rt, sink, ids).items():
                out.setdefault(sink, {}).setdefault(k, 0)
                out[sink][k] += n
    return out


def lines(path: Path) -> list[str]:
    return [json.loads(x)["id"] for x in path.read_text().splitlines()] if path.exists() else []


@pytest.fixture(params=["sqlite", "redis"])
def mode(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "redis":
        return {
            "redis_url": request.getfixturevalue("redis_url"),
            "prefix": request.getfixturevalue("prefix"),
        }
    return {}


def test_feeds_reach_the_sinks_their_tags_and_lists_choose(tmp_path, feed_server: FeedServer, mode):
    """A tag-filtered sink gets only matching feeds; a feed's own list overrides; an
    unfiltered sink gets every feed it is routed to."""
    for name in ("world", "tech", "local"):
        feed_server.routes[f"/{name}.xml"] = Resource(
            rss([(f"{name}-1", f"{name} story")], site=f"https://{name}.example")
        )
    feeds = (
        f'[[feeds]]\nurl = "{feed_server.url("/world.xml")}"\ntags = ["world"]\n'
        f'[[feeds]]\nurl = "{feed_server.url("/tech.xml")}"\ntags = ["tech"]\n'
        f'[[feeds]]\nurl = "{feed_server.url("/local.xml")}"\ntags = ["world"]\n'
        'sinks = ["all"]\n'
    )
    sinks = (
        f'[sinks.all]\ntype = "jsonl"\npath = "{tmp_path}/all.jsonl"\n'
        f'[sinks.world]\ntype = "jsonl"\npath = "{tmp_path}/world.jsonl"\n'
        'tags = ["world"]\n'
    )
    rt, _ = make_runtime(tmp_path, feeds, sinks, mode)
    outbox = poll_all(rt)
    assert len(outbox["all"]) == 3 and len(outbox["world"]) == 1
    for sink, ids in outbox.items():
        pipeline.deliver(rt, sink, ids)
    assert len(lines(tmp_path / "all.jsonl")) == 3
    (only,) = [json.loads(x) for x in (tmp_path / "world.jsonl").read_text().splitlines()]
    assert only["source"] == feed_server.url("/world.xml")
    assert rt.store.pending_counts() == {}


def test_a_failing_webhook_backs_off_alone_then_dead_letters_and_replays(
    tmp_path, feed_server, mode
):
    """While the receiver fails, the JSONL sink is delivered at once and the webhook
    retries with doubling gaps; past the retry window the events are dead letters; a
    replay after the receiver recovers delivers them, signed, with the same ids."""
    feed_server.routes["/a.xml"] = Resource(rss([("one", "One"), ("two", "Two")]))
    feeds = f'[[feeds]]\nurl = "{feed_server.url("/a.xml")}"\n'
    with Receiver(lambda req: Answer(500)) as receiver:
        sinks = (
            f'[sinks.file]\ntype = "jsonl"\npath = "{tmp_path}/a.jsonl"\n'
            f'[sinks.hook]\ntype = "webhook"\nurl = "{receiver.url}"\ntimeout = 2\n'
        )
        rt, clock = make_runtime(
            tmp_path, feeds, sinks, mode, retry_base=10, retry_max=1000, retry_window=100
        )
        outbox = poll_all(rt)
        assert pipeline.deliver(rt, "file", outbox["file"])["delivered"] == 2
        assert pipeline.deliver(rt, "hook", outbox["hook"])["failed"] == 2
        gaps = []
        last = clock.now
        while rt.store.pending_counts().get("hook"):
            clock.now += 1
            if deliver_due(rt).get("hook"):
                gaps.append(clock.now - last)
                last = clock.now
        assert gaps == [8, 15, 30, 60], gaps  # rand=0: 3/4 of 10, 20, 40, 80
        assert rt.store.dead_letter_counts() == {"hook": 2}
        (first, _) = rt.store.dead_letters("hook")
        assert first.attempts == 5 and "still failing after 5 attempts" in first.error
        assert len(lines(tmp_path / "a.jsonl")) == 2  # the file sink never waited

        receiver.policy = lambda req: Answer(200)
        assert rt.store.replay_dead_letters("hook", None, clock.now) == 2
        clock.now += 1
        assert deliver_due(rt)["hook"]["delivered"] == 2
        assert rt.store.dead_letter_counts() == {} and rt.store.pending_counts() == {}
        delivered = [r for r in receiver.snapshot() if r.body]
        assert {r.headers["webhook-id"] for r in delivered} == set(outbox["hook"])
        for r in delivered[-2:]:
            assert_valid_event(r.body)


def test_a_rejected_event_is_dead_lettered_at_once(tmp_path, feed_server, mode):
    """A 4xx from the receiver sends the event to the dead-letter list without retries."""
    feed_server.routes["/a.xml"] = Resource(rss([("one", "One")]))
    feeds = f'[[feeds]]\nurl = "{feed_server.url("/a.xml")}"\n'
    with Receiver(lambda req: Answer(422)) as receiver:
        sinks = f'[sinks.hook]\ntype = "webhook"\nurl = "{receiver.url}"\n'
        rt, _ = make_runtime(tmp_path, feeds, sinks, mode)
        counts = pipeline.deliver(rt, "hook", poll_all(rt)["hook"])
    assert counts["dead_lettered"] == 1
    (letter,) = rt.store.dead_letters()
    assert (letter.attempts, letter.error) == (1, "rejected: HTTP 422")
    assert rt.store.pending_counts() == {}


def test_replay_delivers_history_to_a_new_sink(tmp_path, feed_server, mode):
    """Events delivered before a sink existed reach it by replaying the window; events
    outside the window do not, and a second replay adds nothing."""
    feed_server.routes["/a.xml"] = Resource(rss([("one", "One"), ("two", "Two")]))
    feeds = f'[[feeds]]\nurl = "{feed_server.url("/a.xml")}"\n'
    old = f'[sinks.file]\ntype = "jsonl"\npath = "{tmp_path}/a.jsonl"\n'
    rt, clock = make_runtime(tmp_path, feeds, old, mode)
    for sink, ids in poll_all(rt).items():
        pipeline.deliver(rt, sink, ids)
    start = clock.now
    clock.now += 3700  # past max_interval: the feed is due again
    feed_server.routes["/a.xml"] = Resource(
        rss([("one", "One"), ("two", "Two"), ("three", "Three")])
    )
    for sink, ids in poll_all(rt).items():
        pipeline.deliver(rt, sink, ids)
    rt.close()

    new = old + f'[sinks.late]\ntype = "jsonl"\npath = "{tmp_path}/late.jsonl"\n'
    rt2, clock2 = make_runtime(tmp_path, feeds, new, mode)
    clock2.now = clock.now + 10
    progress: list[int] = []
    assert (
        pipeline.replay_history(
            rt2, "late", start + 500, clock2.now, progress=progress.append, page=1
        )
        == 1
    )
    assert sum(progress) == 1
    deliver_due(rt2)
    assert len(lines(tmp_path / "late.jsonl")) == 1
    assert pipeline.replay_history(rt2, "late", start - 1, clock2.now) == 3
    deliver_due(rt2)
    late = lines(tmp_path / "late.jsonl")
    assert sorted(late) == sorted(lines(tmp_path / "a.jsonl")) and len(late) == 3
    assert pipeline.replay_history(rt2, "late", start - 1, clock2.now) == 3
    assert deliver_due(rt2)["late"]["duplicates"] == 3
    assert len(lines(tmp_path / "late.jsonl")) == 3


def test_a_crashing_sink_is_backed_off_not_hot_looped(tmp_path, feed_server, mode):
    """A sink that raises (a bug) gets its events put on the backoff, counted."""
    feed_server.routes["/a.xml"] = Resource(rss([("one", "One")]))
    feeds = f'[[feeds]]\nurl = "{feed_server.url("/a.xml")}"\n'
    sinks = f'[sinks.file]\ntype = "jsonl"\npath = "{tmp_path}/a.jsonl"\n'
    rt, _ = make_runtime(tmp_path, feeds, sinks, mode)
    ids = poll_all(rt)["file"]

    class Boom:
        name = "file"

        def deliver(self, events):
            raise RuntimeError("bug")

        def close(self):
            pass

    rt.sinks["file"] = Boom()  # type: ignore[assignment]
    assert pipeline.deliver(rt, "file", ids)["failed"] == 1
    assert rt.store.delivery_failures("file", ids)[ids[0]].last_error == (
        "sink crashed: RuntimeError"
    )
