"""One feed's figures for ``syndicate stats``, from its state and latency samples.

Pure: every input is passed in, ``now`` too.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from worker.core.models import FeedSpec, FeedState

# Articles per day are counted over at most this window (and the publication history
# the state keeps: its newest 100).
RATE_WINDOW = 7 * 86400.0


@dataclass(frozen=True, slots=True)
class FeedStats:
    feed_id: str
    name: str | None
    url: str
    state: str
    last_poll_at: float | None
    last_status: str | None
    last_http_status: int | None
    last_error: str | None
    error_streak: int
    next_poll_at: float | None
    next_reason: str | None
    polls: int
    not_modified_ratio: float | None
    articles_per_day: float | None
    median_latency: float | None
    latency_samples: int


def feed_stats(
    spec: FeedSpec,
    state: FeedState,
    samples: Sequence[tuple[float, float]],
    now: float,
) -> FeedStats:
    """``samples`` are (published, latency) pairs; those published before the feed was
    first polled (its backlog, found all at once) are left out of the median."""
    last = state.polls[-1] if state.polls else None
    counted = [p for p in state.polls if p.outcome != "deferred"]
    ratio = sum(p.outcome == "not_modified" for p in counted) / len(counted) if counted else None
    since = state.tracked_since
    fresh = [lat for pub, lat in samples if since is None or pub >= since]
    return FeedStats(
        feed_id=spec.feed_id,
        name=spec.name,
        url=state.url or spec.url,
        state=state.lifecycle,
        last_poll_at=state.last_polled_at,
        last_status=last.outcome if last else state.last_status,
        last_http_status=last.http_status if last else state.last_http_status,
        last_error=state.last_error,
        error_streak=state.error_streak,
        next_poll_at=None if math.isinf(state.next_poll_at) else state.next_poll_at,
        next_reason=state.next_reason,
        polls=len(counted),
        not_modified_ratio=ratio,
        articles_per_day=articles_per_day(state, now),
        median_latency=statistics.median(fresh) if fresh else None,
        latency_samples=len(fresh),
    )


def articles_per_day(state: FeedState, now: float) -> float | None:
    """Publications per day over the last week (or since the feed was first polled,
    at least a day); None before the first poll."""
    if state.tracked_since is None:
        return None
    start = max(now - RATE_WINDOW, min(state.tracked_since, now - 86400.0))
    recent = [t for t in state.published if start <= t <= now]
    if len(state.published) >= 100 and recent:
        start = max(start, min(recent))  # older ones were dropped from the history
    span = max(86400.0, now - start)
    return len(recent) * 86400.0 / span
