"""``syndicate trace ARTICLE_URL``: was this article seen, under which id, why was it
(not) published, and where was it delivered. Reads the store only.

An article is found the way the pipeline finds it: by the id of its canonical URL
(directly, or as an alias of an article that got another id), or by a feed's GUID equal
to the URL given. Deliveries are read from the outbox (pending, retrying) and from the
delivery receipts kept for ``store.receipt_days``.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from worker.adapters.store import Store
from worker.cli_base import iso
from worker.core.identity import event_id_for, guid_id, short_key, url_id
from worker.core.models import FeedSpec, SeenRecord
from worker.core.urls import canonical_url
from worker.settings import Settings


def trace(settings: Settings, store: Store, url: str, now: float) -> dict[str, Any] | str:
    """The trace document, or why there is none (not a URL)."""
    canon = canonical_url(url)
    if canon is None:
        return "not an absolute http(s) URL"
    specs = store.feed_specs()
    keys: dict[str, tuple[str, FeedSpec | None]] = {url_id(canon): ("url", None)}
    for spec in specs.values():
        for guid in dict.fromkeys((url, canon)):
            keys.setdefault(guid_id(spec.feed_id, guid), ("guid", spec))
    found = store.lookup_articles(list(keys))
    doc: dict[str, Any] = {"url": url, "canonical_url": canon, "url_key": url_id(canon)}
    hit = next((k for k in keys if k in found), None)
    if hit is None:
        doc.update(
            seen=False,
            published=False,
            why=_unseen_reason(settings),
            deliveries=[],
            same_host_feeds=_same_host(specs, store, canon),
        )
        return doc
    record = found[hit]
    kind, via = keys[hit]
    first = _first_feed(record, specs)
    doc.update(
        seen=True,
        article_id=record.article_id,
        matched_by=kind if via is None else f"guid of feed {via.feed_id}",
        via_alias=hit != record.article_id,
        key_id=hit,
        revision=record.revision,
        first_feed=None
        if first is None
        else {"feed_id": first.feed_id, "name": first.name, "url": first.url},
        cluster_id=record.cluster_id,
        duplicate_of=record.duplicate_of,
        updates_in_window=record.window_updates,
        published=True,
    )
    suppress = {n for n, c in settings.effective_sinks().items() if c.duplicates == "suppress"}
    doc["why"] = _published_reason(record, suppress, settings)
    events = [event_id_for(record.article_id, r) for r in range(1, record.revision + 1)]
    states = store.delivery_states(events, now)
    deliveries = []
    for event_id in events:
        at_sinks = states.get(event_id, {})
        for sink in dict.fromkeys([*settings.effective_sinks(), *at_sinks]):
            st = at_sinks.get(sink)
            row: dict[str, Any] = {"event_id": event_id, "sink": sink}
            if st is not None:
                row.update(status=st.status, at=iso(st.at), attempts=st.attempts)
            elif record.duplicate_of and sink in suppress:
                row.update(
                    status="not_routed", note="a syndicated copy; this sink suppresses duplicates"
                )
            else:
                row.update(
                    status="unknown",
                    note=(
                        "not in the outbox and no receipt: delivered before the receipt "
                        f"retention ({settings.store.receipt_days:g} days), or the sink was "
                        "added after the event"
                    ),
                )
            deliveries.append(row)
    doc["deliveries"] = deliveries
    return doc


def _first_feed(record: SeenRecord, specs: dict[str, FeedSpec]) -> FeedSpec | None:
    if not record.feed_key:
        return None
    return next((s for fid, s in specs.items() if short_key("feed", fid) == record.feed_key), None)


def _published_reason(record: SeenRecord, suppress: set[str], settings: Settings) -> str:
    ids = (
        f"event id {record.article_id}.1"
        if record.revision == 1
        else f"event ids {record.article_id}.1 to .{record.revision}"
    )
    parts = [f"published: {record.revision} revision(s), {ids}"]
    if record.duplicate_of:
        parts.append(
            f"a syndicated copy of {record.duplicate_of}"
            + (
                f" (not sent to {', '.join(sorted(suppress))}: duplicates suppressed)"
                if suppress
                else ""
            )
        )
    cap = settings.dedupe.max_updates_per_day
    if record.window_updates >= cap:
        parts.append(
            f"{record.window_updates} updates in the current day: further edits "
            f"wait (dedupe.max_updates_per_day = {cap})"
        )
    return "; ".join(parts)


def _unseen_reason(settings: Settings) -> str:
    return (
        "not seen: no feed in the store carried it (by link or GUID) within the last "
        f"{settings.store.seen_ttl_days:g} days, or its feed has not been polled since it "
        "appeared. Check the feed with `syndicate poll FEED_URL --explain`."
    )


def _same_host(specs: dict[str, FeedSpec], store: Store, canon: str) -> list[dict[str, Any]]:
    host = (urlsplit(canon).hostname or "").removeprefix("www.")
    states = store.load_states(list(specs))
    out = []
    for fid, spec in specs.items():
        st = states.get(fid)
        hosts = {
            urlsplit(u).hostname or ""
            for u in (spec.url, st.url if st else "", st.site_url if st else "")
            if u
        }
        if any(h.removeprefix("www.") == host for h in hosts):
            out.append(
                {
                    "feed_id": fid,
                    "name": spec.name,
                    "url": spec.url,
                    "last_polled_at": iso(st.last_polled_at if st else None),
                    "last_status": st.last_status if st else None,
                }
            )
    return out


def render_text(doc: dict[str, Any]) -> str:
    lines = [
        f"url          {doc['url']}",
        f"canonical    {doc['canonical_url']}",
        f"url key      {doc['url_key']}",
    ]
    if not doc["seen"]:
        lines += ["seen         no", f"why          {doc['why']}"]
        if doc["same_host_feeds"]:
            lines.append("feeds of the same site:")
            for f in doc["same_host_feeds"]:
                lines.append(
                    f"  {f['feed_id']}  {f['name'] or f['url']}  last polled "
                    f"{f['last_polled_at'] or 'never'} ({f['last_status'] or '-'})"
                )
        return "\n".join(lines)
    first = doc["first_feed"]
    lines += [
        f"seen         yes, article {doc['article_id']} (matched by {doc['matched_by']}"
        + (f", through the alias {doc['key_id']}" if doc["via_alias"] else "")
        + ")",
        f"revision     {doc['revision']}",
        "first feed   "
        + ("-" if first is None else f"{first['feed_id']}  {first['name'] or first['url']}"),
        f"cluster      {doc['cluster_id'] or '-'}"
        + (f" (copy of {doc['duplicate_of']})" if doc["duplicate_of"] else ""),
        f"why          {doc['why']}",
        "",
        "deliveries:",
    ]
    width = max((len(d["event_id"]) for d in doc["deliveries"]), default=8)
    sink_w = max((len(d["sink"]) for d in doc["deliveries"]), default=4)
    for d in doc["deliveries"]:
        detail = d.get("at") or ""
        if d.get("attempts"):
            detail += f" after {d['attempts']} failed attempt(s)"
        if d.get("note"):
            detail = d["note"]
        lines.append(
            f"  {d['event_id'].ljust(width)}  {d['sink'].ljust(sink_w)}  "
            f"{d['status']:<12} {detail}".rstrip()
        )
    return "\n".join(lines)
