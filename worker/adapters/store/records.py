"""How the stores write their records: a ``SeenRecord``'s fingerprint (both stores) and
a ``FeedState`` (Redis).

A SeenRecord's fingerprint is one compact msgpack array.

Redis keeps ``<revision>:<content_hash>:<fingerprint>`` in one string (the commit script
reads the revision off the front); SQLite keeps the fingerprint in a BLOB column. A record
written before fingerprints existed has none and reads back with the defaults.

The third item holds a scheme 1 signature only (SHA-1 shingle hashes, what releases
before 2026-12-07 read and write). A signature of another scheme goes in an eighth item,
its scheme in a ninth, and the third is left empty: a release that knows only scheme 1
then reads "no signature" (every edit of the body counts as an update, as for a record
older than fingerprints) instead of comparing signatures of two schemes, which look
unrelated and would make an edited article look like a new one behind a reused GUID.
"""

from __future__ import annotations

import json
import math

import msgpack
import orjson

from worker.core.models import FeedState, SeenRecord


def pack_fingerprint(r: SeenRecord) -> bytes:
    scheme_1 = r.signature_scheme == 1
    fields = [
        r.feed_key,
        r.title_key,
        r.signature if scheme_1 else b"",
        r.cluster_id,
        r.duplicate_of,
        r.window_start,
        r.window_updates,
    ]
    if not scheme_1:
        fields += [r.signature, r.signature_scheme]
    packed: bytes = msgpack.packb(fields, use_bin_type=True)
    return packed


def unpack_fingerprint(article_id: str, revision: int, chash: str, blob: bytes) -> SeenRecord:
    if not blob:
        return SeenRecord(article_id, revision, chash)
    f = msgpack.unpackb(blob, raw=False)
    return SeenRecord(
        article_id,
        revision,
        chash,
        feed_key=f[0],
        title_key=f[1],
        signature=f[7] if len(f) > 8 else f[2],
        cluster_id=f[3],
        duplicate_of=f[4],
        window_start=float(f[5]),
        window_updates=int(f[6]),
        signature_scheme=int(f[8]) if len(f) > 8 else 1,
    )


def redis_value(r: SeenRecord) -> bytes:
    return f"{r.revision}:{r.content_hash}:".encode() + pack_fingerprint(r)


def from_redis_value(article_id: str, value: bytes) -> SeenRecord:
    revision, _, rest = value.partition(b":")
    chash, _, blob = rest.partition(b":")
    return unpack_fingerprint(article_id, int(revision), chash.decode(), blob)


# -- feed states ---------------------------------------------------------------------------
# A state is JSON, read and written for every poll. orjson takes a tenth of the json
# module's time for a state with its full history (4 KB: 5 us against 46 to write, 10
# against 36 to read); the json module stays for what orjson cannot write as it was: an
# infinite float (orjson writes null; a retired feed's next_poll_at is infinite) and a lone
# surrogate (a JSON Feed may escape one into a title). Either reads the other's output.


def state_json(state: FeedState) -> bytes:
    d = state.to_stored()
    if _finite(state):
        try:
            return orjson.dumps(d)
        except TypeError:  # a lone surrogate
            pass
    return json.dumps(d).encode()


def state_from_json(raw: bytes | str) -> FeedState:
    try:
        d = orjson.loads(raw)
    except orjson.JSONDecodeError:  # Infinity, or an escaped lone surrogate
        d = json.loads(raw)
    return FeedState.from_dict(d)


def _finite(s: FeedState) -> bool:
    """Whether every float of the state is finite: their sum is (a sum that overflows
    says no, and the state goes through the json module, as it may)."""
    h = s.hints
    total = (
        s.next_poll_at
        + (s.last_polled_at or 0.0)
        + (s.tracked_since or 0.0)
        + (s.cache_lifetime or 0.0)
        + (h.ttl or 0.0)
        + (h.update_interval or 0.0)
        + sum(s.published)
        + sum(p.at + p.duration_ms + (p.next_in or 0.0) for p in s.polls)
    )
    return math.isfinite(total)
