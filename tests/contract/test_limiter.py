"""The HostLimiter contract: SQLite and Redis hold one budget per host (each test runs on
both), shared by every worker, with leased slots a dead worker cannot keep."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from worker.adapters.limiter import HostBudget, host_key
from worker.adapters.limiter.redis import RedisHostLimiter
from worker.adapters.limiter.sqlite import SqliteHostLimiter

NOW = 1_800_000_000.0
BUDGET = HostBudget(rate=2.0, burst=3, concurrency=10, lease=30.0)


@pytest.fixture(params=["sqlite", "redis"])
def limiter(
    request: pytest.FixtureRequest, tmp_path: Path
) -> Iterator[SqliteHostLimiter | RedisHostLimiter]:
    if request.param == "sqlite":
        lim: SqliteHostLimiter | RedisHostLimiter = SqliteHostLimiter(tmp_path / "state.db")
    else:
        lim = RedisHostLimiter(
            request.getfixturevalue("redis_client"), prefix=request.getfixturevalue("prefix")
        )
    yield lim
    lim.close()


def test_a_burst_is_allowed_then_the_rate_applies(limiter):
    """Three requests back to back pass; the fourth waits one interval (0.5 s at 2/s)."""
    grants = [limiter.acquire("a.example", NOW, BUDGET) for _ in range(4)]
    assert [g.granted for g in grants] == [True, True, True, False]
    assert grants[3].retry_in == pytest.approx(0.5)
    assert not limiter.acquire("a.example", NOW + 0.49, BUDGET).granted
    assert limiter.acquire("a.example", NOW + 0.5, BUDGET).granted


def test_hosts_have_separate_budgets(limiter):
    """Spending one host's budget leaves another's untouched."""
    for _ in range(3):
        limiter.acquire("a.example", NOW, BUDGET)
    assert not limiter.acquire("a.example", NOW, BUDGET).granted
    assert limiter.acquire("b.example", NOW, BUDGET).granted


def test_concurrency_is_capped_until_a_slot_is_released(limiter):
    """With two slots, a third request in flight is refused until one is released."""
    budget = HostBudget(rate=100.0, burst=100, concurrency=2, lease=30.0)
    first = limiter.acquire("c.example", NOW, budget)
    second = limiter.acquire("c.example", NOW, budget)
    third = limiter.acquire("c.example", NOW, budget)
    assert (first.granted, second.granted, third.granted) == (True, True, False)
    assert third.retry_in > 0
    limiter.release("c.example", first.token)
    assert limiter.acquire("c.example", NOW, budget).granted


def test_a_slot_whose_holder_died_frees_itself_after_the_lease(limiter):
    """A slot never released (a killed worker) is given back when its lease ends."""
    budget = HostBudget(rate=100.0, burst=100, concurrency=1, lease=30.0)
    assert limiter.acquire("d.example", NOW, budget).granted
    assert not limiter.acquire("d.example", NOW + 29, budget).granted
    assert limiter.acquire("d.example", NOW + 30.5, budget).granted


def test_releasing_an_unknown_token_is_harmless(limiter):
    """Releasing twice, or a token never issued, changes nothing."""
    budget = HostBudget(rate=100.0, burst=100, concurrency=1, lease=30.0)
    grant = limiter.acquire("e.example", NOW, budget)
    limiter.release("e.example", grant.token)
    limiter.release("e.example", grant.token)
    limiter.release("e.example", "never-issued")
    assert limiter.acquire("e.example", NOW, budget).granted
    assert not limiter.acquire("e.example", NOW, budget).granted


def test_concurrent_workers_never_exceed_the_burst(limiter):
    """Eight threads racing for one host's budget get exactly ``burst`` grants at once."""
    budget = HostBudget(rate=1.0, burst=5, concurrency=100, lease=30.0)
    granted: list[bool] = []

    def race() -> None:
        for _ in range(10):
            granted.append(limiter.acquire("f.example", NOW, budget).granted)

    threads = [threading.Thread(target=race) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert granted.count(True) == 5 and len(granted) == 80


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("https://Feeds.Example.COM/rss", "feeds.example.com"),
        ("http://feeds.example.com.:8080/x", "feeds.example.com"),
        ("http://[::1]:80/", "::1"),
        ("not a url", "-"),
    ],
)
def test_host_key_is_the_lowercased_host(url, key):
    """The politeness key ignores case, port and a trailing dot."""
    assert host_key(url) == key


def test_a_batch_acquires_in_order_as_single_calls_would(limiter):
    """acquire_many grants the burst in input order, host by host, and release_many frees
    the slots it took."""
    tight = HostBudget(rate=1000.0, burst=1000, concurrency=2, lease=30.0)
    grants = limiter.acquire_many(["a.example", "b.example", "a.example", "a.example"], NOW, tight)
    assert [g.granted for g in grants] == [True, True, True, False]
    assert grants[3].retry_in > 0
    limiter.release_many([("a.example", g.token) for g in grants[:3:2]])
    assert limiter.acquire("a.example", NOW, tight).granted
    assert limiter.acquire_many([], NOW, tight) == []


def test_a_batch_spends_each_hosts_rate_budget_in_order(limiter):
    """With hosts interleaved, each host's burst goes to its first requests in the batch;
    a later call sees what the batch spent, and releasing several slots of several hosts
    at once frees them all."""
    bursty = HostBudget(rate=1.0, burst=2, concurrency=3, lease=30.0)
    hosts = ["a.example", "b.example"] * 3
    grants = limiter.acquire_many(hosts, NOW, bursty)
    assert [g.granted for g in grants] == [True, True, True, True, False, False]
    assert all(g.retry_in > 0 for g in grants[4:])
    assert not limiter.acquire("a.example", NOW, bursty).granted
    assert limiter.acquire("a.example", NOW + 1.0, bursty).granted  # one interval later
    assert not limiter.acquire("b.example", NOW + 0.5, bursty).granted
    slots = HostBudget(rate=1000.0, burst=1000, concurrency=2, lease=30.0)
    held = limiter.acquire_many(["c.example", "d.example", "c.example", "d.example"], NOW, slots)
    assert all(g.granted for g in held)
    assert not limiter.acquire("c.example", NOW, slots).granted
    limiter.release_many(
        [
            (h, g.token)
            for h, g in zip(["c.example", "d.example", "c.example", "d.example"], held, strict=True)
        ]
    )
    assert [
        g.granted for g in limiter.acquire_many(["c.example", "c.example", "d.example"], NOW, slots)
    ] == [True, True, True]
