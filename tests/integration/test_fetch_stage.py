"""The fetch and schedule stages against real stores and servers on 127.0.0.1: feed
lifecycle (410, permanent moves), backpressure (429, host budget), validators, history,
and a clear logged error for every hostile server."""

from __future__ import annotations

import json
import math
from email.utils import formatdate
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from tests import misbehaving as mb
from tests.integration.test_pipeline import Clock
from worker import pipeline
from worker.demo.server import FeedServer, Resource
from worker.runtime import Runtime
from worker.settings import load_settings


def runtime(
    tmp_path: Path, urls: list[str], mode: dict[str, str], **env: str
) -> tuple[Runtime, Clock]:
    base = {
        "SYNDICATE_FETCH__ALLOW_PRIVATE_NETWORKS": "true",
        "SYNDICATE_FETCH__TIMEOUT": "2",
        "SYNDICATE_STORE__DATA_DIR": str(tmp_path / "var"),
        "SYNDICATE_STORE__PREFIX": mode.get("prefix", "x"),
        "SYNDICATE_SCHEDULE__MIN_INTERVAL": "60",
        "SYNDICATE_SCHEDULE__MAX_INTERVAL": "600",
        **{f"SYNDICATE_{k.upper()}": v for k, v in env.items()},
    }
    if mode.get("redis_url"):
        base["REDIS_URL"] = mode["redis_url"]
    config = tmp_path / "syndicate.toml"
    config.write_text(
        "".join(f'[[feeds]]\nurl = "{u}"\nname = "feed {n}"\n' for n, u in enumerate(urls))
    )
    clock = Clock()
    rt = Runtime(load_settings(config, base), clock=clock, rand=lambda: 0.0)
    rt.store.sync_feeds(rt.settings.feed_specs(), clock())
    return rt, clock


def run_cycle(rt: Runtime) -> None:
    """One tick's worth of work, every stage, including the deliveries the tick claimed."""
    plan = pipeline.tick(rt)
    for sink, batches in plan.deliveries.items():
        for ids in batches:
            pipeline.deliver(rt, sink, ids)
    for batch in plan.fetch_batches:
        changed = pipeline.fetch_batch(rt, batch)
        for sink, ids in pipeline.process(rt, changed).items():
            pipeline.deliver(rt, sink, ids)


def deliver_due(rt: Runtime) -> None:
    for sink, batches in pipeline.tick(rt).deliveries.items():
        for ids in batches:
            pipeline.deliver(rt, sink, ids)


@pytest.fixture(params=["sqlite", "redis"])
def mode(request: pytest.FixtureRequest) -> dict[str, str]:
    if request.param == "redis":
        return {
            "redis_url": request.getfixturevalue("redis_url"),
            "prefix": request.getfixturevalue("prefix"),
        }
    return {}


@pytest.fixture
def server():
    with mb.MisbehavingServer() as s:
        yield s


def dated_rss(items: list[tuple[str, float]], ttl: int = 9) -> bytes:
    """RSS whose items carry the given publication times (epoch seconds)."""
    body = "".join(
        f"<item><title>{slug}</title><link>https://news.example/{slug}</link>"
        f"<guid>{slug}</guid><pubDate>{formatdate(ts, usegmt=True)}</pubDate></item>"
        for slug, ts in items
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>'
        f"<link>https://news.example/</link><ttl>{ttl}</ttl>{body}</channel></rss>"
    ).encode()


def state_of(rt: Runtime):
    fid = rt.settings.feeds[0].feed_id
    return rt.store.load_states([fid])[fid]


def sink_events(rt: Runtime) -> list[dict]:
    path = rt.settings.data_dir / "articles.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_410_retires_the_feed_with_a_feed_gone_event_and_stops_polling(tmp_path, server, mode):
    """A 410 marks the feed gone, emits one feed.gone CloudEvent to the sinks, keeps the
    feed listed, and it is never claimed again."""
    server.routes["/gone.xml"] = mb.respond(b"", "410 Gone")
    rt, clock = runtime(tmp_path, [server.url("/gone.xml")], mode)
    run_cycle(rt)
    state = state_of(rt)
    assert state.lifecycle == "gone" and state.next_poll_at == math.inf
    assert state.next_reason == "gone" and state.polls[-1].outcome == "gone"
    clock.now += 5  # the event was queued due at once: the next tick delivers it
    deliver_due(rt)
    (event,) = sink_events(rt)
    assert event["type"] == "feed.gone" and event["subject"] == state.feed_id
    assert event["data"]["http_status"] == 410 and event["source"] == server.url("/gone.xml")
    clock.now += 365 * 86400
    assert pipeline.tick(rt).fetch_batches == []
    assert state.feed_id in rt.store.feed_specs()
    assert len(server.requests) == 1


def test_permanent_redirects_move_the_feed_only_after_three_polls(tmp_path, server, mode):
    """301 to one target on three consecutive polls moves the subscription (feed.moved);
    later polls go straight to the new URL."""
    server.routes["/old.xml"] = mb.redirect("/new.xml", "301 Moved Permanently")
    server.routes["/new.xml"] = mb.respond(dated_rss([("a", 1_799_990_000)]))
    rt, clock = runtime(tmp_path, [server.url("/old.xml")], mode)
    for n in range(3):
        assert state_of(rt).url == server.url("/old.xml"), f"moved after {n} polls"
        clock.now = max(clock.now + 1, state_of(rt).next_poll_at)
        run_cycle(rt)
    state = state_of(rt)
    assert state.url == server.url("/new.xml") and state.moved_streak == 0
    clock.now = state.next_poll_at
    run_cycle(rt)
    assert [p for p, _ in server.requests][-1] == "/new.xml"
    assert [p for p, _ in server.requests].count("/old.xml") == 3
    clock.now += 5
    deliver_due(rt)
    moved = [e for e in sink_events(rt) if e["type"] == "feed.moved"]
    assert len(moved) == 1
    assert moved[0]["data"]["from"] == server.url("/old.xml")
    assert moved[0]["data"]["to"] == server.url("/new.xml")


def test_temporary_redirects_never_move_the_feed(tmp_path, server, mode):
    """302 and 307, however often, leave the subscription where it is."""
    server.routes["/t.xml"] = mb.redirect("/t2.xml", "307 Temporary Redirect")
    server.routes["/t2.xml"] = mb.redirect("/final.xml", "302 Found")
    server.routes["/final.xml"] = mb.respond(dated_rss([("a", 1_799_990_000)]))
    rt, clock = runtime(tmp_path, [server.url("/t.xml")], mode)
    for _ in range(5):
        clock.now = max(clock.now + 1, state_of(rt).next_poll_at)
        run_cycle(rt)
    state = state_of(rt)
    assert state.url == server.url("/t.xml") and state.moved_to is None
    assert state.events_emitted == 0


def test_429_is_backpressure_and_leaves_the_error_streak_alone(tmp_path, server, mode):
    """A throttled poll keeps the error streak, honours Retry-After and is not an error."""
    server.routes["/busy.xml"] = mb.respond(b"", "500 Internal Server Error")
    rt, clock = runtime(tmp_path, [server.url("/busy.xml")], mode)
    run_cycle(rt)
    assert state_of(rt).error_streak == 1
    server.routes["/busy.xml"] = mb.throttled("900")
    clock.now = state_of(rt).next_poll_at
    run_cycle(rt)
    state = state_of(rt)
    assert state.error_streak == 1 and state.last_http_status == 429
    assert state.next_poll_at == clock.now + 900 and state.next_reason == "retry_after"


def test_a_flapping_503_backs_off_then_recovers(tmp_path, server, mode):
    """503, then 200, then 503: the streak rises, resets on success, rises again."""
    server.routes["/flap.xml"] = mb.flapping(mb.respond(dated_rss([("a", 1_799_990_000)])))
    rt, clock = runtime(tmp_path, [server.url("/flap.xml")], mode)
    streaks = []
    for _ in range(3):
        clock.now = max(clock.now + 1, state_of(rt).next_poll_at)
        run_cycle(rt)
        streaks.append(state_of(rt).error_streak)
    assert streaks == [1, 0, 1]
    assert state_of(rt).next_reason == "error_backoff(streak=1)"


def test_a_spent_host_budget_defers_feeds_without_counting_errors(tmp_path, server, mode):
    """Three feeds of one host with a burst of one: one is fetched, the others are
    deferred (backpressure), spread out, error streak untouched, and polled later."""
    for n in range(3):
        server.routes[f"/f{n}.xml"] = mb.respond(dated_rss([(f"i{n}", 1_799_990_000)]))
    urls = [server.url(f"/f{n}.xml") for n in range(3)]
    rt, clock = runtime(tmp_path, urls, mode, fetch__host_burst="1", fetch__host_rate="0.5")
    with capture_logs() as logs:
        run_cycle(rt)
    states = rt.store.load_states([f.feed_id for f in rt.settings.feeds])
    deferred = [s for s in states.values() if s.last_status == "deferred"]
    assert len(server.requests) == 1 and len(deferred) == 2
    assert all(s.error_streak == 0 and s.next_reason == "host_budget" for s in deferred)
    waits = sorted(s.next_poll_at - clock.now for s in deferred)
    assert 0 < waits[0] < waits[1] <= 10
    polled = [e for e in logs if e["event"] == "feed.polled"]
    assert sorted(e["status"] for e in polled) == ["deferred", "deferred", "ok"]
    clock.now += 10
    run_cycle(rt)
    clock.now += 10
    run_cycle(rt)
    assert sorted({p for p, _ in server.requests}) == ["/f0.xml", "/f1.xml", "/f2.xml"]


def test_an_etag_that_changes_every_time_does_not_defeat_the_body_hash(
    tmp_path, feed_server: FeedServer, mode
):
    """A server sending a fresh ETag with the same body each time: unchanged, not parsed."""
    counter = iter(range(1000))
    body = dated_rss([("a", 1_799_990_000)])
    feed_server.routes["/e.xml"] = lambda: Resource(body, headers=(("X-Req", str(next(counter))),))
    # Resource's ETag is derived from the body; make it differ per response instead
    feed_server.routes["/e.xml"] = lambda: _fresh_etag(body, next(counter))
    rt, clock = runtime(tmp_path, [feed_server.url("/e.xml")], mode)
    run_cycle(rt)
    fid = rt.settings.feeds[0].feed_id
    for _ in range(2):
        clock.now = state_of(rt).next_poll_at
        assert pipeline.fetch_batch(rt, [fid]) == []
        assert state_of(rt).polls[-1].outcome == "unchanged"
    assert feed_server.hits["/e.xml"] == 3


class _fresh_etag(Resource):
    def __init__(self, body: bytes, n: int) -> None:
        super().__init__(body)
        self.n = n

    @property
    def etag(self) -> str:
        return f'"v{self.n}"'


def test_a_last_modified_in_the_future_is_not_sent_back(tmp_path, server, mode):
    """A Last-Modified dated next year is not stored, so no If-Modified-Since follows."""
    future = formatdate(1_900_000_000, usegmt=True)
    past = formatdate(1_700_000_000, usegmt=True)
    server.routes["/lm.xml"] = mb.respond(
        dated_rss([("a", 1_799_990_000)]), headers=[("Last-Modified", future)]
    )
    rt, clock = runtime(tmp_path, [server.url("/lm.xml")], mode)
    run_cycle(rt)
    assert state_of(rt).last_modified is None
    server.routes["/lm.xml"] = mb.respond(
        dated_rss([("b", 1_799_990_500)]), headers=[("Last-Modified", past)]
    )
    clock.now = state_of(rt).next_poll_at
    run_cycle(rt)
    assert "if-modified-since" not in server.requests[1][1]
    assert state_of(rt).last_modified == past


def test_history_hints_and_reason_are_recorded_for_explain(tmp_path, server, mode):
    """Each poll leaves a bounded record; dated new items feed the publication history;
    the feed's ttl shapes the next poll and is named as its reason."""
    now = Clock().now
    server.routes["/h.xml"] = mb.respond(dated_rss([("a", now - 7200), ("b", now - 3600)], ttl=60))
    rt, clock = runtime(
        tmp_path,
        [server.url("/h.xml")],
        mode,
        schedule__min_interval="60",
        schedule__max_interval="7200",
    )
    run_cycle(rt)
    state = state_of(rt)
    assert state.published == (now - 7200, now - 3600)
    assert state.hints.ttl == 3600.0
    assert state.polls[-1].outcome == "ok" and state.polls[-1].new == 2
    assert state.next_reason == "ttl" and state.next_poll_at == clock.now + 3600
    for _ in range(25):
        clock.now = state_of(rt).next_poll_at
        run_cycle(rt)
    assert len(state_of(rt).polls) == 20


HOSTILE = {
    "/drip": (mb.slow_body(every=0.3), "timeout", "within 2s"),
    "/headers": (mb.slow_headers(every=0.3), "timeout", "within 2s"),
    "/endless": (mb.endless_body(), "refused", "byte cap"),
    "/gzip": (mb.bomb("gzip", 64 << 20), "refused", "byte cap"),
    "/deflate": (mb.bomb("deflate", 64 << 20), "refused", "byte cap"),
    "/br": (mb.bomb("br", 64 << 20), "refused", "byte cap"),
    "/huge": (mb.huge_content_length(), "refused", "Content-Length"),
    "/loop": (mb.redirect("/loop"), "refused", "redirects"),
    "/reset": (mb.reset_mid_body(), "connect_error", ""),
    "/short": (mb.wrong_content_length(9000, b"<rss>"), "connect_error", "body interrupted"),
}


@pytest.mark.parametrize("path", sorted(HOSTILE))
def test_every_hostile_server_ends_in_a_logged_error_naming_feed_and_reason(tmp_path, server, path):
    """Each misbehaviour costs at most the deadline and ends in a feed.polled line that
    names the feed, the kind of error and the reason, and (the feed's first error) one
    feed.state_changed warning; the feed stays scheduled."""
    behaviour, kind, words = HOSTILE[path]
    server.routes[path] = behaviour
    rt, _ = runtime(tmp_path, [server.url(path)], {}, fetch__max_bytes="1048576")
    with capture_logs() as logs:
        run_cycle(rt)
    (line,) = [e for e in logs if e["event"] == "feed.polled"]
    assert line["log_level"] == "info" and line["feed"] == "feed 0"
    assert line["error_kind"] == kind and words in line["error"], line
    (changed,) = [e for e in logs if e["event"] == "feed.state_changed"]
    assert changed["log_level"] == "warning" and changed["to_state"] == "failing"
    assert changed["error_kind"] == kind and words in changed["error"], changed
    assert line["duration_ms"] < 2000 + 1500
    assert state_of(rt).error_streak == 1 and state_of(rt).next_poll_at < math.inf
