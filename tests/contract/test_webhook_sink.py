"""The webhook sink against a real HTTP receiver on 127.0.0.1."""

from __future__ import annotations

import base64
import time

import pytest
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from tests.receiver import Answer, Receiver
from tests.schemas import assert_valid_event, real_events
from worker.adapters.http import ClientPolicy, GuardedClient
from worker.adapters.sinks.webhook import WebhookSink

KEY = b"0123456789abcdef0123456789abcdef"
OLD_KEY = b"fedcba9876543210fedcba9876543210"
SECRET = "whsec_" + base64.b64encode(KEY).decode()
OLD_SECRET = "whsec_" + base64.b64encode(OLD_KEY).decode()


def make_sink(
    url: str, *, keys=(KEY,), timeout: float = 5.0, private: bool = True, concurrency: int = 2
) -> WebhookSink:
    client = GuardedClient(
        ClientPolicy(timeout=timeout, allow_private_networks=private, concurrency=concurrency)
    )
    return WebhookSink("hook", url, list(keys), client, timeout=timeout, concurrency=concurrency)


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


def test_each_event_is_posted_once_signed_and_schema_valid(receiver):
    """Every event arrives as its own POST whose body is a valid event and whose
    signature an independent Standard Webhooks verifier accepts."""
    events = real_events()
    sink = make_sink(receiver.url)
    report = sink.deliver(events)
    sink.close()
    assert sorted(report.delivered) == sorted(e for e, _ in events)
    assert not report.retry and not report.rejected
    assert sorted(receiver.ids()) == sorted(e for e, _ in events)
    verifier = Webhook(SECRET)
    for req in receiver.snapshot():
        assert req.headers["content-type"].startswith("application/cloudevents+json")
        doc = verifier.verify(req.body, req.headers)
        assert doc["id"] == req.headers["webhook-id"]
        assert_valid_event(doc)
        assert abs(int(req.headers["webhook-timestamp"]) - time.time()) < 60


def test_two_secrets_during_rotation_each_verify(receiver):
    """With two secrets configured, receivers holding either one accept the request."""
    sink = make_sink(receiver.url, keys=(KEY, OLD_KEY))
    sink.deliver(real_events()[:1])
    sink.close()
    (req,) = receiver.snapshot()
    assert req.headers["webhook-signature"].count("v1,") == 2
    for secret in (SECRET, OLD_SECRET):
        Webhook(secret).verify(req.body, req.headers)
    with pytest.raises(WebhookVerificationError):
        Webhook("whsec_" + base64.b64encode(b"x" * 32).decode()).verify(req.body, req.headers)


def test_the_webhook_id_stays_the_same_across_retries(receiver):
    """A retried event carries the same webhook-id, freshly timestamped and signed."""
    receiver.policy = lambda req: Answer(500 if len(receiver.requests) == 1 else 200)
    sink = make_sink(receiver.url)
    event = real_events()[:1]
    assert event[0][0] in sink.deliver(event).retry
    assert sink.deliver(event).delivered == [event[0][0]]
    sink.close()
    first, second = receiver.snapshot()
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == event[0][0]
    Webhook(SECRET).verify(second.body, second.headers)


@pytest.mark.parametrize(
    ("status", "headers", "outcome", "retry_after"),
    [
        (200, {}, "delivered", None),
        (204, {}, "delivered", None),
        (500, {}, "retry", None),
        (503, {"Retry-After": "120"}, "retry", 120.0),
        (429, {"Retry-After": "30"}, "retry", 30.0),
        (408, {}, "retry", None),
        (400, {}, "rejected", None),
        (404, {}, "rejected", None),
        (410, {}, "rejected", None),
        (301, {"Location": "http://127.0.0.1:1/"}, "rejected", None),
    ],
)
def test_reply_status_decides_delivered_retry_or_rejected(
    receiver, status, headers, outcome, retry_after
):
    """2xx delivered; 408/429/5xx retried with Retry-After; other codes rejected."""
    receiver.policy = lambda req: Answer(status, headers)
    sink = make_sink(receiver.url)
    ((event_id, body),) = real_events()[:1]
    report = sink.deliver([(event_id, body)])
    sink.close()
    if outcome == "delivered":
        assert report.delivered == [event_id]
    elif outcome == "retry":
        assert report.retry[event_id] == (f"HTTP {status}", retry_after)
    else:
        assert report.rejected[event_id] == f"HTTP {status}"
    assert len(receiver.requests) == 1  # redirects are not followed


def test_a_slow_receiver_times_out_per_attempt_and_is_retried(receiver):
    """An attempt that outlasts its own timeout ends then and asks for a retry."""
    receiver.policy = lambda req: Answer(200, delay=3.0)
    sink = make_sink(receiver.url, timeout=0.5)
    started = time.monotonic()
    report = sink.deliver(real_events()[:1])
    sink.close()
    assert time.monotonic() - started < 2.5
    ((reason, _),) = report.retry.values()
    assert "no answer within 0.5s" in reason


def test_a_failing_receiver_stops_the_batch_after_one_wave(receiver):
    """While the receiver fails, the rest of the batch is put on retry without sending."""
    receiver.policy = lambda req: Answer(502)
    events = real_events()
    sink = make_sink(receiver.url, concurrency=2)
    report = sink.deliver(events)
    sink.close()
    assert len(receiver.requests) == 2
    assert set(report.retry) == {e for e, _ in events}
    assert sum("not sent" in r for r, _ in report.retry.values()) == len(events) - 2


def test_loopback_webhook_urls_are_refused_by_the_address_policy(receiver):
    """Without allow_private_networks a webhook on 127.0.0.1 is refused before any
    request: rejected, so it is dead-lettered and visible, not retried for ever."""
    sink = make_sink(receiver.url, private=False)
    report = sink.deliver(real_events()[:1])
    sink.close()
    ((reason,),) = [tuple(report.rejected.values())]
    assert "refused address" in reason and "loopback" in reason
    assert receiver.requests == []


def test_connection_refused_is_retried():
    """A receiver that is not listening at all is a transient failure."""
    sink = make_sink("http://127.0.0.1:1/hook")
    report = sink.deliver(real_events()[:1])
    sink.close()
    assert len(report.retry) == 1 and not report.delivered
