"""Full text and boilerplate through the real pipeline: a local server serves a teaser
feed and its article pages; the store and sink are real."""

from __future__ import annotations

import json
from pathlib import Path

from tests.integration.test_pipeline import make_runtime, run_cycle
from worker.demo.server import FeedServer, Resource

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SITE = "https://lanternledger.example"
ARTICLE_PATH = "/world/moscow-grain-corridor-proposal/"
HEADINGS = (
    "What the Mediators Put on the Table",
    "Conditions That Halt Talks Before They Begin",
    "Markets Wait for a Signal",
)


def events(rt) -> list[dict]:
    path = rt.settings.data_dir / "articles.jsonl"
    return [json.loads(line)["data"] for line in path.read_text().splitlines()]


def serve_seed(server: FeedServer) -> str:
    """The seed-shaped teaser feed and its article page, linking to this server."""
    base = server.url("")
    feed = (FIXTURES / "feeds" / "seed_teaser.xml").read_text().replace(SITE, base)
    page = (FIXTURES / "pages" / "seed_article.html").read_text().replace(SITE, base)
    server.routes["/feed/"] = Resource(feed.encode())
    server.routes[ARTICLE_PATH] = Resource(page.encode(), "text/html; charset=utf-8")
    return server.url("/feed/")


def test_seed_teaser_becomes_the_whole_clean_article(tmp_path, feed_server: FeedServer):
    """The seed's teaser item is completed from its page: title, standfirst as summary,
    author, category, every paragraph under its sub-headings; promotions, disclaimer and
    comments out of the body, the first three kept in removed_boilerplate."""
    rt, _ = make_runtime(tmp_path, [serve_seed(feed_server)])
    run_cycle(rt)
    (article,) = events(rt)
    assert article["title"] == (
        "Moscow Calls Grain Corridor Proposal \u2018A Basis for Talks,\u2019 "
        "Demands Sanctions Relief First"
    )
    assert article["summary"] == (
        "The Kremlin signals interest in a Black Sea shipping plan but ties any deal to the "
        "reconnection of its agricultural bank, leaving insurers and exporters waiting."
    )
    assert article["authors"] == ["Amreen Ahmad"]
    assert article["categories"] == ["Russia"]
    assert article["language"] == "en-us"
    assert article["canonical_url"] == feed_server.url(ARTICLE_PATH)
    text = article["content_text"]
    paragraphs = text.split("\n\n")
    for heading in HEADINGS:
        assert heading in paragraphs
    page = (FIXTURES / "pages" / "seed_article.html").read_text()
    story = [
        line.removeprefix("<p>").removesuffix("</p>")
        for line in page.splitlines()
        if line.startswith("<p>")
    ]
    assert len(story) == 8
    for line in story:
        first_words = line.split("&#8217;")[0][:60]
        assert first_words in text, first_words
    assert "ALSO READ" not in text
    assert "Disclaimer" not in text
    assert "Insurers will decide this" not in text  # a reader comment
    assert paragraphs[0].startswith("Moscow\u2019s latest response")
    removed = article["removed_boilerplate"]
    assert sum(r.startswith("ALSO READ:") for r in removed) == 3
    assert any(r.startswith("Disclaimer: This article is an analysis") for r in removed)
    assert feed_server.hits[ARTICLE_PATH] == 1


def test_a_completed_teaser_is_not_an_edit_at_the_next_poll(tmp_path, feed_server: FeedServer):
    """Edits are judged on the feed's own version of an item: the teaser that was
    published completed from its page is unchanged at the next poll (no article.updated),
    and its page is not fetched again."""
    url = serve_seed(feed_server)
    rt, clock = make_runtime(tmp_path, [url])
    run_cycle(rt)
    feed_server.routes["/feed/"] = Resource(feed_server.routes["/feed/"].body + b"\n")
    clock.now += 601  # past max_interval: polled again, and the body hash differs
    run_cycle(rt)
    assert feed_server.hits["/feed/"] == 2
    (article,) = events(rt)
    assert article["revision"] == 1
    assert feed_server.hits[ARTICLE_PATH] == 1


def test_full_text_never_leaves_the_teaser_alone(tmp_path, feed_server: FeedServer):
    """With full_text = "never" the page is not fetched and the teaser stays the body."""
    url = serve_seed(feed_server)
    rt, _ = make_runtime(tmp_path, [url], extra='full_text = "never"\n')
    run_cycle(rt)
    (article,) = events(rt)
    assert feed_server.hits[ARTICLE_PATH] == 0
    assert article["content_text"].startswith("The Kremlin signals interest")
    assert any("appeared first on" in r for r in article["removed_boilerplate"])


def _story_feed(base: str, slugs: list[str]) -> bytes:
    items = "".join(
        f"<item><title>Story {s}</title><link>{base}/news/{s}</link><guid>{s}</guid>"
        f"<pubDate>Mon, 0{n + 1} Dec 2025 10:00:00 GMT</pubDate>"
        f"<content:encoded><![CDATA[<p>Story {s} begins with its own news, told once.</p>"
        f"<p>Then story {s} goes on with details nobody else has.</p>"
        "<p>Get the Ledger in your inbox every morning: sign up at the front desk.</p>"
        "]]></content:encoded></item>"
        for n, s in enumerate(slugs)
    )
    return (
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        f"<channel><title>Ledger</title><link>{base}/</link>{items}</channel></rss>"
    ).encode()


def test_a_paragraph_recurring_across_a_sources_articles_is_learned(
    tmp_path, feed_server: FeedServer
):
    """Once a line has recurred in three of a site's articles, later articles lose it to
    removed_boilerplate; the story paragraphs stay."""
    base = feed_server.url("")
    feed_server.routes["/rss"] = Resource(_story_feed(base, ["a", "b", "c"]))
    rt, clock = make_runtime(tmp_path, [feed_server.url("/rss")])
    run_cycle(rt)
    feed_server.routes["/rss"] = Resource(_story_feed(base, ["a", "b", "c", "d"]))
    clock.now += 601  # past max_interval: the next poll is due whatever the rhythm
    run_cycle(rt)
    by_guid = {a["guid"]: a for a in events(rt)}
    assert "inbox every morning" in by_guid["a"]["content_text"]
    latest = by_guid["d"]
    assert "inbox every morning" not in latest["content_text"]
    assert latest["removed_boilerplate"] == [
        "Get the Ledger in your inbox every morning: sign up at the front desk."
    ]
    assert latest["content_text"].startswith("Story d begins with its own news")


def test_a_feeds_own_line_pattern_applies_from_the_first_poll(tmp_path, feed_server: FeedServer):
    """remove_patterns in a feed's config removes its lines without any history."""
    feed_server.routes["/rss"] = Resource(_story_feed(feed_server.url(""), ["a"]))
    rt, _ = make_runtime(
        tmp_path, [feed_server.url("/rss")], extra="remove_patterns = ['Get the Ledger']\n"
    )
    run_cycle(rt)
    (article,) = events(rt)
    assert "inbox every morning" not in article["content_text"]
    assert article["removed_boilerplate"] == [
        "Get the Ledger in your inbox every morning: sign up at the front desk."
    ]
