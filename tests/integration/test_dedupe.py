"""Dedupe through the stages: captured feeds served by a real HTTP server, the real stores
(SQLite and Redis), real JSONL sinks; edits, syndicated copies and bad GUIDs."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import structlog

from tests.captures import CAPTURES
from tests.integration.test_pipeline import Clock, run_cycle
from worker.demo.server import FeedServer, Resource
from worker.runtime import Runtime
from worker.settings import load_settings

EMPTY = (
    b'<?xml version="1.0"?><rss version="2.0"><channel><title>Soon</title>'
    b"<link>https://soon.example/</link></channel></rss>"
)


def runtime(
    tmp_path: Path, urls: list[str], store_env: dict[str, str], **env: str
) -> tuple[Runtime, Clock]:
    """Two JSONL sinks: ``all`` delivers copies, ``originals`` suppresses them."""
    base = {
        "SYNDICATE_FETCH__ALLOW_PRIVATE_NETWORKS": "true",
        "SYNDICATE_STORE__DATA_DIR": str(tmp_path / "var"),
        "SYNDICATE_SCHEDULE__MIN_INTERVAL": "60",
        "SYNDICATE_SCHEDULE__MAX_INTERVAL": "60",
        "SYNDICATE_SINKS__ALL__TYPE": "jsonl",
        "SYNDICATE_SINKS__ALL__PATH": str(tmp_path / "all.jsonl"),
        "SYNDICATE_SINKS__ORIGINALS__TYPE": "jsonl",
        "SYNDICATE_SINKS__ORIGINALS__PATH": str(tmp_path / "originals.jsonl"),
        "SYNDICATE_SINKS__ORIGINALS__DUPLICATES": "suppress",
        **store_env,
        **env,
    }
    config = tmp_path / "syndicate.toml"
    config.write_text("".join(f'[[feeds]]\nurl = "{u}"\n' for u in urls))
    clock = Clock()
    rt = Runtime(load_settings(config, base), clock=clock, rand=lambda: 0.0)
    rt.store.sync_feeds(rt.settings.feed_specs(), clock())
    return rt, clock


def events(tmp_path: Path, sink: str = "all") -> list[dict[str, Any]]:
    path = tmp_path / f"{sink}.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def serve(server: FeedServer, path: str, name: str | bytes) -> None:
    body = name if isinstance(name, bytes) else (CAPTURES / name).read_bytes()
    server.routes[path] = Resource(body)


def test_an_edited_feed_publishes_updates_for_meaningful_changes_only(
    tmp_path, feed_server, store_env
):
    """Between the two captures, the edited headline and the new paragraph become
    article.updated revision 2; churn and a one-word fix publish nothing."""
    serve(feed_server, "/coast.xml", "edit_before.xml")
    rt, clock = runtime(tmp_path, [feed_server.url("/coast.xml")], store_env)
    run_cycle(rt)
    created = events(tmp_path)
    assert [e["type"] for e in created] == ["article.created"] * 4
    serve(feed_server, "/coast.xml", "edit_after.xml")
    clock.now += 61
    run_cycle(rt)
    updated = events(tmp_path)[4:]
    assert sorted(e["data"]["title"] for e in updated) == [
        "Council approves £40m tidal barrier for the lower town",
        "Storm damage closes coastal road",
    ]
    ids = {e["subject"]: e["data"]["article_id"] for e in created}
    for e in updated:
        assert e["type"] == "article.updated" and e["data"]["revision"] == 2
        assert e["id"] == f"{e['subject']}.2" and e["subject"] in ids
        assert e["data"]["changes"]["title"] == ("barrier" in e["data"]["url"])


def test_updates_past_the_daily_cap_wait_for_the_next_day(tmp_path, feed_server, store_env):
    """With one update a day, a second edit the same day waits and goes out next day."""
    serve(feed_server, "/coast.xml", "edit_before.xml")
    rt, clock = runtime(
        tmp_path,
        [feed_server.url("/coast.xml")],
        store_env,
        SYNDICATE_DEDUPE__MAX_UPDATES_PER_DAY="1",
    )
    run_cycle(rt)
    serve(feed_server, "/coast.xml", "edit_after.xml")
    clock.now += 61
    run_cycle(rt)
    assert len(events(tmp_path)) == 6
    again = (
        (CAPTURES / "edit_after.xml")
        .read_bytes()
        .replace(
            b"when the weather is calmer.</p>",
            b"when the weather is calmer.</p><p>Late on Monday a second section of the wall "
            b"near the old coastguard station was found to be cracked, and engineers said the "
            b"closure could last into the summer holidays if it also has to be rebuilt.</p>",
        )
    )
    serve(feed_server, "/coast.xml", again)
    clock.now += 61
    run_cycle(rt)
    assert len(events(tmp_path)) == 6  # capped
    clock.now += 86_400
    run_cycle(rt)
    late = events(tmp_path)[6:]
    assert [(e["type"], e["data"]["revision"]) for e in late] == [("article.updated", 3)]
    assert "second section of the wall" in late[0]["data"]["content_text"]


def test_syndicated_copies_share_the_first_articles_cluster(tmp_path, feed_server, store_env):
    """The wire story at two more outlets is duplicate_of the first outlet's article, in its
    cluster; a sink that suppresses duplicates gets only the originals."""
    serve(feed_server, "/northern.xml", "syndicated_northern.xml")
    serve(feed_server, "/valley.xml", EMPTY)
    serve(feed_server, "/coastal.xml", EMPTY)
    urls = [feed_server.url(p) for p in ("/northern.xml", "/valley.xml", "/coastal.xml")]
    rt, clock = runtime(tmp_path, urls, store_env)
    run_cycle(rt)
    serve(feed_server, "/valley.xml", "syndicated_valley.xml")
    serve(feed_server, "/coastal.xml", "syndicated_coastal.xml")
    clock.now += 61
    run_cycle(rt)
    data = {e["data"]["title"]: e["data"] for e in events(tmp_path)}
    first = data["Rail line reopens five days after Quill viaduct landslide"]
    unions = data["Unions demand review of valley rail maintenance"]
    assert (first["cluster_id"], first["duplicate_of"]) == (first["article_id"], None)
    assert (unions["cluster_id"], unions["duplicate_of"]) == (unions["article_id"], None)
    for title in ("Trains run again after landslide clean-up", "Harrowgate-Fenwick line back open"):
        assert data[title]["cluster_id"] == data[title]["duplicate_of"] == first["article_id"]
    originals = {e["data"]["title"] for e in events(tmp_path, "originals")}
    assert originals == {first["title"], unions["title"]}
    assert rt.store.pending_counts() == {}


def test_regenerated_guids_through_the_pipeline(tmp_path, feed_server, store_env):
    """A feed that changes every GUID on every poll publishes each notice once, and the
    switch to content identity is logged once."""
    serve(feed_server, "/coast.xml", "guid_unstable_poll1.xml")
    rt, clock = runtime(tmp_path, [feed_server.url("/coast.xml")], store_env)
    with structlog.testing.capture_logs() as logs:
        run_cycle(rt)
        for name in ("guid_unstable_poll2.xml", "guid_unstable_poll3.xml"):
            serve(feed_server, "/coast.xml", name)
            clock.now += 61
            run_cycle(rt)
    ids = [e["id"] for e in events(tmp_path)]
    assert len(ids) == len(set(ids)) == 4
    changes = [e for e in logs if e["event"] == "feed.identity_changed"]
    assert [(c["key"], c["trusted"], c["reason"]) for c in changes] == [("guid", False, "unstable")]
    feed_id = rt.settings.feeds[0].feed_id
    profile = rt.store.load_feed_identities([feed_id])[feed_id]
    assert not profile.guid.trusted and profile.polls == 3


def test_the_same_story_in_two_section_feeds_is_not_revised_by_either(
    tmp_path, feed_server, store_env
):
    """Section feeds with their own summaries of one article publish it once, and polling
    them in turn does not flip it into updates."""
    fixtures = Path(__file__).resolve().parent.parent / "fixtures" / "feeds"
    feed_server.routes["/world.xml"] = Resource((fixtures / "rss20_section_world.xml").read_bytes())
    feed_server.routes["/business.xml"] = Resource(
        (fixtures / "rss20_section_business.xml").read_bytes()
    )
    rt, clock = runtime(
        tmp_path, [feed_server.url("/world.xml"), feed_server.url("/business.xml")], store_env
    )
    for _ in range(3):
        run_cycle(rt)
        feed_ids = [f.feed_id for f in rt.settings.feeds]
        states = rt.store.load_states(feed_ids)
        # forget the body hashes: each poll parses both documents again
        rt.store.save_states([replace(s, body_hash=None) for s in states.values()])
        clock.now += 61
    assert [e["type"] for e in events(tmp_path)] == ["article.created"] * 2
