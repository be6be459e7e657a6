"""POST each event to an HTTP endpoint, signed the Standard Webhooks way.

One request per event, the CloudEvent JSON as the body, up to ``concurrency`` in flight.
Every request goes through the guarded client, so the address policy that protects
feed fetches (no loopback, private or link-local targets unless allowed) holds for
webhook URLs too, and each attempt has its own total deadline.

What a reply means is decided in ``worker.core.webhooks.interpret_reply``: 2xx delivered;
408, 429, 5xx, timeouts and connection errors retried (after Retry-After if given);
any other status, or an address the policy refuses, rejected (dead-lettered at once).
When a wave of requests meets a receiver that is down, the rest of the batch is not
sent: it is put on the same backoff, so a dead receiver costs one round of requests per
retry, not one per event. A batch stops starting requests after ``BATCH_BUDGET``
seconds; what it did not send stays leased and comes back by itself.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from worker.adapters.http import GuardedClient
from worker.adapters.sinks.base import DeliveryReport
from worker.core.errors import FetchRefused, TransientFeedError
from worker.core.webhooks import Reply, interpret_reply, signed_headers

# Seconds a deliver call keeps starting new requests (well inside the task time limit).
BATCH_BUDGET = 120.0


class WebhookSink:
    def __init__(
        self,
        name: str,
        url: str,
        keys: Sequence[bytes],
        client: GuardedClient,
        *,
        timeout: float,
        concurrency: int = 4,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not keys:
            raise ValueError("a webhook sink needs at least one signing key")
        self.name = name
        self.url = url
        self.keys = list(keys)
        self.client = client
        self.timeout = timeout
        self.concurrency = concurrency
        self.clock = clock
        self._pool: ThreadPoolExecutor | None = None
        self._pid = 0

    def _executor(self) -> ThreadPoolExecutor:
        if self._pool is None or self._pid != os.getpid():
            self._pool = ThreadPoolExecutor(self.concurrency, thread_name_prefix="webhook")
            self._pid = os.getpid()
        return self._pool

    def deliver(self, events: Sequence[tuple[str, bytes]]) -> DeliveryReport:
        report = DeliveryReport()
        started = time.monotonic()
        pool = self._executor()
        for start in range(0, len(events), self.concurrency):
            if time.monotonic() - started > BATCH_BUDGET:
                break  # the rest stays leased and is claimed again later
            wave = events[start : start + self.concurrency]
            down: Reply | None = None
            for (event_id, _), reply in zip(wave, pool.map(self._send, wave), strict=True):
                if reply.outcome == "delivered":
                    report.delivered.append(event_id)
                elif reply.outcome == "rejected":
                    report.rejected[event_id] = reply.reason
                else:
                    report.retry[event_id] = (reply.reason, reply.retry_after)
                    down = reply
            if down is not None:
                for event_id, _ in events[start + self.concurrency :]:
                    report.retry[event_id] = (
                        f"not sent, the receiver is failing ({down.reason})",
                        down.retry_after,
                    )
                break
        return report

    def _send(self, event: tuple[str, bytes]) -> Reply:
        event_id, body = event
        headers = signed_headers(self.keys, event_id, int(self.clock()), body)
        try:
            status, reply_headers = self.client.post(
                self.url, body, headers, timeout=self.timeout, label=f"sink {self.name}"
            )
        except FetchRefused as exc:
            return Reply("rejected", exc.reason)
        except TransientFeedError as exc:
            return Reply("retry", exc.reason)
        return interpret_reply(status, reply_headers.get("retry-after"), self.clock())

    def close(self) -> None:
        if self._pool is not None and self._pid == os.getpid():
            self._pool.shutdown(wait=False, cancel_futures=True)
        self._pool = None
        self.client.close()
