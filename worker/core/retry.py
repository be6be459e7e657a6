"""What happens to deliveries a sink did not take: retried after a delay, or dead-lettered.

A pure function of the failures, what the store remembers about earlier attempts, the
policy, ``now`` and random numbers passed in.

* **Backoff** doubles from ``base`` per attempt up to ``cap``, with "equal jitter": the
  delay is drawn from [step/2, step]. Below the cap, gaps never shrink from one attempt
  to the next (the next draw starts where this one's range ends), yet deliveries that
  failed together spread out instead of retrying in lockstep.
* **Retry-After** from the sink is a floor on the delay, honoured up to the retry window.
* **Dead letters**: a rejected event at once; a failing one once ``window`` seconds have
  passed since its first failure.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    base: float
    cap: float
    window: float


@dataclass(frozen=True, slots=True)
class Failure:
    """One event a sink did not take. ``permanent``: the sink rejected it for good."""

    event_id: str
    reason: str
    retry_after: float | None = None
    permanent: bool = False


@dataclass(frozen=True, slots=True)
class FailureHistory:
    """What the store remembers of a delivery's earlier failures."""

    attempts: int = 0
    first_failed_at: float | None = None
    last_error: str | None = None


@dataclass(frozen=True, slots=True)
class RetryPlan:
    # (event id, delay in seconds, reason)
    retry: list[tuple[str, float, str]] = field(default_factory=list)
    # (event id, reason)
    dead: list[tuple[str, str]] = field(default_factory=list)


def backoff(attempts: int, policy: RetryPolicy, rand: float) -> float:
    """Delay before the next attempt after ``attempts`` failed ones; ``rand`` in [-1, 1]."""
    step = min(policy.cap, policy.base * 2.0 ** min(attempts, 60))
    return step * (0.75 + 0.25 * max(-1.0, min(1.0, rand)))


def plan_retries(
    failures: Sequence[Failure],
    history: Mapping[str, FailureHistory],
    *,
    now: float,
    policy: RetryPolicy,
    rands: Sequence[float],
) -> RetryPlan:
    """Sort failures into retries (with their delays) and dead letters."""
    plan = RetryPlan()
    for failure, rand in zip(failures, rands, strict=True):
        past = history.get(failure.event_id) or FailureHistory()
        if failure.permanent:
            plan.dead.append((failure.event_id, f"rejected: {failure.reason}"))
            continue
        since = past.first_failed_at if past.first_failed_at is not None else now
        if now - since >= policy.window:
            plan.dead.append(
                (
                    failure.event_id,
                    f"still failing after {past.attempts + 1} attempts over "
                    f"{policy.window:g}s: {failure.reason}",
                )
            )
            continue
        delay = backoff(past.attempts, policy, rand)
        if failure.retry_after:
            delay = max(delay, min(failure.retry_after, policy.window))
        plan.retry.append((failure.event_id, delay, failure.reason))
    return plan


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A delivery given up on: listed by ``syndicate dlq list``, replayable."""

    sink: str
    event_id: str
    dead_at: float
    attempts: int
    first_failed_at: float | None
    error: str
