"""Dates as UTC ISO 8601 strings, from whatever a feed wrote."""

from __future__ import annotations

import calendar
import time
from contextlib import suppress
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

# Feeds date items in 1970 or in the year 9999; neither helps anyone.
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
LATEST_YEAR = 2200
_DIGITS = frozenset("0123456789")


def iso(dt: datetime) -> str:
    return dt.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def from_struct(value: time.struct_time | None) -> str | None:
    """feedparser's ``*_parsed`` fields are UTC struct_times."""
    if value is None:
        return None
    try:
        dt = datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    except (OverflowError, ValueError, OSError):
        return None
    return _bounded(dt)


def parse_date(value: object) -> str | None:
    """RFC 3339 / ISO 8601 first, then RFC 822; None when neither reads it."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    dt: datetime | None = None
    if text[0] in _DIGITS:  # an ISO 8601 date starts with its year; RFC 822 seldom does
        with suppress(ValueError):
            dt = datetime.fromisoformat(text.replace("z", "Z"))
    if dt is None:
        try:
            dt = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return _bounded(dt)


def _bounded(dt: datetime) -> str | None:
    if dt < EARLIEST or dt.year > LATEST_YEAR:
        return None
    return iso(dt)


def epoch_to_iso(ts: float) -> str:
    return iso(datetime.fromtimestamp(ts, tz=UTC))
