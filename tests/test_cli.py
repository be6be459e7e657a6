"""The CLI driven as a user would: a subprocess, its output and its exit code."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.feeds import rss
from worker.demo.server import FeedServer, Resource


def syndicate(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    base = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    return subprocess.run(
        [sys.executable, "-m", "worker.cli", *args],
        cwd=cwd,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_check_config_lists_every_problem_and_exits_2(tmp_path):
    """A config with three mistakes reports all three (file, key, reason) at once."""
    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[feeds]]\nurl = "ftp://x"\n[fetch]\ntimout = 3\n[schedule]\nmin_interval = -1\n'
    )
    result = syndicate("check-config", "--config", str(bad), cwd=tmp_path)
    assert result.returncode == 2
    err = result.stderr
    assert "3 problems" in err
    assert f"{bad}: feeds[0].url: must be an absolute http" in err
    assert f"{bad}: fetch.timout: unknown key" in err
    assert f"{bad}: schedule.min_interval: Input should be greater than 0" in err


def test_check_config_names_the_environment_variable_at_fault(tmp_path):
    """A bad override is reported against the variable that set it."""
    result = syndicate("check-config", cwd=tmp_path, env={"SYNDICATE_FETCH__TIMEOUT": "soon"})
    assert result.returncode == 2
    assert "environment SYNDICATE_FETCH__TIMEOUT: fetch.timeout" in result.stderr


def test_check_config_ok_exits_0(tmp_path):
    """A valid config is summarised on stdout with exit 0."""
    good = tmp_path / "good.toml"
    good.write_text('[[feeds]]\nurl = "https://example.com/feed.xml"\n')
    result = syndicate("check-config", "--config", str(good), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "feeds: 1" in result.stdout and "embedded" in result.stdout


def test_missing_explicit_config_is_an_error(tmp_path):
    """--config pointing nowhere is a clear error, not silent defaults."""
    result = syndicate("check-config", "--config", str(tmp_path / "nope.toml"), cwd=tmp_path)
    assert result.returncode == 2 and "no such file" in result.stderr


def test_poll_prints_one_json_article_per_line(tmp_path):
    """`poll URL` fetches, parses and normalizes one feed to JSON lines, keeping no state."""
    with FeedServer() as server:
        server.routes["/f.xml"] = Resource(rss([("one", "First &amp; best"), ("two", "Two")]))
        result = syndicate(
            "poll",
            server.url("/f.xml"),
            cwd=tmp_path,
            env={"SYNDICATE_FETCH__ALLOW_PRIVATE_NETWORKS": "true"},
        )
    assert result.returncode == 0, result.stderr
    articles = [json.loads(line) for line in result.stdout.splitlines()]
    assert [a["title"] for a in articles] == ["Two", "First & best"]
    assert articles[0]["canonical_url"] == "https://news.example/story/two"
    assert not (tmp_path / "var").exists()


def test_poll_refuses_loopback_by_default(tmp_path):
    """Without allow_private_networks, a feed on 127.0.0.1 is refused with a reason."""
    with FeedServer() as server:
        server.routes["/f.xml"] = Resource(rss([("one", "One")]))
        result = syndicate("poll", server.url("/f.xml"), cwd=tmp_path)
        assert server.hits["/f.xml"] == 0
    assert result.returncode == 1
    assert "refused address" in result.stderr and "loopback" in result.stderr


def test_poll_failure_names_the_url_and_reason(tmp_path):
    """A feed that is not a feed exits 1 with the URL and why."""
    with FeedServer() as server:
        server.routes["/page"] = Resource(b"<html><p>hello</p></html>", "text/html")
        url = server.url("/page")
        result = syndicate(
            "poll", url, cwd=tmp_path, env={"SYNDICATE_FETCH__ALLOW_PRIVATE_NETWORKS": "true"}
        )
    assert result.returncode == 1
    assert url in result.stderr and "not an RSS, Atom or JSON feed" in result.stderr


def _store_with_history(tmp_path: Path):
    """A config with two JSONL sinks and an embedded store holding three events, one of
    them a dead letter of sink 'a'."""
    import time as _time

    from tests.contract.test_store import commit
    from worker.adapters.store.sqlite import SqliteStore

    config = tmp_path / "syndicate.toml"
    config.write_text(
        f'[store]\ndata_dir = "{tmp_path}/var"\n'
        f'[sinks.a]\ntype = "jsonl"\npath = "{tmp_path}/a.jsonl"\n'
        f'[sinks.b]\ntype = "jsonl"\npath = "{tmp_path}/b.jsonl"\n'
    )
    store = SqliteStore(tmp_path / "var" / "state.db", seen_ttl=3600)
    now = _time.time()
    store.commit_articles([commit("old", sinks=("a",))], now - 7200, 0)
    store.commit_articles([commit("x1", sinks=("a",)), commit("x2", sinks=("a",))], now, 0)
    store.ack_deliveries("a", ["old.1", "x1.1"])
    store.retry_deliveries("a", ["x2.1"], now, [1.0], ["HTTP 503"])
    store.dead_letter("a", [("x2.1", "still failing after 2 attempts over 60s: HTTP 503")], now)
    return config, store


def test_dlq_list_shows_each_dead_letter_with_its_reason(tmp_path):
    """`dlq list` prints counts per sink and each dead letter; --json is machine-readable."""
    config, _ = _store_with_history(tmp_path)
    result = syndicate("dlq", "list", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "dead letters: a 1" in result.stdout
    assert "x2.1" in result.stdout and "attempts=2" in result.stdout
    assert "HTTP 503" in result.stdout
    as_json = syndicate("dlq", "list", "--json", "--config", str(config), cwd=tmp_path)
    (doc,) = [json.loads(x) for x in as_json.stdout.splitlines()]
    assert (doc["sink"], doc["event_id"], doc["attempts"]) == ("a", "x2.1", 2)


def test_dlq_replay_requires_a_choice_and_queues_dead_letters_again(tmp_path):
    """`dlq replay` with nothing to select is a usage error; with --sink it re-queues."""
    config, store = _store_with_history(tmp_path)
    bare = syndicate("dlq", "replay", "--config", str(config), cwd=tmp_path)
    assert bare.returncode == 2 and "--sink NAME, --id EVENT_ID or --all" in bare.stderr
    unknown = syndicate("dlq", "replay", "--sink", "zz", "--config", str(config), cwd=tmp_path)
    assert unknown.returncode == 2 and "unknown sink 'zz'" in unknown.stderr
    result = syndicate("dlq", "replay", "--id", "x2.1", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 0 and "queued 1 dead letter again" in result.stdout
    assert store.dead_letter_counts() == {} and store.pending_counts() == {"a": 1}


def test_replay_queues_the_window_of_history_for_a_sink(tmp_path):
    """`replay --since 1h --sink b` queues the events of the last hour for sink b only."""
    config, store = _store_with_history(tmp_path)
    result = syndicate(
        "replay", "--since", "1h", "--sink", "b", "--config", str(config), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    assert "queued 2 events" in result.stdout and "for sink b" in result.stdout
    assert store.pending_counts() == {"b": 2}
    everything = syndicate(
        "replay", "--since", "2020-01-01", "--sink", "b", "--config", str(config), cwd=tmp_path
    )
    assert "queued 3 events" in everything.stdout
    bad = syndicate(
        "replay", "--since", "yesterday", "--sink", "b", "--config", str(config), cwd=tmp_path
    )
    assert bad.returncode == 2 and "neither an ISO 8601 time nor an age" in bad.stderr


def test_replay_draws_a_progress_bar_on_a_terminal(tmp_path):
    """On a terminal, `replay` shows a progress bar that reaches 100%; piped, it does not."""
    import os
    import pty

    config, _ = _store_with_history(tmp_path)
    leader, follower = pty.openpty()
    base = {
        "PATH": "/usr/bin:/bin",
        "PYTHONPATH": str(Path(__file__).resolve().parents[1]),
        "TERM": "xterm",
        "COLUMNS": "100",
    }
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "worker.cli",
            "replay",
            "--since",
            "1d",
            "--sink",
            "b",
            "--config",
            str(config),
        ],
        cwd=tmp_path,
        env=base,
        stdout=subprocess.PIPE,
        stderr=follower,
        timeout=60,
        check=False,
    )
    os.close(follower)
    screen = b""
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        screen += chunk
    os.close(leader)
    assert proc.returncode == 0
    assert b"queueing for b" in screen and b"100%" in screen
    piped = syndicate(
        "replay", "--since", "1d", "--sink", "b", "--config", str(config), cwd=tmp_path
    )
    assert "100%" not in piped.stderr


def _polled_config(tmp_path: Path, url: str) -> Path:
    """A config with one feed, polled once through the stages (embedded SQLite store)."""
    from worker import pipeline
    from worker.runtime import Runtime
    from worker.settings import load_settings

    config = tmp_path / "syndicate.toml"
    config.write_text(
        f'[[feeds]]\nurl = "{url}"\nname = "Gone Daily"\n'
        f'[store]\ndata_dir = "{tmp_path / "var"}"\n'
        "[fetch]\nallow_private_networks = true\n"
    )
    rt = Runtime(load_settings(config, {}))
    rt.store.sync_feeds(rt.settings.feed_specs(), rt.clock())
    for batch in pipeline.tick(rt).fetch_batches:
        pipeline.process(rt, pipeline.fetch_batch(rt, batch))
    rt.close()
    return config


def test_explain_shows_state_next_poll_reason_and_history(tmp_path):
    """`explain NAME` prints the state, next poll and reason and a table of recent polls;
    --json gives the same for machines; a gone feed is revived by `revive`."""
    with FeedServer() as server:
        server.routes["/gone.xml"] = Resource(b"", status=410)
        config = _polled_config(tmp_path, server.url("/gone.xml"))
    text = syndicate("explain", "gone daily", "--config", str(config), cwd=tmp_path)
    assert text.returncode == 0, text.stderr
    assert "state      gone" in text.stdout and "next poll  never" in text.stdout
    assert "recent polls" in text.stdout and "gone" in text.stdout.split("recent polls")[1]
    doc = json.loads(
        syndicate(
            "explain", server.url("/gone.xml"), "--json", "--config", str(config), cwd=tmp_path
        ).stdout
    )
    assert doc["state"] == "gone" and doc["next_poll_at"] is None
    assert doc["polls"][0]["http_status"] == 410 and doc["polls"][0]["outcome"] == "gone"
    revived = syndicate("revive", doc["feed_id"], "--config", str(config), cwd=tmp_path)
    assert revived.returncode == 0, revived.stderr
    after = json.loads(
        syndicate("explain", doc["feed_id"], "--json", "--config", str(config), cwd=tmp_path).stdout
    )
    assert after["state"] == "active" and after["next_reason"] == "revived"
    assert after["next_poll_in"] <= 0


def test_explain_of_an_unknown_feed_is_an_error_on_stderr(tmp_path):
    """An unknown FEED exits 1 with the reason on stderr and nothing on stdout."""
    config = tmp_path / "syndicate.toml"
    config.write_text(f'[store]\ndata_dir = "{tmp_path / "var"}"\n')
    result = syndicate("explain", "nope", "--config", str(config), cwd=tmp_path)
    assert result.returncode == 1 and result.stdout == ""
    assert "nope: no such feed" in result.stderr


def test_worker_hands_celery_the_default_concurrency_unless_told(tmp_path, monkeypatch):
    """`syndicate worker` hands Celery a concurrency: the given one, or
    ``default_concurrency()`` (one more than the CPUs it may use; how that is counted is
    the next test's), which is at least 2 and at most one more than its affinity."""
    import os

    from click.testing import CliRunner

    from worker import cli
    from worker.celery_app import app

    started: list[list[str]] = []
    monkeypatch.setattr(app, "worker_main", started.append)
    monkeypatch.setattr(app, "use_settings", lambda settings: None)  # keep the app as it is
    config = tmp_path / "c.toml"
    config.write_text('[[feeds]]\nurl = "https://example.com/feed.xml"\n')
    runner = CliRunner()
    for extra in ([], ["--concurrency", "5"]):
        result = runner.invoke(cli.main, ["worker", "--config", str(config), *extra])
        assert result.exit_code == 0, result.output
    default = str(cli.default_concurrency())
    assert [argv[argv.index("--concurrency") + 1] for argv in started] == [default, "5"]
    assert 2 <= int(default) <= len(os.sched_getaffinity(0)) + 1


def test_default_concurrency_is_cpus_plus_one_within_the_cgroup_quota(tmp_path):
    """CPUs are the affinity's, or fewer when the cgroup has a CPU quota (cgroup v2
    ``cpu.max`` or v1 ``cpu.cfs_quota_us``), rounded up; an unreadable quota is none."""
    import os

    from worker import cli

    cpus = len(os.sched_getaffinity(0))
    none = tmp_path / "none"
    none.mkdir()
    assert cli.default_concurrency(none) == cpus + 1
    v2 = tmp_path / "v2"
    v2.mkdir()
    for text, expected in (
        ("max 100000\n", cpus + 1),
        ("150000 100000\n", min(cpus, 2) + 1),
        ("50000 100000\n", 2),
        ("garbage\n", cpus + 1),
    ):
        (v2 / "cpu.max").write_text(text)
        assert cli.default_concurrency(v2) == expected, text
    v1 = tmp_path / "v1" / "cpu"
    v1.mkdir(parents=True)
    (v1 / "cpu.cfs_period_us").write_text("100000\n")
    for quota, expected in (("-1", cpus + 1), ("50000", 2), ("100000", 2)):
        (v1 / "cpu.cfs_quota_us").write_text(quota + "\n")
        assert cli.default_concurrency(tmp_path / "v1") == expected, quota
