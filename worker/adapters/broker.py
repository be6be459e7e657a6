"""What the broker holds: messages waiting per queue, read without consuming any.

Redis (kombu's transport): one list per queue, plus one per priority step
(``<queue>\\x06\\x16<n>``). Filesystem (embedded mode): one file per message named
``<ms>_<uuid>.<queue>.msg`` in the queue folder; the oldest file's age is how long the
first message has waited.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import redis

if TYPE_CHECKING:
    from worker.settings import Settings

QUEUES = ("fetch", "parse", "publish")
# kombu.transport.redis: Channel.sep and PRIORITY_STEPS.
_PRIORITY_SEP = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)


@dataclass(frozen=True, slots=True)
class QueueDepth:
    messages: int
    oldest_age: float | None = None  # seconds; known for the filesystem broker only


class BrokerUnavailable(Exception):
    """The broker cannot be reached or read."""


def queue_depths(settings: Settings, queues: tuple[str, ...] = QUEUES) -> dict[str, QueueDepth]:
    if settings.store.redis_url:
        return _redis_depths(settings.store.redis_url, queues)
    return _folder_depths(settings.data_dir / "broker" / "queue", queues, time.time())


def _redis_depths(url: str, queues: tuple[str, ...]) -> dict[str, QueueDepth]:
    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
    try:
        pipe = client.pipeline(transaction=False)
        for q in queues:
            pipe.llen(q)
            for step in _PRIORITY_STEPS:
                pipe.llen(f"{q}{_PRIORITY_SEP}{step}")
        sizes = pipe.execute()
    except redis.RedisError as exc:
        raise BrokerUnavailable(f"Redis broker: {exc}") from exc
    finally:
        client.close()
    per = 1 + len(_PRIORITY_STEPS)
    return {q: QueueDepth(sum(sizes[n * per : (n + 1) * per])) for n, q in enumerate(queues)}


def _folder_depths(folder: Path, queues: tuple[str, ...], now: float) -> dict[str, QueueDepth]:
    if not folder.is_dir():
        raise BrokerUnavailable(f"broker folder {folder} does not exist (never started?)")
    if not os.access(folder, os.W_OK):
        raise BrokerUnavailable(f"broker folder {folder} is not writable")
    counts = dict.fromkeys(queues, 0)
    oldest: dict[str, float] = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            queue = entry.name.partition(".")[2].removesuffix(".msg")
            if queue not in counts or not entry.name.endswith(".msg"):
                continue
            counts[queue] += 1
            try:
                mtime = entry.stat().st_mtime
            except FileNotFoundError:  # consumed meanwhile
                continue
            oldest[queue] = min(oldest.get(queue, mtime), mtime)
    return {
        q: QueueDepth(n, max(0.0, now - oldest[q]) if q in oldest else None)
        for q, n in counts.items()
    }


def ping(settings: Settings) -> str:
    """Raise ``BrokerUnavailable`` unless the broker answers; say what it is."""
    if settings.store.redis_url:
        client = redis.Redis.from_url(
            settings.store.redis_url, socket_timeout=5, socket_connect_timeout=5
        )
        try:
            client.ping()
        except redis.RedisError as exc:
            raise BrokerUnavailable(f"Redis broker: {exc}") from exc
        finally:
            client.close()
        return "redis"
    _folder_depths(settings.data_dir / "broker" / "queue", (), time.time())
    return "filesystem"
