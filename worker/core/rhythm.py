"""A feed's publication rhythm, learnt from its own recent history.

The history is a bounded list of publication times (the entries' own dates when they are
plausible, the time we first saw them otherwise). From it:

* the **rate**: items per second over the observed span, with half an item of prior so a
  feed that never published has a small rate that keeps shrinking as time passes;
* the **rhythm**: how that rate is spread over the hours of the day and the days of the
  week (UTC), each a histogram smoothed towards flat with a fraction of a pseudo-item per
  bucket, so a handful of items cannot make any hour look quite dead;
* a **burst** term: two or more items published in the last ``BURST_WINDOW`` set a floor
  under the expected rate for that long (the items beyond the first, per window), so
  the rest of a burst is caught quickly while a steady feed is not counted twice.

Pure: times are epoch seconds, ``now`` is passed in.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from worker.core.models import PollRecord

# How much history is kept per feed (bounded, it lives in the feed's state).
MAX_PUBLISHED = 100
MAX_POLLS = 20
# Publications older than this are forgotten; so are dates too far in the past to trust.
WINDOW = 30 * 86400.0
# The rate is never estimated over less than this (a new feed's first few items).
MIN_SPAN = 6 * 3600.0
BURST_WINDOW = 3600.0
PRIOR_ITEMS = 0.5
# Pseudo-items per bucket of the hour-of-day and day-of-week histograms.
HOUR_SMOOTHING = 0.25
DAY_SMOOTHING = 0.5


@dataclass(frozen=True, slots=True)
class Rhythm:
    """Expected publications per second, by hour of day and day of week (UTC)."""

    rate: float
    hours: tuple[float, ...]
    days: tuple[float, ...]
    burst: float
    burst_until: float
    items: int

    def rate_at(self, t: float) -> float:
        """The expected rate at time ``t`` (seconds since the epoch)."""
        hour = int(t // 3600) % 24
        # 1970-01-01 was a Thursday: weekday 3 with Monday = 0.
        day = (int(t // 86400) + 3) % 7
        base = self.rate * self.hours[hour] * self.days[day]
        return max(base, self.burst) if t < self.burst_until else base


def learn(published: Sequence[float], tracked_since: float | None, now: float) -> Rhythm:
    """The rhythm of a feed from its publication history."""
    recent = [t for t in published if now - WINDOW <= t <= now]
    oldest = min(recent, default=now)
    start = min(oldest, tracked_since if tracked_since is not None else now)
    if len(published) >= MAX_PUBLISHED and recent:
        start = oldest  # older items were dropped: the span starts at what is left
    span = min(WINDOW, max(MIN_SPAN, now - start))
    start = now - span
    rate = (len(recent) + PRIOR_ITEMS) / span
    observed = len(recent) / span
    hours = _profile(
        [int(t // 3600) % 24 for t in recent],
        _exposure(start, now, 3600.0, 24),
        observed,
        HOUR_SMOOTHING,
    )
    days = _profile(
        [(int(t // 86400) + 3) % 7 for t in recent],
        _exposure(start, now, 86400.0, 7, 3),
        observed,
        DAY_SMOOTHING,
    )
    in_burst = sum(1 for t in recent if t > now - BURST_WINDOW)
    burst = max(0, in_burst - 1) / BURST_WINDOW
    return Rhythm(
        rate=rate,
        hours=hours,
        days=days,
        burst=burst,
        burst_until=now + BURST_WINDOW,
        items=len(recent),
    )


def _exposure(start: float, end: float, width: float, size: int, offset: int = 0) -> list[float]:
    """Seconds of [start, end] that fall in each bucket (hour of day, day of week)."""
    # Each whole cycle (a day of hours, a week of days) gives every bucket one width; only
    # the rest is walked. Walking a 30-day window hour by hour was 0.23 ms, most of a
    # poll's scheduling, for every feed followed that long (benchmarks/profile_fetch.py).
    cycle = width * size
    whole = math.floor((end - start) / cycle) if end > start else 0
    out = [whole * width] * size
    t = start + whole * cycle
    for _ in range(int((end - start) / width) + 2):
        if t >= end:
            break
        boundary = min(end, (math.floor(t / width) + 1) * width)
        out[(int(t // width) + offset) % size] += boundary - t
        t = boundary
    return out


def _profile(
    buckets: Sequence[int], exposure: Sequence[float], rate: float, alpha: float
) -> tuple[float, ...]:
    """Per bucket, the items seen against the items a flat rate would have given in the
    time observed there, each with ``alpha`` pseudo-items: 1 is average, a bucket never
    observed is average, one observed empty for long tends to 0."""
    counts = [0] * len(exposure)
    for b in buckets:
        counts[b] += 1
    return tuple(
        (c + alpha) / (rate * seconds + alpha) for c, seconds in zip(counts, exposure, strict=True)
    )


def record_publications(
    published: Sequence[float], times: Iterable[float], now: float
) -> tuple[float, ...]:
    """The history with ``times`` added: sorted, within the window, at most
    ``MAX_PUBLISHED`` of the most recent. Times in the future count as ``now``."""
    merged = [*published, *(min(t, now) for t in times if math.isfinite(t))]
    kept = sorted(t for t in merged if t >= now - WINDOW)
    return tuple(kept[-MAX_PUBLISHED:])


def record_poll(polls: Sequence[PollRecord], record: PollRecord) -> tuple[PollRecord, ...]:
    """The poll history with ``record`` appended, at most ``MAX_POLLS`` long."""
    return (*polls, record)[-MAX_POLLS:]


def publication_times(dates: Iterable[str | None], now: float, *, first_poll: bool) -> list[float]:
    """When newly found items were published, for the history.

    An item's own date is used when it parses and is not in the future (a little clock
    skew is forgiven); otherwise the time we found it, except on a feed's first poll,
    where an undated item says nothing about when it appeared.
    """
    out: list[float] = []
    for value in dates:
        when = _epoch(value)
        if when is not None and when <= now + 300.0:
            out.append(min(when, now))
        elif not first_poll:
            out.append(now)
    return out


def _epoch(value: str | None) -> float | None:
    if not value:
        return None
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return dt.timestamp()
