"""The operator's commands driven as a user would (a subprocess, its output and exit
code) against a real store: SQLite (embedded) and Redis (distributed)."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
import time
from email.utils import formatdate
from pathlib import Path

import pytest
import redis

from tests.feeds import rss
from tests.integration.test_fetch_stage import run_cycle
from tests.integration.test_pipeline import Clock
from worker.demo.server import FeedServer, Resource
from worker.runtime import Runtime
from worker.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "fixtures"


def syndicate(
    *args: str, cwd: Path, env: dict[str, str] | None = None, stderr: int | None = None
) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "worker.cli", *args],
        cwd=cwd,
        env={**base, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=stderr if stderr is not None else subprocess.PIPE,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(params=["sqlite", "redis"])
def config(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    """A config with one configured feed, on SQLite or on Redis (a prefix of its own)."""
    path = tmp_path / "syndicate.toml"
    store = f'[store]\ndata_dir = "{tmp_path / "var"}"\n'
    if request.param == "redis":
        store += (
            f'redis_url = "{request.getfixturevalue("redis_url")}"\n'
            f'prefix = "{request.getfixturevalue("prefix")}"\n'
        )
    path.write_text(
        '[[feeds]]\nurl = "https://config.example/rss.xml"\nname = "Configured"\n'
        'tags = ["world"]\n' + store
    )
    return path


def cli(config: Path, *args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    return syndicate(*args, "--config", str(config), cwd=config.parent, **kw)  # type: ignore[arg-type]


# -- feeds ------------------------------------------------------------------------------


def test_feeds_add_list_remove(config):
    """add puts a store feed next to the config feed; list shows both with their origin;
    a duplicate or a bad URL is refused on stderr; a config feed cannot be removed here."""
    added = cli(
        config,
        "feeds",
        "add",
        "https://cli.example/feed",
        "--name",
        "Added",
        "--tags",
        "tech,daily",
    )
    assert added.returncode == 0, added.stderr
    assert "added https://cli.example/feed" in added.stdout
    again = cli(config, "feeds", "add", "https://cli.example/feed")
    assert again.returncode == 1 and "already a store feed" in again.stderr
    assert again.stdout == ""
    bad = cli(config, "feeds", "add", "ftp://cli.example/feed")
    assert bad.returncode == 2 and "not an absolute http" in bad.stderr
    listed = cli(config, "feeds", "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["ID", "ORIGIN", "NAME", "TAGS", "STATE", "URL"]
    config_line = next(ln for ln in lines if "Configured" in ln)
    assert "config" in config_line and "not synced yet" in config_line
    store_line = next(ln for ln in lines if "Added" in ln)
    assert "store" in store_line and "tech,daily" in store_line and "active" in store_line
    docs = json.loads(cli(config, "feeds", "list", "--json").stdout)
    assert {(d["origin"], d["url"]) for d in docs} == {
        ("config", "https://config.example/rss.xml"),
        ("store", "https://cli.example/feed"),
    }
    refused = cli(config, "feeds", "remove", "https://config.example/rss.xml")
    assert refused.returncode == 1 and "remove it there" in refused.stderr
    removed = cli(config, "feeds", "remove", "Added")
    assert removed.returncode == 0, removed.stderr
    docs = json.loads(cli(config, "feeds", "list", "--json").stdout)
    assert [d["origin"] for d in docs] == ["config"]
    missing = cli(config, "feeds", "remove", "Added")
    assert missing.returncode == 1 and "no such feed" in missing.stderr


def test_import_opml_reports_duplicates_and_invalid_urls_and_goes_on(config):
    """An import adds the valid feeds and lists each duplicate and invalid outline with its
    line; importing again adds nothing and reports every feed as a duplicate."""
    cli(config, "feeds", "add", "https://harbour.example/rss.xml")
    result = cli(config, "feeds", "import-opml", str(FIXTURES / "opml" / "subscriptions.opml"))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert out.startswith("added 3 feeds, 2 duplicates, 3 invalid")
    assert "line 13: https://valley.example/feed (listed before on line 8)" in out
    assert "https://harbour.example/rss.xml (already a store feed)" in out
    assert "ftp://files.example/feed.xml" in out and "/feed.xml" in out
    again = json.loads(
        cli(
            config, "feeds", "import-opml", "--json", str(FIXTURES / "opml" / "subscriptions.opml")
        ).stdout
    )
    assert again["added"] == 0 and len(again["duplicates"]) == 5
    docs = {d["url"]: d for d in json.loads(cli(config, "feeds", "list", "--json").stdout)}
    assert docs["https://lab.example/atom.xml"]["tags"] == ["World", "Science"]


def test_import_of_thousands_then_export_round_trips(config, tmp_path):
    """3,000 feeds import in one command; export-opml writes them back (with the config
    feed), and importing that into another store gives the same URLs, names and tags."""
    outlines = "".join(
        f'<outline text="Feed {n}" xmlUrl="https://many{n % 7}.example/{n}.xml" '
        f'category="/t{n % 3}"/>'
        for n in range(3000)
    )
    big = tmp_path / "big.opml"
    big.write_text(f'<opml version="1.0"><head/><body>{outlines}</body></opml>')
    started = time.monotonic()
    result = cli(config, "feeds", "import-opml", str(big))
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("added 3000 feeds, 0 duplicates, 0 invalid")
    assert time.monotonic() - started < 60
    exported = cli(config, "feeds", "export-opml")
    assert exported.returncode == 0 and exported.stdout.startswith("<?xml")
    other = tmp_path / "other.toml"
    other.write_text(f'[store]\ndata_dir = "{tmp_path / "other"}"\n')
    (tmp_path / "export.opml").write_text(exported.stdout)
    reimport = syndicate(
        "feeds",
        "import-opml",
        str(tmp_path / "export.opml"),
        "--json",
        "--config",
        str(other),
        cwd=tmp_path,
    )
    assert json.loads(reimport.stdout)["added"] == 3001
    docs = {
        d["url"]: d
        for d in json.loads(
            syndicate("feeds", "list", "--json", "--config", str(other), cwd=tmp_path).stdout
        )
    }
    assert docs["https://many5.example/12.xml"]["name"] == "Feed 12"
    assert docs["https://many5.example/12.xml"]["tags"] == ["t0"]
    assert docs["https://config.example/rss.xml"]["tags"] == ["world"]


def test_import_shows_a_progress_bar_on_a_terminal(config, tmp_path):
    """On a terminal the import draws a progress bar on stderr; piped, it does not."""
    outlines = "".join(f'<outline xmlUrl="https://p.example/{n}.xml"/>' for n in range(1200))
    opml = tmp_path / "p.opml"
    opml.write_text(f'<opml version="2.0"><body>{outlines}</body></opml>')
    leader, follower = pty.openpty()
    try:
        result = cli(config, "feeds", "import-opml", str(opml), stderr=follower)
        os.close(follower)
        drawn = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(leader)
    assert result.returncode == 0
    assert b"importing p.opml" in drawn and b"100%" in drawn and b"#" in drawn
    piped = cli(config, "feeds", "import-opml", str(opml))
    assert "#" not in piped.stderr


# -- stats, trace, health against a polled feed ------------------------------------------


STORY = ("https://news.example/story/fresh", "Fresh Story")


def polled(config: Path, server: FeedServer) -> tuple[Runtime, Clock]:
    """The config's feed replaced by a local one, polled twice through every stage with the
    clock at real time: a backlog first, then one story published after the first poll."""
    text = config.read_text().replace("https://config.example/rss.xml", server.url("/world.xml"))
    config.write_text(
        text + "[fetch]\nallow_private_networks = true\n"
        "[schedule]\nmin_interval = 60\nmax_interval = 600\n"
    )
    server.routes["/world.xml"] = Resource(rss([("old", "Old Story")]))
    clock = Clock(time.time() - 3600)
    rt = Runtime(load_settings(config, {}), clock=clock, rand=lambda: 0.0)
    rt.store.sync_feeds(rt.settings.feed_specs(), clock())
    run_cycle(rt)
    fid = rt.settings.feeds[0].feed_id
    first = clock.now
    clock.now = rt.store.load_states([fid])[fid].next_poll_at
    body = rss([("old", "Old Story")]).replace(
        b"</channel>",
        (
            f"<item><title>Fresh Story</title><link>{STORY[0]}?utm_source=rss</link>"
            f"<guid>fresh</guid><pubDate>{formatdate(first + 30, usegmt=True)}</pubDate>"
            f"<description>Fresh.</description></item></channel>"
        ).encode(),
    )
    server.routes["/world.xml"] = Resource(body)
    run_cycle(rt)
    clock.first_poll = first  # type: ignore[attr-defined]
    return rt, clock


def test_stats_one_line_per_feed_and_totals_per_sink(config, feed_server):
    """stats shows the feed's last poll and status, errors, next poll and reason, 304
    ratio, articles a day and the median latency of the story published after tracking
    began; the sink's delivered total counts both articles; --json has the same data."""
    rt, clock = polled(config, feed_server)
    rt.close()
    text = cli(config, "stats")
    assert text.returncode == 0, text.stderr
    header, feed_line = text.stdout.splitlines()[:2]
    assert header.split() == [
        "FEED",
        "LAST",
        "POLL",
        "STATUS",
        "ERRORS",
        "NEXT",
        "POLL",
        "REASON",
        "304",
        "ART/DAY",
        "LATENCY",
    ]
    assert feed_line.startswith("Configured") and "ok 200" in feed_line
    assert "SINK" in text.stdout and "articles" in text.stdout.split("SINK")[1]
    doc = json.loads(cli(config, "stats", "--json").stdout)
    (feed,) = doc["feeds"]
    assert feed["name"] == "Configured" and feed["last_status"] == "ok"
    assert feed["error_streak"] == 0 and feed["next_reason"]
    assert feed["not_modified_ratio"] == 0.0 and feed["polls"] == 2
    assert feed["latency_samples"] == 1  # the backlog story is left out
    published = clock.first_poll + 30  # the fresh story, 30 s after the first poll
    assert feed["median_latency_seconds"] == pytest.approx(clock.now - published, abs=2)
    assert feed["articles_per_day"] > 0
    assert doc["sinks"]["articles"]["delivered"] == 2
    assert doc["sinks"]["articles"]["pending"] == 0


def test_trace_says_id_why_and_where_delivered(config, feed_server):
    """trace finds an article by its URL with tracking parameters, names its id, its
    first feed and when each sink got it; an unknown URL exits 1 saying it was not seen,
    and lists the feeds of the same site."""
    rt, _ = polled(config, feed_server)
    rt.close()
    found = cli(config, "trace", STORY[0] + "?utm_medium=email#top", "--json")
    assert found.returncode == 0, found.stderr
    doc = json.loads(found.stdout)
    assert doc["seen"] and doc["canonical_url"] == STORY[0]
    assert doc["matched_by"] == "url" and doc["revision"] == 1
    assert doc["first_feed"]["name"] == "Configured"
    (delivery,) = doc["deliveries"]
    assert delivery["sink"] == "articles" and delivery["status"] == "delivered"
    assert delivery["event_id"] == doc["article_id"] + ".1"
    text = cli(config, "trace", STORY[0])
    assert f"seen         yes, article {doc['article_id']}" in text.stdout
    assert "delivered" in text.stdout.split("deliveries:")[1]
    unseen = cli(config, "trace", "https://news.example/story/never")
    assert unseen.returncode == 1 and "seen         no" in unseen.stdout
    assert "Configured" in unseen.stdout  # a feed of the same site
    bad = cli(config, "trace", "not a url")
    assert bad.returncode == 2 and "not an absolute http(s) URL" in bad.stderr


def test_health_passes_after_a_tick_and_fails_when_beat_is_stale(config, feed_server):
    """A feed due and unclaimed for long fails the beat check; right after a tick that
    claims it every check passes (exit 0); with the tick older than
    health.beat_max_age the beat check fails and the exit is 1."""
    rt, _ = polled(config, feed_server)
    rt.store.heartbeat("beat", time.time())
    lagging = cli(config, "health", "--check", "beat")
    assert lagging.returncode == 1 and "1 feeds due and unclaimed" in lagging.stdout
    rt.store.claim_due_feeds(time.time(), 100, 600)  # what that tick did
    rt.close()
    if not load_settings(config, {}).distributed:
        (config.parent / "var" / "broker" / "queue").mkdir(parents=True)
    ok = cli(config, "health", "--json")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    doc = json.loads(ok.stdout)
    assert doc["healthy"] is True
    names = {c["name"]: c["status"] for c in doc["checks"]}
    assert names["broker"] == names["store"] == names["beat"] == "ok"
    assert names["sink articles"] == "ok" and names["queue parse"] == "ok"
    time.sleep(1.2)
    stale = cli(config, "health", "--check", "beat", env={"SYNDICATE_HEALTH__BEAT_MAX_AGE": "1"})
    assert stale.returncode == 1
    assert "FAIL" in stale.stdout and "last tick" in stale.stdout
    assert stale.stdout.rstrip().endswith("UNHEALTHY")


def test_health_fails_without_a_broker_folder_or_a_tick(tmp_path):
    """Embedded mode never started: no broker folder, no store; exit 1 naming both."""
    config = tmp_path / "syndicate.toml"
    config.write_text(f'[store]\ndata_dir = "{tmp_path / "var"}"\n')
    result = syndicate("health", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 1
    assert "broker folder" in result.stdout and "state.db does not exist" in result.stdout
    assert not (tmp_path / "var").exists()  # checking created nothing


def test_health_queue_check_on_redis(redis_url, prefix, tmp_path):
    """A Redis queue over health.max_queue_length fails; a short one that no worker of
    the queue has drained warns but passes."""
    client = redis.Redis.from_url(redis_url)
    config = tmp_path / "syndicate.toml"
    config.write_text(f'[store]\nredis_url = "{redis_url}"\nprefix = "{prefix}"\n')
    client.delete("parse", "parse\x06\x163")
    try:
        client.lpush("parse", *[b"m"] * 3)
        client.lpush("parse\x06\x163", b"m")
        warn = syndicate(
            "health",
            "--check",
            "queues",
            "--queues",
            "parse",
            "--json",
            "--config",
            str(config),
            cwd=tmp_path,
        )
        assert warn.returncode == 0, warn.stdout
        (check,) = json.loads(warn.stdout)["checks"]
        assert check["status"] == "warn" and check["detail"].startswith("4 messages")
        full = syndicate(
            "health",
            "--check",
            "queues",
            "--queues",
            "parse",
            "--config",
            str(config),
            cwd=tmp_path,
            env={"SYNDICATE_HEALTH__MAX_QUEUE_LENGTH": "2"},
        )
        assert full.returncode == 1 and "4 messages waiting (> 2)" in full.stdout
    finally:
        client.delete("parse", "parse\x06\x163")
        client.close()


def test_health_fails_when_redis_is_unreachable(tmp_path):
    """No Redis at the configured URL: broker and store fail, exit 1."""
    config = tmp_path / "syndicate.toml"
    config.write_text('[store]\nredis_url = "redis://127.0.0.1:1/0"\n')
    result = syndicate("health", "--json", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 1
    checks = {c["name"]: c for c in json.loads(result.stdout)["checks"]}
    assert checks["broker"]["status"] == "fail" and checks["store"]["status"] == "fail"


# -- poll --explain -----------------------------------------------------------------------


def test_poll_explain_tells_fetch_parse_boilerplate_and_identity(tmp_path, feed_server):
    """--explain prints the fetch outcome, the parse path, each item's removed boilerplate
    and identity keys on stderr, the articles still as JSON lines on stdout; --json gives
    one document; with a store it says which items are known."""
    body = (
        rss([("a", "Shared Link One"), ("b", "Shared Link Two")])
        .replace(b"/story/b?utm", b"/story/a?utm")
        .replace(
            b"&lt;p&gt;Shared Link Two in detail.&lt;/p&gt;",
            b"&lt;p&gt;Body.&lt;/p&gt;&lt;p&gt;ALSO READ: Something else&lt;/p&gt;",
        )
    )
    feed_server.routes["/f.xml"] = Resource(body)
    env = {"SYNDICATE_FETCH__ALLOW_PRIVATE_NETWORKS": "true"}
    result = syndicate("poll", feed_server.url("/f.xml"), "--explain", cwd=tmp_path, env=env)
    assert result.returncode == 0, result.stderr
    err = result.stderr
    assert "status      ok (HTTP 200)" in err and "lxml fast path" in err
    assert "rss20, 2 entries" in err
    assert "removed     ALSO READ: Something else" in err
    assert "none: link shared by another item" in err
    assert "no store to compare with" in err
    articles = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(articles) == 2
    doc = json.loads(
        syndicate(
            "poll", feed_server.url("/f.xml"), "--explain", "--json", cwd=tmp_path, env=env
        ).stdout
    )
    assert doc["fetch"]["http_status"] == 200 and doc["parse"]["format"] == "rss20"
    assert doc["items"][0]["link_problem"] == "shared"
    assert len(doc["articles"]) == 2
    assert not (tmp_path / "var").exists()


def test_poll_explain_compares_with_the_store(config, feed_server):
    """With a store holding the feed's articles, --explain says the items are known."""
    rt, _ = polled(config, feed_server)
    rt.close()
    result = cli(config, "poll", feed_server.url("/world.xml"), "--explain", "--json")
    assert result.returncode == 0, result.stderr
    decisions = [i["decision"] for i in json.loads(result.stdout)["items"]]
    assert all(d.startswith("known article") and d.endswith("unchanged)") for d in decisions)


def test_poll_explain_of_a_failing_feed_exits_1_with_the_outcome(tmp_path, feed_server):
    """A 404 is explained (status, HTTP code) and exits 1 with the reason on stderr."""
    result = syndicate(
        "poll",
        feed_server.url("/missing.xml"),
        "--explain",
        cwd=tmp_path,
        env={"SYNDICATE_FETCH__ALLOW_PRIVATE_NETWORKS": "true"},
    )
    assert result.returncode == 1
    assert "status      error (HTTP 404)" in result.stderr and result.stdout == ""
