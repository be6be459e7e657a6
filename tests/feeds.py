"""Small synthetic feeds for integration tests, built in code so a test can grow them."""

from __future__ import annotations

from email.utils import formatdate
from xml.sax.saxutils import escape

BASE_TS = 1_790_000_000


def rss(
    items: list[tuple[str, str]], *, title: str = "Test Feed", site: str = "https://news.example"
) -> bytes:
    """An RSS 2.0 document; ``items`` are (slug, headline), newest last."""
    body = "".join(
        f"""<item><title>{escape(headline)}</title>
<link>{site}/story/{slug}?utm_source=rss</link><guid isPermaLink="false">{slug}</guid>
<pubDate>{formatdate(BASE_TS + 3600 * n, usegmt=True)}</pubDate>
<description>&lt;p&gt;{escape(headline)} in detail.&lt;/p&gt;</description></item>"""
        for n, (slug, headline) in enumerate(items)
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>'
        f"<title>{escape(title)}</title><link>{site}/</link>{body}</channel></rss>"
    ).encode()
