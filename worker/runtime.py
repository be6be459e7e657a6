"""The adapters one process works with, built once from ``Settings`` and passed explicitly."""

from __future__ import annotations

import gc
import random
import time
from collections.abc import Callable
from functools import cached_property

from worker.adapters.http import ClientPolicy, GuardedClient
from worker.adapters.limiter import HostBudget, HostLimiter, open_limiter
from worker.adapters.polite import PoliteFetcher, Transport
from worker.adapters.sinks import Sink, open_sink
from worker.adapters.store import Store, open_store
from worker.core.models import FeedSpec
from worker.core.routing import route
from worker.core.schedule import Bounds
from worker.settings import Settings

# The cyclic garbage collector's first threshold (CPython's default is 700 allocations).
# A parse task allocates a round's articles, fingerprints and events by the hundred
# thousand and frees them by reference counting; at 700 the collector ran some 1,300
# times a cold pass of 20,000 articles in one process, 4 % of its time
# (docs/benchmarks.md, sixth session).
GC_THRESHOLD = 50_000


def tune_collector() -> None:
    """Collect cycles less often, and never look again at what the process holds once it
    has started (modules, settings, Celery's machinery): ``gc.freeze`` moves them out of
    the collector's sight, and a forked pool process keeps sharing their pages. Worker
    processes call it when they start (``celery_app``), the benchmarks that time a stage
    in one process before they time it."""
    gc.freeze()
    gc.set_threshold(GC_THRESHOLD, *gc.get_threshold()[1:])


class Runtime:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.time,
        rand: Callable[[], float] = lambda: random.uniform(-1.0, 1.0),
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.rand = rand
        # When this process last pruned the store (pipeline.tick does, now and then).
        self.last_pruned = 0.0

    @cached_property
    def store(self) -> Store:
        return open_store(self.settings)

    @cached_property
    def client(self) -> GuardedClient:
        f = self.settings.fetch
        return GuardedClient(
            ClientPolicy(
                timeout=f.timeout,
                max_bytes=f.max_bytes,
                max_redirects=f.max_redirects,
                allow_private_networks=f.allow_private_networks,
                user_agent=f.user_agent,
                concurrency=f.concurrency,
            )
        )

    @cached_property
    def limiter(self) -> HostLimiter:
        return open_limiter(self.settings)

    @property
    def host_budget(self) -> HostBudget:
        f = self.settings.fetch
        return HostBudget(
            rate=f.host_rate,
            burst=f.host_burst,
            concurrency=f.host_concurrency,
            # Slots are held for a whole batch: they outlive its longest possible run (one
            # total deadline per round of `concurrency` requests) by a margin.
            lease=f.timeout * -(-f.batch_size // f.concurrency) + 10.0,
        )

    @cached_property
    def transport(self) -> Transport:
        """What sends batches of feed requests: aiohttp by default (docs/decisions/0008),
        or the httpx client."""
        if self.settings.fetch.transport == "httpx":
            return self.client
        from worker.adapters.aiofetch import AsyncFetcher

        return AsyncFetcher(self.client.policy)

    @cached_property
    def fetcher(self) -> PoliteFetcher:
        """The transport behind the per-host budget: what the pipeline polls feeds with."""
        return PoliteFetcher(self.transport, self.limiter, self.host_budget, clock=self.clock)

    @cached_property
    def sinks(self) -> dict[str, Sink]:
        return {
            name: open_sink(name, conf, self.settings)
            for name, conf in self.settings.effective_sinks().items()
        }

    @property
    def sink_names(self) -> tuple[str, ...]:
        return tuple(self.settings.effective_sinks())

    @cached_property
    def _sink_filters(self) -> dict[str, tuple[str, ...]]:
        return self.settings.sink_filters()

    def sinks_for(self, spec: FeedSpec) -> tuple[str, ...]:
        """The sinks this feed's events go to (worker/core/routing.py)."""
        return route(spec.tags, spec.sinks, self._sink_filters)

    def bounds(self, min_interval: float | None, max_interval: float | None) -> Bounds:
        s = self.settings.schedule
        lo = min_interval or s.min_interval
        hi = max(lo, max_interval or s.max_interval)
        return Bounds(min_interval=lo, max_interval=hi, max_backoff=max(hi, s.max_backoff))

    def close(self) -> None:
        self.__dict__.pop("fetcher", None)
        transport = self.__dict__.pop("transport", None)
        if transport is not None and transport is not self.__dict__.get("client"):
            transport.close()
        for name in ("store", "limiter", "client", "sinks"):
            value = self.__dict__.pop(name, None)
            if isinstance(value, dict):
                for sink in value.values():
                    sink.close()
            elif value is not None:
                value.close()
