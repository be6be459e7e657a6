"""The stored form of a seen record's fingerprint, as both stores write it: each
signature scheme where the releases that read it look for it."""

from __future__ import annotations

import msgpack

from worker.adapters.store.records import pack_fingerprint, unpack_fingerprint
from worker.core.models import SIGNATURE_SCHEME, SeenRecord


def record(scheme: int) -> SeenRecord:
    return SeenRecord(
        "a1",
        3,
        "h3",
        feed_key="f00",
        title_key="t00",
        signature=bytes(range(256)),
        cluster_id="c1",
        duplicate_of=None,
        window_start=12.5,
        window_updates=2,
        signature_scheme=scheme,
    )


def test_both_schemes_read_back_as_written() -> None:
    for scheme in (1, SIGNATURE_SCHEME):
        r = record(scheme)
        assert unpack_fingerprint("a1", 3, "h3", pack_fingerprint(r)) == r


def test_a_scheme_1_record_is_stored_as_releases_before_schemes_wrote_it() -> None:
    """Seven items, the signature third: what every release reads."""
    stored = msgpack.unpackb(pack_fingerprint(record(1)))
    assert stored == ["f00", "t00", bytes(range(256)), "c1", None, 12.5, 2]


def test_a_scheme_2_signature_is_out_of_the_slot_older_releases_compare() -> None:
    """A release that knows only scheme 1 reads the third item: empty, so it sees a
    record without a signature rather than an unrelated one."""
    stored = msgpack.unpackb(pack_fingerprint(record(2)))
    assert stored[2] == b""
    assert stored[7:] == [bytes(range(256)), 2]
    assert stored[:2] + stored[3:7] == ["f00", "t00", "c1", None, 12.5, 2]
