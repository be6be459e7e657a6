"""``syndicate explain FEED``: one feed's state, next poll, reason and recent polls.

Reads the store only. Text for a terminal (a table of recent polls), JSON for machines.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any

from worker.adapters.store import Store
from worker.core.models import FeedSpec, FeedState


def find_feed(store: Store, query: str) -> tuple[FeedSpec, FeedState] | str:
    """The feed whose id, URL (configured or current) or name is ``query``; else why not."""
    specs = store.feed_specs()
    if query in specs:
        matches = [query]
    else:
        states = store.load_states(list(specs))
        matches = [
            fid
            for fid, spec in specs.items()
            if query in (spec.url, states[fid].url if fid in states else None)
        ] or [
            fid
            for fid, spec in specs.items()
            if spec.name and spec.name.casefold() == query.casefold()
        ]
    if not matches:
        return "no such feed (give its id, URL or name)"
    if len(matches) > 1:
        return f"ambiguous: {len(matches)} feeds match ({', '.join(sorted(matches))})"
    fid = matches[0]
    return specs[fid], store.load_states([fid])[fid]


def as_document(spec: FeedSpec, state: FeedState, now: float) -> dict[str, Any]:
    nxt = None if math.isinf(state.next_poll_at) else state.next_poll_at
    return {
        "feed_id": spec.feed_id,
        "name": spec.name,
        "url": state.url,
        "configured_url": spec.url,
        "state": state.lifecycle,
        "title": state.title,
        "next_poll_at": _iso(nxt),
        "next_poll_in": None if nxt is None else round(nxt - now, 1),
        "next_reason": state.next_reason,
        "error_streak": state.error_streak,
        "last_status": state.last_status,
        "last_http_status": state.last_http_status,
        "last_error": state.last_error,
        "last_polled_at": _iso(state.last_polled_at),
        "etag": state.etag,
        "last_modified": state.last_modified,
        "hints": {
            "ttl": state.hints.ttl,
            "update_interval": state.hints.update_interval,
            "skip_hours": list(state.hints.skip_hours),
            "skip_days": list(state.hints.skip_days),
            "cache_lifetime": state.cache_lifetime,
        },
        "moving_to": state.moved_to,
        "moving_streak": state.moved_streak,
        "publications": {
            "count": len(state.published),
            "latest": _iso(state.published[-1]) if state.published else None,
        },
        "polls": [
            {
                "at": _iso(p.at),
                "outcome": p.outcome,
                "http_status": p.http_status,
                "new": p.new,
                "duration_ms": p.duration_ms,
                "next_in": p.next_in,
                "next_reason": p.next_reason,
                "error": p.error,
            }
            for p in reversed(state.polls)
        ],
    }


def render_json(spec: FeedSpec, state: FeedState, now: float) -> str:
    return json.dumps(as_document(spec, state, now), ensure_ascii=False, indent=2)


def render_text(spec: FeedSpec, state: FeedState, now: float) -> str:
    d = as_document(spec, state, now)
    if d["next_poll_at"] is None:
        when = "never (retired: `syndicate revive FEED` puts it back)"
    else:
        when = f"{d['next_poll_at']} (in {_duration(d['next_poll_in'])})"
    lines = [
        f"feed       {d['feed_id']}  {d['name'] or ''}".rstrip(),
        f"url        {d['url']}",
    ]
    if d["url"] != d["configured_url"]:
        lines.append(f"configured {d['configured_url']} (moved)")
    lines += [
        f"state      {d['state']}, error streak {d['error_streak']}",
        f"next poll  {when}",
        f"reason     {d['next_reason'] or '-'}",
        f"last poll  {d['last_polled_at'] or 'never'}: {d['last_status'] or '-'}"
        + (f" (HTTP {d['last_http_status']})" if d["last_http_status"] else "")
        + (f", {d['last_error']}" if d["last_error"] else ""),
        f"history    {d['publications']['count']} recent publications, latest "
        f"{d['publications']['latest'] or '-'}",
    ]
    hints = {k: v for k, v in d["hints"].items() if v not in (None, [])}
    if hints:
        lines.append("hints      " + ", ".join(f"{k}={v}" for k, v in hints.items()))
    if d["moving_to"]:
        lines.append(f"moving     to {d['moving_to']} ({d['moving_streak']} redirects so far)")
    lines += ["", "recent polls (newest first):"]
    header = ("at", "outcome", "http", "new", "ms", "next in", "reason / error")
    rows = [
        (
            p["at"] or "",
            p["outcome"],
            str(p["http_status"] or "-"),
            str(p["new"]),
            f"{p['duration_ms']:.0f}",
            _duration(p["next_in"]),
            p["error"] or p["next_reason"] or "",
        )
        for p in d["polls"]
    ]
    widths = [max(len(r[i]) for r in (header, *rows)) for i in range(len(header) - 1)]
    for row in (header, *rows):
        cells = [c.ljust(w) for c, w in zip(row, widths, strict=False)]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    if not rows:
        lines.append("  (not polled yet)")
    return "\n".join(lines)


def _iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = round(seconds)
    if abs(s) < 120:
        return f"{s}s"
    if abs(s) < 7200:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"
