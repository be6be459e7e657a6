"""The per-host limiter on Redis: one Lua script per host and batch of requests, so it
is atomic across every worker. Keys (``P`` the prefix): ``P:host:<host>:tat`` (the GCRA
timestamp) and ``P:host:<host>:slots`` (ZSET token -> slot expiry). Both expire when the
host is idle.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import redis

from worker.adapters.limiter.base import Grant, HostBudget

_ACQUIRE = """
local now, interval = tonumber(ARGV[1]), tonumber(ARGV[2])
local burst, concurrency = tonumber(ARGV[3]), tonumber(ARGV[4])
local lease = tonumber(ARGV[5])
-- ARGV[6..]: one token per request to this host, granted in order as if one by one
local out = {}
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
for i = 6, #ARGV do
  local token = ARGV[i]
  if redis.call('ZCARD', KEYS[2]) >= concurrency then
    local first = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
    local wait = math.min(tonumber(first[2]) - now, interval)
    out[#out + 1] = {0, tostring(math.max(wait, 0.05))}
  else
    local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
    if tat < now then tat = now end
    local new_tat = tat + interval
    local ahead = new_tat - now - burst * interval
    if ahead > 0 then
      out[#out + 1] = {0, tostring(ahead)}
    else
      redis.call('SET', KEYS[1], tostring(new_tat), 'PX', math.ceil((new_tat - now + 60) * 1000))
      redis.call('ZADD', KEYS[2], now + lease, token)
      redis.call('PEXPIRE', KEYS[2], math.ceil((lease + 60) * 1000))
      out[#out + 1] = {1, '0'}
    end
  end
end
return out
"""


class RedisHostLimiter:
    def __init__(self, client: redis.Redis, *, prefix: str = "syndicate") -> None:
        self.r = client
        self.p = prefix
        self._acquire = client.register_script(_ACQUIRE)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisHostLimiter:
        return cls(redis.Redis.from_url(url, socket_timeout=30), **kwargs)

    def _keys(self, host: str) -> list[str]:
        return [f"{self.p}:host:{host}:tat", f"{self.p}:host:{host}:slots"]

    def acquire(self, host: str, now: float, budget: HostBudget) -> Grant:
        return self.acquire_many([host], now, budget)[0]

    def acquire_many(self, hosts: Sequence[str], now: float, budget: HostBudget) -> list[Grant]:
        if not hosts:
            return []
        # One script call per host, its requests in order: a fetch batch of one host's
        # feeds made one call per feed, 10 % of a warm fetch stage (profile_fetch).
        tokens = [uuid.uuid4().hex for _ in hosts]
        by_host: dict[str, list[int]] = {}
        for n, host in enumerate(hosts):
            by_host.setdefault(host, []).append(n)
        pipe = self.r.pipeline(transaction=False)
        for host, positions in by_host.items():
            self._acquire(
                keys=self._keys(host),
                args=[
                    repr(now),
                    repr(budget.interval),
                    budget.burst,
                    budget.concurrency,
                    repr(budget.lease),
                    *(tokens[n] for n in positions),
                ],
                client=pipe,
            )
        granted: dict[int, Grant] = {}
        for positions, replies in zip(by_host.values(), pipe.execute(), strict=True):
            for n, (ok, wait) in zip(positions, replies, strict=True):
                granted[n] = (
                    Grant(True, token=tokens[n])
                    if int(ok) == 1
                    else Grant(False, retry_in=float(wait))
                )
        return [granted[n] for n in range(len(hosts))]

    def release(self, host: str, token: str) -> None:
        self.release_many([(host, token)])

    def release_many(self, held: Sequence[tuple[str, str]]) -> None:
        if not held:
            return
        by_host: dict[str, list[str]] = {}
        for host, token in held:
            by_host.setdefault(host, []).append(token)
        pipe = self.r.pipeline(transaction=False)
        for host, tokens in by_host.items():
            pipe.zrem(self._keys(host)[1], *tokens)
        pipe.execute()

    def close(self) -> None:
        self.r.close()
