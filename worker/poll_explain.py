"""``syndicate poll URL --explain``: what one poll of a feed would do, step by step.

The fetch outcome, the parse path, the boilerplate each item lost, and the identity
decisions: each item's keys (and why one is unusable), and, when a store exists, which
known article each item would be matched to or that it is new. Writes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from lxml import etree

from worker.core.errors import ParseError
from worker.core.identity import Rules, analyse, resolve
from worker.core.models import Article, FeedIdentity, FeedSpec, FetchRequest, FetchResult
from worker.core.normalize import normalize_feed
from worker.core.parse import ParseLimits, looks_like_json, parse_feed
from worker.core.xmlinput import prepare
from worker.runtime import Runtime
from worker.settings import feed_id_for


@dataclass(slots=True)
class Explanation:
    fetch: dict[str, Any]
    parse: dict[str, Any] | None = None
    items: list[dict[str, Any]] = field(default_factory=list)
    articles: list[Article] = field(default_factory=list)
    error: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {
            "fetch": self.fetch,
            "parse": self.parse,
            "items": self.items,
            "error": self.error,
            "articles": [a.to_dict() for a in self.articles],
        }


def explain_poll(rt: Runtime, url: str, *, use_store: bool) -> Explanation:
    from worker.rounds import cleaning

    result = rt.client.fetch(FetchRequest(feed_id=url, url=url), rt.clock())
    out = Explanation(fetch=_fetch_doc(result))
    if result.status != "ok":
        out.error = result.error or result.status
        return out
    feed_id = feed_id_for(url)
    spec = FeedSpec(feed_id=feed_id, url=url, origin="store")
    if use_store:
        spec = rt.store.feed_specs([feed_id]).get(feed_id, spec)
    c = rt.settings.content
    base = result.final_url or url
    try:
        parsed, skipped = parse_feed(
            result.body,
            feed=url,
            url=base,
            content_type=result.content_type,
            limits=ParseLimits(max_entries=c.max_entries, max_categories=c.max_categories),
        )
    except ParseError as exc:
        out.error = exc.reason
        out.parse = {"path": "failed", "error": exc.reason}
        return out
    out.parse = {
        "format": parsed.format,
        "path": _path(parsed.parser, result, url),
        "entries": len(parsed.entries),
        "skipped": skipped,
    }
    articles = normalize_feed(parsed, spec, base, cleaning=cleaning(rt, spec))
    out.articles = articles
    entries = analyse(articles, feed_id)
    known: dict[str, Any] = {}
    if use_store:
        records = rt.store.lookup_articles(sorted({k for e in entries for k in e.ids()}))
        profile = rt.store.load_feed_identities([feed_id]).get(feed_id) or FeedIdentity(feed_id)
        d = rt.settings.dedupe
        resolution = resolve(
            entries, profile, records, Rules(bad_ratio=d.bad_key_ratio, clean_polls=d.clean_polls)
        )
        known = {"profile": profile, "items": resolution.items}
    for n, entry in enumerate(entries):
        a = entry.article
        item: dict[str, Any] = {
            "title": a.title,
            "canonical_url": a.canonical_url,
            "guid": a.guid,
            "keys": {
                "url": entry.url or _why_no_url(a, entry.bad_link),
                "guid": entry.guid or ("none: " + (entry.bad_guid or "no GUID")),
                "content": entry.content,
            },
            "guid_problem": entry.bad_guid,
            "link_problem": entry.bad_link,
            "removed_boilerplate": list(a.removed_boilerplate),
        }
        if known:
            r = known["items"][n]
            item["decision"] = (
                f"new article {r.article.article_id}"
                if r.record is None
                else f"known article {r.record.article_id} (revision {r.record.revision}, "
                f"matched by {r.matched_by}"
                + (", unchanged)" if r.record.content_hash == a.content_hash else ", changed)")
            )
            item["article_id"] = r.article.article_id
        else:
            item["decision"] = "no store to compare with: identity within this document only"
            item["article_id"] = a.article_id
        out.items.append(item)
    if known:
        p: FeedIdentity = known["profile"]
        out.parse["trust"] = {"guid": p.guid.trusted, "link": p.link.trusted}
    return out


def _fetch_doc(r: FetchResult) -> dict[str, Any]:
    return {
        "url": r.url,
        "final_url": r.final_url,
        "status": r.status,
        "http_status": r.http_status,
        "content_type": r.content_type,
        "bytes": len(r.body),
        "elapsed_ms": round(r.elapsed_ms, 1),
        "etag": r.etag,
        "last_modified": r.last_modified,
        "permanent_redirect": r.permanent_redirect,
        "cache_lifetime": r.cache_lifetime,
        "retry_after": r.retry_after,
        "error_kind": r.error_kind,
        "error": r.error,
    }


def _path(parser: str, result: FetchResult, url: str) -> str:
    """Which parse path read the document, and whether it had to be repaired first."""
    if parser != "lxml" or looks_like_json(result.body, result.content_type):
        return {
            "feedparser": "feedparser (the fallback: lxml could not read it)",
            "jsonfeed": "JSON Feed",
        }.get(parser, parser)
    data = prepare(url, result.body, result.content_type).data
    try:
        etree.fromstring(
            data,
            etree.XMLParser(
                resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
            ),
        )
    except etree.XMLSyntaxError:
        return "lxml fast path, after repair (or only the complete items of a cut-off document)"
    return "lxml fast path"


def _why_no_url(a: Article, bad_link: str | None) -> str:
    if bad_link:
        return f"none: link {bad_link} by another item of the document"
    if not a.canonical_url:
        return "none: no link"
    return "none: the link is a site's front page"


def render_text(e: Explanation) -> str:
    f = e.fetch
    lines = [
        "fetch",
        f"  status      {f['status']}"
        + (f" (HTTP {f['http_status']})" if f["http_status"] else ""),
    ]
    if f["final_url"] and f["final_url"] != f["url"]:
        lines.append(f"  final url   {f['final_url']}")
    lines += [
        f"  bytes       {f['bytes']} in {f['elapsed_ms']} ms, {f['content_type'] or '-'}",
        f"  validators  etag={f['etag'] or '-'} last-modified={f['last_modified'] or '-'}",
    ]
    if f["error"]:
        lines.append(f"  error       {f['error_kind']}: {f['error']}")
    if e.parse:
        p = e.parse
        lines += ["parse", f"  path        {p['path']}"]
        if "format" in p:
            lines.append(f"  format      {p['format']}, {p['entries']} entries")
        for reason in p.get("skipped", []):
            lines.append(f"  skipped     {reason}")
        if "trust" in p:
            lines.append(f"  trust       guid={p['trust']['guid']} link={p['trust']['link']}")
    for n, item in enumerate(e.items):
        lines += [
            "",
            f"item {n}: {item['title'] or '(no title)'}",
            f"  decision    {item['decision']}",
            f"  url key     {item['keys']['url']}",
            f"  guid key    {item['keys']['guid']}",
            f"  content key {item['keys']['content']}",
        ]
        for text in item["removed_boilerplate"]:
            lines.append(f"  removed     {text[:100]}")
    return "\n".join(lines)
