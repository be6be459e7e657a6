"""The fetcher the pipeline uses: a transport behind the per-host budget.

Before a batch goes out, the ``HostLimiter`` (shared by every worker) is asked, in one
round trip, for a slot on each request's host. A refused request is never sent: it comes
back as a ``deferred`` result whose ``retry_after`` says when the host should have room,
spread by the position of the refusal within the batch so that a hundred feeds of one
host do not all come back at the same second. Granted slots are released, again in one
round trip, when the batch is done. Redirects to another host count against the feed's
own host only.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Protocol

from worker.adapters.limiter import HostBudget, HostLimiter, host_key
from worker.core.models import FetchRequest, FetchResult


class Transport(Protocol):
    """What sends a batch of feed requests: ``AsyncFetcher`` or ``GuardedClient``."""

    def fetch_many(self, requests: Sequence[FetchRequest], now: float) -> list[FetchResult]: ...

    def close(self) -> None: ...


class PoliteFetcher:
    def __init__(
        self,
        transport: Transport,
        limiter: HostLimiter,
        budget: HostBudget,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.transport = transport
        self.limiter = limiter
        self.budget = budget
        self.clock = clock

    def fetch_many(self, requests: Sequence[FetchRequest], now: float) -> list[FetchResult]:
        """Every request ends as a ``FetchResult`` (fetched, failed or deferred), in order."""
        hosts = [host_key(r.url) for r in requests]
        grants = self.limiter.acquire_many(hosts, self.clock(), self.budget)
        refusals: Counter[str] = Counter()
        results: list[FetchResult | None] = [None] * len(requests)
        granted: list[int] = []
        for n, (request, host, grant) in enumerate(zip(requests, hosts, grants, strict=True)):
            if grant.granted and grant.token is not None:
                granted.append(n)
                continue
            wait = grant.retry_in + refusals[host] * self.budget.interval
            refusals[host] += 1
            results[n] = FetchResult(
                feed_id=request.feed_id,
                url=request.url,
                status="deferred",
                retry_after=wait,
                error=f"host budget for {host} spent; retry in {wait:.1f}s",
            )
        try:
            fetched = self.transport.fetch_many([requests[n] for n in granted], now)
        finally:
            self.limiter.release_many([(hosts[n], grants[n].token or "") for n in granted])
        for n, result in zip(granted, fetched, strict=True):
            results[n] = result
        return [r for r in results if r is not None]

    def close(self) -> None:
        self.limiter.close()
