"""neardup's own MinHash path: bit for bit what datasketch's ``MinHash.update_batch`` gives.

``fingerprint`` hashes and permutes shingles itself (faster than datasketch) but must keep
every signature and bucket key a store holds. The reference here is the pipeline written
against datasketch, computed with datasketch directly: the deduplicated word 3-grams,
one ``update_batch`` with all of them, then the low 16 bits and the blake2b band keys.
Scheme 2 (what ``fingerprint`` makes) gives datasketch a ``hashfunc`` that combines the
words' CRC-32s; scheme 1 (the records written before it, compared by ``similarity_to``)
is datasketch's default SHA-1.
"""

from __future__ import annotations

import hashlib
import zlib

import numpy as np
import pytest
from datasketch import MinHash
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.core import neardup
from worker.core.models import SeenRecord
from worker.core.neardup import body_words, fingerprint

# Written out rather than imported: a changed seed, shape or constant must fail here.
SEED = 20261125
NUM_PERM = 128
BANDS, ROWS = 16, 3
K1, K2, K3 = 0x9E3779B1, 0x85EBCA77, 0xC2B2AE3D


def crc_combined(shingle: bytes) -> int:
    """Scheme 2's hash of one shingle, in plain integers: missing words hash to 0."""
    words = [zlib.crc32(w) for w in shingle.split(b" ")] + [0, 0]
    return (K1 * words[0] + K2 * words[1] + K3 * words[2]) & 0xFFFFFFFF


def reference(text: str | None, scheme: int = 2) -> tuple[bytes, tuple[str, ...], int]:
    """Signature, bands and word count as datasketch computes them."""
    words = body_words(text)
    if len(words) < 3:
        shingles = [" ".join(words).encode()] if words else []
    else:
        shingles = list(
            dict.fromkeys(" ".join(words[i : i + 3]).encode() for i in range(len(words) - 2))
        )
    hashfunc = {"hashfunc": crc_combined} if scheme == 2 else {}
    m = MinHash(num_perm=NUM_PERM, seed=SEED, scheme="affine32", **hashfunc)
    m.update_batch(shingles)
    hashes = m.hashvalues.astype(np.uint32)
    signature = (hashes & 0xFFFF).astype("<u2").tobytes()
    bands = tuple(
        f"{band:02x}"
        + hashlib.blake2b(
            hashes[band * ROWS : (band + 1) * ROWS].astype("<u4").tobytes(), digest_size=8
        ).hexdigest()
        for band in range(BANDS)
    )
    return signature, bands, len(words)


def assert_same(text: str | None) -> None:
    fp = fingerprint("a title", text)
    signature, bands, words = reference(text)
    assert fp.words == words
    assert fp.signature == signature
    assert fp.bands == bands
    # The scheme 1 signature ``similarity_to`` computes for an older record.
    legacy = neardup._signature(neardup._minhash(neardup._sha1_hashes(fp.text_words)))
    assert legacy == reference(text, scheme=1)[0]


FIXED = [
    None,
    "",
    "   \n\n  ",
    "one",
    "one two",
    "one two three",
    "one two three four",
    "the the the the the the the the",
    "Überraschung! Ça coûte 3 € — 東京で 会議 が ありました. Ελληνικά κείμενα εδώ.",
    "Paragraph one has words.\n\nAdvertisement\n\nParagraph two at 5:30 pm today.",
    # More than MAX_WORDS words, and more than _BATCH shingles after the cut.
    " ".join(f"w{i}" for i in range(neardup.MAX_WORDS + 700)),
    # MAX_WORDS repeats of a few words: thousands of shingles, three distinct.
    "red green blue " * 2_000,
]


@pytest.mark.parametrize("text", FIXED, ids=range(len(FIXED)))
def test_fixed_texts_match_datasketch(text: str | None) -> None:
    assert_same(text)


VOCABULARY = ["a", "b", "c", "news", "Straße", "ΣΊΣΥΦΟΣ", "日本", "x1", "ﬁ"]


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=300))
def test_unicode_texts_match_datasketch(text: str) -> None:
    assert_same(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(VOCABULARY), max_size=60), st.sampled_from([" ", "\n", ", "]))
def test_repetitive_texts_match_datasketch(words: list[str], sep: str) -> None:
    assert_same(sep.join(words))


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=20),
    st.integers(min_value=neardup.MAX_WORDS - 10, max_value=neardup.MAX_WORDS + 3_000),
)
def test_long_texts_match_datasketch(head: list[str], n: int) -> None:
    """Around and past the MAX_WORDS cut, so over _BATCH shingles: two batches."""
    assert_same(" ".join(head + [f"t{i}" for i in range(n)]))


TEXT = (
    "Engineers reopened the main rail line between Harrowgate and Fenwick five days "
    "after a landslide buried the tracks near the Quill viaduct. The operator said "
    "freight would resume over the weekend once inspectors had checked the drainage "
    "along the cutting."
)


def test_known_answer() -> None:
    """Pinned values, so that datasketch's own arithmetic changing (an upgrade) fails
    here as well: every stored bucket key depends on it."""
    fp = fingerprint("t", TEXT)
    assert fp.words == 40
    assert hashlib.sha256(fp.signature).hexdigest()[:16] == "0509be342cf7acbc"
    assert (fp.bands[0], fp.bands[15]) == ("00fe27ad507603695b", "0f7fb5ee67767a9b44")
    empty = fingerprint(None, None)
    assert empty.signature == b"\xff" * (2 * NUM_PERM)
    assert empty.bands[0] == "00be24357f6f17f993"


def test_known_answer_of_scheme_1() -> None:
    """The values scheme 1 gave this text when it was the only scheme: records written
    then hold them, and ``similarity_to`` must still reproduce them."""
    words = body_words(TEXT)
    legacy = neardup._minhash(neardup._sha1_hashes(words))
    assert hashlib.sha256(neardup._signature(legacy)).hexdigest()[:16] == "2e0412ac12db339d"
    assert (neardup._bands(legacy)[0], neardup._bands(legacy)[15]) == (
        "00f12770b1545b8143",
        "0f3780a6271a51882b",
    )


def test_a_record_of_either_scheme_is_compared_with_the_same_text() -> None:
    """An edit of a text, against the original stored under scheme 1 and under scheme 2:
    the same estimate up to the sketch's noise, and a scheme 1 signature compared as if
    it were scheme 2 would look like an unrelated text."""
    edited = TEXT.replace("over the weekend", "on Monday")
    new, old = fingerprint("t", edited), fingerprint("t", TEXT)
    legacy = neardup._signature(neardup._minhash(neardup._sha1_hashes(old.text_words)))
    as_2 = neardup.similarity_to(new, SeenRecord("a", 1, "h", signature=old.signature))
    as_1 = neardup.similarity_to(new, SeenRecord("a", 1, "h", signature=legacy, signature_scheme=1))
    assert as_1 is not None and as_2 is not None
    assert 0.6 < as_2 < 0.95 and 0.6 < as_1 < 0.95
    assert abs(as_1 - as_2) < 0.15
    assert neardup.similarity(new.signature, legacy) < 0.1
    unknown = SeenRecord("a", 1, "h", signature=old.signature, signature_scheme=9)
    assert neardup.similarity_to(new, unknown) is None


def test_word_hashes_remembered_stay_bounded_and_right(monkeypatch):
    """The remembered word CRCs are emptied when full, and a signature is the same
    whether its words were remembered, computed, or the memory emptied halfway."""
    monkeypatch.setattr(neardup, "_WORD_CRCS", 5)
    monkeypatch.setattr(neardup, "_word_crcs", neardup._WordCrcs())
    text = "the quick brown fox jumps over the lazy dog while eleven other foxes watch it"
    for _ in range(2):  # computed, then partly remembered
        assert_same(text)
        assert len(neardup._word_crcs) <= 5
    assert neardup._word_crcs["fox"] == zlib.crc32(b"fox")
