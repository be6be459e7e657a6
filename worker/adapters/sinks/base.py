"""The ``Sink`` port.

A sink takes a batch of serialized events and says, per event, whether it is delivered,
should be retried, or was rejected for good. Built-in sinks are idempotent on the event
id: a redelivered event is acknowledged without being written twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from worker.settings import Settings, SinkSettings


@dataclass
class DeliveryReport:
    delivered: list[str] = field(default_factory=list)
    # event id -> (reason, retry_after seconds or None)
    retry: dict[str, tuple[str, float | None]] = field(default_factory=dict)
    # event id -> reason
    rejected: dict[str, str] = field(default_factory=dict)
    # how many of ``delivered`` the sink already had
    duplicates: int = 0


class Sink(Protocol):
    name: str

    def deliver(self, events: Sequence[tuple[str, bytes]]) -> DeliveryReport:
        """Write ``(event_id, body)`` pairs; never raises for a per-event problem."""
        ...

    def close(self) -> None: ...


def open_sink(name: str, conf: SinkSettings, settings: Settings) -> Sink:
    """Build the sink a ``[sinks.NAME]`` table describes (imports only what it needs)."""
    if conf.type == "jsonl":
        from worker.adapters.sinks.jsonl import JsonlSink

        return JsonlSink(
            name,
            conf.path,
            rotate_bytes=conf.rotate_bytes,
            rotate_daily=conf.rotate_daily,
            dedupe_files=conf.dedupe_files,
        )
    if conf.type == "redis_stream":
        from worker.adapters.sinks.redis_stream import RedisStreamSink

        url = conf.url or settings.store.redis_url
        if not url:
            from worker.core.errors import ConfigError

            raise ConfigError([f"sinks.{name}.url: required when no REDIS_URL is set"])
        # Remember appended ids at least as long as replay can reach back.
        dedupe_ttl = int(max(7 * 86400, settings.store.history_days * 86400))
        return RedisStreamSink.from_url(
            name, url, stream=conf.stream, maxlen=conf.maxlen, dedupe_ttl=dedupe_ttl
        )
    if conf.type == "webhook":
        from worker.adapters.http import ClientPolicy, GuardedClient
        from worker.adapters.sinks.webhook import WebhookSink

        f = settings.fetch
        client = GuardedClient(
            ClientPolicy(
                timeout=conf.timeout,
                max_bytes=65536,
                max_redirects=0,
                allow_private_networks=f.allow_private_networks,
                user_agent=f.user_agent,
                concurrency=conf.concurrency,
            )
        )
        return WebhookSink(
            name,
            conf.url,
            conf.signing_keys(),
            client,
            timeout=conf.timeout,
            concurrency=conf.concurrency,
        )
    if conf.type == "postgres":
        from worker.adapters.sinks.postgres import PostgresSink

        return PostgresSink(name, conf.dsn, table=conf.table, connect_timeout=conf.connect_timeout)
    if conf.type == "stdout":
        from worker.adapters.sinks.stdout import StdoutSink

        return StdoutSink(name)
    raise AssertionError(f"unknown sink type {conf.type!r}")  # pragma: no cover
