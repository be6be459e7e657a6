"""The Store contract: SQLite and Redis behave the same (each test runs on both)."""

from __future__ import annotations

import threading
from dataclasses import replace

from worker.adapters.store.sqlite import SqliteStore
from worker.core.models import (
    SIGNATURE_SCHEME,
    ArticleCommit,
    Event,
    FeedIdentity,
    FeedSpec,
    FeedState,
    KeyTrust,
    SeenRecord,
)
from worker.core.neardup import fingerprint
from worker.core.retry import DeadLetter, FailureHistory

NOW = 1_800_000_000.0


def spec(n: int, origin: str = "config") -> FeedSpec:
    return FeedSpec(feed_id=f"f{n}", url=f"https://example.com/{n}.xml", origin=origin)  # type: ignore[arg-type]


def commit(
    article: str, expected: int = 0, revision: int = 1, sinks: tuple[str, ...] = ("a", "b")
) -> ArticleCommit:
    event_id = f"{article}.{revision}"
    return ArticleCommit(
        seen=SeenRecord(article, revision, f"h{revision}"),
        expected_revision=expected,
        event=Event(event_id, "article.created", article, b'{"id":"%s"}' % event_id.encode()),
        sinks=sinks,
    )


def test_sync_adds_new_feeds_due_now_and_removes_dropped_config_feeds(store):
    """sync_feeds makes config feeds match the list and leaves store-added feeds alone."""
    assert store.sync_feeds([spec(1), spec(2)], NOW) == (2, 0)
    assert store.add_feed(spec(9, origin="store"), NOW)
    assert store.sync_feeds([spec(2), spec(3)], NOW) == (1, 1)
    assert set(store.feed_specs()) == {"f2", "f3", "f9"}
    assert set(store.claim_due_feeds(NOW, 10, 60)) == {"f2", "f3", "f9"}


def test_sync_updates_a_changed_spec(store):
    """A feed whose config changed keeps its id and state but gets the new spec."""
    store.sync_feeds([spec(1)], NOW)
    store.sync_feeds([replace(spec(1), name="renamed", tags=("x",))], NOW)
    got = store.feed_specs(["f1"])["f1"]
    assert (got.name, got.tags) == ("renamed", ("x",))


def test_add_feed_refuses_a_duplicate(store):
    """Adding a feed twice registers it once."""
    assert store.add_feed(spec(1, origin="store"), NOW) is True
    assert store.add_feed(spec(1, origin="store"), NOW) is False


def test_claim_leases_feeds_until_the_lease_ends(store):
    """A claimed feed is not claimable again until its lease expires."""
    store.sync_feeds([spec(1), spec(2)], NOW)
    assert sorted(store.claim_due_feeds(NOW, 10, 60)) == ["f1", "f2"]
    assert store.claim_due_feeds(NOW + 59, 10, 60) == []
    assert sorted(store.claim_due_feeds(NOW + 61, 10, 60)) == ["f1", "f2"]


def test_claim_respects_limit_and_due_time(store):
    """Only due feeds are claimed, at most ``limit`` of them."""
    store.sync_feeds([spec(i) for i in range(5)], NOW)
    states = store.load_states(["f0", "f1"])
    store.save_states(
        [
            replace(states["f0"], next_poll_at=NOW + 100),
            replace(states["f1"], next_poll_at=NOW + 100),
        ]
    )
    first = store.claim_due_feeds(NOW, 2, 60)
    second = store.claim_due_feeds(NOW, 10, 60)
    assert len(first) == 2 and len(second) == 1
    assert set(first + second) == {"f2", "f3", "f4"}


def test_concurrent_claims_never_hand_out_a_feed_twice(store):
    """Two schedulers claiming at once split the due feeds between them."""
    store.sync_feeds([spec(i) for i in range(200)], NOW)
    results: list[list[str]] = []

    def claim() -> None:
        for _ in range(20):
            results.append(store.claim_due_feeds(NOW, 7, 60))

    threads = [threading.Thread(target=claim) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    claimed = [f for batch in results for f in batch]
    assert len(claimed) == len(set(claimed)) == 200


def test_states_round_trip_and_set_the_due_time(store):
    """save_states stores the state and makes the feed due at next_poll_at."""
    store.sync_feeds([spec(1)], NOW)
    fresh = store.load_states(["f1"])["f1"]
    assert fresh == FeedState(feed_id="f1", url="https://example.com/1.xml")
    saved = replace(
        fresh,
        etag='"x"',
        error_streak=2,
        next_poll_at=NOW + 30,
        next_reason="quiet",
        last_polled_at=NOW,
    )
    store.claim_due_feeds(NOW, 10, 600)
    store.save_states([saved])
    assert store.load_states(["f1"])["f1"] == saved
    assert store.claim_due_feeds(NOW + 29, 10, 60) == []
    assert store.claim_due_feeds(NOW + 30, 10, 60) == ["f1"]


def test_load_feeds_reads_each_known_feeds_spec_and_state_together(store):
    """load_feeds (the fetch task's read) is feed_specs and load_states at once: a fresh
    state for a feed never polled, the saved one after a poll, unknown ids left out."""
    store.sync_feeds([spec(1), spec(2)], NOW)
    saved = replace(store.load_states(["f1"])["f1"], etag='"x"', next_poll_at=NOW + 30)
    store.save_states([saved])
    got = store.load_feeds(["f1", "f2", "nope"])
    specs, states = store.feed_specs(["f1", "f2"]), store.load_states(["f1", "f2"])
    assert got == {f: (specs[f], states[f]) for f in ("f1", "f2")}
    assert got["f1"][1] == saved
    assert got["f2"][1] == FeedState(feed_id="f2", url="https://example.com/2.xml")
    assert store.load_feeds([]) == {}


def test_save_state_of_a_removed_feed_does_not_resurrect_it(store):
    """A poll finishing after its feed was removed leaves no trace."""
    store.sync_feeds([spec(1)], NOW)
    state = store.load_states(["f1"])["f1"]
    store.remove_feed("f1")
    store.save_states([replace(state, next_poll_at=NOW)])
    assert store.feed_specs() == {}
    assert store.claim_due_feeds(NOW + 1, 10, 60) == []


def test_commit_is_conditional_on_the_expected_revision(store):
    """An article is accepted once; a racing second commit of revision 1 is refused."""
    assert store.commit_articles([commit("a1")], NOW, 60) == ["a1.1"]
    assert store.commit_articles([commit("a1")], NOW, 60) == []
    assert store.seen(["a1", "zz"]) == {"a1": SeenRecord("a1", 1, "h1")}
    assert store.commit_articles([commit("a1", expected=1, revision=2)], NOW, 60) == ["a1.2"]
    assert store.seen(["a1"])["a1"].revision == 2


def test_a_large_commit_keeps_every_article_and_its_bytes(store):
    """Thousands of articles in one call (more fields than a 16-bit msgpack array holds,
    as the Redis store packs them), with bodies and signatures of any bytes, are all
    accepted and read back unchanged."""
    body = bytes(range(256)) * 4
    fp = fingerprint("t", "some words to sign here for the record")
    commits = [
        ArticleCommit(
            seen=replace(SeenRecord(f"big{n}", 1, f"h{n}"), signature=fp.signature),
            expected_revision=0,
            event=Event(f"big{n}.1", "article.created", f"big{n}", body + str(n).encode()),
            sinks=("a",),
            aliases=(f"alias{n}",),
        )
        for n in range(6_000)
    ]
    assert store.commit_articles(commits, NOW, 60) == [f"big{n}.1" for n in range(6_000)]
    assert store.seen(["big5999"])["big5999"].signature == fp.signature
    assert store.pending_events("a", ["big0.1", "big5999.1"]) == {
        "big0.1": body + b"0",
        "big5999.1": body + b"5999",
    }


def test_commit_queues_the_event_for_every_sink_under_a_lease(store):
    """Accepted events are pending for each sink, claimable once the lease ends."""
    store.commit_articles([commit("a1"), commit("a2")], NOW, 60)
    assert store.pending_counts() == {"a": 2, "b": 2}
    assert store.claim_deliveries("a", NOW, 10, 60) == []
    assert sorted(store.claim_deliveries("a", NOW + 61, 10, 60)) == ["a1.1", "a2.1"]
    assert store.pending_events("b", ["a1.1", "nope"]) == {"a1.1": b'{"id":"a1.1"}'}


def test_ack_removes_only_that_sinks_delivery(store):
    """Acknowledging for one sink leaves the event pending for the others."""
    store.commit_articles([commit("a1")], NOW, 60)
    store.ack_deliveries("a", ["a1.1"])
    assert store.pending_events("a", ["a1.1"]) == {}
    assert store.pending_events("b", ["a1.1"]) == {"a1.1": b'{"id":"a1.1"}'}
    assert store.pending_counts() == {"b": 1}


def test_retry_counts_attempts_and_reschedules(store):
    """A failed delivery comes due after its delay with one more attempt counted."""
    store.commit_articles([commit("a1")], NOW, 0)
    assert store.delivery_attempts("a", ["a1.1"]) == {"a1.1": 0}
    store.retry_deliveries("a", ["a1.1"], NOW, [100.0])
    store.retry_deliveries("a", ["a1.1"], NOW, [200.0])
    assert store.delivery_attempts("a", ["a1.1"]) == {"a1.1": 2}
    assert store.claim_deliveries("a", NOW + 199, 10, 60) == []
    assert store.claim_deliveries("a", NOW + 200, 10, 60) == ["a1.1"]


def test_touch_and_task_guard(store):
    """touch_seen keeps a record; task_started counts starts until task_finished."""
    store.commit_articles([commit("a1")], NOW, 60)
    store.touch_seen(["a1"], NOW + 10)
    assert "a1" in store.seen(["a1"])
    assert [store.task_started("t1") for _ in range(3)] == [1, 2, 3]
    store.task_finished("t1")
    assert store.task_started("t1") == 1


def test_sqlite_prune_forgets_old_articles_but_keeps_pending_events(tmp_path):
    """Pruning drops seen records past the TTL; undelivered events survive it."""
    from worker.adapters.store.sqlite import SqliteStore

    s = SqliteStore(tmp_path / "s.db", seen_ttl=100, event_ttl=100)
    s.commit_articles([commit("old", sinks=("a",))], NOW, 0)
    s.commit_articles([commit("kept", sinks=("a",))], NOW, 0)
    s.ack_deliveries("a", ["old.1"])
    s.touch_seen(["kept"], NOW + 150)
    assert s.prune(NOW + 200) >= 2
    assert set(s.seen(["old", "kept"])) == {"kept"}
    assert s.pending_events("a", ["kept.1"]) == {"kept.1": b'{"id":"kept.1"}'}


def feed_events(*ids: str) -> list[Event]:
    return [Event(i, "feed.gone", "f1", b'{"id":"%s"}' % i.encode()) for i in ids]


def test_enqueue_events_queues_feed_events_for_every_sink_once(store):
    """Non-article events go through the same outbox, to every sink, once per id."""
    assert store.enqueue_events(feed_events("feed.f1.1", "feed.f2.1"), ("a", "b"), NOW, 0) == [
        "feed.f1.1",
        "feed.f2.1",
    ]
    assert store.enqueue_events(feed_events("feed.f1.1", "feed.f1.2"), ("a", "b"), NOW, 0) == [
        "feed.f1.2"
    ]
    assert store.pending_counts() == {"a": 3, "b": 3}
    assert sorted(store.claim_deliveries("a", NOW, 10, 60)) == [
        "feed.f1.1",
        "feed.f1.2",
        "feed.f2.1",
    ]
    assert store.pending_events("b", ["feed.f1.1"]) == {"feed.f1.1": b'{"id":"feed.f1.1"}'}


def test_enqueued_events_wait_for_their_lease_and_ack_like_articles(store):
    """A lease delays the first claim; acknowledging removes the delivery for that sink."""
    store.enqueue_events(feed_events("feed.f1.1"), ("a",), NOW, 30)
    assert store.claim_deliveries("a", NOW + 29, 10, 60) == []
    assert store.claim_deliveries("a", NOW + 30, 10, 60) == ["feed.f1.1"]
    store.ack_deliveries("a", ["feed.f1.1"])
    assert store.pending_counts() == {}
    assert store.enqueue_events([], ("a",), NOW, 0) == []


def test_feed_events_are_in_the_history_that_replay_reads(store):
    """feed.moved and feed.gone are replayed with the articles: both stores list them in
    the history by the time they were queued, once."""
    store.enqueue_events(feed_events("feed.f1.1"), ("a",), NOW, 30)
    store.enqueue_events(feed_events("feed.f1.1", "feed.f2.1"), ("a",), NOW + 5, 30)
    assert store.history_count(NOW - 1, NOW + 10) == 2
    assert store.history_page(NOW - 1, NOW + 10, None, 10) == (["feed.f1.1", "feed.f2.1"], None)
    assert store.history_page(NOW + 1, NOW + 10, None, 10) == (["feed.f2.1"], None)


def test_feed_state_history_round_trips(store):
    """The scheduler's bounded history (publications, polls, hints) survives the store."""
    from worker.core.models import FeedHints, PollRecord

    store.sync_feeds([spec(1)], NOW)
    state = replace(
        store.load_states(["f1"])["f1"],
        lifecycle="gone",
        tracked_since=NOW - 100,
        published=(NOW - 50, NOW - 10),
        polls=(PollRecord(at=NOW, outcome="gone", http_status=410, next_reason="gone"),),
        hints=FeedHints(ttl=600.0, skip_hours=(1, 2), skip_days=(6,)),
        moved_to="https://example.com/new.xml",
        moved_streak=2,
        events_emitted=1,
        next_poll_at=float("inf"),
    )
    store.save_states([state])
    assert store.load_states(["f1"])["f1"] == state
    assert store.claim_due_feeds(NOW + 10 * 365 * 86400, 10, 60) == []
    assert "f1" in store.feed_specs()


def history(store, source, limit):
    """One source's history as fingerprints only, newest first."""
    return [fps for _, fps in store.paragraph_histories([source], limit)[source]]


def test_paragraph_history_is_newest_first_and_bounded(store):
    """Remembered articles come back newest first; only the newest ``keep`` are kept."""
    for n in range(5):
        store.remember_paragraphs(
            [("site.example", f"a{n}", [f"fp{n}", "shared"])], NOW + n, keep=3
        )
    assert history(store, "site.example", 10) == [
        ("fp4", "shared"),
        ("fp3", "shared"),
        ("fp2", "shared"),
    ]
    assert history(store, "site.example", 2) == [("fp4", "shared"), ("fp3", "shared")]


def test_paragraph_history_remembers_an_article_once_and_per_source(store):
    """A second remember for the same article changes nothing; sources do not mix."""
    store.remember_paragraphs([("one.example", "a1", ["x"])], NOW, keep=10)
    store.remember_paragraphs([("one.example", "a1", ["y", "z"])], NOW + 5, keep=10)
    store.remember_paragraphs([("two.example", "a1", ["w"])], NOW, keep=10)
    assert history(store, "one.example", 10) == [("x",)]
    assert history(store, "two.example", 10) == [("w",)]
    assert history(store, "three.example", 10) == []


def test_paragraph_histories_name_the_articles_and_answer_every_source(store):
    """Several sources in one call, each article with its id; an unknown source has an
    empty history, and the greater id comes first among articles remembered together."""
    store.remember_paragraphs(
        [("one.example", "a1", ["x"]), ("one.example", "a3", ["z"]), ("one.example", "a2", ["y"])],
        NOW,
        keep=2,
    )
    store.remember_paragraphs([("two.example", "b1", ["q"])], NOW, keep=2)
    found = store.paragraph_histories(["one.example", "two.example", "none.example"], 10)
    assert found == {
        "one.example": [("a3", ("z",)), ("a2", ("y",))],
        "two.example": [("b1", ("q",))],
        "none.example": [],
    }
    assert store.paragraph_histories([], 10) == {}


def test_paragraph_history_takes_a_batch_of_sources_at_once(store):
    """One call remembers articles of several sources, each source bounded on its own."""
    store.remember_paragraphs(
        [("one.example", f"a{n}", [f"p{n}"]) for n in range(4)] + [("two.example", "b1", ["q"])],
        NOW,
        keep=2,
    )
    assert len(history(store, "one.example", 10)) == 2
    assert history(store, "two.example", 10) == [("q",)]


def test_paragraph_history_batch_keeps_the_first_of_a_repeat_and_the_newest(store):
    """Within one call, as across calls: an article is remembered once (its first
    fingerprints), sources interleave freely, and the bound keeps the newest."""
    store.remember_paragraphs([("one.example", "old", ["o"])], NOW - 10, keep=2)
    store.remember_paragraphs(
        [
            ("one.example", "a1", ["x"]),
            ("two.example", "b1", ["q"]),
            ("one.example", "a1", ["y"]),
            ("one.example", "old", ["z"]),
        ],
        NOW,
        keep=2,
    )
    assert history(store, "one.example", 10) == [("x",), ("o",)]
    store.remember_paragraphs([("one.example", "a2", ["w"])], NOW + 1, keep=2)
    assert history(store, "one.example", 10) == [("w",), ("x",)]
    assert history(store, "two.example", 10) == [("q",)]


# -- dedupe: fingerprints, aliases, the near-duplicate index, identity statistics ----------


def fp_commit(
    article: str,
    *,
    expected: int = 0,
    revision: int = 1,
    aliases: tuple[str, ...] = (),
    bands: tuple[str, ...] = (),
    **fields: object,
) -> ArticleCommit:
    base = commit(article, expected, revision, sinks=("a",))
    seen = SeenRecord(
        article,
        revision,
        f"h{revision}",
        feed_key="f00",
        title_key="t00",
        signature=bytes(range(256)),
        **fields,
    )  # type: ignore[arg-type]
    return replace(base, seen=seen, aliases=aliases, bands=bands)


def test_seen_records_keep_their_fingerprint(store):
    """Every fingerprint field of a committed record reads back as written."""
    c = fp_commit("a1", cluster_id="c1", duplicate_of="c1", window_start=NOW, window_updates=2)
    store.commit_articles([c], NOW, 60)
    assert store.seen(["a1"]) == {"a1": c.seen}
    assert store.lookup_articles(["a1"]) == {"a1": c.seen}


def test_a_record_keeps_the_scheme_of_its_signature(store):
    """A record's signature scheme reads back as written: a scheme 1 record (written
    before scheme 2) must be compared with scheme 1's hashes, not the current ones."""
    old, new = fp_commit("a1", signature_scheme=1), fp_commit("a2")
    store.commit_articles([old, new], NOW, 60)
    found = store.seen(["a1", "a2"])
    assert found["a1"].signature_scheme == 1
    assert found["a2"].signature_scheme == SIGNATURE_SCHEME == 2


def test_redis_record_written_before_schemes_reads_as_scheme_1(redis_client, prefix):
    """A seen record as the store wrote it before scheme 2 (a seven-item fingerprint
    array) reads back as scheme 1, so its signature is compared the old way."""
    import msgpack

    from worker.adapters.store.redis import RedisStore

    s = RedisStore(redis_client, prefix=prefix)
    fields = ["f00", "t00", b"\x01" * 256, "c1", None, 0.0, 0]
    redis_client.set(f"{prefix}:seen:a1", b"3:h3:" + msgpack.packb(fields, use_bin_type=True))
    record = s.lookup_articles(["a1"])["a1"]
    assert (record.revision, record.content_hash, record.cluster_id) == (3, "h3", "c1")
    assert record.signature == b"\x01" * 256 and record.signature_scheme == 1


def test_aliases_find_the_article_and_are_never_repointed(store):
    """An alias names its article (its latest record); a later article cannot take it."""
    store.commit_articles([fp_commit("a1", aliases=("g1", "c1"))], NOW, 60)
    store.commit_articles([fp_commit("a2", aliases=("g1", "c2"))], NOW, 60)
    found = store.lookup_articles(["g1", "c1", "c2", "a2", "nope"])
    assert {k: r.article_id for k, r in found.items()} == {
        "g1": "a1",
        "c1": "a1",
        "c2": "a2",
        "a2": "a2",
    }
    store.commit_articles([fp_commit("a1", expected=1, revision=2)], NOW + 1, 60)
    assert store.lookup_articles(["g1"])["g1"].revision == 2


def test_a_refused_commit_files_no_alias_and_no_band(store):
    """A commit refused on its revision leaves aliases and the index alone."""
    store.commit_articles([fp_commit("a1")], NOW, 60)
    assert store.commit_articles([fp_commit("a1", aliases=("g9",), bands=("b9",))], NOW, 60) == []
    assert store.lookup_articles(["g9"]) == {}
    assert store.near_duplicates(["b9"], NOW) == []


def test_near_duplicate_index_returns_the_articles_filed_under_a_band(store):
    """Articles are found by any of their bands, once each, oldest first."""
    store.commit_articles([fp_commit("a1", bands=("b1", "b2"))], NOW, 60)
    store.commit_articles([fp_commit("a2", bands=("b2", "b3"))], NOW + 1, 60)
    assert store.near_duplicates(["b1"], NOW + 2) == ["a1"]
    assert store.near_duplicates(["b2", "b3"], NOW + 2) == ["a1", "a2"]
    assert store.near_duplicates(["zz"], NOW + 2) == []
    assert store.near_duplicates([], NOW + 2) == []


def test_near_duplicate_lookup_of_a_whole_document_across_periods(store):
    """Real band keys, a document's worth at once: every article sharing a band with the
    lookup is found, from any period still in the window, and no other."""
    texts = [f"story {n} " + " ".join(f"w{n}x{k}" for k in range(60)) for n in range(24)]
    prints = [fingerprint(f"title {n}", text) for n, text in enumerate(texts)]
    step = store.index_ttl / 5  # several periods apart, all inside the window
    for n, fp in enumerate(prints[:12]):
        store.commit_articles([fp_commit(f"a{n:02d}", bands=fp.bands)], NOW + n * step / 4, 60)
    later = NOW + 3 * step
    # a document of 20 articles: 8 of them copies of stored ones (one shared band
    # each, a different band every time), 12 unrelated
    wanted = [fp.bands[n % 16] for n, fp in enumerate(prints[:8])]
    unrelated = [b for fp in prints[12:] for b in fp.bands]
    found = store.near_duplicates([*wanted, *unrelated], later)
    assert sorted(found) == [f"a{n:02d}" for n in range(8)]
    assert store.near_duplicates(unrelated, later) == []
    assert store.near_duplicates(list(prints[11].bands), later) == ["a11"]


def test_near_duplicate_candidates_are_the_lookup_per_band_with_records(store):
    """The candidates per band with their records, in one call, are what the lookup and
    ``seen`` give in two, each band naming only what is filed under it."""
    store.commit_articles([fp_commit("a1", bands=("00b1", "01b2"))], NOW, 60)
    store.commit_articles([fp_commit("a2", bands=("01b2", "02b3"), cluster_id="a1")], NOW, 60)
    store.commit_articles([fp_commit("a3", bands=("03b4",))], NOW, 60)
    bands = ["02b3", "00b1", "01b2", "09none"]
    filed, records = store.near_duplicate_candidates(bands, NOW + 1)
    assert records == store.seen(store.near_duplicates(bands, NOW + 1))
    assert filed == {"00b1": ["a1"], "01b2": ["a1", "a2"], "02b3": ["a2"]}
    assert set(records) == {"a1", "a2"} and records["a2"].cluster_id == "a1"
    assert records["a1"].signature == bytes(range(256))
    for band in bands:
        assert filed.get(band, []) == store.near_duplicates([band], NOW + 1)
    assert store.near_duplicate_candidates([], NOW + 1) == ({}, {})
    assert store.near_duplicate_candidates(["09none"], NOW + 1) == ({}, {})


def test_redis_near_duplicate_candidates_skip_articles_no_longer_seen(redis_client, prefix):
    """A bucket may name an article whose seen record expired: it is no candidate."""
    from worker.adapters.store.redis import RedisStore

    s = RedisStore(redis_client, prefix=prefix)
    s.commit_articles([fp_commit("a1", bands=("00b1",)), fp_commit("a2", bands=("00b1",))], NOW, 60)
    redis_client.delete(f"{prefix}:seen:a1")
    filed, records = s.near_duplicate_candidates(["00b1"], NOW + 1)
    assert list(records) == ["a2"]
    assert filed == {"00b1": ["a1", "a2"]}  # the caller takes only what has a record


def test_near_duplicate_lookup_of_more_buckets_than_one_read_takes(store):
    """A huge document's lookup (over 1,000 buckets of one band) still reads them all."""
    store.commit_articles([fp_commit("a1", bands=("00match",))], NOW, 60)
    bands = [f"00other{n}" for n in range(1_050)] + ["00match"]
    assert store.near_duplicates(bands, NOW + 1) == ["a1"]


def test_near_duplicate_filing_in_one_commit_is_as_one_by_one(store):
    """Articles committed together share buckets as if committed one after another: a
    shared bucket keeps its newest few, each article once; over 1,000 buckets of one
    band in one commit are all filed."""
    store.commit_articles([fp_commit("a00", bands=("hot",))], NOW, 60)
    store.commit_articles(
        [fp_commit(f"a{n:02d}", bands=("hot", f"00own{n}")) for n in range(1, 20)]
        + [fp_commit(f"b{n:04d}", bands=(f"00many{n}",)) for n in range(1_050)],
        NOW + 1,
        60,
    )
    hot = store.near_duplicates(["hot"], NOW + 2)
    # newest: a00 was filed first, on its own; which of the others stay is the store's
    assert 1 <= len(hot) <= 10 and len(set(hot)) == len(hot) and "a00" not in hot
    assert store.near_duplicates(["00own7", "00own19"], NOW + 2) == ["a07", "a19"]
    assert store.near_duplicates(["00many0", "00many1049"], NOW + 2) == ["b0000", "b1049"]


def test_near_duplicate_refiling_an_article_does_not_push_others_out(store):
    """An article filed again under a bucket it is in (an original's new revision) keeps
    its one place: the bucket's other articles stay."""
    for n in range(8):
        store.commit_articles([fp_commit(f"a{n}", bands=("hot",))], NOW + n, 60)
    for _ in range(3):
        rev = store.lookup_articles(["a7"])["a7"].revision
        store.commit_articles(
            [fp_commit("a7", expected=rev, revision=rev + 1, bands=("hot",))], NOW + 9, 60
        )
    assert store.near_duplicates(["hot"], NOW + 10) == [f"a{n}" for n in range(8)]


def test_near_duplicate_bucket_keeps_its_newest_few(store):
    """A band that many articles share keeps a bounded number of them, the newest."""
    for n in range(20):
        store.commit_articles([fp_commit(f"a{n:02d}", bands=("hot",))], NOW + n, 60)
    found = store.near_duplicates(["hot"], NOW + 30)
    assert 1 <= len(found) <= 10
    assert "a19" in found and "a00" not in found


def test_identity_statistics_round_trip(store):
    """Per-feed identity statistics read back as saved; unknown feeds are left out."""
    profile = FeedIdentity(
        "f1",
        guid=KeyTrust(trusted=False, reason="empty", bad_empty=7),
        polls=3,
        entries=21,
        last={"abc123": "def456"},
    )
    store.save_feed_identities([profile])
    assert store.load_feed_identities(["f1", "f2"]) == {"f1": profile}
    store.save_feed_identities([replace(profile, polls=4)])
    assert store.load_feed_identities(["f1"])["f1"].polls == 4


def test_touch_keeps_aliases_too(store):
    """touch_seen accepts aliases as well as article ids without error or side effect."""
    store.commit_articles([fp_commit("a1", aliases=("g1",))], NOW, 60)
    store.touch_seen(["a1", "g1", "unknown"], NOW + 10)
    assert store.lookup_articles(["g1"])["g1"].article_id == "a1"


def test_sqlite_index_window_and_alias_expiry(tmp_path):
    """SQLite forgets bands past the index window and aliases past the seen TTL."""
    from worker.adapters.store.sqlite import SqliteStore

    s = SqliteStore(tmp_path / "s.db", seen_ttl=100, index_ttl=50)
    s.commit_articles([fp_commit("a1", aliases=("g1",), bands=("b1",))], NOW, 0)
    assert s.near_duplicates(["b1"], NOW + 49) == ["a1"]
    assert s.near_duplicates(["b1"], NOW + 51) == []
    s.touch_seen(["a1"], NOW + 150)
    s.prune(NOW + 160)
    assert set(s.lookup_articles(["a1", "g1"])) == {"a1"}


def test_sqlite_adds_the_fingerprint_column_to_an_older_database(tmp_path):
    """A state.db written before fingerprints gains the column and keeps its records."""
    import sqlite3

    from worker.adapters.store.sqlite import SqliteStore

    path = tmp_path / "old.db"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE seen (article_id TEXT PRIMARY KEY, revision INTEGER NOT NULL, "
            "content_hash TEXT NOT NULL, last_seen REAL NOT NULL) WITHOUT ROWID"
        )
        db.execute("INSERT INTO seen VALUES ('old', 3, 'hh', ?)", (NOW,))
    s = SqliteStore(path, seen_ttl=3600)
    assert s.seen(["old"]) == {"old": SeenRecord("old", 3, "hh")}
    s.commit_articles([fp_commit("old", expected=3, revision=4)], NOW, 0)
    assert s.seen(["old"])["old"].title_key == "t00"


def test_redis_reads_records_written_before_fingerprints(redis_client, prefix):
    """A seen value of the old "<revision>:<hash>" form reads back without a fingerprint."""
    from worker.adapters.store.redis import RedisStore

    s = RedisStore(redis_client, prefix=prefix)
    redis_client.set(f"{prefix}:seen:old", b"3:hh")
    assert s.seen(["old"]) == {"old": SeenRecord("old", 3, "hh")}
    assert s.commit_articles([fp_commit("old", expected=3, revision=4)], NOW, 0) == ["old.4"]


def test_redis_expires_aliases_bands_and_statistics(redis_client, prefix):
    """In Redis, aliases and statistics live seen_ttl, bands a window and a period."""
    from worker.adapters.store.redis import PERIODS, RedisStore

    s = RedisStore(redis_client, prefix=prefix, seen_ttl=1000, index_ttl=4000)
    s.commit_articles([fp_commit("a1", aliases=("g1",), bands=("b1",))], NOW, 60)
    s.save_feed_identities([FeedIdentity("f1")])
    assert 990 < redis_client.ttl(f"{prefix}:alias:g1") <= 1000
    assert 990 < redis_client.ttl(f"{prefix}:fid:f1") <= 1000
    # a set: SCAN may return a key twice while Redis rehashes its keyspace
    (band_key,) = set(redis_client.scan_iter(match=f"{prefix}:nd:*"))
    assert 4000 < redis_client.ttl(band_key) <= 4000 + 4000 // PERIODS


def test_redis_touch_gives_records_and_aliases_a_fresh_seen_ttl(redis_client, prefix):
    """touch_seen renews what an entry still in its feed is known by: its record and the
    aliases naming it, whichever id it is given; unknown ids create nothing."""
    from worker.adapters.store.redis import RedisStore

    s = RedisStore(redis_client, prefix=prefix, seen_ttl=1000)
    s.commit_articles([fp_commit("a1", aliases=("g1",)), fp_commit("a2")], NOW, 60)
    for key in ("seen:a1", "alias:g1", "seen:a2"):
        redis_client.expire(f"{prefix}:{key}", 5)
    s.touch_seen(["a1", "g1", "unknown"], NOW + 10)
    assert 990 < redis_client.ttl(f"{prefix}:seen:a1") <= 1000
    assert 990 < redis_client.ttl(f"{prefix}:alias:g1") <= 1000
    assert redis_client.ttl(f"{prefix}:seen:a2") <= 5
    assert not redis_client.exists(f"{prefix}:seen:unknown", f"{prefix}:alias:unknown")
    s.touch_seen([], NOW + 20)


def test_redis_event_body_lives_while_pending_then_for_the_history(redis_client, prefix):
    """In Redis a pending event never expires; once every sink has it, it is kept for the
    history retention counted from its creation; seen records carry their TTL."""
    import time

    from worker.adapters.store.redis import RedisStore

    s = RedisStore(redis_client, prefix=prefix, seen_ttl=1000, event_ttl=5000)
    now = time.time()
    s.commit_articles([commit("a1")], now, 60)
    assert 990 < redis_client.ttl(f"{prefix}:seen:a1") <= 1000
    assert redis_client.ttl(f"{prefix}:ev:a1.1") == -1
    s.ack_deliveries("a", ["a1.1"])
    assert redis_client.ttl(f"{prefix}:ev:a1.1") == -1  # still pending for b
    s.ack_deliveries("b", ["a1.1"])
    assert 4900 < redis_client.ttl(f"{prefix}:ev:a1.1") <= 5000


def test_redis_ack_keeps_a_body_another_sink_dead_lettered(redis_client, prefix):
    """An event acknowledged by one sink while another holds it dead-lettered keeps its
    body without expiry; acknowledging after failures forgets them."""
    from worker.adapters.store.redis import RedisStore

    s = RedisStore(redis_client, prefix=prefix, seen_ttl=1000, event_ttl=5000)
    s.commit_articles([commit("a1"), commit("a2")], NOW, 60)
    s.dead_letter("b", [("a1.1", "rejected")], NOW)
    s.retry_deliveries("a", ["a1.1"], NOW, [5.0], ["HTTP 500"])
    s.ack_deliveries("b", ["a2.1"])
    s.ack_deliveries("a", ["a1.1", "a2.1"])
    assert redis_client.ttl(f"{prefix}:ev:a1.1") == -1  # dead-lettered in b: kept
    assert redis_client.ttl(f"{prefix}:ev:a2.1") > 0  # every sink has it
    assert redis_client.hget(f"{prefix}:att:a", "a1.1") is None
    assert redis_client.hget(f"{prefix}:fail:a", "a1.1") is None


def test_retry_records_first_failure_and_last_error(store):
    """Failures keep the time of the first one and the latest reason."""
    store.commit_articles([commit("a1")], NOW, 0)
    assert store.delivery_failures("a", ["a1.1", "zz"]) == {"a1.1": FailureHistory(0)}
    store.retry_deliveries("a", ["a1.1"], NOW, [10.0], ["HTTP 500"])
    store.retry_deliveries("a", ["a1.1"], NOW + 10, [20.0], ["timeout"])
    assert store.delivery_failures("a", ["a1.1"]) == {"a1.1": FailureHistory(2, NOW, "timeout")}
    assert store.delivery_failures("b", ["a1.1"]) == {"a1.1": FailureHistory(0)}


def test_retry_of_an_acknowledged_delivery_does_not_bring_it_back(store):
    """A late failure report for a delivery another task already acknowledged is ignored."""
    store.commit_articles([commit("a1")], NOW, 0)
    store.ack_deliveries("a", ["a1.1"])
    store.retry_deliveries("a", ["a1.1"], NOW, [1.0], ["late"])
    assert store.pending_counts() == {"b": 1}
    assert store.delivery_failures("a", ["a1.1"]) == {}


def test_dead_letters_leave_the_outbox_and_can_be_replayed(store):
    """A dead-lettered delivery is listed with its attempts and reason, is no longer
    claimable, and a replay queues it again with a fresh retry budget."""
    store.commit_articles([commit("a1"), commit("a2")], NOW, 0)
    store.retry_deliveries("a", ["a1.1"], NOW, [5.0], ["HTTP 500"])
    assert (
        store.dead_letter("a", [("a1.1", "still failing"), ("a2.1", "rejected: 400")], NOW + 50)
        == 2
    )
    assert store.dead_letter("a", [("a1.1", "again")], NOW + 60) == 0  # not pending now
    assert store.claim_deliveries("a", NOW + 100, 10, 60) == []
    assert store.pending_counts() == {"b": 2}
    assert store.dead_letter_counts() == {"a": 2}
    assert store.dead_letters("a") == [
        DeadLetter("a", "a1.1", NOW + 50, 2, NOW, "still failing"),
        DeadLetter("a", "a2.1", NOW + 50, 1, NOW + 50, "rejected: 400"),
    ]
    assert store.dead_letters("b") == []
    assert store.replay_dead_letters("a", ["a2.1", "nope"], NOW + 200) == 1
    assert store.claim_deliveries("a", NOW + 200, 10, 60) == ["a2.1"]
    assert store.delivery_attempts("a", ["a2.1"]) == {"a2.1": 0}
    assert store.pending_events("a", ["a2.1"]) == {"a2.1": b'{"id":"a2.1"}'}
    assert store.replay_dead_letters(None, None, NOW + 250) == 1
    assert store.dead_letter_counts() == {}
    assert store.claim_deliveries("a", NOW + 250, 10, 60) == ["a1.1"]


def test_history_pages_through_events_in_creation_order(store):
    """history_page walks [since, until] in creation order without gaps or repeats, even
    across many events created at the same instant."""
    store.commit_articles([commit(f"x{n:02}") for n in range(7)], NOW, 0)
    store.commit_articles([commit(f"y{n:02}") for n in range(5)], NOW + 10, 0)
    store.commit_articles([commit("late")], NOW + 100, 0)
    assert store.history_count(NOW, NOW + 10) == 12
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        ids, cursor = store.history_page(NOW, NOW + 10, cursor, 3)
        seen += ids
        pages += 1
        if cursor is None:
            break
    assert seen == [f"x{n:02}.1" for n in range(7)] + [f"y{n:02}.1" for n in range(5)]
    assert pages in (4, 5)
    assert store.history_page(NOW + 50, NOW + 200, None, 10) == (["late.1"], None)


def test_requeue_queues_stored_events_for_a_sink_now(store):
    """Replay queues a stored event for a new sink at once, pulls it out of that sink's
    dead letters, brings a pending one forward, and skips unknown ids."""
    store.commit_articles([commit("a1"), commit("a2"), commit("a3")], NOW, 600)
    store.ack_deliveries("a", ["a1.1"])
    store.dead_letter("b", [("a3.1", "rejected")], NOW)
    assert store.requeue("new", ["a1.1", "ghost.1"], NOW + 5) == 1
    assert store.claim_deliveries("new", NOW + 5, 10, 60) == ["a1.1"]
    assert store.requeue("b", ["a2.1", "a3.1"], NOW + 5) == 2
    assert sorted(store.claim_deliveries("b", NOW + 5, 10, 60)) == ["a2.1", "a3.1"]
    assert store.dead_letter_counts() == {}
    assert store.pending_counts() == {"a": 2, "b": 3, "new": 1}


def test_sqlite_prune_keeps_dead_letters_and_history_within_retention(tmp_path):
    """Pruning drops delivered events past the history retention but keeps dead letters."""
    from worker.adapters.store.sqlite import SqliteStore

    s = SqliteStore(tmp_path / "s.db", seen_ttl=10_000, event_ttl=100)
    s.commit_articles([commit("old", sinks=("a",)), commit("dead", sinks=("a",))], NOW, 0)
    s.commit_articles([commit("new", sinks=("a",))], NOW + 150, 0)
    s.ack_deliveries("a", ["old.1", "new.1"])
    s.dead_letter("a", [("dead.1", "rejected")], NOW)
    s.prune(NOW + 200)
    assert s.history_count(0, NOW + 1000) == 2
    ids, _ = s.history_page(0, NOW + 1000, None, 10)
    assert ids == ["dead.1", "new.1"]


def test_sqlite_store_adds_columns_to_an_older_database(tmp_path):
    """A state.db from before the dead-letter columns is upgraded when opened."""
    import sqlite3

    from worker.adapters.store.sqlite import SqliteStore

    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.execute(
        "CREATE TABLE deliveries (sink TEXT NOT NULL, event_id TEXT NOT NULL, "
        "due_at REAL NOT NULL, attempts INTEGER NOT NULL DEFAULT 0, "
        "PRIMARY KEY (sink, event_id)) WITHOUT ROWID"
    )
    conn.execute("INSERT INTO deliveries VALUES ('a', 'e.1', 1, 3)")
    conn.commit()
    conn.close()
    s = SqliteStore(path, seen_ttl=100)
    assert s.delivery_failures("a", ["e.1"]) == {"e.1": FailureHistory(3)}
    s.retry_deliveries("a", ["e.1"], NOW, [1.0], ["x"])
    assert s.delivery_failures("a", ["e.1"]) == {"e.1": FailureHistory(4, NOW, "x")}


def test_stashed_documents_come_back_in_order_until_dropped(store):
    """Documents handed from fetch to parse: each under its own key, byte for byte, in
    the order asked; a key never stashed or already dropped gives None."""
    bodies = [b"<rss>one</rss>", b"\x00\xff binary \x1f", b"x" * 300_000]
    keys = store.stash_documents(bodies, NOW, 3600)
    assert len(set(keys)) == 3
    assert store.take_documents([keys[2], "nope", keys[0], keys[1]], NOW + 1) == [
        bodies[2],
        None,
        bodies[0],
        bodies[1],
    ]
    store.drop_documents(keys[:2])
    assert store.take_documents(keys, NOW + 2) == [None, None, bodies[2]]
    assert store.stash_documents([], NOW, 3600) == []
    assert store.take_documents([], NOW) == []
    store.drop_documents([])


def test_stashed_documents_expire(store):
    """A document nobody takes is gone after its time to live (Redis expires it itself;
    SQLite reads it as gone and prunes it)."""
    import time

    [key] = store.stash_documents([b"<rss/>"], NOW, 0.05)
    time.sleep(0.1)
    assert store.take_documents([key], NOW + 0.1) == [None]
    if isinstance(store, SqliteStore):
        store.prune(NOW + 0.1)
        assert store.conn.execute("SELECT COUNT(*) FROM documents").fetchone() == (0,)
