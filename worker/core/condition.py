"""A feed's condition, and when it changes: what is logged once instead of every poll.

A feed is ``healthy``, ``failing`` (with the kind of error), or ``gone``. Throttling (429)
and a spent host budget are backpressure and change nothing. ``feed.polled`` is logged at
every poll; ``feed.state_changed`` only when the condition changes, so a feed that has
been failing the same way for a week costs one warning, not one per poll.
"""

from __future__ import annotations

from dataclasses import dataclass

from worker.core.models import FeedState


@dataclass(frozen=True, slots=True)
class Condition:
    state: str  # healthy | failing | gone
    error_kind: str | None = None


@dataclass(frozen=True, slots=True)
class Change:
    before: Condition
    after: Condition

    @property
    def worse(self) -> bool:
        """Failing where it was healthy, or failing another way: worth a warning."""
        return self.after.state == "failing"


def condition(state: FeedState) -> Condition:
    if state.lifecycle == "gone":
        return Condition("gone")
    if state.error_streak > 0:
        return Condition("failing", state.last_error_kind or "error")
    return Condition("healthy")


def change(before: FeedState, after: FeedState) -> Change | None:
    """The condition change one poll made, if any. Retirement (410) is left to
    ``feed.gone``, which says more."""
    a, b = condition(before), condition(after)
    if a == b or b.state == "gone":
        return None
    return Change(a, b)
