"""Render sample stories as RSS 2.0, Atom 1.0 and JSON Feed 1.1 documents.

Each demo feed reveals its stories over time, one more every ``interval`` seconds, so
``syndicate run --demo`` shows new articles arriving.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from email.utils import formatdate
from importlib import resources
from typing import Any
from xml.sax.saxutils import escape

from worker.core.dates import epoch_to_iso
from worker.demo.server import FeedServer, Resource

Story = dict[str, Any]


def load_stories() -> list[Story]:
    text = resources.files("worker.demo").joinpath("feeds/stories.json").read_text("utf-8")
    stories: list[Story] = json.loads(text)
    return stories


def rss(stories: Sequence[Story], base: str, published: Sequence[float]) -> bytes:
    items = "".join(
        f"""
    <item>
      <title>{escape(s["title"])}</title>
      <link>{base}/{s["section"]}/{s["slug"]}?utm_source=rss&amp;utm_medium=feed</link>
      <guid isPermaLink="false">{s["slug"]}</guid>
      <dc:creator>{escape(s["author"])}</dc:creator>
      <category>{escape(s["category"])}</category>
      <pubDate>{formatdate(ts, usegmt=True)}</pubDate>
      <description>{escape(s["standfirst"])}</description>
      <content:encoded><![CDATA[{"".join(s["body"])}]]></content:encoded>
    </item>"""
        for s, ts in zip(stories, published, strict=True)
    )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"
     xmlns:dc="http://purl.org/dc/elements/1.1/">
  <channel>
    <title>Demo World</title>
    <link>{base}/</link>
    <description>Sample world news for the syndicate demo</description>
    <language>en</language>{items}
  </channel>
</rss>
""".encode()


def atom(stories: Sequence[Story], base: str, published: Sequence[float]) -> bytes:
    entries = "".join(
        f"""
  <entry>
    <title>{escape(s["title"])}</title>
    <link rel="alternate" href="{base}/{s["section"]}/{s["slug"]}"/>
    <id>tag:demo.example,2026:{s["slug"]}</id>
    <published>{epoch_to_iso(ts)}</published>
    <updated>{epoch_to_iso(ts)}</updated>
    <author><name>{escape(s["author"])}</name></author>
    <category term="{escape(s["category"])}"/>
    <summary>{escape(s["standfirst"])}</summary>
    <content type="html">{escape("".join(s["body"]))}</content>
  </entry>"""
        for s, ts in zip(stories, published, strict=True)
    )
    latest = epoch_to_iso(max(published, default=0))
    return f"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xml:lang="en">
  <title>Demo Tech</title>
  <link rel="alternate" href="{base}/"/>
  <id>tag:demo.example,2026:tech</id>
  <updated>{latest}</updated>{entries}
</feed>
""".encode()


def json_feed(stories: Sequence[Story], base: str, published: Sequence[float]) -> bytes:
    doc = {
        "version": "https://jsonfeed.org/version/1.1",
        "title": "Demo Briefs",
        "home_page_url": f"{base}/",
        "language": "en",
        "items": [
            {
                "id": s["slug"],
                "url": f"{base}/{s['section']}/{s['slug']}",
                "title": s["title"],
                "summary": s["standfirst"],
                "content_html": "".join(s["body"]),
                "date_published": epoch_to_iso(ts),
                "authors": [{"name": s["author"]}],
                "tags": [s["category"]],
            }
            for s, ts in zip(stories, published, strict=True)
        ],
    }
    return json.dumps(doc, indent=1).encode()


RENDERERS: dict[str, tuple[str, str, Callable[..., bytes]]] = {
    "world": ("/world.rss", "application/rss+xml; charset=utf-8", rss),
    "tech": ("/tech.atom", "application/atom+xml; charset=utf-8", atom),
    "briefs": ("/briefs.json", "application/feed+json", json_feed),
}


def serve_demo(
    server: FeedServer,
    *,
    clock: Callable[[], float],
    interval: float = 20.0,
    initial: int = 1,
) -> list[str]:
    """Install growing demo feeds on ``server``; return their URLs."""
    stories = load_stories()
    started = clock()
    base = "https://demo.example"
    urls = []
    for section, (path, ctype, render) in RENDERERS.items():
        own = [s for s in stories if s["section"] == section]

        def route(
            own: list[Story] = own, render: Callable[..., bytes] = render, ctype: str = ctype
        ) -> Resource:
            shown = min(len(own), initial + int((clock() - started) // interval))
            times = [started + i * interval for i in range(shown)]
            visible = own[:shown]
            return Resource(
                body=render(visible[::-1], base, times[::-1]),
                content_type=ctype,
                modified=int(times[-1]) if times else 0,
            )

        server.routes[path] = route
        urls.append(server.url(path))
    return urls
