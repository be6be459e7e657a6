"""What the operator commands read about deliveries: totals per sink, the state of one
event at each sink, and publication-to-delivery latency samples.

Pure: event bodies in, samples out; ``now`` is passed in.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

# Latency samples kept per feed (the newest): bounded memory, a stable median.
MAX_SAMPLES = 32

DeliveryStatus = Literal["delivered", "pending", "retrying", "dead_lettered"]


@dataclass(frozen=True, slots=True)
class DeliveryTotals:
    """One sink's deliveries: acknowledged so far (a counter), still in the outbox
    (``pending`` counts every one, ``retrying`` those that failed at least once),
    given up on (``dead_lettered``), the earliest due time in its outbox and when it
    last acknowledged anything."""

    delivered: int = 0
    pending: int = 0
    retrying: int = 0
    dead_lettered: int = 0
    oldest_due: float | None = None
    last_delivered_at: float | None = None


@dataclass(frozen=True, slots=True)
class DeliveryState:
    """Where one event stands at one sink. ``at`` is when it was delivered (delivered)
    or when it is next due (pending, retrying)."""

    status: DeliveryStatus
    at: float | None = None
    attempts: int = 0


@dataclass(frozen=True, slots=True)
class LatencySample:
    """An article of ``feed_id`` published at ``published`` reached a sink ``latency``
    seconds later."""

    feed_id: str
    published: float
    latency: float


@dataclass(frozen=True, slots=True)
class FeedBacklog:
    """Feeds due now and not yet claimed, and the earliest due time of any feed."""

    due: int = 0
    oldest_due: float | None = None


_CREATED = b'"type":"article.created"'
# Our own envelope (worker/core/events.py, compact separators): "time" is a top-level
# string, "published" and "feed_id" appear once in ``data``. Inside a JSON string a quote
# is always escaped, so these cannot match text of the article; reading three fields this
# way costs a fifth of json.loads on a typical body.
_TIME = re.compile(rb'"time":"([^"\\]*)"')
_PUBLISHED = re.compile(rb'"published":(null|"[^"\\]*")')
_FEED_ID = re.compile(rb'"feed_id":"([^"\\]*)"')


def latency_samples(
    bodies: Mapping[str, bytes], delivered: Sequence[str], now: float
) -> list[LatencySample]:
    """One sample per delivered ``article.created`` event that says when it was
    published. A publication date after the detection time (a clock or time-zone error
    at the source) counts as the detection time; latency is never negative."""
    out: list[LatencySample] = []
    for event_id in delivered:
        body = bodies.get(event_id)
        if body is None or _CREATED not in body[:400]:
            continue
        pub, det, feed = _PUBLISHED.search(body), _TIME.search(body), _FEED_ID.search(body)
        if pub is None or feed is None:
            continue
        published = _epoch(pub.group(1).strip(b'"').decode())
        detected = _epoch(det.group(1).decode()) if det else None
        feed_id = feed.group(1).decode()
        if published is None:
            continue
        if detected is not None:
            published = min(published, detected)
        out.append(LatencySample(feed_id, published, max(0.0, now - published)))
    return out


def _epoch(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
