"""dates: whatever a feed wrote, as a UTC ISO 8601 string ending in Z, or None."""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.core.dates import epoch_to_iso, from_struct, iso, parse_date

ISO_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ")


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2024-03-14T18:05:00Z", "2024-03-14T18:05:00Z"),
        ("2024-03-14t18:05:00z", "2024-03-14T18:05:00Z"),
        ("2024-03-14T18:05:00+02:00", "2024-03-14T16:05:00Z"),
        ("2024-03-14T23:30:00-05:00", "2024-03-15T04:30:00Z"),
        ("2024-03-14T18:05:00.987654Z", "2024-03-14T18:05:00Z"),
        ("2024-03-14T18:05:00", "2024-03-14T18:05:00Z"),
        ("2024-03-14", "2024-03-14T00:00:00Z"),
        ("Thu, 14 Mar 2024 18:05:00 +0000", "2024-03-14T18:05:00Z"),
        ("Thu, 14 Mar 2024 18:05:00 GMT", "2024-03-14T18:05:00Z"),
        ("Thu, 14 Mar 2024 18:05:00 -0000", "2024-03-14T18:05:00Z"),
        ("Thu, 14 Mar 2024 20:05:00 +0200", "2024-03-14T18:05:00Z"),
        ("Thu, 14 Mar 2024 13:05:00 EST", "2024-03-14T18:05:00Z"),
        ("14 Mar 2024 18:05 GMT", "2024-03-14T18:05:00Z"),
        ("  2024-03-14T18:05:00Z  ", "2024-03-14T18:05:00Z"),
    ],
)
def test_parse_date_reads_rfc3339_and_rfc822_into_utc(raw, expected):
    """RFC 3339 and RFC 822 dates, with any offset or none, come out in UTC with a Z."""
    assert parse_date(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "last Tuesday",
        "2024-13-45T00:00:00Z",
        "",
        "   ",
        None,
        20240314,
        ["2024-03-14"],
        "1970-01-01T00:00:00Z",
        "1989-12-31T23:59:59Z",
        "9999-12-31T23:59:59Z",
        "2201-01-01T00:00:00Z",
    ],
)
def test_parse_date_refuses_garbage_and_implausible_years(raw):
    """Unreadable values, non-strings, and dates before 1990 or after 2200 are None."""
    assert parse_date(raw) is None


def test_parse_date_bounds_are_inclusive_at_1990():
    """1 January 1990 00:00 UTC is the earliest date kept."""
    assert parse_date("1990-01-01T00:00:00Z") == "1990-01-01T00:00:00Z"


def test_from_struct_reads_utc_struct_times():
    """feedparser's UTC struct_time becomes the ISO string; None and the epoch give None."""
    assert from_struct(time.struct_time((2024, 8, 13, 1, 40, 0, 1, 226, 0))) == (
        "2024-08-13T01:40:00Z"
    )
    assert from_struct(None) is None
    assert from_struct(time.gmtime(0)) is None


def test_iso_and_epoch_to_iso():
    """iso converts aware datetimes to UTC; epoch_to_iso reads seconds since the epoch."""
    plus_five = timezone(timedelta(hours=5, minutes=30))
    assert iso(datetime(2024, 1, 1, 5, 30, tzinfo=plus_five)) == "2024-01-01T00:00:00Z"
    assert epoch_to_iso(0) == "1970-01-01T00:00:00Z"
    assert epoch_to_iso(1_700_000_000) == "2023-11-14T22:13:20Z"


_INSTANTS = st.datetimes(
    min_value=datetime(1990, 1, 2), max_value=datetime(2199, 12, 30), timezones=st.just(UTC)
).map(lambda d: d.replace(microsecond=0))
_OFFSETS = st.integers(min_value=-14 * 60, max_value=14 * 60).map(
    lambda m: timezone(timedelta(minutes=m))
)


@given(_INSTANTS, _OFFSETS)
def test_rfc3339_and_rfc822_renderings_of_one_instant_agree(instant, offset):
    """One instant as RFC 3339 and as RFC 822, in any offset, parses to one stable UTC string."""
    local = instant.astimezone(offset)
    a = parse_date(local.isoformat())
    b = parse_date(format_datetime(local))
    assert a is not None and ISO_UTC.fullmatch(a)
    assert a == b
    assert parse_date(a) == a


@given(st.text(max_size=40))
def test_parse_date_never_raises(raw):
    """Any string gives None or a UTC ISO 8601 string."""
    out = parse_date(raw)
    assert out is None or ISO_UTC.fullmatch(out)


def _read_by_email_package(text: str) -> str | None:
    """What parse_date gave for an RFC 5322 date before its fast path: the email
    package's reading, UTC when it names no zone, bounded, written by ``iso``."""
    from email.utils import parsedate_to_datetime

    from worker.core.dates import EARLIEST, LATEST_YEAR

    try:
        dt = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    if dt < EARLIEST or dt.year > LATEST_YEAR:
        return None
    return iso(dt)


MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split()
rfc_dates = st.builds(
    "{}{}{} {} {} {:02d}:{:02d}:{:02d} {}".format,
    st.sampled_from(["", "Mon, ", "Sun, "]),
    st.sampled_from(["", "0"]),
    st.integers(1, 32),
    st.sampled_from(MONTHS),
    st.integers(1985, 2205),
    st.integers(0, 25),
    st.integers(0, 61),
    st.integers(0, 61),
    st.sampled_from(["GMT", "UT", "UTC", "Z", "+0000", "-0000"])
    | st.builds(
        "{}{:02d}{:02d}".format, st.sampled_from("+-"), st.integers(0, 23), st.integers(0, 99)
    ),
)


@given(rfc_dates)
def test_the_usual_rss_form_reads_as_the_email_package_reads_it(text: str) -> None:
    """The fast path for "Tue, 14 Nov 2023 22:13:20 GMT": impossible days and hours,
    offsets with minutes past 59, the ends of the accepted range, named zones."""
    assert parse_date(text) == _read_by_email_package(text)


@pytest.mark.parametrize(
    "text",
    [
        "Tue, 14 Nov 2023 22:13:20 GMT",
        "Tue, 14 Nov 2023 22:13:20 -0530",
        "1 Jan 1990 00:30:00 +0100",  # before 1990 in UTC
        "31 Dec 2200 23:30:00 -0100",  # 2201 in UTC, 2200 where it was written
        "31 Dec 1989 23:30:00 -0100",
        "1 Jan 1990 00:00:00 GMT",
        "31 Dec 2200 23:59:59 GMT",
        "1 Jan 2201 00:00:00 GMT",
        "29 Feb 2023 10:00:00 GMT",
        "29 Feb 2024 10:00:00 GMT",
        "14 Nov 2023 24:00:00 GMT",
        "1 Jan 2023 00:00:00 +2360",  # an offset of 24 hours
        "1 Jan 2023 00:00:00 -2400",
    ],
)
def test_rss_form_examples(text: str) -> None:
    assert parse_date(text) == _read_by_email_package(text)
