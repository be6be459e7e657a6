"""``rhythm._exposure`` counts whole cycles at once; it must give what walking the span
bucket by bucket gives, for any span, bucket width and offset."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.core.rhythm import _exposure, learn

DAY = 86400.0
NOW = 1_800_000_000.0


def walked(start: float, end: float, width: float, size: int, offset: int = 0) -> list[float]:
    """The definition: every boundary crossed, one step at a time."""
    out = [0.0] * size
    t = start
    while t < end:
        boundary = min(end, (math.floor(t / width) + 1) * width)
        out[(int(t // width) + offset) % size] += boundary - t
        t = boundary
    return out


@given(
    start=st.floats(1e9, 2e9, allow_nan=False),
    span=st.one_of(
        st.floats(0, 40 * DAY, allow_nan=False),
        st.sampled_from([0.0, 3600.0, DAY, 7 * DAY, 30 * DAY, DAY - 1e-3, 7 * DAY + 1e-3]),
    ),
    kind=st.sampled_from([(3600.0, 24, 0), (DAY, 7, 3)]),
)
def test_whole_cycles_give_what_walking_gives(start, span, kind):
    width, size, offset = kind
    got = _exposure(start, start + span, width, size, offset)
    want = walked(start, start + span, width, size, offset)
    assert got == pytest.approx(want, abs=1e-6)
    assert sum(got) == pytest.approx(span, abs=1e-6)


def test_a_month_of_hours_is_thirty_days_each_and_the_rest_in_order():
    start = math.floor(NOW / DAY) * DAY  # midnight UTC
    got = _exposure(start, start + 30 * DAY + 2.5 * 3600, 3600.0, 24)
    assert got[:2] == [31 * 3600.0, 31 * 3600.0]
    assert got[2] == 30 * 3600.0 + 1800.0
    assert got[3:] == [30 * 3600.0] * 21


def test_rhythm_of_a_long_followed_feed_matches_the_walked_profile():
    """learn() over a full 30-day window, against profiles built from walked exposure."""
    published = tuple(NOW - 3 * 3600.0 * k for k in range(99))  # under MAX_PUBLISHED
    rhythm = learn(published, NOW - 60 * DAY, NOW)
    span = 30 * DAY
    observed = 99 / span
    hours = walked(NOW - span, NOW, 3600.0, 24)
    counts = [0] * 24
    for t in published:
        counts[int(t // 3600) % 24] += 1
    want = [(c + 0.25) / (observed * s + 0.25) for c, s in zip(counts, hours, strict=True)]
    assert list(rhythm.hours) == pytest.approx(want, rel=1e-9)
