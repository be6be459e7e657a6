"""What reaches the logs: no secret, no body, no raw control character, one JSON object
per line; and a bad feed warns once per change of its condition, not at every poll."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import uuid
from pathlib import Path

import redis
from structlog.testing import capture_logs

from tests.integration.test_fetch_stage import run_cycle, runtime, state_of
from worker.demo.server import FeedServer, Resource
from worker.logging import REDACTED, _scrub

ROOT = Path(__file__).resolve().parents[2]
RAW_CONTROL = re.compile(r"[\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
BODY_MARK = "BODYMARK-7f3a"
AUTH_SECRET = "s3cr3t-auth-9d2c"
URL_SECRET = "hunter2-sink-41b8"


def strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*strings(k), *strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def test_hostile_feeds_and_secrets_never_reach_a_log_line(tmp_path, redis_url):
    """A poll of hostile feeds (control characters and bidi overrides in names, items and
    errors, big bodies that are not feeds, a feed behind basic auth) with a sink whose
    URL carries a password, logged at DEBUG as JSON: every line is one JSON object, no
    decoded value holds a control character, no body and no secret appears."""
    evil = (
        "<?xml version='1.0'?><rss version='2.0'><channel><title>Evil\x1b[2J</title>"
        "<link>https://evil.example/</link>"
        + "".join(
            f"<item><title>T{n}\u202e\x07</title><link>https://evil.example/{n}"
            f"</link><description>{BODY_MARK * 200}</description></item>"
            for n in range(3)
        )
        + "<item></item></channel></rss>"
    ).encode()
    stream = f"probe-{uuid.uuid4().hex[:8]}"
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")  # the JSONL sink cannot create its file: delivery.failed
    with FeedServer() as server:
        server.routes["/evil.xml"] = Resource(evil)
        server.routes["/page"] = Resource(
            f"<html><body>{BODY_MARK * 500}\x1b[31m</body></html>".encode(), "text/html"
        )
        server.routes["/private.xml"] = Resource(b"no", status=401)
        config = tmp_path / "syndicate.toml"
        config.write_text(
            f'[[feeds]]\nurl = "{server.url("/evil.xml")}"\nname = "Evil\\u001b[31m\\u202eFeed"\n'
            f'[[feeds]]\nurl = "{server.url("/page")}"\nname = "Page\\nTwo lines"\n'
            f'[[feeds]]\nurl = "{server.url("/private.xml")}"\nauth_env = "NEWS_AUTH"\n'
            f'[store]\ndata_dir = "{tmp_path / "var"}"\n'
            "[fetch]\nallow_private_networks = true\n"
            f'[sinks.bus]\ntype = "redis_stream"\nstream = "{stream}"\n'
            f'[sinks.blocked]\ntype = "jsonl"\npath = "{blocker / "a.jsonl"}"\n'
        )
        host = redis_url.split("://", 1)[1]
        env = {
            "PATH": "/usr/bin:/bin",
            "PYTHONPATH": str(ROOT),
            "NEWS_AUTH": f"reader:{AUTH_SECRET}",
            "SYNDICATE_CONFIG": str(config),
            "SYNDICATE_SINKS__BUS__URL": f"redis://:{URL_SECRET}@{host}",
        }
        try:
            result = subprocess.run(
                [sys.executable, "-m", "tests.log_probe", str(config), "2"],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=120,
                check=False,
            )
        finally:
            client = redis.Redis.from_url(redis_url)
            client.delete(stream, *client.keys(f"{stream}*"))
            client.close()
    assert result.returncode == 0, result.stderr[-3000:]
    lines = result.stderr.splitlines()
    events = [json.loads(line) for line in lines]  # every line is one JSON object
    names = {e["event"] for e in events}
    # The probe really went through the hostile paths it claims to.
    assert {
        "feed.polled",
        "feed.state_changed",
        "delivery.failed",
        "entry.skipped",
        "syndicate.started",
    } <= names
    assert sum(e["event"] == "feed.polled" for e in events) == 6
    for line, event in zip(lines, events, strict=True):
        for text in strings(event):
            assert not RAW_CONTROL.search(text), (text, line)
        assert BODY_MARK not in line
        assert AUTH_SECRET not in line and URL_SECRET not in line
    started = next(e for e in events if e["event"] == "syndicate.started")
    assert started["sinks"]["bus"]["url"].startswith("redis://:***@")


def test_scrub_masks_url_passwords_and_secret_fields():
    """Passwords in URLs anywhere in a field, and fields named like secrets, are masked;
    control characters become U+FFFD; long values are cut."""
    out = _scrub(
        None,
        "info",
        {
            "event": "x",
            "url": "https://user:pw123@h.example/a and redis://:pw456@r:6379/0",
            "nested": {"token": "t0k", "list": ["amqp://u:pw789@q//"]},
            "signing_key": "whsec_abc",
            "feed": "a\x1b[31mb\u202e",
            "body": "x" * 5000,
        },
    )
    assert "pw123" not in out["url"] and "pw456" not in out["url"]
    assert out["url"].startswith("https://user:***@h.example/a")
    assert out["nested"]["token"] == REDACTED and "pw789" not in out["nested"]["list"][0]
    assert out["signing_key"] == REDACTED
    assert out["feed"] == "a\ufffd[31mb\ufffd"
    assert len(out["body"]) <= 2001


def test_a_failing_feed_warns_once_per_change_and_polls_log_one_line_each(tmp_path):
    """Five polls failing alike: five feed.polled lines, one feed.state_changed warning;
    another kind of error: one more warning; recovery: one state_changed at info."""
    with FeedServer() as server:
        server.routes["/f.xml"] = Resource(b"oops", status=500)
        rt, clock = runtime(tmp_path, [server.url("/f.xml")], {})
        with capture_logs() as logs:
            for n in range(9):
                if n == 5:
                    server.routes["/f.xml"] = Resource(b"gone away", status=404)
                if n == 7:
                    server.routes["/f.xml"] = Resource(
                        b'<rss version="2.0"><channel><title>t</title></channel></rss>'
                    )
                run_cycle(rt)
                clock.now = state_of(rt).next_poll_at
    polled = [e for e in logs if e["event"] == "feed.polled"]
    assert len(polled) == 9 and {e["log_level"] for e in polled} == {"info"}
    assert [e["error_streak"] for e in polled] == [1, 2, 3, 4, 5, 6, 7, 0, 0]
    changes = [e for e in logs if e["event"] == "feed.state_changed"]
    assert [(e["log_level"], e["from_state"], e["to_state"], e["error_kind"]) for e in changes] == [
        ("warning", "healthy", "failing", "server_error"),
        ("warning", "failing", "failing", "client_error"),
        ("info", "failing", "healthy", None),
    ]
    assert changes[2]["error_streak"] == 7 and changes[2]["previous_error_kind"] == "client_error"


LOG_CALL = re.compile(
    r"\.(?:debug|info|warning|error|exception|critical)\)?\(\s*\"([a-z][a-z0-9_]*\.[a-z0-9_.]+)\""
)


def test_docs_logging_lists_every_event_the_code_logs():
    """Every static event name passed to a log call in worker/ has a row in
    docs/logging.md, and no log call builds its event with an f-string."""
    catalogue = (ROOT / "docs" / "logging.md").read_text()
    found: dict[str, str] = {}
    for path in (ROOT / "worker").rglob("*.py"):
        source = path.read_text()
        assert not re.search(r"\blog\.(?:debug|info|warning|error)\(\s*f\"", source), path
        for name in LOG_CALL.findall(source):
            found.setdefault(name, str(path.relative_to(ROOT)))
    assert {"feed.polled", "feed.state_changed", "delivery.batch", "task.poisoned"} <= set(found)
    missing = {n: p for n, p in found.items() if f"| `{n}` |" not in catalogue}
    assert not missing, f"events not in docs/logging.md: {missing}"
