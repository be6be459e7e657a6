"""The Store contract, operations part: heartbeats, delivery receipts, totals and latency
samples, the feed backlog (each test runs on SQLite and Redis)."""

from __future__ import annotations

from worker.core.delivery_stats import MAX_SAMPLES, DeliveryState, LatencySample
from worker.core.models import ArticleCommit, Event, FeedSpec, SeenRecord

NOW = 1_800_000_000.0


def spec(n: int, origin: str = "store") -> FeedSpec:
    return FeedSpec(feed_id=f"f{n}", url=f"https://example.com/{n}.xml", origin=origin)  # type: ignore[arg-type]


def commit(article: str, sinks: tuple[str, ...] = ("a", "b")) -> ArticleCommit:
    event_id = f"{article}.1"
    return ArticleCommit(
        seen=SeenRecord(article, 1, "h1"),
        expected_revision=0,
        event=Event(event_id, "article.created", article, b'{"id":"%s"}' % event_id.encode()),
        sinks=sinks,
    )


def test_add_feeds_registers_many_and_reports_the_new_ones(store):
    """add_feeds adds what is missing, due now, and names only those it added."""
    assert store.add_feed(spec(2), NOW)
    added = store.add_feeds([spec(n) for n in range(1, 1200)], NOW)
    assert len(added) == 1198 and "f2" not in added and "f1" in added
    assert len(store.feed_specs()) == 1199
    assert store.feed_specs(["f7"])["f7"].origin == "store"
    assert store.feed_backlog(NOW).due == 1199


def test_heartbeats_keep_the_latest_time_per_name(store):
    """A heartbeat is recorded per name and read back."""
    assert store.heartbeats() == {}
    store.heartbeat("beat", NOW)
    store.heartbeat("beat", NOW + 5)
    store.heartbeat("queue.fetch", NOW + 1)
    assert store.heartbeats() == {"beat": NOW + 5, "queue.fetch": NOW + 1}


def test_totals_count_delivered_pending_and_retrying_per_sink(store):
    """delivery_totals: acknowledged ones counted (less duplicates), the outbox split into
    pending and retrying, with its earliest due time."""
    store.commit_articles([commit("x"), commit("y"), commit("z")], NOW, 60)
    store.ack_deliveries("a", ["x.1", "y.1"])
    store.record_deliveries("a", ["x.1", "y.1"], [], NOW + 1, duplicates=1)
    store.retry_deliveries("b", ["x.1"], NOW, [300])
    totals = store.delivery_totals()
    assert totals["a"].delivered == 1 and totals["a"].pending == 1
    assert totals["a"].retrying == 0 and totals["a"].last_delivered_at == NOW + 1
    assert totals["b"].delivered == 0 and totals["b"].pending == 3
    assert totals["b"].retrying == 1
    assert totals["b"].oldest_due == NOW + 60
    assert totals["a"].dead_lettered == 0


def test_delivery_states_say_where_each_event_stands(store):
    """delivery_states: delivered (with the time) where a receipt is kept, pending or
    retrying (with attempts) where the outbox still holds it; unknown ids left out."""
    store.commit_articles([commit("x")], NOW, 60)
    store.ack_deliveries("a", ["x.1"])
    store.record_deliveries("a", ["x.1"], [], NOW + 2)
    store.retry_deliveries("b", ["x.1"], NOW, [300])
    states = store.delivery_states(["x.1", "nope.1"], NOW + 3)
    assert set(states) == {"x.1"}
    assert states["x.1"]["a"] == DeliveryState("delivered", NOW + 2)
    assert states["x.1"]["b"] == DeliveryState("retrying", NOW + 300, 1)


def test_receipts_are_forgotten_after_their_retention(store):
    """A receipt older than the retention is no longer reported."""
    store.commit_articles([commit("x", sinks=("a",))], NOW, 60)
    store.ack_deliveries("a", ["x.1"])
    store.record_deliveries("a", ["x.1"], [], NOW - 30 * 86400)
    store.record_deliveries("a", ["w.1"], [], NOW)  # the SQLite store prunes as it writes
    assert "x.1" not in store.delivery_states(["x.1"], NOW)


def test_latency_samples_keep_the_newest_per_feed(store):
    """Each feed keeps at most MAX_SAMPLES samples, newest first."""
    for n in range(MAX_SAMPLES + 5):
        store.record_deliveries(
            "a",
            [f"e{n}.1"],
            [LatencySample("f1", NOW + n, float(n)), LatencySample("f2", NOW, 1.5)],
            NOW + n,
        )
    got = store.latency_samples(["f1", "f2", "f3"])
    assert set(got) == {"f1", "f2"}
    assert len(got["f1"]) == MAX_SAMPLES and got["f1"][0] == (
        NOW + MAX_SAMPLES + 4,
        float(MAX_SAMPLES + 4),
    )
    assert got["f2"][0] == (NOW, 1.5)


def test_backlog_counts_due_feeds_and_the_earliest_due_time(store):
    """feed_backlog: feeds due and unclaimed; claiming moves them out of it."""
    store.add_feeds([spec(1), spec(2)], NOW - 100)
    backlog = store.feed_backlog(NOW)
    assert backlog.due == 2 and backlog.oldest_due == NOW - 100
    store.claim_due_feeds(NOW, 10, 600)
    assert store.feed_backlog(NOW).due == 0


def test_dead_letters_appear_in_totals_and_delivery_states(store):
    """A dead-lettered delivery is counted per sink and shown where its event stands."""
    store.commit_articles([commit("a1"), commit("a2")], NOW, 0)
    store.dead_letter("a", [("a1.1", "HTTP 400 (refused by the server)")], NOW + 5)
    totals = store.delivery_totals()
    assert totals["a"].dead_lettered == 1 and totals["a"].pending == 1
    assert totals["b"].dead_lettered == 0 and totals["b"].pending == 2
    states = store.delivery_states(["a1.1"], NOW + 6)["a1.1"]
    assert states["a"].status == "dead_lettered" and states["a"].at == NOW + 5
    assert states["b"].status == "pending"


def test_latency_samples_of_a_large_batch_from_one_feed(store):
    """A deliver batch can hold thousands of one feed's events (delivery.batch_size goes
    to 10,000): all are sampled, newest first, within MAX_SAMPLES."""
    ids = [f"e{n}.1" for n in range(9_000)]
    samples = [LatencySample("f1", NOW + n, float(n)) for n in range(9_000)]
    store.record_deliveries("a", ids, samples, NOW + 10_000)
    got = store.latency_samples(["f1"])["f1"]
    assert len(got) == MAX_SAMPLES and got[0] == (NOW + 8_999, 8_999.0)
    assert store.delivery_totals()["a"].delivered == 9_000
