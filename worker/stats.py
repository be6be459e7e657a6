"""``syndicate stats``: one line per feed and the totals per sink, read from the store."""

from __future__ import annotations

import dataclasses
from typing import Any

from worker.adapters.store import Store
from worker.cli_base import ago, duration, iso, table
from worker.core.delivery_stats import DeliveryTotals
from worker.core.feed_stats import FeedStats, feed_stats
from worker.settings import Settings


def gather(settings: Settings, store: Store, now: float) -> dict[str, Any]:
    specs = store.feed_specs()
    states = store.load_states(list(specs))
    samples = store.latency_samples(list(specs))
    feeds = [
        feed_stats(spec, states[fid], samples.get(fid, []), now)
        for fid, spec in specs.items()
        if fid in states
    ]
    feeds.sort(key=lambda f: (f.name or f.url).casefold())
    totals = store.delivery_totals()
    sinks = {name: totals.get(name, DeliveryTotals()) for name in settings.effective_sinks()}
    sinks.update({k: v for k, v in totals.items() if k not in sinks})
    return {"now": now, "feeds": feeds, "sinks": sinks}


def as_json(data: dict[str, Any]) -> dict[str, Any]:
    def feed(f: FeedStats) -> dict[str, Any]:
        d = dataclasses.asdict(f)
        d["last_poll_at"] = iso(f.last_poll_at)
        d["next_poll_at"] = iso(f.next_poll_at)
        for key in ("not_modified_ratio", "articles_per_day", "median_latency"):
            d[key] = None if d[key] is None else round(d[key], 3)
        d["median_latency_seconds"] = d.pop("median_latency")
        return d

    def sink(t: DeliveryTotals) -> dict[str, Any]:
        d = dataclasses.asdict(t)
        d["oldest_due"] = iso(t.oldest_due)
        d["last_delivered_at"] = iso(t.last_delivered_at)
        return d

    return {
        "at": iso(data["now"]),
        "feeds": [feed(f) for f in data["feeds"]],
        "sinks": {name: sink(t) for name, t in data["sinks"].items()},
    }


def render_text(data: dict[str, Any]) -> str:
    now = data["now"]
    feeds: list[FeedStats] = data["feeds"]
    rows = []
    for f in feeds:
        status = f.last_status or "-"
        if f.last_http_status:
            status += f" {f.last_http_status}"
        if f.state == "gone":
            status = "gone"
        rows.append(
            [
                _label(f),
                ago(f.last_poll_at, now),
                status,
                str(f.error_streak),
                "never" if f.next_poll_at is None else ago(f.next_poll_at, now),
                f.next_reason or "-",
                "-" if f.not_modified_ratio is None else f"{f.not_modified_ratio:.0%}",
                "-" if f.articles_per_day is None else f"{f.articles_per_day:.1f}",
                duration(f.median_latency),
            ]
        )
    out = [
        table(
            [
                "FEED",
                "LAST POLL",
                "STATUS",
                "ERRORS",
                "NEXT POLL",
                "REASON",
                "304",
                "ART/DAY",
                "LATENCY",
            ],
            rows,
        )
        if rows
        else "no feeds in the store yet"
    ]
    sink_rows = [
        [
            name,
            str(t.delivered),
            str(t.pending),
            str(t.retrying),
            str(t.dead_lettered),
            ago(t.last_delivered_at, now),
        ]
        for name, t in data["sinks"].items()
    ]
    out += [
        "",
        table(
            ["SINK", "DELIVERED", "PENDING", "RETRYING", "DEAD-LETTERED", "LAST DELIVERY"],
            sink_rows,
        ),
    ]
    return "\n".join(out)


def _label(f: FeedStats) -> str:
    name = f.name or f.url
    return name if len(name) <= 40 else name[:39] + "…"
