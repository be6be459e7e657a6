"""What an HTTP response means for a feed, as plain answers (after Miniflux's
``response_handler``): is it modified, is it throttled, how long to wait, is it gone, how
long does it stay fresh, which validators can be trusted, has the feed moved.

Pure: headers are plain strings, ``now`` is passed in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import Literal

Meaning = Literal["ok", "not_modified", "throttled", "server_error", "gone", "client_error"]

# Retry-After is the server's wish; we honour it within these bounds (seconds).
MIN_RETRY_AFTER = 1.0
MAX_RETRY_AFTER = 24 * 3600.0
# A response that says it stays fresh longer than this is believed only this long.
MAX_CACHE_LIFETIME = 7 * 24 * 3600.0
# Clock skew tolerated before a Last-Modified "in the future" is distrusted (seconds).
CLOCK_SKEW = 300.0

# Request headers that belong to the transport or to the fetcher: a feed's config may not
# set them (settings rejects them), and the fetcher drops any that get through.
RESERVED_HEADERS = frozenset(
    {
        "host",
        "content-length",
        "transfer-encoding",
        "connection",
        "accept-encoding",
        "te",
        "upgrade",
        "trailer",
        "keep-alive",
        "proxy-authorization",
        "proxy-connection",
    }
)

PERMANENT_REDIRECTS = frozenset({301, 308})
REDIRECTS = frozenset({301, 302, 303, 307, 308})


@dataclass(frozen=True, slots=True)
class ResponseMeaning:
    meaning: Meaning
    retry_after: float | None = None

    @property
    def transient(self) -> bool:
        return self.meaning in ("throttled", "server_error")


def interpret(status: int, retry_after_header: str | None, now: float) -> ResponseMeaning:
    """The meaning of a final (non-redirect) status.

    429 is throttling: backpressure, not a fault of the feed. 503 is a server error
    (it counts in the error streak) that still honours its Retry-After.
    """
    if 200 <= status < 300:
        return ResponseMeaning("ok")
    if status in _WITH_RETRY_AFTER:
        delay = parse_retry_after(retry_after_header, now)
        return ResponseMeaning(_WITH_RETRY_AFTER[status], delay)
    if status >= 500:
        return ResponseMeaning("server_error")
    return ResponseMeaning(_OTHER.get(status, "client_error"))


_WITH_RETRY_AFTER: dict[int, Meaning] = {429: "throttled", 503: "server_error"}
_OTHER: dict[int, Meaning] = {304: "not_modified", 410: "gone"}


def _http_date(value: str) -> float | None:
    try:
        when = parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    try:
        return when.timestamp()
    except (OverflowError, OSError, ValueError):
        return None


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP-date), clamped."""
    if not value:
        return None
    value = value.strip()
    delay: float
    if value.isascii() and value.isdigit():  # "²".isdigit() is true too
        delay = float(value)
    else:
        when = _http_date(value)
        if when is None:
            return None
        delay = when - now
    return min(MAX_RETRY_AFTER, max(MIN_RETRY_AFTER, delay))


_MAX_AGE = re.compile(r"(?:^|,)\s*max-age\s*=\s*\"?(\d{1,12})\"?\s*(?:,|$)", re.IGNORECASE)
_NO_CACHE = re.compile(r"(?:^|,)\s*(?:no-cache|no-store)\s*(?:[,=]|$)", re.IGNORECASE)


def cache_lifetime(
    cache_control: str | None, expires: str | None, date: str | None, now: float
) -> float | None:
    """How long a response says it stays fresh, in seconds (RFC 9111 §4.2.1), or None.

    ``max-age`` wins over ``Expires``; ``no-cache``/``no-store`` mean 0. ``Expires`` is
    taken relative to the response's ``Date`` when there is one (the server's clock),
    else to ``now``. An invalid ``Expires`` means already stale (0). Capped at a week.
    """
    if cache_control:
        if _NO_CACHE.search(cache_control):
            return 0.0
        match = _MAX_AGE.search(cache_control)
        if match:
            return min(MAX_CACHE_LIFETIME, float(match.group(1)))
    if expires is not None:
        until = _http_date(expires)
        if until is None:
            return 0.0
        origin = _http_date(date) if date else None
        return min(MAX_CACHE_LIFETIME, max(0.0, until - (origin if origin is not None else now)))
    return None


def trusted_last_modified(value: str | None, now: float) -> str | None:
    """The Last-Modified to send back as If-Modified-Since, or None.

    A date in the future (beyond a little clock skew) or one that does not parse is not
    trusted: echoing it back could make a server answer 304 for ever.
    """
    if not value:
        return None
    when = _http_date(value)
    if when is None or when > now + CLOCK_SKEW:
        return None
    return value


def permanent_target(hops: list[tuple[int, str]]) -> str | None:
    """The final URL of a redirect chain when every hop was permanent (301/308).

    ``hops`` are (status, target URL) per redirect followed; no hops, or any temporary
    hop (302/303/307), gives None: only a wholly permanent chain may move a feed.
    """
    if not hops or any(status not in PERMANENT_REDIRECTS for status, _ in hops):
        return None
    return hops[-1][1]


@dataclass(frozen=True, slots=True)
class MoveDecision:
    """Where a feed's permanent-redirect tracking stands after one poll."""

    moved_to: str | None
    streak: int
    move: bool


def track_move(
    current_url: str,
    candidate: str | None,
    streak: int,
    target: str | None,
    threshold: int,
) -> MoveDecision:
    """Move a subscription only after ``threshold`` consecutive polls were permanently
    redirected to the same target; one redirect could be a hijack or a mistake.

    A poll without a permanent redirect, or one to a different target, starts over.
    """
    if target is None or target == current_url:
        return MoveDecision(None, 0, move=False)
    streak = streak + 1 if target == candidate else 1
    if streak >= max(1, threshold):
        return MoveDecision(None, 0, move=True)
    return MoveDecision(target, streak, move=False)
