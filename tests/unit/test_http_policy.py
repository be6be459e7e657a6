"""http_policy: what an HTTP status and Retry-After mean for a feed."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.core.http_policy import (
    MoveDecision,
    ResponseMeaning,
    cache_lifetime,
    interpret,
    parse_retry_after,
    permanent_target,
    track_move,
    trusted_last_modified,
)

# 1_700_000_000 is Tue, 14 Nov 2023 22:13:20 GMT.
NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("status", "meaning", "transient"),
    [
        (200, "ok", False),
        (203, "ok", False),
        (226, "ok", False),
        (304, "not_modified", False),
        (429, "throttled", True),
        (503, "server_error", True),
        (500, "server_error", True),
        (502, "server_error", True),
        (504, "server_error", True),
        (410, "gone", False),
        (400, "client_error", False),
        (401, "client_error", False),
        (403, "client_error", False),
        (404, "client_error", False),
        (451, "client_error", False),
    ],
)
def test_interpret_status(status, meaning, transient):
    """Each status class maps to one meaning; only throttling and 5xx are transient."""
    result = interpret(status, None, NOW)
    assert result.meaning == meaning
    assert result.transient is transient


def test_throttled_responses_carry_the_parsed_delay():
    """429 (throttled) and 503 (a server error) carry the Retry-After delay; other
    statuses ignore the header."""
    assert interpret(429, "120", NOW) == ResponseMeaning("throttled", 120.0)
    assert interpret(503, "Tue, 14 Nov 2023 22:15:20 GMT", NOW) == ResponseMeaning(
        "server_error", 120.0
    )
    assert interpret(500, "120", NOW).retry_after is None
    assert interpret(200, "120", NOW).retry_after is None


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("120", 120.0),
        (" 45 ", 45.0),
        ("0", 1.0),
        ("86400", 86400.0),
        ("999999999", 86400.0),
        ("9" * 400, 86400.0),
        ("Tue, 14 Nov 2023 22:14:50 GMT", 90.0),
        ("Tue, 14 Nov 2023 23:14:50 +0100", 90.0),
        ("Tue, 14 Nov 2023 22:14:50", 90.0),
        ("Tue, 14 Nov 2023 22:00:00 GMT", 1.0),
        ("Wed, 22 Nov 2023 22:13:20 GMT", 86400.0),
    ],
)
def test_parse_retry_after_both_forms_clamped(header, expected):
    """Delta-seconds and HTTP-dates give seconds clamped to [1 s, 24 h]; a past date means 1 s."""
    assert parse_retry_after(header, NOW) == expected


@pytest.mark.parametrize(
    "header", [None, "", "   ", "soon", "1.5", "-5", "+5", "1e3", "\u00b2", "\u0663\u0660"]
)
def test_parse_retry_after_refuses_what_is_not_delta_seconds_or_a_date(header):
    """Fractions, signs, exponents, superscript and non-ASCII digits and words are None."""
    assert parse_retry_after(header, NOW) is None


@given(st.text(max_size=40), st.floats(min_value=0, max_value=4e9))
def test_parse_retry_after_never_raises_and_stays_in_bounds(header, now):
    """Any header value gives None or a delay within [1 s, 24 h]."""
    delay = parse_retry_after(header, now)
    assert delay is None or 1.0 <= delay <= 86400.0


# -- freshness, validators, moves -------------------------------------------------------


@pytest.mark.parametrize(
    ("cache_control", "expires", "date", "expected"),
    [
        ("max-age=600", None, None, 600.0),
        ("public, max-age=120, must-revalidate", None, None, 120.0),
        ('max-age="90"', None, None, 90.0),
        ("MAX-AGE=30", "Tue, 14 Nov 2023 23:13:20 GMT", None, 30.0),
        ("no-cache", None, None, 0.0),
        ("no-store, max-age=600", None, None, 0.0),
        ("s-maxage=600", None, None, None),
        ("max-age=99999999999", None, None, 7 * 86400.0),
        (None, "Tue, 14 Nov 2023 22:23:20 GMT", None, 600.0),
        # Expires is read against the server's own Date when it sent one
        (None, "Tue, 14 Nov 2023 22:23:20 GMT", "Tue, 14 Nov 2023 22:18:20 GMT", 300.0),
        (None, "Tue, 14 Nov 2023 20:00:00 GMT", None, 0.0),
        (None, "0", None, 0.0),
        (None, None, None, None),
        ("private", None, None, None),
    ],
)
def test_cache_lifetime_from_cache_control_and_expires(cache_control, expires, date, expected):
    """max-age wins over Expires; no-cache/no-store and an invalid Expires mean stale."""
    assert cache_lifetime(cache_control, expires, date, NOW) == expected


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("Tue, 14 Nov 2023 20:00:00 GMT", True),
        ("Tue, 14 Nov 2023 22:15:00 GMT", True),  # within the clock skew
        ("Wed, 15 Nov 2023 22:13:20 GMT", False),  # a day ahead of us
        ("Fri, 01 Jan 2100 00:00:00 GMT", False),
        ("yesterday", False),
        ("", False),
        (None, False),
    ],
)
def test_a_last_modified_in_the_future_is_not_trusted(value, kept):
    """Last-Modified is echoed as If-Modified-Since only when it is a date not in the future."""
    assert trusted_last_modified(value, NOW) == (value if kept else None)


def test_permanent_target_needs_every_hop_permanent():
    """Only a chain of 301/308 names a permanent target; one 302 in it means none."""
    assert permanent_target([]) is None
    assert permanent_target([(301, "https://a/1"), (308, "https://a/2")]) == "https://a/2"
    assert permanent_target([(301, "https://a/1"), (302, "https://a/2")]) is None
    assert permanent_target([(307, "https://a/1")]) is None


def test_a_feed_moves_only_after_n_consecutive_redirects_to_one_target():
    """Three polls redirected to B move the feed; a different target or a direct answer
    in between starts the count again."""
    a, b, c = "https://old/feed", "https://new/feed", "https://other/feed"
    d = track_move(a, None, 0, b, 3)
    assert d == MoveDecision(b, 1, move=False)
    d = track_move(a, d.moved_to, d.streak, b, 3)
    assert d == MoveDecision(b, 2, move=False)
    assert track_move(a, d.moved_to, d.streak, c, 3) == MoveDecision(c, 1, move=False)
    assert track_move(a, d.moved_to, d.streak, None, 3) == MoveDecision(None, 0, move=False)
    assert track_move(a, d.moved_to, d.streak, b, 3) == MoveDecision(None, 0, move=True)
    assert track_move(a, None, 0, b, 1).move is True
    assert track_move(a, None, 0, a, 1) == MoveDecision(None, 0, move=False)
