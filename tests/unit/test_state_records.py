"""A feed's state and identity profile as the stores save them: ``FeedState.to_dict`` and
``KeyTrust.to_dict`` are ``dataclasses.asdict`` written out for speed, and must stay equal
to it as fields are added."""

from __future__ import annotations

import dataclasses
import json
import math

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.adapters.store.records import state_from_json, state_json
from worker.core.models import (
    POLL_ROW,
    Article,
    FeedHints,
    FeedIdentity,
    FeedState,
    KeyTrust,
    PollRecord,
    SourceRef,
    replaced,
)

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


trusts = st.builds(
    KeyTrust,
    trusted=st.booleans(),
    reason=TEXT,
    clean_polls=st.integers(0, 9),
    bad_empty=st.integers(0, 99),
    bad_repeated=st.integers(0, 99),
    bad_shared=st.integers(0, 99),
    bad_unstable=st.integers(0, 99),
)
KEYS = st.dictionaries(st.text(max_size=8), st.text(max_size=12), max_size=4)
profiles = st.builds(
    FeedIdentity,
    feed_id=st.text(min_size=1, max_size=6),
    guid=trusts,
    link=trusts,
    polls=st.integers(0, 99),
    entries=st.integers(0, 99),
    last=KEYS,
    known=KEYS,
)


@settings(max_examples=300, deadline=None)
@given(profiles)
def test_identity_profile_is_asdict_and_round_trips_both_json_writers(p: FeedIdentity) -> None:
    """The Redis store writes profiles with orjson and reads them with it; SQLite, and
    releases before 2026-12-07, with the json module: each reads what the other wrote."""
    d = p.to_dict()
    assert d == dataclasses.asdict(p)
    assert FeedIdentity.from_dict(orjson.loads(json.dumps(d))) == p
    assert FeedIdentity.from_dict(json.loads(orjson.dumps(d))) == p
    assert KeyTrust.from_dict({**p.guid.to_dict(), "retired_field": 1}) == p.guid


def _float_fields(cls: type) -> list[str]:
    return [f.name for f in dataclasses.fields(cls) if "float" in str(f.type)]


def _same(a: object, b: object) -> bool:
    """Equal, NaN included (NaN != NaN)."""
    return repr(a) == repr(b)


def _with_nonfinite(state: FeedState, where: str, name: str, value: float) -> FeedState:
    if where == "state":
        current = getattr(state, name)
        new = (value, *current[1:]) if isinstance(current, tuple) else value
        return dataclasses.replace(state, **{name: new})
    if where == "hints":
        return dataclasses.replace(state, hints=dataclasses.replace(state.hints, **{name: value}))
    first = dataclasses.replace(state.polls[0], **{name: value})
    return dataclasses.replace(state, polls=(first, *state.polls[1:]))


@pytest.mark.parametrize("value", [math.inf, -math.inf, math.nan])
@pytest.mark.parametrize(
    ("where", "name"),
    [("state", n) for n in _float_fields(FeedState)]
    + [("hints", n) for n in _float_fields(FeedHints)]
    + [("polls", n) for n in _float_fields(PollRecord)],
)
def test_a_state_with_any_float_not_finite_round_trips(where: str, name: str, value: float):
    """orjson writes inf and NaN as null: such a state must go through the json module.
    Every float field of the state, its hints and its polls is tried, so a field added
    later is covered without this test changing."""
    base = FeedState(
        "f",
        "u",
        next_poll_at=5.0,
        published=(1.0, 2.0),
        polls=(PollRecord(1.0, "ok", duration_ms=3.0, next_in=4.0),),
        hints=FeedHints(ttl=60.0, update_interval=3600.0),
        cache_lifetime=30.0,
        last_polled_at=1.0,
        tracked_since=0.5,
    )
    state = _with_nonfinite(base, where, name, value)
    assert _same(state_from_json(state_json(state)), state)


@settings(max_examples=300, deadline=None)
@given(states, st.sampled_from(["", "\ud800", "t\udfff"]))
def test_state_codec_round_trips_and_reads_json_written_states(state: FeedState, odd: str):
    """The Redis store's codec (orjson where it can) gives back what it wrote, lone
    surrogates in a title included; and it reads states the json module wrote, as
    releases before 2026-12-07 did."""
    state = dataclasses.replace(state, title=(state.title or "") + odd)
    assert state_from_json(state_json(state)) == state
    assert state_from_json(json.dumps(state.to_dict())) == state
    assert json.loads(state_json(state)) == json.loads(json.dumps(state.to_stored()))
    assert FeedState.from_dict(json.loads(json.dumps(state.to_stored()))) == state


def test_stored_poll_rows_are_the_poll_records_fields_in_order() -> None:
    """Rows are positional: POLL_ROW must be PollRecord's fields, in their order (a field
    is only ever appended, with a default)."""
    assert tuple(f.name for f in dataclasses.fields(PollRecord)) == POLL_ROW
    state = FeedState("f", "u", polls=(PollRecord(1.0, "ok", 200, 2, 3.5, "e", 60.0, "r"),))
    assert state.to_stored()["poll_rows"] == [(1.0, "ok", 200, 2, 3.5, "e", 60.0, "r")]
    assert "polls" not in state.to_stored()


def test_a_short_poll_row_reads_with_the_defaults_of_later_fields() -> None:
    """A row written before a field was appended to PollRecord."""
    state = FeedState.from_dict({"feed_id": "f", "url": "u", "poll_rows": [[1.0, "ok"]]})
    assert state.polls == (PollRecord(1.0, "ok"),)


_RECORDS = [
    FeedState(feed_id="f", url="https://a.example/feed", published=(1.0, 2.0)),
    Article(
        "id",
        "u",
        None,
        "g",
        "t",
        "s",
        "<p>x</p>",
        "x",
        ("a",),
        ("c",),
        "2024",
        None,
        "en",
        None,
        (),
        SourceRef("f", "u", "t", "s"),
        "h",
    ),
]


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(_RECORDS), st.data())
def test_replaced_is_dataclasses_replace(record, data):
    """``replaced`` (every poll's and article's copy) gives what ``replace`` gives, for
    any set of changed fields, the last field and the first included."""
    names = [f.name for f in dataclasses.fields(record)]
    changed = data.draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names)))
    changes = {name: data.draw(st.integers() | st.none() | st.text(max_size=3)) for name in changed}
    assert replaced(record, **changes) == dataclasses.replace(record, **changes)


def test_replaced_names_an_unknown_field():
    with pytest.raises(TypeError, match="FeedState has no field 'colour'"):
        replaced(_RECORDS[0], colour="red")
