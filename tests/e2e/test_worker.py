"""End to end: real Celery workers and beat, a feed server on 127.0.0.1, real sinks."""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest
import redis

from tests.e2e.conftest import Procs, jsonl_ids, wait_for
from tests.feeds import rss
from worker.demo.server import FeedServer, Resource

pytestmark = pytest.mark.e2e


def write_config(path: Path, urls: list[str], *, sinks: str = "", extra: str = "") -> Path:
    feeds = "".join(f'[[feeds]]\nurl = "{u}"\nname = "feed {n}"\n' for n, u in enumerate(urls))
    path.write_text(
        f"""{feeds}
[fetch]
allow_private_networks = true
timeout = 5
# Every test feed lives on 127.0.0.1, one host: lift the per-host politeness budget, as
# an operator would for a feed proxy.
host_rate = 1000
host_burst = 1000
host_concurrency = 200

[schedule]
min_interval = 1
max_interval = 2
tick_interval = 0.5
lease = 6

[delivery]
lease = 6
retry_base = 1

{sinks}
{extra}
"""
    )
    return path


def stream_ids(client: redis.Redis, stream: str) -> list[str]:
    return [f[b"id"].decode() for _, f in client.xrange(stream)]


def test_distributed_worker_and_beat_deliver_each_article_once(
    tmp_path: Path, feed_server: FeedServer, procs: Procs, e2e_redis: str
):
    """worker + beat on Redis: two polls (the second with one new item) reach both sinks
    exactly once."""
    feed_server.routes["/a.xml"] = Resource(rss([("a1", "First"), ("a2", "Second")]))
    feed_server.routes["/b.json"] = Resource(
        b'{"version":"https://jsonfeed.org/version/1.1","title":"B","items":['
        b'{"id":"b1","url":"https://b.example/1","title":"Bee","content_text":"hello"}]}',
        "application/feed+json",
    )
    out = tmp_path / "out.jsonl"
    config = write_config(
        tmp_path / "syndicate.toml",
        [feed_server.url("/a.xml"), feed_server.url("/b.json")],
        sinks=f'[sinks.file]\ntype = "jsonl"\npath = "{out}"\n\n'
        f'[sinks.stream]\ntype = "redis_stream"\nstream = "e2e:articles"\n',
    )
    procs.env["REDIS_URL"] = e2e_redis
    client = redis.Redis.from_url(e2e_redis)
    procs.start(
        "worker",
        "--config",
        str(config),
        "--queues",
        "fetch,parse,publish",
        "--concurrency",
        "2",
        log="worker",
    )
    procs.start("beat", "--config", str(config), log="beat")
    wait_for(
        lambda: len(jsonl_ids(out)) == 3 and len(stream_ids(client, "e2e:articles")) == 3,
        60,
        "the first three articles in both sinks",
        procs,
    )
    feed_server.routes["/a.xml"] = Resource(
        rss([("a1", "First"), ("a2", "Second"), ("a3", "Third")])
    )
    wait_for(
        lambda: len(jsonl_ids(out)) == 4 and len(stream_ids(client, "e2e:articles")) == 4,
        30,
        "the new item in both sinks",
        procs,
    )
    time.sleep(3)  # several more polls: nothing may be published again
    for ids in (jsonl_ids(out), stream_ids(client, "e2e:articles")):
        assert len(ids) == len(set(ids)) == 4
    assert feed_server.conditional_hits["/a.xml"] + feed_server.conditional_hits["/b.json"] > 0


def test_embedded_run_survives_restart_without_republishing(
    tmp_path: Path, feed_server: FeedServer, procs: Procs
):
    """`syndicate run` (no Redis) writes var/articles.jsonl; Ctrl-C stops it; a restart
    continues and publishes only what is new."""
    feed_server.routes["/a.xml"] = Resource(rss([("a1", "First"), ("a2", "Second")]))
    config = write_config(tmp_path / "syndicate.toml", [feed_server.url("/a.xml")])
    out = tmp_path / "var" / "articles.jsonl"
    run = procs.start("run", "--config", str(config), log="run1")
    wait_for(lambda: len(jsonl_ids(out)) == 2, 60, "two articles in var/articles.jsonl", procs)
    procs.kill(run, signal.SIGINT)
    assert run.returncode == 0
    feed_server.routes["/a.xml"] = Resource(
        rss([("a1", "First"), ("a2", "Second"), ("a3", "Third")])
    )
    procs.start("run", "--config", str(config), log="run2")
    wait_for(lambda: len(jsonl_ids(out)) == 3, 60, "the third article after restart", procs)
    time.sleep(3)
    ids = jsonl_ids(out)
    assert len(ids) == len(set(ids)) == 3


def test_embedded_run_exits_on_sigterm_to_its_whole_process_group(
    tmp_path: Path, feed_server: FeedServer, procs: Procs
):
    """systemd's stop (and `kill -TERM -PGID`) signals every process of the service at
    once: the pool processes die on it, and the main process must still shut down and
    exit (it used to hang at exit on the pool lock a dead process held; worker/pool.py)."""
    feed_server.routes["/a.xml"] = Resource(rss([("a1", "First")]))
    config = write_config(tmp_path / "syndicate.toml", [feed_server.url("/a.xml")])
    out = tmp_path / "var" / "articles.jsonl"
    run = procs.start("run", "--config", str(config), log="run")
    wait_for(lambda: len(jsonl_ids(out)) == 1, 60, "the article in var/articles.jsonl", procs)
    time.sleep(1)  # the pool processes back to waiting for their next message
    procs.kill(run, signal.SIGTERM)  # waits at most 30 s for the main process
    assert run.returncode == 0, procs.dump_logs()


def test_kill_9_at_random_moments_loses_nothing_and_duplicates_nothing(
    tmp_path: Path, feed_server: FeedServer, procs: Procs, e2e_redis: str
):
    """SIGKILL of the worker at random moments: every article arrives, each id once."""
    rng = random.Random(7)
    feeds = 12
    items: dict[str, list[tuple[str, str]]] = {
        f"/f{n}.xml": [(f"f{n}-{i}", f"Story {i} of feed {n}") for i in range(4)]
        for n in range(feeds)
    }
    for path, entries in items.items():
        feed_server.routes[path] = Resource(rss(entries, site=f"https://site{path[2:-4]}.example"))
    out = tmp_path / "out.jsonl"
    config = write_config(
        tmp_path / "syndicate.toml",
        [feed_server.url(p) for p in items],
        sinks=f'[sinks.file]\ntype = "jsonl"\npath = "{out}"\n\n'
        f'[sinks.stream]\ntype = "redis_stream"\nstream = "e2e:kill"\n',
        extra="",
    )
    procs.env["REDIS_URL"] = e2e_redis
    client = redis.Redis.from_url(e2e_redis)
    procs.start("beat", "--config", str(config), log="beat")
    expected = feeds * 4
    for round_ in range(6):
        worker = procs.start(
            "worker", "--config", str(config), "--concurrency", "2", log=f"worker{round_}"
        )
        time.sleep(rng.uniform(1.0, 3.5))
        procs.kill(worker, signal.SIGKILL)
        if round_ == 2:  # grow every feed mid-run
            for path, entries in items.items():
                entries.append((f"{path[1:-4]}-new", f"Late story of {path}"))
                feed_server.routes[path] = Resource(
                    rss(entries, site=f"https://site{path[2:-4]}.example")
                )
            expected = feeds * 5
    procs.start("worker", "--config", str(config), "--concurrency", "2", log="final")
    wait_for(
        lambda: (
            len(set(jsonl_ids(out))) == expected
            and len(set(stream_ids(client, "e2e:kill"))) == expected
        ),
        90,
        f"all {expected} articles in both sinks after the kills",
        procs,
    )
    time.sleep(2)
    for ids in (jsonl_ids(out), stream_ids(client, "e2e:kill")):
        assert len(ids) == len(set(ids)) == expected


def test_a_message_that_kills_its_worker_is_dropped_after_three_starts(
    tmp_path: Path, procs: Procs, e2e_redis: str
):
    """The poison guard: a task that kills its worker runs 3 times, then is quarantined;
    the worker (started with the plain `celery -A` command) keeps running."""
    config = write_config(tmp_path / "syndicate.toml", [])
    procs.env["REDIS_URL"] = e2e_redis
    procs.env["SYNDICATE_CONFIG"] = str(config)
    worker = procs.start_raw(
        "celery",
        "-A",
        "worker.celery_app",
        "worker",
        "-Q",
        "parse",
        "-c",
        "1",
        "-I",
        "tests.e2e.poison_tasks",
        "--without-mingle",
        "--without-gossip",
        log="celery",
    )
    marker = tmp_path / "poison"
    from celery import Celery

    sender = Celery(broker=e2e_redis)
    sender.send_task("test.kills_its_worker", args=[str(marker)], queue="parse", serializer="json")
    wait_for(marker.exists, 60, "the poisoned task to be quarantined", procs)
    assert (tmp_path / "poison.starts").read_text() == "xxx"
    assert worker.poll() is None
    log = (tmp_path / "celery.log").read_text()
    assert '"event": "task.poisoned"' in log and '"starts": 4' in log
