"""A feed's state as the stores save it: ``FeedState.to_dict`` is ``dataclasses.asdict``
written out for speed, and must stay equal to it as fields are added."""

from __future__ import annotations

import dataclasses
import json

from hypothesis import given, settings
from hypothesis import strategies as st

from worker.core.models import FeedHints, FeedState, PollRecord

TEXT = st.none() | st.text(max_size=8)
NUM = st.none() | st.floats(allow_nan=False, allow_infinity=False)
polls = st.builds(
    PollRecord,
    at=st.floats(0, 2e9),
    outcome=st.text(max_size=5),
    http_status=st.none() | st.integers(100, 599),
    new=st.integers(0, 50),
    error=TEXT,
    next_in=NUM,
    next_reason=TEXT,
)
hints = st.builds(
    FeedHints,
    ttl=NUM,
    update_interval=NUM,
    skip_hours=st.lists(st.integers(0, 23), max_size=3).map(tuple),
    skip_days=st.lists(st.integers(0, 6), max_size=3).map(tuple),
)
states = st.builds(
    FeedState,
    feed_id=st.text(min_size=1, max_size=6),
    url=st.text(max_size=10),
    etag=TEXT,
    last_modified=TEXT,
    body_hash=TEXT,
    error_streak=st.integers(0, 9),
    last_status=TEXT,
    last_http_status=st.none() | st.integers(100, 599),
    last_error=TEXT,
    last_error_kind=TEXT,
    last_polled_at=NUM,
    next_poll_at=st.floats(0, 2e9),
    next_reason=TEXT,
    title=TEXT,
    site_url=TEXT,
    lifecycle=st.sampled_from(["active", "gone"]),
    tracked_since=NUM,
    published=st.lists(st.floats(0, 2e9), max_size=4).map(tuple),
    polls=st.lists(polls, max_size=3).map(tuple),
    hints=hints,
    cache_lifetime=NUM,
    moved_to=TEXT,
    moved_streak=st.integers(0, 3),
    events_emitted=st.integers(0, 3),
    teaser=st.none() | st.booleans(),
)


@settings(max_examples=300, deadline=None)
@given(states)
def test_to_dict_is_asdict_and_round_trips(state: FeedState) -> None:
    d = state.to_dict()
    assert d == dataclasses.asdict(state)
    assert FeedState.from_dict(json.loads(json.dumps(d))) == state


def test_every_field_is_written() -> None:
    """A field added to FeedState, PollRecord or FeedHints reaches the saved form."""
    state = FeedState("f", "u", polls=(PollRecord(1.0, "ok"),), hints=FeedHints(ttl=60.0))
    d = state.to_dict()
    assert set(d) == {f.name for f in dataclasses.fields(FeedState)}
    assert set(d["polls"][0]) == {f.name for f in dataclasses.fields(PollRecord)}
    assert set(d["hints"]) == {f.name for f in dataclasses.fields(FeedHints)}
