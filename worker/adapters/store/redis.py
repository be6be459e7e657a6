"""The distributed store: Redis, shared by every worker and beat.

Keys (``P`` is the configured prefix)::

    P:due              ZSET  feed_id -> when it is next due (a claim moves it a lease ahead)
    P:feed:<id>        HASH  spec (JSON), origin, state (JSON)
    P:feeds:config     SET   feed ids that come from the config file
    P:seen:<article>   STR   "<revision>:<content_hash>:<fingerprint>", expires after seen_ttl
    P:alias:<key id>   STR   the article a GUID or content key names; expires after seen_ttl
    P:nd:<period>:<band> HASH  bucket -> the first articles of stories filed under that
                             LSH bucket in one period of index_ttl/4, comma-separated, at
                             most BUCKET_CAP; ``band`` is the band key's first SHARD
                             characters (its index); expires when its period has left the
                             window
    P:fid:<feed_id>    STR   the feed's identity statistics (JSON), expires after seen_ttl
    P:doc:<key>        STR   a fetched document waiting for its parse task (the message
                             carries the key); dropped after the parse, expires anyway
    P:ev:<event_id>    STR   the event JSON; no expiry while a sink has it pending or
                             dead-lettered, then kept until ``event_ttl`` after its creation
    P:hist             ZSET  event_id -> when it was created: the history replay reads
    P:out:<sink>       ZSET  event_id -> when its delivery is next due
    P:att:<sink>       HASH  event_id -> delivery attempts so far
    P:fail:<sink>      HASH  event_id -> "<first failure time>|<last error>"
    P:dlq:<sink>       ZSET  event_id -> when it was dead-lettered
    P:dlqi:<sink>      HASH  event_id -> "<attempts>|<first failure time>|<error>"
    P:sinks            SET   names of the sinks that ever had a delivery queued
    P:task:<task_id>   STR   how often a task message was started (poison guard), 1 day
    P:para:<source>    ZSET  article_id -> when its paragraph fingerprints were remembered
    P:parafp:<source>  HASH  article_id -> its fingerprints (JSON); both expire with seen_ttl
    P:hb               HASH  name (beat, queue.fetch...) -> its last heartbeat
    P:delivered        HASH  sink -> deliveries acknowledged so far (a counter)
    P:delivered_at     HASH  sink -> when it last acknowledged one
    P:rcpt:<day>:<shard> HASH  "<event_id>|<sink>" -> when it was delivered; one hash per
                             day and first RCPT_SHARD characters of the event id (small
                             hashes are stored compactly), expiring after receipt_ttl
    P:lat:<feed_id>    LIST  "<published>:<latency>" of its newest MAX_SAMPLES deliveries,
                             expires after seen_ttl

Every multi-key change is a Lua script, so it is atomic even with many workers.
"""

from __future__ import annotations

import dataclasses
import json
import time
import uuid
from collections.abc import Sequence
from typing import Any, cast

import msgpack
import orjson
import redis

from worker.adapters.store.base import History, NearCandidates, ParagraphEntry
from worker.adapters.store.records import (
    from_redis_value,
    redis_value,
    state_from_json,
    state_json,
)
from worker.core.delivery_stats import (
    MAX_SAMPLES,
    DeliveryState,
    DeliveryTotals,
    FeedBacklog,
    LatencySample,
)
from worker.core.models import (
    ArticleCommit,
    Event,
    FeedIdentity,
    FeedSpec,
    FeedState,
    SeenRecord,
)
from worker.core.retry import DeadLetter, FailureHistory

# An event body whose history retention already ran out when its last delivery was
# acknowledged still stays this long (seconds).
MIN_EVENT_TTL = 60
# The near-duplicate index is cut into this many periods per window: a bucket lives at
# most a window and a period, and a lookup reads PERIODS + 1 periods.
PERIODS = 4
# At most this many articles per bucket and period (the newest): a band that many
# unrelated texts share costs bounded memory.
BUCKET_CAP = 8
# Buckets live as fields of one hash per period and band (the band key's first SHARD
# characters are the band's index: 16 hashes a period), so that a lookup reads all of a
# document's buckets of one band and period in one HMGET. With a hash per period and
# first four characters (4,096 a period, small listpacks) it took one HGET per bucket and
# period, 1,600 a document of 20 articles: the lookup was the largest script cost, and it
# grew with the index (benchmarks/profile_parse.py --feeds 2000; docs/benchmarks.md).
SHARD = 2
# Delivery receipts live in one hash per day and first RCPT_SHARD hex characters of the
# event id: at 100,000 events a day, about 24 fields a hash, stored as a listpack.
RCPT_SHARD = 3
DAY = 86400

_CLAIM = """
local ids = redis.call('ZRANGE', KEYS[1], '-inf', ARGV[1], 'BYSCORE', 'LIMIT', 0, ARGV[2])
for _, id in ipairs(ids) do
  redis.call('ZADD', KEYS[1], ARGV[3], id)
end
return ids
"""

_SAVE_STATES = """
local p = ARGV[1]
for i = 2, #ARGV, 3 do
  local id = ARGV[i]
  local key = p .. ':feed:' .. id
  if redis.call('EXISTS', key) == 1 then
    redis.call('HSET', key, 'state', ARGV[i + 1])
    redis.call('ZADD', p .. ':due', ARGV[i + 2], id)
  end
end
return 1
"""

# Finds the articles filed under the bands in ARGV[5]: ``out`` lists them (first seen
# first), ``filed`` holds each band's buckets (comma-separated ids) and ``found`` the bands
# with any, in the order read.
_NEAR_FIND = """
local p, current, periods, shard = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
-- The buckets grouped by the hash that holds them (one per band), each read in one HMGET
-- per period, at most 1,000 fields at a time.
-- The bands come as one space-separated argument: redis-py encodes each argument in
-- Python, and a document's 320 bands cost more to pack than the script takes to run.
-- They are cut out where string.find says, not matched: every string Lua makes is
-- interned, and the band itself was a string more than its hash and field need (the
-- script 11-19 % faster, docs/benchmarks.md).
local fields, hashes = {}, {}
local bands = ARGV[5]
local o, last = 1, #bands
while o <= last do
  local e = (string.find(bands, ' ', o, true) or last + 1) - 1
  if e >= o then
    local h = string.sub(bands, o, o + shard - 1)
    local f = fields[h]
    if not f then f = {}; fields[h] = f; hashes[#hashes + 1] = h end
    f[#f + 1] = string.sub(bands, o + shard, e)
  end
  o = e + 2
end
local seen, out, filed, found = {}, {}, {}, {}
for period = current - periods, current do
  local prefix = p .. ':nd:' .. period .. ':'
  for _, h in ipairs(hashes) do
    local f = fields[h]
    for first = 1, #f, 1000 do
      local values = redis.call('HMGET', prefix .. h, unpack(f, first, math.min(#f, first + 999)))
      for n, members in ipairs(values) do
        if members then
          local band = h .. f[first + n - 1]
          if filed[band] then
            filed[band] = filed[band] .. ',' .. members
          else
            filed[band] = members; found[#found + 1] = band
          end
          for m in string.gmatch(members, '[^,]+') do
            if not seen[m] then seen[m] = true; out[#out + 1] = m end
          end
        end
      end
    end
  end
end
"""
_NEAR = _NEAR_FIND + "return table.concat(out, ',')\n"
# The same for many documents at once, with the seen record of each article found: the
# number of bands with any, each band and its ids, then id, record, id, record... The
# caller gives each document the candidates of its own bands.
_NEAR_CANDIDATES = (
    _NEAR_FIND
    + """
local reply = {#found}
for _, band in ipairs(found) do
  reply[#reply + 1] = band
  reply[#reply + 1] = filed[band]
end
for first = 1, #out, 1000 do
  local keys = {}
  for n = first, math.min(#out, first + 999) do keys[#keys + 1] = p .. ':seen:' .. out[n] end
  local values = redis.call('MGET', unpack(keys))
  for n, value in ipairs(values) do
    if value then
      reply[#reply + 1] = out[first + n - 1]
      reply[#reply + 1] = value
    end
  end
end
return reply
"""
)

# The articles come as one msgpack array in ARGV[10] (``_pack_commits``), flat: article,
# expected revision, seen value, event id, body, the number of sinks and each sink, the
# number of aliases and each alias, the index bands (space-separated, see _NEAR_FIND).
# redis-py encodes and checks each argument of a call in Python: as arguments, the
# dozen per article cost 4 % of a cold pass's worker samples; msgpack packs them in C.
_COMMIT = """
local p, now, lease = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local seen_ttl, event_ttl, index_key, index_ttl = ARGV[4], ARGV[5], ARGV[6], ARGV[7]
local cap, shard = tonumber(ARGV[8]), tonumber(ARGV[9])
local c = cmsgpack.unpack(ARGV[10])
local accepted = {}
-- Each index hash's key, built once per call, and the hashes filed into: one EXPIRE each
-- at the end (16 a period), not per bucket. The bands are cut out as in _NEAR_FIND, the
-- loop written out in both: a shared Lua iterator (a closure call per band) made both
-- scripts 5-8 % slower in the replay (benchmarks/scripts.py).
local keys, filed = {}, {}
-- The history's key and each sink's outbox key, also once per call.
local hist, outboxes = p .. ':hist', {}
local i = 1
while i <= #c do
  local article, expected, value = c[i], tonumber(c[i + 1]), c[i + 2]
  local event_id, body = c[i + 3], c[i + 4]
  local nsinks = tonumber(c[i + 5])
  local a = i + 6 + nsinks
  local naliases = tonumber(c[a])
  local b = a + 1 + naliases
  local seen_key = p .. ':seen:' .. article
  local held = redis.call('GET', seen_key)
  local held_rev = 0
  if held then held_rev = tonumber(string.match(held, '^(%d+):')) end
  if held_rev == expected then
    redis.call('SET', seen_key, value, 'EX', seen_ttl)
    if nsinks > 0 then
      redis.call('SET', p .. ':ev:' .. event_id, body)
    else
      redis.call('SET', p .. ':ev:' .. event_id, body, 'EX', event_ttl)
    end
    redis.call('ZADD', hist, 'NX', now, event_id)
    for s = 1, nsinks do
      local sink = c[i + 5 + s]
      local out = outboxes[sink]
      if not out then
        out = p .. ':out:' .. sink
        outboxes[sink] = out
        redis.call('SADD', p .. ':sinks', sink)
      end
      redis.call('ZADD', out, 'NX', now + lease, event_id)
    end
    for s = 1, naliases do
      redis.call('SET', p .. ':alias:' .. c[a + s], article, 'NX', 'EX', seen_ttl)
    end
    local bands = c[b]
    local o, last = 1, #bands
    while o <= last do
      local e = (string.find(bands, ' ', o, true) or last + 1) - 1
      if e >= o then
        local h, field = string.sub(bands, o, o + shard - 1), string.sub(bands, o + shard, e)
        local key = keys[h]
        if not key then
          key = p .. ':nd:' .. index_key .. ':' .. h
          keys[h] = key
          filed[#filed + 1] = key
        end
        -- A new bucket (most of them) costs one call; a bucket that has articles gains one.
        if redis.call('HSETNX', key, field, article) == 0 then
          local members = redis.call('HGET', key, field)
          if not string.find(',' .. members .. ',', ',' .. article .. ',', 1, true) then
            local list = {}
            for m in string.gmatch(members, '[^,]+') do list[#list + 1] = m end
            list[#list + 1] = article
            while #list > cap do table.remove(list, 1) end
            redis.call('HSET', key, field, table.concat(list, ','))
          end
        end
      end
      o = e + 2
    end
    accepted[#accepted + 1] = event_id
  end
  i = b + 1
end
for _, key in ipairs(filed) do redis.call('EXPIRE', key, index_ttl, 'NX') end
return accepted
"""

_TOUCH = """
local p, ttl = ARGV[1], ARGV[2]
for i = 3, #ARGV do
  redis.call('EXPIRE', p .. ':seen:' .. ARGV[i], ttl)
  redis.call('EXPIRE', p .. ':alias:' .. ARGV[i], ttl)
end
return 1
"""

_ENQUEUE = """
local p, due, event_ttl, now = ARGV[1], tonumber(ARGV[2]), ARGV[3], tonumber(ARGV[4])
local nsinks = tonumber(ARGV[5])
local queued = {}
for i = 6 + nsinks, #ARGV, 2 do
  local event_id = ARGV[i]
  if redis.call('SET', p .. ':ev:' .. event_id, ARGV[i + 1], 'NX', 'EX', event_ttl) then
    -- in the history, like article events, so `syndicate replay` sends them again
    redis.call('ZADD', p .. ':hist', 'NX', now, event_id)
    for s = 6, 5 + nsinks do
      redis.call('ZADD', p .. ':out:' .. ARGV[s], 'NX', due, event_id)
      redis.call('SADD', p .. ':sinks', ARGV[s])
    end
    queued[#queued + 1] = event_id
  end
end
return queued
"""

_ACK = """
local p, sink, now, ttl, min_ttl = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]),
  tonumber(ARGV[5])
local nsinks = tonumber(ARGV[6])
local out, att, fail = p .. ':out:' .. sink, p .. ':att:' .. sink, p .. ':fail:' .. sink
-- Attempts and failures are kept only for events that failed: most calls have none.
local failed = redis.call('EXISTS', att) == 1 or redis.call('EXISTS', fail) == 1
-- Where an event may still be held: another sink's outbox, any sink's dead letters;
-- keys that do not exist hold nothing (most sinks never dead-letter).
local holders = {}
for s = 7, 6 + nsinks do
  local other, dead = p .. ':out:' .. ARGV[s], p .. ':dlq:' .. ARGV[s]
  if ARGV[s] ~= sink and redis.call('EXISTS', other) == 1 then holders[#holders + 1] = other end
  if redis.call('EXISTS', dead) == 1 then holders[#holders + 1] = dead end
end
for i = 7 + nsinks, #ARGV do
  local id = ARGV[i]
  redis.call('ZREM', out, id)
  if failed then
    redis.call('HDEL', att, id)
    redis.call('HDEL', fail, id)
  end
  local kept = false
  for _, key in ipairs(holders) do
    if redis.call('ZSCORE', key, id) then
      kept = true
      break
    end
  end
  if not kept then
    local created = redis.call('ZSCORE', p .. ':hist', id)
    local left = ttl
    if created then left = math.floor(tonumber(created) + ttl - now) end
    redis.call('EXPIRE', p .. ':ev:' .. id, math.max(left, min_ttl))
  end
end
return 1
"""

_RETRY = """
local p, sink, now = ARGV[1], ARGV[2], tonumber(ARGV[3])
local out, att, fail = p .. ':out:' .. sink, p .. ':att:' .. sink, p .. ':fail:' .. sink
for i = 4, #ARGV, 3 do
  local id, delay, err = ARGV[i], tonumber(ARGV[i + 1]), ARGV[i + 2]
  if redis.call('ZSCORE', out, id) then
    redis.call('ZADD', out, now + delay, id)
    redis.call('HINCRBY', att, id, 1)
    local first = tostring(now)
    local held = redis.call('HGET', fail, id)
    if held then
      local f, e = string.match(held, '^([^|]*)|(.*)$')
      first = f
      if err == '' then err = e end
    end
    redis.call('HSET', fail, id, first .. '|' .. err)
  end
end
return 1
"""

_DEAD_LETTER = """
local p, sink, now = ARGV[1], ARGV[2], ARGV[3]
local out, att, fail = p .. ':out:' .. sink, p .. ':att:' .. sink, p .. ':fail:' .. sink
local moved = 0
for i = 4, #ARGV, 2 do
  local id, reason = ARGV[i], ARGV[i + 1]
  if redis.call('ZREM', out, id) == 1 then
    local attempts = tonumber(redis.call('HGET', att, id) or '0') + 1
    local first = now
    local held = redis.call('HGET', fail, id)
    if held then first = string.match(held, '^([^|]*)|') end
    redis.call('HDEL', att, id)
    redis.call('HDEL', fail, id)
    redis.call('ZADD', p .. ':dlq:' .. sink, now, id)
    redis.call('HSET', p .. ':dlqi:' .. sink, id, attempts .. '|' .. first .. '|' .. reason)
    redis.call('PERSIST', p .. ':ev:' .. id)
    moved = moved + 1
  end
end
return moved
"""

_REPLAY_DLQ = """
local p, sink, now = ARGV[1], ARGV[2], ARGV[3]
local dlq = p .. ':dlq:' .. sink
local ids = {}
if #ARGV > 3 then
  for i = 4, #ARGV do ids[#ids + 1] = ARGV[i] end
else
  ids = redis.call('ZRANGE', dlq, 0, -1)
end
local moved = 0
for _, id in ipairs(ids) do
  if redis.call('ZREM', dlq, id) == 1 then
    redis.call('HDEL', p .. ':dlqi:' .. sink, id)
    redis.call('ZADD', p .. ':out:' .. sink, 'NX', now, id)
    moved = moved + 1
  end
end
return moved
"""

_REQUEUE = """
local p, sink, now = ARGV[1], ARGV[2], ARGV[3]
local queued = 0
for i = 4, #ARGV do
  local id = ARGV[i]
  if redis.call('EXISTS', p .. ':ev:' .. id) == 1 then
    redis.call('PERSIST', p .. ':ev:' .. id)
    redis.call('ZREM', p .. ':dlq:' .. sink, id)
    redis.call('HDEL', p .. ':dlqi:' .. sink, id)
    redis.call('ZADD', p .. ':out:' .. sink, 'LT', now, id)
    redis.call('ZADD', p .. ':out:' .. sink, 'NX', now, id)
    queued = queued + 1
  end
end
if queued > 0 then redis.call('SADD', p .. ':sinks', sink) end
return queued
"""


_RECEIPTS = """
local p, sink, now, day, ttl, shard = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5], tonumber(ARGV[6])
redis.call('HINCRBY', p .. ':delivered', sink, ARGV[7])
redis.call('HSET', p .. ':delivered_at', sink, now)
local touched = {}
local last = 8 + tonumber(ARGV[8])
for i = 9, last do
  local id = ARGV[i]
  local key = p .. ':rcpt:' .. day .. ':' .. string.sub(id, 1, shard)
  redis.call('HSET', key, id .. '|' .. sink, now)
  if not touched[key] then
    touched[key] = true
    redis.call('EXPIRE', key, ttl)
  end
end
-- Then each feed's latency samples: its list's key, their number, the samples.
local keep, samples_ttl = tonumber(ARGV[last + 1]), ARGV[last + 2]
local i = last + 3
while i <= #ARGV do
  local key, count = ARGV[i], tonumber(ARGV[i + 1])
  for first = i + 2, i + 1 + count, 1000 do  -- unpack's stack holds about 8,000
    redis.call('LPUSH', key, unpack(ARGV, first, math.min(i + 1 + count, first + 999)))
  end
  redis.call('LTRIM', key, 0, keep - 1)
  redis.call('EXPIRE', key, samples_ttl)
  i = i + 2 + count
end
return 1
"""

_REMEMBER = """
local order, prints = KEYS[1], KEYS[2]
local now, keep, ttl = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local added = 0
for i = 4, #ARGV, 2 do
  local id = ARGV[i]
  -- NX: an article already remembered keeps its place (ZADD answers 1 for a new one)
  if redis.call('ZADD', order, 'NX', now, id) == 1 then
    redis.call('HSET', prints, id, ARGV[i + 1])
    added = added + 1
  end
end
if added == 0 then return 0 end
local extra = redis.call('ZCARD', order) - keep
if extra > 0 then
  local gone = redis.call('ZRANGE', order, 0, extra - 1)
  redis.call('ZREMRANGEBYRANK', order, 0, extra - 1)
  redis.call('HDEL', prints, unpack(gone))
end
redis.call('EXPIRE', order, ttl)
redis.call('EXPIRE', prints, ttl)
return added
"""

# Per source in ARGV[3:]: how many articles, then each id and its fingerprints, newest
# first.
_HISTORIES = """
local p, limit = ARGV[1], tonumber(ARGV[2])
local reply = {}
for i = 3, #ARGV do
  local ids = redis.call('ZREVRANGE', p .. ':para:' .. ARGV[i], 0, limit - 1)
  reply[#reply + 1] = #ids
  if #ids > 0 then
    local prints = redis.call('HMGET', p .. ':parafp:' .. ARGV[i], unpack(ids))
    for n = 1, #ids do
      reply[#reply + 1] = ids[n]
      reply[#reply + 1] = prints[n]
    end
  end
end
return reply
"""


def _pack_commits(commits: Sequence[ArticleCommit]) -> bytes:
    """The commits as ``_COMMIT`` reads them: one flat msgpack array."""
    flat: list[Any] = []
    for c in commits:
        flat += [
            c.seen.article_id,
            c.expected_revision,
            redis_value(c.seen),
            c.event.event_id,
            c.event.body,
            len(c.sinks),
            *c.sinks,
            len(c.aliases),
            *c.aliases,
            " ".join(c.bands),
        ]
    # Lua's cmsgpack (Redis 7.0) knows no bin type: bytes go as raw strings, as msgpack
    # wrote them before the bin type (both are Lua strings).
    packed: bytes = msgpack.packb(flat, use_bin_type=False)
    return packed


class RedisStore:
    def __init__(
        self,
        client: redis.Redis,
        *,
        prefix: str = "syndicate",
        seen_ttl: float = 30 * 86400,
        event_ttl: float = 7 * 86400,
        index_ttl: float = 30 * 86400,
        receipt_ttl: float = 7 * 86400,
    ) -> None:
        self.r = client
        self.receipt_ttl = int(receipt_ttl)
        self.p = prefix
        self.seen_ttl = int(seen_ttl)
        self.event_ttl = int(event_ttl)
        self.index_ttl = int(index_ttl)
        self.period = max(1, self.index_ttl // PERIODS)
        self._claim = client.register_script(_CLAIM)
        self._save = client.register_script(_SAVE_STATES)
        self._commit = client.register_script(_COMMIT)
        self._touch = client.register_script(_TOUCH)
        self._ack = client.register_script(_ACK)
        self._enqueue = client.register_script(_ENQUEUE)
        self._remember = client.register_script(_REMEMBER)
        self._near = client.register_script(_NEAR)
        self._near_candidates = client.register_script(_NEAR_CANDIDATES)
        self._histories = client.register_script(_HISTORIES)
        self._retry = client.register_script(_RETRY)
        self._dead = client.register_script(_DEAD_LETTER)
        self._replay_dlq = client.register_script(_REPLAY_DLQ)
        self._requeue = client.register_script(_REQUEUE)
        self._receipts = client.register_script(_RECEIPTS)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisStore:
        client = redis.Redis.from_url(url, socket_timeout=30, health_check_interval=30)
        return cls(client, **kwargs)

    def ping(self) -> None:
        self.r.ping()

    def close(self) -> None:
        self.r.close()

    def _k(self, *parts: str) -> str:
        return ":".join((self.p, *parts))

    # -- feeds -------------------------------------------------------------------------
    def sync_feeds(self, specs: Sequence[FeedSpec], now: float) -> tuple[int, int]:
        wanted = {s.feed_id: s for s in specs}
        have = {m.decode() for m in cast(set[bytes], self.r.smembers(self._k("feeds", "config")))}
        removed = [f for f in have if f not in wanted]
        current = self._hget_many([f for f in wanted if f in have], "spec")
        pipe = self.r.pipeline()
        for fid in removed:
            pipe.delete(self._k("feed", fid))
            pipe.zrem(self._k("due"), fid)
            pipe.srem(self._k("feeds", "config"), fid)
        added = 0
        for fid, spec in wanted.items():
            doc = json.dumps(spec.to_dict())
            if fid not in have:
                added += 1
                pipe.hset(self._k("feed", fid), mapping={"spec": doc, "origin": "config"})
                pipe.zadd(self._k("due"), {fid: now}, nx=True)
                pipe.sadd(self._k("feeds", "config"), fid)
            elif current.get(fid) != doc:
                pipe.hset(self._k("feed", fid), "spec", doc)
        pipe.execute()
        return added, len(removed)

    def add_feed(self, spec: FeedSpec, now: float) -> bool:
        key = self._k("feed", spec.feed_id)
        if not self.r.hsetnx(key, "spec", json.dumps(spec.to_dict())):
            return False
        pipe = self.r.pipeline()
        pipe.hset(key, "origin", spec.origin)
        pipe.zadd(self._k("due"), {spec.feed_id: now}, nx=True)
        if spec.origin == "config":
            pipe.sadd(self._k("feeds", "config"), spec.feed_id)
        pipe.execute()
        return True

    def add_feeds(self, specs: Sequence[FeedSpec], now: float) -> list[str]:
        added: list[str] = []
        for start in range(0, len(specs), 500):
            part = specs[start : start + 500]
            pipe = self.r.pipeline(transaction=False)
            for spec in part:
                pipe.hsetnx(self._k("feed", spec.feed_id), "spec", json.dumps(spec.to_dict()))
            fresh = [s for s, ok in zip(part, pipe.execute(), strict=True) if ok]
            pipe = self.r.pipeline()
            for spec in fresh:
                pipe.hset(self._k("feed", spec.feed_id), "origin", spec.origin)
                pipe.zadd(self._k("due"), {spec.feed_id: now}, nx=True)
                if spec.origin == "config":
                    pipe.sadd(self._k("feeds", "config"), spec.feed_id)
            pipe.execute()
            added += [s.feed_id for s in fresh]
        return added

    def remove_feed(self, feed_id: str) -> bool:
        pipe = self.r.pipeline()
        pipe.delete(self._k("feed", feed_id))
        pipe.zrem(self._k("due"), feed_id)
        pipe.srem(self._k("feeds", "config"), feed_id)
        return bool(pipe.execute()[0])

    def feed_specs(self, feed_ids: Sequence[str] | None = None) -> dict[str, FeedSpec]:
        if feed_ids is None:
            feed_ids = [m.decode() for m in cast(list[bytes], self.r.zrange(self._k("due"), 0, -1))]
        docs = self._hget_many(feed_ids, "spec")
        return {fid: FeedSpec.from_dict(json.loads(doc)) for fid, doc in docs.items()}

    def _hget_many(self, feed_ids: Sequence[str], field: str) -> dict[str, str]:
        pipe = self.r.pipeline(transaction=False)
        for fid in feed_ids:
            pipe.hget(self._k("feed", fid), field)
        return {
            fid: value.decode()
            for fid, value in zip(feed_ids, pipe.execute(), strict=True)
            if value is not None
        }

    def claim_due_feeds(self, now: float, limit: int, lease: float) -> list[str]:
        ids = self._claim(keys=[self._k("due")], args=[now, limit, now + lease])
        return [i.decode() for i in ids]

    def load_states(self, feed_ids: Sequence[str]) -> dict[str, FeedState]:
        return {fid: state for fid, (_, state) in self.load_feeds(feed_ids).items()}

    def load_feeds(self, feed_ids: Sequence[str]) -> dict[str, tuple[FeedSpec, FeedState]]:
        # One HMGET a feed: the spec read separately was a second command per feed, for
        # redis-py to pack and parse (a tenth of a warm fetch task's own CPU).
        pipe = self.r.pipeline(transaction=False)
        for fid in feed_ids:
            pipe.hmget(self._k("feed", fid), "state", "spec")
        out: dict[str, tuple[FeedSpec, FeedState]] = {}
        for fid, (state, spec) in zip(feed_ids, pipe.execute(), strict=True):
            if spec is None:  # not a feed (any more): a state alone is not resurrected
                continue
            doc = json.loads(spec)
            out[fid] = (
                FeedSpec.from_dict(doc),
                state_from_json(state) if state is not None else FeedState(fid, doc["url"]),
            )
        return out

    def save_states(self, states: Sequence[FeedState]) -> None:
        if not states:
            return
        args: list[Any] = [self.p]
        for s in states:
            args += [s.feed_id, state_json(s), s.next_poll_at]
        self._save(args=args)

    # -- articles ----------------------------------------------------------------------
    def seen(self, article_ids: Sequence[str]) -> dict[str, SeenRecord]:
        if not article_ids:
            return {}
        values = self.r.mget([self._k("seen", a) for a in article_ids])
        return {
            a: from_redis_value(a, v)
            for a, v in zip(article_ids, cast(list[bytes | None], values), strict=True)
            if v is not None
        }

    def lookup_articles(self, key_ids: Sequence[str]) -> dict[str, SeenRecord]:
        if not key_ids:
            return {}
        # Each key as an article id and as an alias in one round trip; a document's keys
        # usually name articles among its own, so the aliases' targets are mostly in hand
        # already (three round trips and every record read twice were 9 % of a warm
        # pass's worker samples).
        pipe = self.r.pipeline(transaction=False)
        pipe.mget([self._k("seen", k) for k in key_ids])
        pipe.mget([self._k("alias", k) for k in key_ids])
        values, targets = cast(list[list[bytes | None]], pipe.execute())
        found: dict[str, SeenRecord] = {}
        aliased: dict[str, str] = {}
        for k, value, target in zip(key_ids, values, targets, strict=True):
            if value is not None:
                found[k] = from_redis_value(k, value)
            elif target is not None:
                aliased[k] = target.decode()
        records = {t: found[t] for t in aliased.values() if t in found}
        records.update(self.seen(sorted(set(aliased.values()) - records.keys())))
        found.update({k: records[t] for k, t in aliased.items() if t in records})
        return found

    def touch_seen(self, article_ids: Sequence[str], now: float) -> None:
        if not article_ids:
            return
        # One script call: two pipelined EXPIREs per id (about 40 a document, every
        # known entry of every changed document) were a quarter of a warm parse's time
        # in redis-py packing commands and parsing replies (profile_parse --profile warm).
        self._touch(args=[self.p, self.seen_ttl, *article_ids])

    def commit_articles(
        self, commits: Sequence[ArticleCommit], now: float, lease: float
    ) -> list[str]:
        if not commits:
            return []
        period = int(now // self.period)
        args: list[Any] = [
            self.p,
            now,
            lease,
            self.seen_ttl,
            self.event_ttl,
            period,
            self.index_ttl + self.period,
            BUCKET_CAP,
            SHARD,
        ]
        # A memoryview goes to Redis as it is: hiredis copies a bytes argument at about
        # 1.5 us a kilobyte (a round's commit is about a megabyte).
        args.append(memoryview(_pack_commits(commits)))
        return [e.decode() for e in self._commit(args=args)]

    # -- boilerplate history -----------------------------------------------------------
    def paragraph_histories(self, sources: Sequence[str], limit: int) -> dict[str, History]:
        if limit <= 0 or not sources:
            return {source: [] for source in sources}
        # One round trip for every source of a parse task's documents: a call per
        # document was 3.5 % of a cold pass's worker samples, nearly all of it the round
        # trip for a script Redis runs in 7 us.
        flat = cast(list[Any], self._histories(args=[self.p, limit, *sources]))
        out: dict[str, History] = {}
        i = 0
        # JSON arrays of fingerprints, read with orjson (a fifth of json.loads's 1.3 us,
        # and a round reads every article of its sources' histories); it reads what the
        # json module wrote before 2026-12-07 too.
        for source in sources:
            count = int(flat[i])
            pairs = flat[i + 1 : i + 1 + 2 * count]
            out[source] = [
                (a.decode(), tuple(orjson.loads(fps)))
                for a, fps in zip(pairs[::2], pairs[1::2], strict=True)
                if fps is not None
            ]
            i += 1 + 2 * count
        return out

    def remember_paragraphs(self, entries: Sequence[ParagraphEntry], now: float, keep: int) -> None:
        if not entries:
            return
        # One script call per source (a document's articles mostly share one): a call
        # per article was 4.9 % of a cold pass's worker samples, most of it redis-py's
        # per-call script handling.
        by_source: dict[str, list[Any]] = {}
        for source, article_id, fingerprints in entries:
            by_source.setdefault(source, []).extend((article_id, orjson.dumps(fingerprints)))
        calls = [
            (
                [self._k("para", source), self._k("parafp", source)],
                [now, max(1, keep), self.seen_ttl, *pairs],
            )
            for source, pairs in by_source.items()
        ]
        if len(calls) == 1:
            # A pipeline that runs a script first asks Redis whether it has the script:
            # a second round trip for the usual document of one source.
            self._remember(keys=calls[0][0], args=calls[0][1])
            return
        pipe = self.r.pipeline(transaction=False)
        for keys, args in calls:
            self._remember(keys=keys, args=args, client=pipe)
        pipe.execute()

    def stash_documents(self, bodies: Sequence[bytes], now: float, ttl: float) -> list[str]:
        if not bodies:
            return []
        keys = [uuid.uuid4().hex for _ in bodies]
        pipe = self.r.pipeline(transaction=False)
        for key, body in zip(keys, bodies, strict=True):
            # not copied by hiredis on the way (see commit_articles)
            pipe.set(self._k("doc", key), memoryview(body), px=max(1, int(ttl * 1000)))
        pipe.execute()
        return keys

    def take_documents(self, keys: Sequence[str], now: float) -> list[bytes | None]:
        if not keys:
            return []
        return cast(list[bytes | None], self.r.mget([self._k("doc", k) for k in keys]))

    def drop_documents(self, keys: Sequence[str]) -> None:
        if keys:
            self.r.unlink(*[self._k("doc", k) for k in keys])

    def near_duplicates(self, bands: Sequence[str], now: float) -> list[str]:
        if not bands:
            return []
        # One script reads every period's bucket of every band inside Redis: a client
        # pipeline of the same HGETs cost ~35 ms of client CPU per document.
        found = cast(
            bytes,
            self._near(args=[self.p, int(now // self.period), PERIODS, SHARD, " ".join(bands)]),
        )
        return found.decode().split(",") if found else []

    def near_duplicate_candidates(self, bands: Sequence[str], now: float) -> NearCandidates:
        if not bands:
            return {}, {}
        flat = cast(
            list[bytes],
            self._near_candidates(
                args=[self.p, int(now // self.period), PERIODS, SHARD, " ".join(bands)]
            ),
        )
        n = 1 + 2 * int(flat[0])
        filed = {
            band.decode(): list(dict.fromkeys(ids.decode().split(",")))
            for band, ids in zip(flat[1:n:2], flat[2:n:2], strict=True)
        }
        ids = [a.decode() for a in flat[n::2]]
        records = {a: from_redis_value(a, v) for a, v in zip(ids, flat[n + 1 :: 2], strict=True)}
        return filed, records

    def load_feed_identities(self, feed_ids: Sequence[str]) -> dict[str, FeedIdentity]:
        if not feed_ids:
            return {}
        values = cast(list[bytes | None], self.r.mget([self._k("fid", f) for f in feed_ids]))
        return {
            f: FeedIdentity.from_dict(orjson.loads(v))
            for f, v in zip(feed_ids, values, strict=True)
            if v is not None
        }

    def save_feed_identities(self, profiles: Sequence[FeedIdentity]) -> None:
        if not profiles:
            return
        pipe = self.r.pipeline(transaction=False)
        for profile in profiles:
            # orjson: a profile holds no floats (orjson writes an infinite one as null)
            # and only strings of our own making, so it needs no json fallback as feed
            # states do (decision 0023)
            doc = orjson.dumps(profile.to_dict())
            pipe.set(self._k("fid", profile.feed_id), doc, ex=self.seen_ttl)
        pipe.execute()

    # -- outbox ------------------------------------------------------------------------
    def enqueue_events(
        self, events: Sequence[Event], sinks: Sequence[str], now: float, lease: float
    ) -> list[str]:
        if not events:
            return []
        args: list[Any] = [self.p, now + lease, self.event_ttl, now, len(sinks), *sinks]
        for event in events:
            args += [event.event_id, event.body]
        return [e.decode() for e in self._enqueue(args=args)]

    def claim_deliveries(self, sink: str, now: float, limit: int, lease: float) -> list[str]:
        ids = self._claim(keys=[self._k("out", sink)], args=[now, limit, now + lease])
        return [i.decode() for i in ids]

    def pending_events(self, sink: str, event_ids: Sequence[str]) -> dict[str, bytes]:
        if not event_ids:
            return {}
        # Two commands for the batch (ZMSCORE needs Redis 6.2): a ZSCORE and a GET per
        # event, packed one by one by redis-py, were 2.4 % of a cold pass's worker samples.
        pipe = self.r.pipeline(transaction=False)
        pipe.zmscore(self._k("out", sink), list(event_ids))
        pipe.mget([self._k("ev", e) for e in event_ids])
        scores, bodies = pipe.execute()
        return {
            e: body
            for e, score, body in zip(event_ids, scores, bodies, strict=True)
            if score is not None and body is not None
        }

    def ack_deliveries(self, sink: str, event_ids: Sequence[str]) -> None:
        if not event_ids:
            return
        sinks = self._known_sinks()
        self._ack(
            args=[
                self.p,
                sink,
                time.time(),
                self.event_ttl,
                MIN_EVENT_TTL,
                len(sinks),
                *sinks,
                *event_ids,
            ]
        )

    def _known_sinks(self) -> list[str]:
        return sorted(m.decode() for m in cast(set[bytes], self.r.smembers(self._k("sinks"))))

    def retry_deliveries(
        self,
        sink: str,
        event_ids: Sequence[str],
        now: float,
        delays: Sequence[float],
        errors: Sequence[str] | None = None,
    ) -> None:
        if not event_ids:
            return
        errs = list(errors) if errors is not None else [""] * len(event_ids)
        args: list[Any] = [self.p, sink, now]
        for e, d, err in zip(event_ids, delays, errs, strict=True):
            args += [e, d, err]
        self._retry(args=args)

    def delivery_attempts(self, sink: str, event_ids: Sequence[str]) -> dict[str, int]:
        return {e: h.attempts for e, h in self.delivery_failures(sink, event_ids).items()}

    def delivery_failures(self, sink: str, event_ids: Sequence[str]) -> dict[str, FailureHistory]:
        if not event_ids:
            return {}
        pipe = self.r.pipeline(transaction=False)
        for e in event_ids:
            pipe.zscore(self._k("out", sink), e)
            pipe.hget(self._k("att", sink), e)
            pipe.hget(self._k("fail", sink), e)
        values = pipe.execute()
        out: dict[str, FailureHistory] = {}
        for n, e in enumerate(event_ids):
            score, attempts, fail = values[3 * n : 3 * n + 3]
            if score is None:
                continue
            first, error = None, None
            if fail is not None:
                f, _, err = fail.decode().partition("|")
                first, error = float(f), err or None
            out[e] = FailureHistory(int(attempts or 0), first, error)
        return out

    # -- dead letters ------------------------------------------------------------------
    def dead_letter(self, sink: str, failed: Sequence[tuple[str, str]], now: float) -> int:
        if not failed:
            return 0
        args: list[Any] = [self.p, sink, now]
        for event_id, reason in failed:
            args += [event_id, reason]
        return int(self._dead(args=args))

    def dead_letters(self, sink: str | None = None, limit: int = 100) -> list[DeadLetter]:
        sinks = [sink] if sink is not None else self._known_sinks()
        found: list[DeadLetter] = []
        for name in sinks:
            entries = cast(
                list[tuple[bytes, float]],
                self.r.zrange(self._k("dlq", name), 0, limit - 1, withscores=True),
            )
            if not entries:
                continue
            infos = cast(
                list[bytes | None],
                self.r.hmget(self._k("dlqi", name), [e for e, _ in entries]),
            )
            for (event_id, dead_at), info in zip(entries, infos, strict=True):
                attempts, first, error = (info or b"0||").decode().split("|", 2)
                found.append(
                    DeadLetter(
                        name,
                        event_id.decode(),
                        dead_at,
                        int(attempts),
                        float(first) if first else None,
                        error,
                    )
                )
        found.sort(key=lambda d: (d.dead_at, d.sink, d.event_id))
        return found[:limit]

    def dead_letter_counts(self) -> dict[str, int]:
        sinks = self._known_sinks()
        pipe = self.r.pipeline(transaction=False)
        for s in sinks:
            pipe.zcard(self._k("dlq", s))
        return {s: n for s, n in zip(sinks, pipe.execute(), strict=True) if n}

    def replay_dead_letters(
        self, sink: str | None, event_ids: Sequence[str] | None, now: float
    ) -> int:
        sinks = [sink] if sink is not None else self._known_sinks()
        moved = 0
        for name in sinks:
            if event_ids is not None and not event_ids:
                break
            moved += int(self._replay_dlq(args=[self.p, name, now, *(event_ids or ())]))
        return moved

    # -- history (replay) --------------------------------------------------------------
    def history_count(self, since: float, until: float) -> int:
        return int(self.r.zcount(self._k("hist"), since, until))

    def history_page(
        self, since: float, until: float, cursor: str | None, limit: int
    ) -> tuple[list[str], str | None]:
        # The cursor is "<score>|<members at that score already returned>": members of
        # equal score keep a fixed (lexical) order, and only older ones are ever pruned.
        start, skip = since, 0
        if cursor:
            at, _, n = cursor.partition("|")
            start, skip = float(at), int(n)
        entries = cast(
            list[tuple[bytes, float]],
            self.r.zrangebyscore(
                self._k("hist"), start, until, start=skip, num=limit, withscores=True
            ),
        )
        ids = [e.decode() for e, _ in entries]
        if len(entries) < limit:
            return ids, None
        last = entries[-1][1]
        same = sum(1 for _, score in entries if score == last)
        if last == start:
            same += skip
        return ids, f"{last!r}|{same}"

    def requeue(self, sink: str, event_ids: Sequence[str], now: float) -> int:
        if not event_ids:
            return 0
        return int(self._requeue(args=[self.p, sink, now, *event_ids]))

    def pending_counts(self) -> dict[str, int]:
        sinks = self._known_sinks()
        pipe = self.r.pipeline(transaction=False)
        for s in sinks:
            pipe.zcard(self._k("out", s))
        return {s: n for s, n in zip(sinks, pipe.execute(), strict=True) if n}

    # -- operations: heartbeats, delivery receipts and totals (stats, health, trace) ----
    def heartbeat(self, name: str, now: float) -> None:
        self.r.hset(self._k("hb"), name, repr(now))

    def heartbeats(self) -> dict[str, float]:
        raw = cast(dict[bytes, bytes], self.r.hgetall(self._k("hb")))
        return {k.decode(): float(v) for k, v in raw.items()}

    def _rcpt_key(self, event_id: str, day: int) -> str:
        return self._k("rcpt", str(day), event_id[:RCPT_SHARD])

    def record_deliveries(
        self,
        sink: str,
        event_ids: Sequence[str],
        samples: Sequence[LatencySample],
        now: float,
        *,
        duplicates: int = 0,
    ) -> None:
        if not event_ids:
            return
        # One script call for the counter, every receipt and every latency sample: a
        # pipeline of an HSET and an EXPIRE per shard cost about 5 ms of client CPU per 500
        # events, and one of three list commands per feed, next to the script, 1.2 % of a
        # cold pass's worker samples (and a SCRIPT EXISTS round trip before it).
        per_feed: dict[str, list[str]] = {}
        for sample in samples:
            per_feed.setdefault(sample.feed_id, []).append(
                f"{sample.published:.0f}:{sample.latency:.1f}"
            )
        args: list[Any] = [
            self.p,
            sink,
            f"{now:.3f}",
            int(now // DAY),
            self.receipt_ttl + DAY,
            RCPT_SHARD,
            max(0, len(event_ids) - duplicates),
            len(event_ids),
            *event_ids,
            MAX_SAMPLES,
            self.seen_ttl,
        ]
        for feed_id, values in per_feed.items():
            args += [self._k("lat", feed_id), len(values), *values]
        self._receipts(args=args)

    def delivery_totals(self) -> dict[str, DeliveryTotals]:
        sinks = self._known_sinks()
        pipe = self.r.pipeline(transaction=False)
        pipe.hgetall(self._k("delivered"))
        pipe.hgetall(self._k("delivered_at"))
        for s in sinks:
            pipe.zcard(self._k("out", s))
            pipe.hlen(self._k("att", s))
            pipe.zrange(self._k("out", s), 0, 0, withscores=True)
        results = pipe.execute()
        delivered = {k.decode(): int(v) for k, v in results[0].items()}
        last_at = {k.decode(): float(v) for k, v in results[1].items()}
        out: dict[str, DeliveryTotals] = {}
        for n, sink in enumerate(sinks):
            pending, retrying, first = results[2 + 3 * n : 5 + 3 * n]
            out[sink] = DeliveryTotals(
                delivered=delivered.get(sink, 0),
                pending=pending,
                retrying=retrying,
                oldest_due=first[0][1] if first else None,
                last_delivered_at=last_at.get(sink),
            )
        for sink in delivered.keys() - out.keys():
            out[sink] = DeliveryTotals(
                delivered=delivered[sink], last_delivered_at=last_at.get(sink)
            )
        for sink, n in self.dead_letter_counts().items():
            out[sink] = dataclasses.replace(out.get(sink, DeliveryTotals()), dead_lettered=n)
        return out

    def delivery_states(
        self, event_ids: Sequence[str], now: float
    ) -> dict[str, dict[str, DeliveryState]]:
        if not event_ids:
            return {}
        sinks = self._known_sinks()
        today = int(now // DAY)
        days = range(today - self.receipt_ttl // DAY - 1, today + 2)
        pipe = self.r.pipeline(transaction=False)
        for e in event_ids:
            for s in sinks:
                pipe.zscore(self._k("out", s), e)
                pipe.hget(self._k("att", s), e)
            for day in days:
                pipe.hmget(self._rcpt_key(e, day), [f"{e}|{s}" for s in sinks])
        results = iter(pipe.execute()) if sinks else iter(())
        out: dict[str, dict[str, DeliveryState]] = {}
        for e in event_ids:
            found: dict[str, DeliveryState] = {}
            queued: dict[str, DeliveryState] = {}
            for s in sinks:
                score, attempts = next(results), next(results)
                if score is not None:
                    n = int(attempts or 0)
                    queued[s] = DeliveryState("retrying" if n else "pending", float(score), n)
            for _ in days:
                for s, at in zip(sinks, next(results), strict=True):
                    if at is not None:
                        found[s] = DeliveryState("delivered", float(at))
            found.update(queued)  # redelivered after a replay: the outbox is the truth
            if found:
                out[e] = found
        self._add_dead_letters(out, event_ids, sinks)
        return out

    def _add_dead_letters(
        self,
        out: dict[str, dict[str, DeliveryState]],
        event_ids: Sequence[str],
        sinks: Sequence[str],
    ) -> None:
        """Mark the (event, sink) pairs on a dead-letter list in ``out``."""
        if not sinks:
            return
        pipe = self.r.pipeline(transaction=False)
        for e in event_ids:
            for s in sinks:
                pipe.zscore(self._k("dlq", s), e)
        dead = iter(pipe.execute())
        for e in event_ids:
            for s in sinks:
                at = next(dead)
                if at is not None:
                    out.setdefault(e, {})[s] = DeliveryState("dead_lettered", float(at))

    def latency_samples(self, feed_ids: Sequence[str]) -> dict[str, list[tuple[float, float]]]:
        pipe = self.r.pipeline(transaction=False)
        for f in feed_ids:
            pipe.lrange(self._k("lat", f), 0, -1)
        out: dict[str, list[tuple[float, float]]] = {}
        for f, values in zip(feed_ids, pipe.execute(), strict=True):
            if values:
                pairs = (v.decode().partition(":") for v in values)
                out[f] = [(float(p), float(lat)) for p, _, lat in pairs]
        return out

    def feed_backlog(self, now: float) -> FeedBacklog:
        pipe = self.r.pipeline(transaction=False)
        pipe.zcount(self._k("due"), "-inf", now)
        pipe.zrange(self._k("due"), 0, 0, withscores=True)
        due, first = pipe.execute()
        return FeedBacklog(due=int(due), oldest_due=first[0][1] if first else None)

    # -- task guard --------------------------------------------------------------------
    def task_started(self, task_id: str) -> int:
        key = self._k("task", task_id)
        pipe = self.r.pipeline()
        pipe.incr(key)
        pipe.expire(key, 86400)
        return int(pipe.execute()[0])

    def task_finished(self, task_id: str) -> None:
        self.r.delete(self._k("task", task_id))

    # -- housekeeping ------------------------------------------------------------------
    def prune(self, now: float) -> int:
        # Redis expires seen records, aliases, the index and event bodies by itself; the
        # history index is ours.
        return int(self.r.zremrangebyscore(self._k("hist"), "-inf", now - self.event_ttl))
