"""next_poll: when to poll a feed next and why, as a pure function of state, outcome and now."""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.core.models import FeedHints, FeedState
from worker.core.rhythm import learn
from worker.core.schedule import Bounds, NextPoll, Outcome, adaptive_interval, next_poll

# Tuesday 2023-11-14 22:13:20 UTC
NOW = 1_700_000_000.0
BOUNDS = Bounds(min_interval=300.0, max_interval=3600.0, max_backoff=86400.0)
WIDE = Bounds(min_interval=300.0, max_interval=12 * 3600.0, max_backoff=86400.0)
EPS = 1e-6
DAY = 86400.0
SUCCESS = Outcome()
ERROR = Outcome("error")


def _state(**kw) -> FeedState:
    return FeedState(feed_id="f", url="https://news.example/feed", **kw)


def _at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


def _delay(
    state: FeedState,
    outcome: Outcome = SUCCESS,
    *,
    now: float = NOW,
    bounds: Bounds = BOUNDS,
    rand: float = 0.0,
) -> float:
    return next_poll(state, outcome, now=now, bounds=bounds, rand=rand).at - now


def _steady(gap: float, *, days: float = 20.0, now: float = NOW) -> FeedState:
    """A feed that has published every ``gap`` seconds, around the clock, for ``days``."""
    times = tuple(now - k * gap for k in range(int(days * DAY / gap)) if k * gap < days * DAY)
    return _state(published=tuple(sorted(times))[-100:], tracked_since=now - days * DAY)


def _office_hours(now: float) -> FeedState:
    """A feed that published every 30 minutes, 9 to 18 UTC on weekdays, for four weeks."""
    times = []
    start = math.floor((now - 28 * DAY) / DAY) * DAY
    for day in range(28):
        midnight = start + day * DAY
        if datetime.fromtimestamp(midnight, UTC).weekday() >= 5:
            continue
        times += [midnight + 9 * 3600 + k * 1800 for k in range(18)]
    recent = tuple(t for t in times if t <= now)[-100:]
    return _state(published=recent, tracked_since=now - 28 * DAY)


# -- errors, throttling, retirement -------------------------------------------------------


@pytest.mark.parametrize(
    ("streak", "expected"),
    [(0, 300), (1, 300), (2, 600), (3, 1200), (6, 9600), (9, 76800), (10, 86400), (500, 86400)],
)
def test_errors_back_off_exponentially_up_to_max_backoff(streak, expected):
    """The error delay doubles per error in the streak (0 counts as 1) up to max_backoff."""
    result = next_poll(_state(error_streak=streak), ERROR, now=NOW, bounds=BOUNDS)
    assert result.at - NOW == expected
    assert result.reason == f"error_backoff(streak={max(1, streak)})"


def test_retry_after_longer_than_the_backoff_wins():
    """A server's Retry-After longer than our own delay is obeyed and named as the reason."""
    result = next_poll(
        _state(error_streak=1), Outcome("error", retry_after=7200.0), now=NOW, bounds=BOUNDS
    )
    assert result == NextPoll(at=NOW + 7200.0, reason="retry_after")


def test_retry_after_shorter_than_the_backoff_is_not_a_reason_to_come_sooner():
    """A Retry-After shorter than the backoff does not shorten it."""
    result = next_poll(
        _state(error_streak=4), Outcome("error", retry_after=10.0), now=NOW, bounds=BOUNDS
    )
    assert result.at - NOW == 2400.0
    assert result.reason == "error_backoff(streak=4)"


def test_jitter_is_ten_percent_and_rand_is_clamped():
    """rand=±1 moves the delay by ±10 %; values outside [-1, 1] act as the nearest end."""
    failing = _state(error_streak=3)  # 1200 s
    assert _delay(failing, ERROR, rand=1.0) == pytest.approx(1320.0)
    assert _delay(failing, ERROR, rand=-1.0) == pytest.approx(1080.0)
    assert _delay(failing, ERROR, rand=7.0) == _delay(failing, ERROR, rand=1.0)
    assert _delay(failing, ERROR, rand=-7.0) == _delay(failing, ERROR, rand=-1.0)


def test_throttling_is_backpressure_at_the_minimum_interval_not_a_backoff():
    """A 429 reschedules at min_interval whatever the error streak, or at its Retry-After."""
    assert next_poll(
        _state(error_streak=6), Outcome("throttled"), now=NOW, bounds=BOUNDS
    ) == NextPoll(NOW + 300.0, "throttled")
    assert next_poll(
        _state(), Outcome("throttled", retry_after=900.0), now=NOW, bounds=BOUNDS
    ) == NextPoll(NOW + 900.0, "retry_after")


def test_host_budget_deferral_comes_back_when_the_host_has_room():
    """A deferred poll comes back after the limiter's wait (plus up to 10 % jitter)."""
    result = next_poll(
        _state(error_streak=2),
        Outcome("deferred", retry_after=4.0),
        now=NOW,
        bounds=BOUNDS,
        rand=-0.5,
    )
    assert result.reason == "host_budget"
    assert NOW + 4.0 <= result.at <= NOW + 4.4


def test_a_gone_feed_is_never_polled_again():
    """410 gives no next poll at all."""
    result = next_poll(_state(), Outcome("gone"), now=NOW, bounds=BOUNDS)
    assert result.at == math.inf and result.reason == "gone"


def test_delay_is_never_negative():
    """NextPoll.delay is the time left, and zero once the time has passed."""
    poll = NextPoll(at=NOW + 30, reason="adaptive")
    assert poll.delay(NOW) == 30
    assert poll.delay(NOW + 100) == 0.0


# -- the adaptive interval ----------------------------------------------------------------


def test_a_feed_without_history_waits_the_maximum():
    """Nothing known about a feed's rhythm: the maximum interval, and it says so."""
    result = next_poll(_state(tracked_since=NOW), SUCCESS, now=NOW, bounds=BOUNDS)
    assert result.at - NOW == 3600.0 and result.reason.startswith("max_interval(")


def test_a_dead_feed_settles_at_the_maximum():
    """A feed silent for a month is polled at max_interval, and probed for ever."""
    dead = _state(published=(NOW - 40 * DAY,), tracked_since=NOW - 60 * DAY)
    assert _delay(dead) == BOUNDS.max_interval
    # with room to stretch, about sqrt(min_interval * 60 days): eleven hours
    assert 10 * 3600 < _delay(dead, bounds=WIDE) <= WIDE.max_interval


def test_a_feed_publishing_every_min_interval_is_polled_every_min_interval():
    """One item per min_interval around the clock: polled at the minimum."""
    busy = _steady(300.0, days=0.3)
    result = next_poll(busy, SUCCESS, now=NOW, bounds=BOUNDS)
    assert result.at - NOW == pytest.approx(300.0, rel=0.05)
    assert result.reason.startswith(("min_interval(", "adaptive("))


# Gaps that do not divide a day, so the items fall on every hour rather than a few.
@pytest.mark.parametrize("gap", [1800.0, 3 * 3600.0 + 420, 8 * 3600.0 + 660])
def test_steady_feeds_are_polled_at_the_square_root_of_their_gap(gap):
    """A feed publishing every ``gap`` is polled about every sqrt(min_interval * gap)."""
    delay = _delay(_steady(gap), bounds=WIDE)
    assert delay == pytest.approx(math.sqrt(300.0 * gap), rel=0.25)


def test_office_hours_feed_is_polled_often_by_day_and_rarely_at_night():
    """Weekday 9-18 UTC publishing: short intervals on a weekday morning, long at night
    and at the weekend."""
    tuesday_10 = _at("2023-11-14T10:00:00")
    tuesday_02 = _at("2023-11-14T02:00:00")
    saturday_11 = _at("2023-11-18T11:00:00")
    day = _delay(_office_hours(tuesday_10), now=tuesday_10, bounds=WIDE)
    night = _delay(_office_hours(tuesday_02), now=tuesday_02, bounds=WIDE)
    weekend = _delay(_office_hours(saturday_11), now=saturday_11, bounds=WIDE)
    assert day < 900.0
    assert night > 4 * day
    assert weekend > 4 * day
    # at night it waits for the morning, not beyond it
    assert tuesday_02 + night <= _at("2023-11-14T09:30:00")


def test_a_burst_brings_the_next_poll_closer():
    """Items published within the last hour shorten the wait for the rest of the burst."""
    calm = _steady(6 * 3600.0 + 780)
    bursting = _state(
        published=(*calm.published, NOW - 600, NOW - 300, NOW - 60),
        tracked_since=calm.tracked_since,
    )
    assert _delay(bursting, bounds=WIDE) < _delay(calm, bounds=WIDE) / 2


def test_adaptive_interval_stays_within_its_limits_for_a_silent_rhythm():
    """The integration stops at the maximum when the expected rate is tiny."""
    rhythm = learn((), NOW - 30 * DAY, NOW)
    assert adaptive_interval(rhythm, NOW, 300.0, 7200.0) == 7200.0


# -- publisher hints ----------------------------------------------------------------------


def test_ttl_raises_the_interval_but_not_beyond_the_maximum():
    """RSS ttl is a floor on the interval, capped at max_interval."""
    busy = _steady(300.0, days=0.3)
    with_ttl = replace(busy, hints=FeedHints(ttl=1200.0))
    result = next_poll(with_ttl, SUCCESS, now=NOW, bounds=BOUNDS)
    assert (result.at - NOW, result.reason) == (1200.0, "ttl")
    huge = replace(busy, hints=FeedHints(ttl=10 * DAY))
    assert _delay(huge) == BOUNDS.max_interval


def test_sy_update_period_and_cache_control_are_floors_too():
    """sy:updatePeriod/Frequency and Cache-Control max-age each hold the next poll back."""
    busy = _steady(300.0, days=0.3)
    sy = replace(busy, hints=FeedHints(update_interval=1800.0))
    assert next_poll(sy, SUCCESS, now=NOW, bounds=BOUNDS) == NextPoll(NOW + 1800.0, "sy_update")
    fresh = next_poll(busy, Outcome(cache_lifetime=900.0), now=NOW, bounds=BOUNDS)
    assert fresh == NextPoll(NOW + 900.0, "cache_control")


def test_skip_hours_move_a_poll_to_the_next_allowed_hour():
    """A poll that would land in a skipped hour moves to the first hour after it."""
    now = _at("2023-11-14T01:58:00")
    busy = _steady(300.0, days=0.3, now=now)
    skipping = replace(busy, hints=FeedHints(skip_hours=(2,)))
    result = next_poll(skipping, SUCCESS, now=now, bounds=WIDE)
    assert (result.at, result.reason) == (_at("2023-11-14T03:00:00"), "skip_hours")


def test_skip_days_move_a_poll_past_the_skipped_day_when_the_bounds_allow():
    """skipDays pushes a Saturday poll to Sunday 00:00 when max_interval reaches it."""
    now = _at("2023-11-17T23:55:00")  # a Friday
    busy = _steady(300.0, days=0.3, now=now)
    saturday = replace(busy, hints=FeedHints(skip_days=(5,)))
    allowed = Bounds(300.0, 2 * DAY, 2 * DAY)
    result = next_poll(saturday, SUCCESS, now=now, bounds=allowed)
    assert (result.at, result.reason) == (_at("2023-11-19T00:00:00"), "skip_days")
    # with a one-hour maximum the operator's bound wins over the publisher's wish
    assert _delay(saturday, now=now) <= BOUNDS.max_interval


# -- properties ---------------------------------------------------------------------------

# Bounds as an operator can write them: min <= max <= max_backoff.
_BOUNDS = st.tuples(
    st.floats(min_value=1.0, max_value=3600.0),
    st.floats(min_value=1.0, max_value=20.0),
    st.floats(min_value=1.0, max_value=50.0),
).map(lambda t: Bounds(min_interval=t[0], max_interval=t[0] * t[1], max_backoff=t[0] * t[1] * t[2]))
_HINTS = st.builds(
    FeedHints,
    ttl=st.none() | st.floats(min_value=60.0, max_value=30 * DAY),
    update_interval=st.none() | st.floats(min_value=60.0, max_value=30 * DAY),
    skip_hours=st.lists(st.integers(0, 23), max_size=23, unique=True).map(tuple),
    skip_days=st.lists(st.integers(0, 6), max_size=6, unique=True).map(tuple),
)
_STATES = st.builds(
    lambda streak, ages, tracked, hints: _state(
        error_streak=streak,
        published=tuple(sorted(NOW - a for a in ages)),
        tracked_since=None if tracked is None else NOW - tracked,
        hints=hints,
    ),
    st.integers(min_value=0, max_value=200),
    st.lists(st.floats(min_value=0.0, max_value=40 * DAY), max_size=100),
    st.none() | st.floats(min_value=0.0, max_value=60 * DAY),
    _HINTS,
)
_RAND = st.floats(min_value=-1.0, max_value=1.0)
_POLLED = st.sampled_from(["success", "error", "throttled"])
_CACHE = st.none() | st.floats(min_value=0.0, max_value=7 * DAY)


@given(_STATES, _BOUNDS, _POLLED, _CACHE, _RAND)
def test_next_poll_is_always_within_its_bounds(state, bounds, kind, cache, rand):
    """Without Retry-After the delay is in [min, max] after a success or a throttle and in
    [min, max_backoff] after an error, whatever the history, hints and jitter."""
    result = next_poll(
        state, Outcome(kind, cache_lifetime=cache), now=NOW, bounds=bounds, rand=rand
    )
    delay = result.at - NOW
    cap = bounds.max_backoff if kind == "error" else bounds.max_interval
    assert bounds.min_interval - EPS <= delay <= cap + EPS, result.reason


@given(
    _STATES,
    _BOUNDS,
    st.sampled_from(["success", "error", "throttled", "deferred"]),
    st.floats(min_value=0.0, max_value=86400.0),
    _RAND,
)
def test_next_poll_is_never_earlier_than_retry_after(state, bounds, kind, retry_after, rand):
    """Whatever the state and outcome, the next poll is no sooner than the Retry-After."""
    result = next_poll(
        state, Outcome(kind, retry_after=retry_after), now=NOW, bounds=bounds, rand=rand
    )
    assert result.at >= NOW + retry_after


@given(_BOUNDS, _RAND, _HINTS)
def test_backoff_never_shrinks_as_the_error_streak_grows(bounds, rand, hints):
    """For a fixed rand, the error delay is non-decreasing in the error streak."""
    delays = [
        next_poll(_state(error_streak=s, hints=hints), ERROR, now=NOW, bounds=bounds, rand=rand).at
        for s in range(0, 70)
    ]
    assert delays == sorted(delays)


@given(_STATES, _BOUNDS, _RAND)
def test_a_new_publication_never_pushes_the_next_poll_later(state, bounds, rand):
    """A feed that just published is polled no later than if it had not."""
    plain = replace(state, hints=FeedHints())
    fresh = replace(plain, published=(*plain.published, NOW))
    quiet = next_poll(plain, SUCCESS, now=NOW, bounds=bounds, rand=rand)
    busy = next_poll(fresh, SUCCESS, now=NOW, bounds=bounds, rand=rand)
    assert busy.at <= quiet.at + EPS
