"""retry: backoff with jitter and a cap, Retry-After, and when a delivery is given up."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from worker.core.retry import Failure, FailureHistory, RetryPolicy, backoff, plan_retries

POLICY = RetryPolicy(base=5.0, cap=3600.0, window=86400.0)
NOW = 1_800_000_000.0

unit = st.floats(min_value=-1.0, max_value=1.0)


@given(attempts=st.integers(min_value=0, max_value=500), rand=unit)
def test_backoff_stays_between_half_step_and_the_cap(attempts, rand):
    """Each delay lies in [step/2, step] where step doubles from base and stops at cap."""
    step = min(POLICY.cap, POLICY.base * 2**attempts)
    delay = backoff(attempts, POLICY, rand)
    assert step / 2 <= delay <= step <= POLICY.cap


# The last attempt count whose next step is still below the cap (drawn directly: filtering
# with assume() threw away most inputs and tripped Hypothesis's health check at random).
BELOW_CAP = max(n for n in range(64) if POLICY.base * 2 ** (n + 1) <= POLICY.cap)


@given(attempts=st.integers(min_value=0, max_value=BELOW_CAP), r1=unit, r2=unit)
def test_gaps_never_shrink_from_one_attempt_to_the_next(attempts, r1, r2):
    """Whatever the jitter, the next delay is at least this one while below the cap."""
    assert backoff(attempts + 1, POLICY, r2) >= backoff(attempts, POLICY, r1)


def test_jitter_spreads_deliveries_that_failed_together():
    """Different random draws give different delays for the same attempt."""
    delays = {round(backoff(3, POLICY, r), 3) for r in (-1.0, -0.5, 0.0, 0.5, 1.0)}
    assert len(delays) == 5 and min(delays) == 20.0 and max(delays) == 40.0


def test_retry_after_is_a_floor_up_to_the_window():
    """Retry-After longer than the backoff is honoured; one beyond the window is cut to it."""
    failures = [
        Failure("a", "HTTP 429", retry_after=900.0),
        Failure("b", "HTTP 503", retry_after=10 * 86400.0),
        Failure("c", "HTTP 503", retry_after=0.5),
    ]
    plan = plan_retries(failures, {}, now=NOW, policy=POLICY, rands=[0.0] * 3)
    delays = {e: d for e, d, _ in plan.retry}
    assert delays == {"a": 900.0, "b": 86400.0, "c": 3.75}


def test_rejected_events_and_expired_windows_are_dead_lettered():
    """A rejected event dies at once; a failing one dies once the window since its first
    failure has passed; one inside the window is retried with its attempt count."""
    failures = [
        Failure("rej", "HTTP 400", permanent=True),
        Failure("old", "HTTP 500"),
        Failure("young", "HTTP 500"),
    ]
    history = {
        "old": FailureHistory(20, NOW - 86400.0, "HTTP 500"),
        "young": FailureHistory(3, NOW - 600.0, "HTTP 500"),
    }
    plan = plan_retries(failures, history, now=NOW, policy=POLICY, rands=[1.0] * 3)
    assert plan.dead == [
        ("rej", "rejected: HTTP 400"),
        ("old", "still failing after 21 attempts over 86400s: HTTP 500"),
    ]
    assert plan.retry == [("young", 40.0, "HTTP 500")]


def test_a_first_failure_is_always_retried():
    """With no history the window starts now, so even a tiny window retries once."""
    policy = RetryPolicy(base=1.0, cap=10.0, window=0.001)
    plan = plan_retries([Failure("a", "x")], {}, now=NOW, policy=policy, rands=[0.0])
    assert [e for e, _, _ in plan.retry] == ["a"] and plan.dead == []
