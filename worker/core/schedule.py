"""When to poll a feed next, and why: a pure function of its state, the poll's outcome,
the bounds and ``now``.

How the answer is made, in order (each step names itself in the reason when it decides):

1. **gone** (410): never again, until an operator revives the feed.
2. **host_budget**: the request was never sent (the host's politeness budget was spent):
   try again when the limiter says there is room, not counted as an error.
3. **error_backoff(streak=N)**: timeouts, connection errors, 5xx, 4xx, unreadable
   documents: ``min_interval * 2**(N-1)``, capped at ``max_backoff``. Never dropped.
4. **throttled** (429): backpressure, not an error: ``min_interval``.
5. otherwise the **adaptive** interval from the feed's publication rhythm
   (:mod:`worker.core.rhythm`): polls are spread so that their density follows the square
   root of the expected publication rate, which minimises the mean delay from publication
   to detection for a given number of requests. Integrated over the hours ahead, a feed
   that posts 9 to 18 on weekdays is polled often then and rarely at night. Then the
   publisher's hints raise it: RSS ``ttl``, ``sy:updatePeriod``/``sy:updateFrequency``,
   and Cache-Control ``max-age``/``Expires`` (``ttl``, ``sy_update``, ``cache_control``).
6. **jitter** of ±``JITTER`` so feeds added together drift apart; then the **bounds**
   (``min_interval``/``max_interval``, or ``max_backoff`` after an error) always hold.
7. ``skipHours``/``skipDays``: a poll that would land in a skipped hour or day moves to the
   next allowed hour when that is within the bounds (``skip_hours``/``skip_days``).
8. **retry_after**: a server's Retry-After is never undercut, even past the bounds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from worker.core.models import FeedState
from worker.core.rhythm import Rhythm, learn

# Relative jitter applied to every interval so feeds added together drift apart.
JITTER = 0.1
# Longest stretch the adaptive integration looks ahead (it stops at max_interval anyway).
_MAX_STEPS = 24 * 40

OutcomeKind = Literal["success", "error", "throttled", "deferred", "gone"]


@dataclass(frozen=True, slots=True)
class Bounds:
    min_interval: float
    max_interval: float
    max_backoff: float


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one poll came to, as far as scheduling cares."""

    kind: OutcomeKind = "success"
    retry_after: float | None = None
    cache_lifetime: float | None = None


@dataclass(frozen=True, slots=True)
class NextPoll:
    at: float
    reason: str

    def delay(self, now: float) -> float:
        return max(0.0, self.at - now)


def next_poll(
    state: FeedState,
    outcome: Outcome,
    *,
    now: float,
    bounds: Bounds,
    rand: float = 0.0,
) -> NextPoll:
    """``state`` is the feed as it is after this poll (history and error streak updated).

    ``rand`` in [-1, 1] scales the jitter; callers pass a random number, tests a fixed one.
    """
    rand = max(-1.0, min(1.0, rand))
    jitter = 1.0 + JITTER * rand
    lo, hi = bounds.min_interval, max(bounds.min_interval, bounds.max_interval)
    if outcome.kind == "gone":
        return NextPoll(at=math.inf, reason="gone")
    if outcome.kind == "deferred":
        wait = max(1.0, outcome.retry_after or 1.0)
        return NextPoll(at=now + wait * (1.0 + JITTER * abs(rand)), reason="host_budget")
    if outcome.kind == "error":
        streak = max(1, state.error_streak)
        cap = max(hi, bounds.max_backoff)
        delay = min(cap, lo * 2.0 ** min(streak - 1, 60))
        delay = min(cap, max(lo, delay * jitter))
        reason = f"error_backoff(streak={streak})"
    elif outcome.kind == "throttled":
        delay = min(hi, max(lo, lo * jitter))
        reason = "throttled"
    else:
        delay, reason = _healthy(state, outcome, now, lo, hi)
        delay = min(hi, max(lo, delay * jitter))
        delay, reason = _skip(state, now, delay, reason, hi)
    if outcome.retry_after is not None and outcome.retry_after > delay:
        delay, reason = outcome.retry_after, "retry_after"
    return NextPoll(at=now + delay, reason=reason)


def _healthy(
    state: FeedState, outcome: Outcome, now: float, lo: float, hi: float
) -> tuple[float, str]:
    rhythm = learn(state.published, state.tracked_since, now)
    delay = adaptive_interval(rhythm, now, lo, hi)
    reason = f"adaptive({_rate(rhythm.rate_at(now))})"
    if delay <= lo:
        reason = f"min_interval({_rate(rhythm.rate_at(now))})"
    elif delay >= hi:
        reason = f"max_interval({_rate(rhythm.rate_at(now))})"
    hints = state.hints
    for name, floor in (
        ("ttl", hints.ttl),
        ("sy_update", hints.update_interval),
        ("cache_control", outcome.cache_lifetime),
    ):
        if floor is not None and floor > delay and delay < hi:
            delay, reason = min(hi, floor), name
    return delay, reason


def adaptive_interval(rhythm: Rhythm, now: float, lo: float, hi: float) -> float:
    """Seconds until the next poll: the time at which the accumulated poll density
    ``sqrt(rate(t) / lo)`` reaches one, stepping hour by hour, within [lo, hi].

    A feed publishing once per ``lo`` is polled every ``lo``; one publishing every gap
    ``g`` is polled every ``sqrt(lo * g)`` (a square-root allocation).
    """
    t, acc = now, 0.0
    for _ in range(_MAX_STEPS):
        if t - now >= hi:
            return hi
        boundary = (math.floor(t / 3600.0) + 1) * 3600.0
        if rhythm.burst_until > t:
            boundary = min(boundary, rhythm.burst_until)
        step = min(boundary, now + hi) - t
        density = math.sqrt(max(rhythm.rate_at(t), 0.0) / lo)
        if acc + density * step >= 1.0:
            return min(hi, max(lo, t + (1.0 - acc) / density - now))
        acc += density * step
        t += step
    return hi


def _skip(state: FeedState, now: float, delay: float, reason: str, hi: float) -> tuple[float, str]:
    """Move a poll out of the feed's skipHours/skipDays when the bounds allow it."""
    hours, days = set(state.hints.skip_hours), set(state.hints.skip_days)
    if not hours and not days:
        return delay, reason

    def skipped(t: float) -> str | None:
        if (int(t // 86400) + 3) % 7 in days:
            return "skip_days"
        if int(t // 3600) % 24 in hours:
            return "skip_hours"
        return None

    at = now + delay
    why = skipped(at)
    if why is None:
        return delay, reason
    t = math.floor(at / 3600.0) * 3600.0
    for _ in range(24 * 8):
        t += 3600.0
        if t - now > hi:
            return delay, reason  # the bounds win over the publisher's wish
        if skipped(t) is None:
            return t - now, why
    return delay, reason


def _rate(per_second: float) -> str:
    per_hour = per_second * 3600.0
    if per_hour >= 1.0:
        return f"{per_hour:.1f}/h"
    return f"{per_hour * 24:.2f}/d"
