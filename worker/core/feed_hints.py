"""What a feed document says about its own refresh schedule.

* RSS 2.0 ``<ttl>``: minutes the channel may be cached before it is fetched again;
* the RSS 1.0 syndication module, ``<sy:updatePeriod>`` (hourly, daily, weekly, monthly,
  yearly) and ``<sy:updateFrequency>`` (times per period);
* RSS 2.0 ``<skipHours>`` (hours 0-23, GMT) and ``<skipDays>`` (Monday ... Sunday).

feedparser exposes ``ttl`` and the ``sy`` fields but flattens ``skipHours`` to its last
``<hour>``, so the channel's head is scanned here instead, one pass over at most
``HEAD_BYTES`` before the first item. Elements after the first item are not read (the
specifications put them in the channel; every feed seen in practice writes them first).
JSON Feed and Atom have none of these: the result is empty hints. Nonsense values are
dropped, never guessed; the scheduler caps whatever is read by its own bounds.
"""

from __future__ import annotations

import re

from worker.core.models import FeedHints

HEAD_BYTES = 256 * 1024
# Hints beyond these are ignored as nonsense (seconds).
MAX_HINT = 30 * 86400.0

_PERIODS = {
    "hourly": 3600.0,
    "daily": 86400.0,
    "weekly": 7 * 86400.0,
    "monthly": 30 * 86400.0,
    "yearly": 365 * 86400.0,
}
_DAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
_PREFIX = rb"(?:[A-Za-z_][\w.-]{0,30}:)?"
_FIRST_ITEM = re.compile(rb"<(?:[A-Za-z_][\w.-]{0,30}:)?(?:item|entry)[\s>/]")
_TTL = re.compile(rb"<" + _PREFIX + rb"ttl\s*>\s*(\d{1,9})\s*</")
_PERIOD = re.compile(rb"<" + _PREFIX + rb"updatePeriod\s*>\s*([A-Za-z]{1,10})\s*</")
_FREQUENCY = re.compile(rb"<" + _PREFIX + rb"updateFrequency\s*>\s*(\d{1,6})\s*</")
_SKIP_HOURS = re.compile(rb"<skipHours\s*>(.{0,2000}?)</skipHours\s*>", re.DOTALL)
_SKIP_DAYS = re.compile(rb"<skipDays\s*>(.{0,1000}?)</skipDays\s*>", re.DOTALL)
_HOUR = re.compile(rb"<hour\s*>\s*(\d{1,2})\s*</hour\s*>")
_DAY = re.compile(rb"<day\s*>\s*([A-Za-z]{1,10})\s*</day\s*>")


def read_hints(body: bytes) -> FeedHints:
    """The refresh hints of a feed document (empty when it has none)."""
    head = body[:HEAD_BYTES]
    first = _FIRST_ITEM.search(head)
    if first is not None:
        head = head[: first.start()]
    if b"<" not in head:
        return FeedHints()
    return FeedHints(
        ttl=_ttl(head),
        update_interval=_update_interval(head),
        skip_hours=_skip_hours(head),
        skip_days=_skip_days(head),
    )


def _ttl(head: bytes) -> float | None:
    match = _TTL.search(head)
    if not match:
        return None
    seconds = int(match.group(1)) * 60.0
    return seconds if 0 < seconds <= MAX_HINT else None


def _update_interval(head: bytes) -> float | None:
    period_match = _PERIOD.search(head)
    freq_match = _FREQUENCY.search(head)
    if period_match is None and freq_match is None:
        return None
    # The module's defaults: daily, once.
    period = _PERIODS.get(period_match.group(1).decode().lower()) if period_match else 86400.0
    frequency = int(freq_match.group(1)) if freq_match else 1
    if period is None or frequency < 1:
        return None
    seconds = period / frequency
    return seconds if seconds <= MAX_HINT else None


def _skip_hours(head: bytes) -> tuple[int, ...]:
    match = _SKIP_HOURS.search(head)
    if not match:
        return ()
    hours = {int(h) for h in _HOUR.findall(match.group(1))}
    # Some feeds write 24 for midnight.
    hours = {0 if h == 24 else h for h in hours if 0 <= h <= 24}
    return tuple(sorted(hours)) if len(hours) < 24 else ()


def _skip_days(head: bytes) -> tuple[int, ...]:
    match = _SKIP_DAYS.search(head)
    if not match:
        return ()
    names = {d.decode().lower() for d in _DAY.findall(match.group(1))}
    days = {_DAYS.index(n) for n in names if n in _DAYS}
    return tuple(sorted(days)) if len(days) < 7 else ()
