"""``syndicate health``: is this deployment working? Exit 0 or non-zero.

Checks, each ``ok``, ``warn`` (looked at, not failing) or ``fail``:

* ``broker``: Redis answers, or the filesystem broker's folder is there and writable.
* ``store``: the store answers a read.
* ``sinks``: each configured sink can be reached (JSONL: its folder is writable; Redis
  Streams: its Redis answers) and its outbox is moving (no delivery overdue for more
  than ``health.max_delivery_lag``); deliveries being retried or dead-lettered warn.
* ``beat``: the tick ran within ``health.beat_max_age`` (its heartbeat in the store), and
  no feed has been due and unclaimed for more than ``health.max_feed_lag``.
* ``queues``: no queue holds more than ``health.max_queue_length`` messages, and a
  non-empty queue is moving: its oldest message (filesystem broker) or the last task a
  worker of that queue finished (Redis broker) is younger than ``health.max_queue_idle``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from worker.adapters import broker
from worker.cli_base import duration
from worker.settings import Settings

CHECKS = ("broker", "store", "sinks", "beat", "queues")
Status = Literal["ok", "warn", "fail"]


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    status: Status
    detail: str


def run_checks(
    settings: Settings,
    now: float,
    checks: Sequence[str] = CHECKS,
    queues: Sequence[str] = broker.QUEUES,
) -> list[Check]:
    from worker.adapters.store import open_store

    out: list[Check] = []
    if "broker" in checks:
        try:
            kind = broker.ping(settings)
            out.append(Check("broker", "ok", f"{kind} broker answers"))
        except broker.BrokerUnavailable as exc:
            out.append(Check("broker", "fail", str(exc)))
    try:
        db = settings.data_dir / "state.db"
        if not settings.distributed and not db.exists():
            # Checking must not create it: say what is missing instead.
            raise FileNotFoundError(f"{db} does not exist (never started here?)")
        store = open_store(settings)
        store.ping()
    except Exception as exc:  # any driver error means the same thing here
        if "store" in checks:
            out.append(Check("store", "fail", f"store unavailable: {exc}"))
        return (
            out
            + [Check(c, "fail", "store unavailable") for c in ("sinks", "beat") if c in checks]
            + (_queues(settings, now, None, queues) if "queues" in checks else [])
        )
    try:
        if "store" in checks:
            out.append(
                Check(
                    "store",
                    "ok",
                    "redis" if settings.distributed else f"sqlite {settings.data_dir / 'state.db'}",
                )
            )
        beats = store.heartbeats()
        if "sinks" in checks:
            out += _sinks(settings, store, now)
        if "beat" in checks:
            out.append(_beat(settings, store, beats, now))
        if "queues" in checks:
            out += _queues(settings, now, beats, queues)
    finally:
        store.close()
    return out


def _sinks(settings: Settings, store: Any, now: float) -> list[Check]:
    totals = store.delivery_totals()
    lag_max = settings.health.max_delivery_lag
    out = []
    for name, conf in settings.effective_sinks().items():
        problem = _probe(settings, conf)
        t = totals.get(name)
        if problem:
            out.append(Check(f"sink {name}", "fail", problem))
            continue
        if t is None:
            out.append(Check(f"sink {name}", "ok", "reachable; nothing delivered yet"))
            continue
        lag = now - t.oldest_due if t.oldest_due is not None else 0.0
        detail = (
            f"{t.delivered} delivered, {t.pending} pending, {t.retrying} retrying, "
            f"{t.dead_lettered} dead-lettered"
        )
        if lag > lag_max:
            out.append(
                Check(
                    f"sink {name}",
                    "fail",
                    f"a delivery is overdue by {duration(lag)} (> {duration(lag_max)}): "
                    f"no worker consumes the publish queue? {detail}",
                )
            )
        elif t.retrying or t.dead_lettered:
            out.append(Check(f"sink {name}", "warn", detail))
        else:
            out.append(Check(f"sink {name}", "ok", detail))
    return out


def _probe(settings: Settings, conf: Any) -> str | None:
    """Why the sink cannot be written, or None. Types without a probe: None."""
    if conf.type == "jsonl":
        path = Path(conf.path)
        target = path if path.exists() else next((p for p in path.parents if p.exists()), Path("."))
        if not os.access(target, os.W_OK):
            return f"{target} is not writable"
        return None
    if conf.type == "redis_stream":
        import redis

        url = conf.url or settings.store.redis_url
        if not url:
            return "no Redis URL"
        client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)
        try:
            client.ping()
        except redis.RedisError as exc:
            return f"Redis of the stream: {exc}"
        finally:
            client.close()
    return None


def _beat(settings: Settings, store: Any, beats: dict[str, float], now: float) -> Check:
    h = settings.health
    last = beats.get("beat")
    backlog = store.feed_backlog(now)
    if last is None:
        return Check("beat", "fail", "the tick has never run: is `syndicate beat` (or run) up?")
    age = now - last
    if age > h.beat_max_age:
        return Check(
            "beat",
            "fail",
            f"last tick {duration(age)} ago (> {duration(h.beat_max_age)}): beat is "
            "down, or no worker consumes the fetch queue (the tick runs there)",
        )
    lag = now - backlog.oldest_due if backlog.oldest_due is not None else 0.0
    if backlog.due and lag > h.max_feed_lag:
        return Check(
            "beat", "fail", f"{backlog.due} feeds due and unclaimed, the oldest for {duration(lag)}"
        )
    return Check("beat", "ok", f"last tick {duration(age)} ago; {backlog.due} feeds due now")


def _queues(
    settings: Settings, now: float, beats: dict[str, float] | None, queues: Sequence[str]
) -> list[Check]:
    h = settings.health
    try:
        depths = broker.queue_depths(settings, tuple(queues))
    except broker.BrokerUnavailable as exc:
        return [Check(f"queue {q}", "fail", str(exc)) for q in queues]
    out = []
    for q, d in depths.items():
        name = f"queue {q}"
        if d.messages > h.max_queue_length:
            out.append(
                Check(name, "fail", f"{d.messages} messages waiting (> {h.max_queue_length})")
            )
            continue
        if d.messages == 0:
            out.append(Check(name, "ok", "empty"))
            continue
        if d.oldest_age is not None:
            idle, what = d.oldest_age, "the oldest message has waited {}"
        elif beats is not None and f"queue.{q}" in beats:
            idle, what = now - beats[f"queue.{q}"], "the last task finished {} ago"
        else:
            idle, what = None, ""
        if idle is None:
            out.append(
                Check(
                    name,
                    "warn",
                    f"{d.messages} messages waiting; no worker of this "
                    "queue has finished a task yet",
                )
            )
        elif idle > h.max_queue_idle:
            out.append(
                Check(
                    name,
                    "fail",
                    f"{d.messages} messages waiting and "
                    + what.format(duration(idle))
                    + f" (> {duration(h.max_queue_idle)})",
                )
            )
        else:
            out.append(
                Check(name, "ok", f"{d.messages} messages waiting; " + what.format(duration(idle)))
            )
    return out
