"""neardup's own MinHash path: bit for bit what datasketch's ``MinHash.update_batch`` gives.

``fingerprint`` hashes and permutes shingles itself (faster than datasketch) but must keep
every signature and bucket key an existing store holds. The reference here is the
pipeline as it was written against datasketch, computed with datasketch directly: the
deduplicated word 3-grams, one ``update_batch`` with all of them, then the low 16 bits and
the blake2b band keys.
"""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from datasketch import MinHash
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.core import neardup
from worker.core.neardup import body_words, fingerprint

# Written out rather than imported: a changed seed or shape must fail here, not follow.
SEED = 20261125
NUM_PERM = 128
BANDS, ROWS = 16, 3


def reference(text: str | None) -> tuple[bytes, tuple[str, ...], int]:
    """Signature, bands and word count as datasketch computes them."""
    words = body_words(text)
    if len(words) < 3:
        shingles = [" ".join(words).encode()] if words else []
    else:
        shingles = list(
            dict.fromkeys(" ".join(words[i : i + 3]).encode() for i in range(len(words) - 2))
        )
    m = MinHash(num_perm=NUM_PERM, seed=SEED, scheme="affine32")
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


def test_known_answer() -> None:
    """Pinned values, so that datasketch's own arithmetic changing (an upgrade) fails
    here as well: every stored bucket key depends on it."""
    text = (
        "Engineers reopened the main rail line between Harrowgate and Fenwick five days "
        "after a landslide buried the tracks near the Quill viaduct. The operator said "
        "freight would resume over the weekend once inspectors had checked the drainage "
        "along the cutting."
    )
    fp = fingerprint("t", text)
    assert fp.words == 40
    assert hashlib.sha256(fp.signature).hexdigest()[:16] == "2e0412ac12db339d"
    assert (fp.bands[0], fp.bands[15]) == ("00f12770b1545b8143", "0f3780a6271a51882b")
    empty = fingerprint(None, None)
    assert empty.signature == b"\xff" * (2 * NUM_PERM)
    assert empty.bands[0] == "00be24357f6f17f993"
