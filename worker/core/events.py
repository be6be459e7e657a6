"""CloudEvents 1.0 JSON envelopes around articles and feed lifecycle changes
(https://cloudevents.io)."""

from __future__ import annotations

import json
from typing import Any

from worker.core.identity import event_id_for
from worker.core.models import Article, Event

SPEC_VERSION = "1.0"
ARTICLE_CREATED = "article.created"
ARTICLE_UPDATED = "article.updated"
FEED_MOVED = "feed.moved"
FEED_GONE = "feed.gone"


def article_event(article: Article, detected_at: str) -> Event:
    kind = ARTICLE_CREATED if article.revision == 1 else ARTICLE_UPDATED
    event_id = event_id_for(article.article_id, article.revision)
    envelope: dict[str, Any] = {
        "specversion": SPEC_VERSION,
        "id": event_id,
        "type": kind,
        "source": article.source.feed_url,
        "subject": article.article_id,
        "time": detected_at,
        "datacontenttype": "application/json",
        "data": article.to_dict(),
    }
    body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()
    return Event(event_id=event_id, type=kind, subject=article.article_id, body=body)


def feed_event(
    kind: str,
    *,
    feed_id: str,
    feed_url: str,
    sequence: int,
    detected_at: str,
    data: dict[str, Any],
) -> Event:
    """A ``feed.moved`` or ``feed.gone`` CloudEvent about one feed.

    The id is ``feed.<feed_id>.<sequence>``: ``sequence`` counts the feed's lifecycle
    events, so a poll retried after a crash re-emits the same id (the outbox and the
    sinks drop the copy) while a later, distinct event gets a new one.
    """
    if kind not in (FEED_MOVED, FEED_GONE):
        raise ValueError(f"not a feed event type: {kind!r}")
    event_id = f"feed.{feed_id}.{sequence}"
    envelope: dict[str, Any] = {
        "specversion": SPEC_VERSION,
        "id": event_id,
        "type": kind,
        "source": feed_url,
        "subject": feed_id,
        "time": detected_at,
        "datacontenttype": "application/json",
        "data": {"schema_version": "1.0", "feed_id": feed_id, **data},
    }
    body = json.dumps(envelope, ensure_ascii=False, separators=(",", ":")).encode()
    return Event(event_id=event_id, type=kind, subject=feed_id, body=body)
