"""The ``HostLimiter`` port: a budget per host shared by every worker.

Two limits per host, both enforced atomically in the shared state (Redis in the
distributed mode, the SQLite file in the embedded mode):

* **rate**: a token bucket written as GCRA (the "generic cell rate algorithm"): one
  timestamp per host, the theoretical arrival time of the next request. A request is
  allowed when it would not push that time more than ``burst`` intervals ahead.
* **concurrency**: at most ``concurrency`` requests in flight per host. Each holds a slot
  with an expiry (``lease``), so a worker killed mid-request frees its slot by itself.

A refused request is not an error: the caller reschedules the feed ``retry_in`` seconds
later (backpressure), without counting it in the feed's error streak.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from worker.settings import Settings


@dataclass(frozen=True, slots=True)
class HostBudget:
    # Sustained requests per second per host.
    rate: float
    # Requests allowed back to back before the rate applies.
    burst: int
    # Requests in flight at once per host.
    concurrency: int
    # Longest a slot is held if its holder never releases it (seconds).
    lease: float

    @property
    def interval(self) -> float:
        return 1.0 / self.rate


@dataclass(frozen=True, slots=True)
class Grant:
    granted: bool
    # Release this when the request is done (granted only).
    token: str | None = None
    # When refused: seconds until the host is expected to have room.
    retry_in: float = 0.0


class HostLimiter(Protocol):
    def acquire(self, host: str, now: float, budget: HostBudget) -> Grant:
        """Take a slot and a rate token for ``host``, or say how long to wait."""
        ...

    def release(self, host: str, token: str) -> None:
        """Give back the slot of a finished request (unknown tokens are ignored)."""
        ...

    def acquire_many(self, hosts: Sequence[str], now: float, budget: HostBudget) -> list[Grant]:
        """``acquire`` for each host in turn (a host may repeat), in one round trip."""
        ...

    def release_many(self, held: Sequence[tuple[str, str]]) -> None:
        """``release`` each ``(host, token)``, in one round trip."""
        ...

    def close(self) -> None: ...


def host_key(url: str) -> str:
    """The politeness key of a URL: its lowercased host name (without port)."""
    try:
        host = urlsplit(url).hostname
    except ValueError:
        host = None
    return (host or "").rstrip(".").lower() or "-"


def open_limiter(settings: Settings) -> HostLimiter:
    """Redis when the store is Redis, otherwise the embedded SQLite file."""
    if settings.store.redis_url:
        from worker.adapters.limiter.redis import RedisHostLimiter

        return RedisHostLimiter.from_url(settings.store.redis_url, prefix=settings.store.prefix)
    from worker.adapters.limiter.sqlite import SqliteHostLimiter

    return SqliteHostLimiter(settings.data_dir / "state.db")
