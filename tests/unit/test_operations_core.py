"""The pure parts of the operator's view: a feed's condition and its changes, the stats
line of a feed, latency samples from delivered events."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from worker.core.condition import Condition, change, condition
from worker.core.delivery_stats import latency_samples
from worker.core.feed_stats import articles_per_day, feed_stats
from worker.core.models import FeedSpec, FeedState, PollRecord

NOW = 1_800_000_000.0
SPEC = FeedSpec("f1", "https://a.example/rss", name="A")


def state(**kw: object) -> FeedState:
    return replace(FeedState("f1", "https://a.example/rss"), **kw)  # type: ignore[arg-type]


def test_condition_is_healthy_failing_by_kind_or_gone():
    """A streak makes a feed failing with its error kind; 410 makes it gone."""
    assert condition(state()) == Condition("healthy")
    assert condition(state(error_streak=2, last_error_kind="timeout")) == Condition(
        "failing", "timeout"
    )
    assert condition(state(lifecycle="gone", error_streak=1)) == Condition("gone")


def test_change_only_when_the_condition_moves():
    """The same failure again is no change; a new kind, a recovery and a first failure
    are; retirement is left to feed.gone."""
    failing = state(error_streak=1, last_error_kind="timeout")
    assert change(failing, replace(failing, error_streak=2)) is None
    assert change(state(), failing).worse  # type: ignore[union-attr]
    other = change(failing, replace(failing, error_streak=2, last_error_kind="server_error"))
    assert other is not None and other.worse and other.before.error_kind == "timeout"
    recovered = change(failing, state())
    assert recovered is not None and not recovered.worse
    assert change(failing, replace(failing, lifecycle="gone")) is None


def polls(*outcomes: str) -> tuple[PollRecord, ...]:
    return tuple(PollRecord(at=NOW - 60 * n, outcome=o) for n, o in enumerate(outcomes))


def test_304_ratio_leaves_deferred_polls_out():
    """not_modified over the polls that were sent (host-budget deferrals are not)."""
    st = state(
        polls=polls("ok", "not_modified", "deferred", "not_modified", "error"),
        last_polled_at=NOW,
        tracked_since=NOW - 86400,
    )
    s = feed_stats(SPEC, st, [], NOW)
    assert s.polls == 4 and s.not_modified_ratio == 0.5
    assert feed_stats(SPEC, state(), [], NOW).not_modified_ratio is None


def test_median_latency_leaves_the_backlog_out():
    """Samples published before the feed was first polled are not latency; the median
    of the rest is."""
    st = state(tracked_since=NOW - 1000)
    samples = [(NOW - 5000, 4000.0), (NOW - 900, 30.0), (NOW - 800, 10.0), (NOW - 700, 20.0)]
    s = feed_stats(SPEC, st, samples, NOW)
    assert s.latency_samples == 3 and s.median_latency == 20.0
    assert feed_stats(SPEC, st, [(NOW - 5000, 4000.0)], NOW).median_latency is None


def test_articles_per_day_over_at_most_a_week_and_at_least_a_day():
    """Publications per day over the tracked span, clamped to [1 day, 7 days]."""
    assert articles_per_day(state(), NOW) is None
    week = state(
        tracked_since=NOW - 30 * 86400,
        published=tuple(NOW - 86400 * d for d in (0.5, 1.5, 2.5, 3.5, 10)),
    )
    assert articles_per_day(week, NOW) == pytest.approx(4 / 7)
    new = state(tracked_since=NOW - 600, published=(NOW - 300, NOW - 200))
    assert articles_per_day(new, NOW) == pytest.approx(2.0)


def event(kind: str, published: str | None, detected: str, feed: str = "f1") -> bytes:
    return json.dumps(
        {
            "specversion": "1.0",
            "id": "x",
            "type": kind,
            "time": detected,
            "data": {"published": published, "source": {"feed_id": feed}},
        },
        separators=(",", ":"),
    ).encode()


def test_latency_samples_from_created_articles_only():
    """One sample per delivered article.created with a publication date; updates, feed
    events, undated articles and undelivered ids give none; a date after detection
    counts as the detection time."""
    bodies = {
        "a.1": event("article.created", "2027-01-15T08:00:00Z", "2027-01-15T08:01:00Z"),
        "b.2": event("article.updated", "2027-01-15T08:00:00Z", "2027-01-15T08:01:00Z"),
        "c.1": event("article.created", None, "2027-01-15T08:01:00Z"),
        "d.1": event("article.created", "2027-01-15T09:00:00Z", "2027-01-15T08:02:00Z", "f2"),
        "e.1": event("article.created", "2027-01-15T08:00:00Z", "2027-01-15T08:01:00Z"),
        "feed.x.1": b'{"type":"feed.gone","data":{}}',
    }
    at = 1_800_003_600.0  # 2027-01-15T09:00:00Z
    got = latency_samples(bodies, ["a.1", "b.2", "c.1", "d.1", "feed.x.1"], at)
    assert [(s.feed_id, s.latency) for s in got] == [("f1", 3600.0), ("f2", 3480.0)]
