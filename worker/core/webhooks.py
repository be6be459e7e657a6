"""Standard Webhooks (https://www.standardwebhooks.com): signing and what a reply means.

A request carries ``webhook-id`` (the event id, the same on every retry, so receivers
can drop what they already have), ``webhook-timestamp`` (Unix seconds of this attempt;
receivers reject old ones, which stops replays) and ``webhook-signature``: ``v1,`` +
base64 of HMAC-SHA256 over ``id.timestamp.body`` with the secret's raw bytes. While a
secret is being rotated both sign every request, space-separated; receivers accept a
match with either.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from worker.core.http_policy import parse_retry_after


def signature(keys: Sequence[bytes], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one ``v1,<base64>`` per key, space-separated."""
    signed = f"{msg_id}.{timestamp}.".encode() + body
    return " ".join(
        "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
        for key in keys
    )


def signed_headers(
    keys: Sequence[bytes], msg_id: str, timestamp: int, body: bytes
) -> dict[str, str]:
    return {
        "content-type": "application/cloudevents+json; charset=utf-8",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature(keys, msg_id, timestamp, body),
    }


Outcome = Literal["delivered", "retry", "rejected"]


@dataclass(frozen=True, slots=True)
class Reply:
    outcome: Outcome
    reason: str
    retry_after: float | None = None


def interpret_reply(status: int, retry_after_header: str | None, now: float) -> Reply:
    """2xx: delivered. 408, 429 and 5xx: retry (after Retry-After if given). Any other
    status (3xx: redirects are not followed; 4xx): the receiver refused the event."""
    if 200 <= status < 300:
        return Reply("delivered", f"HTTP {status}")
    if status in (408, 429) or status >= 500:
        return Reply("retry", f"HTTP {status}", parse_retry_after(retry_after_header, now))
    return Reply("rejected", f"HTTP {status}")
