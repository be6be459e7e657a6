"""Fingerprints of article bodies: how alike two texts are, and which earlier story a new
one copies.

A fingerprint is a MinHash signature (datasketch, ``affine32`` scheme) of the body's word
3-gram shingles, after the churn that does not change what a reader reads has been taken
out: case, punctuation, times and dates, "updated 5 minutes ago" and ad labels. Only the
low 16 bits of each of the 128 minimum hashes are kept (b-bit minwise hashing, Li and
König 2010), 256 bytes an article; ``similarity`` estimates the Jaccard similarity of two
shingle sets from them.

A shingle's 32-bit hash (the value the permutations act on) is of ``SIGNATURE_SCHEME``
2: each word's CRC-32, combined per shingle as ``K1*w1 + K2*w2 + K3*w3`` (mod 2**32).
Scheme 1, the first four bytes of the shingle's SHA-1 (datasketch's default), cost twice
as much per article and is kept for the records it made: ``similarity_to`` compares a
text with a record of either scheme (decision 0018).

The near-duplicate index is banded LSH over the full 32-bit values: ``BANDS`` bands of
``ROWS`` hashes each, every band one bucket key. Two texts of Jaccard similarity ``s``
share at least one bucket with probability ``1 - (1 - s**ROWS)**BANDS``; candidates from
the buckets are then checked against ``duplicate_similarity`` with their signatures.
Changing these constants changes every bucket key: an index built with others is useless.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import re
import sys
import types
import unicodedata
import zlib
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from datasketch import MinHash

from worker.core.models import SIGNATURE_SCHEME, SeenRecord

NUM_PERM = 128
SEED = 20261125
# Scheme 2's multipliers: odd, so that each word's hash reaches all 32 bits; different,
# so that "a b c" and "c b a" are different shingles.
_K1, _K2, _K3 = np.uint32(0x9E3779B1), np.uint32(0x85EBCA77), np.uint32(0xC2B2AE3D)
BANDS = 16
ROWS = 3
SHINGLE = 3
# A body longer than this is fingerprinted on its first MAX_WORDS words (a long feature
# has about 5,000), so a hostile feed's megabyte of text costs bounded time: about 40 ms.
MAX_WORDS = 5_000
_LOW_BITS = 0xFFFF
_COLLIDE = 1.0 / 65536.0  # chance that two different minimum hashes agree on 16 bits
_BATCH = 4_096
_MAX_HASH32 = np.uint32(0xFFFFFFFF)  # datasketch's initial affine32 value

_WORD = re.compile(r"\w+", re.UNICODE)
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|"
    r"sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_WEEKDAY = r"(?:mon|tues?|wed(?:nes)?|thu(?:rs)?|fri|sat(?:ur)?|sun)(?:day)?\.?,?"
# Times, dates and relative times: the commonest churn inside otherwise unchanged text.
_CHURN = re.compile(
    "|".join(
        [
            r"\b\d{1,2}[:.]\d{2}(?:[:.]\d{2})?\s*(?:[ap]\.?m\.?)?"
            r"(?:\s*(?:gmt|utc|bst|cet|cest|est|edt|cst|cdt|pst|pdt|[+-]\d{2}:?\d{2}))?",
            r"\b\d{1,2}\s*[ap]\.?m\.?(?=\W|$)",
            r"\b\d{4}-\d{2}-\d{2}(?:[t ]\d{2}:\d{2}(?::\d{2})?(?:\.\d+)?(?:z|[+-]\d{2}:?\d{2})?)?",
            rf"\b{_WEEKDAY}\s*(?=\d|{_MONTH})",
            rf"\b\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH}(?:,?\s+\d{{4}})?",
            rf"\b{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?",
            r"\b(?:\d+|an?|one)\s+(?:second|sec|minute|min|hour|hr|day|week)s?\s+ago\b",
            r"\b(?:just now|moments ago|yesterday|today)\b",
        ]
    ),
    re.IGNORECASE,
)
# Every churn pattern needs a digit or "ago", "now" or "day" (relative times, and the full
# weekday names before a month): a paragraph with none of them is not run through the big
# alternation, which is most of body_words' time. One form passes the screen unchanged:
# an abbreviated weekday right before a month with no number anywhere ("tue, jan"). It
# is rare, and every stored fingerprint and content key was made with this screen, so
# it stays as it is (tests/unit/test_neardup.py).
_DIGIT = re.compile(r"\d")


def _may_churn(folded: str) -> bool:
    # "yesterday" and "today" hold "day"; three tests written out cost 1.6 us a paragraph
    # of 167 characters, a loop over the five words 2.3 us.
    if "ago" in folded or "now" in folded or "day" in folded:
        return True
    if folded.isascii():
        # \d finds only these in ASCII text, and ten substring tests at C speed cost a
        # twentieth of its scan of a body with no digit (0.33 against 7.8 us for 800
        # characters; that scan was half of body_words' time for such a body).
        return (
            "0" in folded
            or "1" in folded
            or "2" in folded
            or "3" in folded
            or "4" in folded
            or "5" in folded
            or "6" in folded
            or "7" in folded
            or "8" in folded
            or "9" in folded
        )
    return _DIGIT.search(folded) is not None


# A short paragraph that is only an ad label, a "last updated" stamp or a reading prompt.
_NOISE_PARAGRAPH = re.compile(
    r"^\W*(?:advertisement|advertising|sponsored(?: content| by\b.*)?|promoted(?: content)?|"
    r"paid (?:post|content)|ad|ads|story continues below(?: advertisement)?|"
    r"continue reading.*|read more.*|(?:last )?updated\b.*|published\b.*|posted\b.*)\W*$",
    re.IGNORECASE,
)
_NOISE_MAX_WORDS = 12
# A paragraph longer than this has more than _NOISE_MAX_WORDS words anyway.
_NOISE_MAX_CHARS = 400


@dataclass(frozen=True, slots=True)
class Fingerprint:
    """What the store keeps of a text to compare later texts with it."""

    title_key: str
    signature: bytes
    bands: tuple[str, ...]
    words: int
    # The words the signature was made of: a record of another scheme is compared with
    # this text by hashing them that scheme's way (``similarity_to``).
    text_words: tuple[str, ...] = field(default=(), compare=False, repr=False)


def fingerprint(
    title: str | None,
    text: str | None,
    *,
    words: tuple[str, ...] | None = None,
    title_hash: str | None = None,
) -> Fingerprint:
    """The fingerprint of an article's title and body text. ``words`` (``text_words``)
    and ``title_hash`` (``title_key``), when the caller has them, save reading the text
    again."""
    if words is None:
        words = _words(text) if text else ()
    hashes = _minhash(_shingle_hashes(words))
    return Fingerprint(
        title_key=title_key(title) if title_hash is None else title_hash,
        signature=_signature(hashes),
        bands=_bands(hashes),
        words=len(words),
        text_words=words,
    )


def _signature(hashes: np.ndarray) -> bytes:
    return (hashes & _LOW_BITS).astype("<u2").tobytes()


# The words of the last few bodies are kept for callers that read a body twice (content
# id, then fingerprint) without carrying its words between the two; the parse stage
# carries them (``identity.Entry.words``): a round's few hundred bodies sit between its
# two reads.
_RECENT_BODIES = 32
_RECENT_TITLES = 256


@lru_cache(maxsize=_RECENT_TITLES)
def title_key(title: str | None) -> str:
    """A short hash of the title as a reader reads it: case, punctuation, spacing and
    times do not count."""
    folded = _fold(title or "")
    # An exact screen (unlike the body's, below): what _CHURN can match needs a digit,
    # "ago", "now", "day" or the start of a weekday's name (10 -> 4.8 us a farm title).
    if _may_churn(folded) or any(w in folded for w in _WEEKDAY_STARTS):
        folded = _CHURN.sub(" ", folded)
    words = _WORD.findall(folded)
    return hashlib.blake2b(" ".join(words).encode(), digest_size=6).hexdigest()


# How _CHURN's weekdays start, as its case-blind matching finds them in folded text:
# casefolding and NFKC leave one letter it takes for another, the dotless i. (A
# case-blind regex for these was 4.4 us a title.)
_WEEKDAY_STARTS = ("mon", "tue", "wed", "thu", "fri", "fr\u0131", "sat", "sun")


def text_words(text: str | None) -> tuple[str, ...]:
    """``body_words`` as a tuple, which ``fingerprint`` takes as it is."""
    return _words(text) if text else ()


def body_words(text: str | None) -> list[str]:
    """The words of a body that count: noise paragraphs dropped, times and dates removed,
    case folded; at most ``MAX_WORDS``."""
    return list(_words(text)) if text else []


@lru_cache(maxsize=_RECENT_BODIES)
def _words(text: str) -> tuple[str, ...]:
    """``body_words``, remembered for the last few bodies (a tuple: it is shared)."""
    folded = _fold(text)
    # A paragraph holds what the whole text holds: where the text cannot churn, no
    # paragraph is screened (with the ASCII route below, 45 -> 28 us a farm body).
    churns = _may_churn(folded)
    kept = []
    for paragraph in folded.split("\n"):
        stripped = paragraph.strip()
        if not stripped:
            continue
        if (
            len(stripped) <= _NOISE_MAX_CHARS
            and _NOISE_PARAGRAPH.match(stripped)  # fails at once on most paragraphs
            and len(stripped.split()) <= _NOISE_MAX_WORDS
        ):
            continue
        kept.append(_CHURN.sub(" ", stripped) if churns and _may_churn(stripped) else stripped)
    joined = "\n".join(kept)
    if joined.isascii():
        # the same words as \w+ finds in ASCII text, in a third of its time
        return tuple(joined.translate(_ASCII_NON_WORD).split()[:MAX_WORDS])
    return tuple(_WORD.findall(joined)[:MAX_WORDS])


# Every ASCII character \w does not match, as a space.
_ASCII_NON_WORD = str.maketrans(
    {c: " " for c in range(128) if not (chr(c).isalnum() or chr(c) == "_")}
)


def similarity(a: bytes, b: bytes) -> float | None:
    """Estimated Jaccard similarity of the two texts behind two signatures, in [0, 1];
    None when either has no signature (a record older than fingerprints)."""
    if not a or len(a) != len(b):
        return None
    x = np.frombuffer(a, dtype="<u2")
    y = np.frombuffer(b, dtype="<u2")
    return _estimate(float(np.count_nonzero(x == y)) / x.size)


def _estimate(agreeing: float) -> float:
    """Jaccard similarity from the share of 16-bit minimum hashes two signatures agree
    on, less the share that agrees by chance."""
    return min(1.0, max(0.0, (agreeing - _COLLIDE) / (1.0 - _COLLIDE)))


def similarity_to(fp: Fingerprint, record: SeenRecord) -> float | None:
    """``similarity`` of the text behind ``fp`` and the one behind a stored record,
    whichever scheme made the record's signature; None when it has none (or a scheme
    this code does not know).

    A scheme 1 record (written before scheme 2) is compared with the text's scheme 1
    signature, computed here: signatures of two schemes have nothing in common.
    """
    if record.signature_scheme == SIGNATURE_SCHEME:
        return similarity(fp.signature, record.signature)
    if record.signature_scheme == 1 and record.signature:
        return similarity(_scheme_1_signature(fp.text_words), record.signature)
    return None


@lru_cache(maxsize=_RECENT_BODIES)
def _scheme_1_signature(words: tuple[str, ...]) -> bytes:
    """A text's scheme 1 signature, kept for the last few texts: an edit is compared with
    its scheme 1 record twice (identity, then revisions)."""
    return _signature(_minhash(_sha1_hashes(words)))


@dataclass(frozen=True, slots=True)
class Cluster:
    """Where a new article belongs: ``duplicate_of`` is the first article of its story."""

    cluster_id: str | None
    duplicate_of: str | None
    similarity: float | None = None

    @property
    def original(self) -> bool:
        return self.cluster_id is not None and self.duplicate_of is None


def assign_cluster(
    article_id: str,
    fp: Fingerprint,
    candidates: Mapping[str, SeenRecord] | Iterable[SeenRecord],
    *,
    threshold: float,
    min_words: int,
) -> Cluster:
    """The cluster of a new article, given the records the index offered as candidates.

    A body shorter than ``min_words`` words is in no cluster. Otherwise the most similar
    candidate at or above ``threshold`` makes the article a copy of that candidate's
    story (its first article); with none, the article starts a story of its own.
    """
    if fp.words < min_words:
        return Cluster(None, None)
    records = candidates.values() if isinstance(candidates, Mapping) else candidates
    best: tuple[float, str] | None = None
    for record, sim in _similarities(fp, [r for r in records if r.article_id != article_id]):
        if sim is None or sim < threshold:
            continue
        first = record.cluster_id or record.article_id
        if best is None or sim > best[0] or (sim == best[0] and first < best[1]):
            best = (sim, first)
    if best is None:
        return Cluster(article_id, None)
    return Cluster(best[1], best[1], best[0])


# From this many records of the scheme on, one NumPy comparison is cheaper than a call
# each (11 us for any number up to 10; 4.3 us for one record, 7.3 for three, 21.7 for ten).
_TOGETHER = 3


def _similarities(
    fp: Fingerprint, records: list[SeenRecord]
) -> Iterator[tuple[SeenRecord, float | None]]:
    """``similarity_to(fp, record)`` for each record: those of this scheme compared in one
    NumPy operation (a call per record, about ten a new article, was 3 % of a cold pass's
    worker samples), the others one by one; the same floats ``similarity`` gives."""
    size = len(fp.signature)
    same: list[SeenRecord] = []
    other: list[SeenRecord] = []
    for r in records:
        ok = size and r.signature_scheme == SIGNATURE_SCHEME and len(r.signature) == size
        (same if ok else other).append(r)
    if len(same) < _TOGETHER:
        same, other = [], records
    if same:
        mine = np.frombuffer(fp.signature, dtype="<u2")
        theirs = np.frombuffer(b"".join([r.signature for r in same]), dtype="<u2")
        agree = (theirs.reshape(len(same), mine.size) == mine).sum(axis=1).tolist()
        n = mine.size
        for record, count in zip(same, agree, strict=True):
            yield record, _estimate(count / n)
    for record in other:
        yield record, similarity_to(fp, record)


def _fold(value: str) -> str:
    return unicodedata.normalize("NFKC", value).casefold()


def _shingle_hashes(words: Sequence[str]) -> np.ndarray:
    """Scheme 2: the hash of each word 3-gram of ``words`` (uint32), from the words'
    CRC-32s; a text of one or two words is one shingle (the missing words hash to 0).

    Each word is hashed once, not three times inside three shingles' bytes, and the
    shingles are combined in NumPy: 33 against 78 us for a farm body of 119 words, 65
    against 163 us for a real one of 281 (decision 0018). CRC-32 is no cryptographic
    hash, and need not be: what MinHash needs is that different shingles get different
    values, and ``_fmix32`` then mixes every bit before the permutations.
    """
    if not words:
        return np.empty(0, dtype=np.uint32)
    w = np.fromiter(map(_word_crcs.__getitem__, words), dtype=np.uint32, count=len(words))
    if len(w) < SHINGLE:
        w = np.concatenate([w, np.zeros(SHINGLE - len(w), dtype=np.uint32)])
    combined: np.ndarray = w[:-2] * _K1 + w[1:-1] * _K2 + w[2:] * _K3
    return combined


class _WordCrcs(dict[str, int]):
    """Each word's CRC-32 (of its UTF-8), remembered: a news body's words are mostly the
    language's common ones, and a dict lookup is a third of encoding a word and hashing
    it (466 words: 37 -> 16 us). Emptied when it holds ``_WORD_CRCS`` words (about 4 MB)."""

    def __missing__(self, word: str) -> int:
        if len(self) >= _WORD_CRCS:
            self.clear()
        value = self[word] = zlib.crc32(word.encode())
        return value


_WORD_CRCS = 32_768
_word_crcs = _WordCrcs()


def _sha1_hashes(words: Sequence[str]) -> np.ndarray:
    """Scheme 1: the first four bytes (little-endian) of each shingle's SHA-1, as
    datasketch's default ``sha1_hash32``; one buffer of digests, read in NumPy."""
    sha1 = hashlib.sha1
    digests = b"".join([sha1(s).digest() for s in _shingles(words)])
    # A digest is five '<u4' words; the first is datasketch's sha1_hash32.
    return np.frombuffer(digests, dtype="<u4")[::5].astype(np.uint32)


def _shingles(words: Sequence[str]) -> list[bytes]:
    """The word 3-grams of ``words``, UTF-8; a text of one or two words is one shingle.

    Repeats are kept: a minimum over a multiset is the minimum over its set, and hashing
    the rare repeat costs less than finding it (0.05% of the farm's shingles).
    """
    if not words:
        return []
    if len(words) < SHINGLE:
        return [" ".join(words).encode()]
    triples = zip(words, words[1:], words[2:], strict=False)
    return [f"{x} {y} {z}".encode() for x, y, z in triples]


@cache
def _permutations() -> tuple[np.ndarray, np.ndarray]:
    """The ``affine32`` permutations ``(a, b)`` for ``SEED``, as columns (shape
    ``(NUM_PERM, 1)``, uint32).

    They come from datasketch's own ``MinHash`` so that the seed-to-permutation mapping
    stays datasketch's. As columns, ``a * hv`` is a ``NUM_PERM`` by shingles product whose
    rows are contiguous: at 4,096 shingles NumPy computes it about six times faster than
    datasketch's shingles by ``NUM_PERM`` layout.
    """
    a, b = _minhash_class()(num_perm=NUM_PERM, seed=SEED, scheme="affine32").permutations
    return a.astype(np.uint32)[:, None], b.astype(np.uint32)[:, None]


def _minhash_class() -> type[MinHash]:
    """datasketch's ``MinHash``, loaded on first use and without the rest of datasketch.

    ``import datasketch`` runs the package's ``__init__``, which imports every sketch and
    index it ships; its LSH module imports SciPy for one integral we never compute. That
    costs each parse worker about 40 MB resident (121 MB against 79 MB after a first
    fingerprint, ``ru_maxrss``) and 0.4 s. ``datasketch.minhash`` itself needs only NumPy,
    so it is imported under a bare package entry that does not run ``__init__``; the
    entry is then removed, so a later ``import datasketch`` anywhere still gets the whole
    package (reusing the ``datasketch.minhash`` module loaded here).
    """
    loaded = sys.modules.get("datasketch.minhash")
    if loaded is None:
        spec = importlib.util.find_spec("datasketch")
        if spec is None or spec.submodule_search_locations is None:
            raise ImportError("datasketch is not installed")
        bare = "datasketch" not in sys.modules
        if bare:
            package = types.ModuleType("datasketch")
            package.__path__ = list(spec.submodule_search_locations)
            package.__spec__ = spec
            sys.modules["datasketch"] = package
        try:
            loaded = importlib.import_module("datasketch.minhash")
        finally:
            if bare:
                del sys.modules["datasketch"]
    cls: type[MinHash] = loaded.MinHash
    return cls


def _minhash(shingle_hashes: np.ndarray) -> np.ndarray:
    """The ``NUM_PERM`` minimum hashes (uint32) of the shingles' hashes, bit for bit
    those of datasketch's ``MinHash(scheme="affine32").update_batch`` with a ``hashfunc``
    that gives those hashes.

    Its arithmetic, all uint32 and wrapping: the MurmurHash3 32-bit finalizer,
    ``a * h + b``, the minimum per permutation starting from 2**32 - 1 (what no shingle
    leaves behind). At most ``_BATCH`` shingles are permuted at once (2 MB).
    """
    a, b = _permutations()
    values: np.ndarray | None = None
    # In place where NumPy allows, and no running minimum for a body of one batch (nearly
    # all): 32 -> 27 us a farm body.
    for i in range(0, len(shingle_hashes), _BATCH):
        permuted = a * _fmix32(shingle_hashes[i : i + _BATCH])
        permuted += b
        least = permuted.min(axis=1)
        values = least if values is None else np.minimum(values, least, out=values)
    if values is None:
        return np.full(NUM_PERM, _MAX_HASH32, dtype=np.uint32)
    return values


def _fmix32(hv: np.ndarray) -> np.ndarray:
    """MurmurHash3's 32-bit finalizer, as datasketch pre-mixes ``affine32`` input (the
    caller's array is left as it is)."""
    mixed: np.ndarray = hv ^ (hv >> np.uint32(16))
    mixed *= np.uint32(0x85EBCA6B)
    mixed ^= mixed >> np.uint32(13)
    mixed *= np.uint32(0xC2B2AE35)
    mixed ^= mixed >> np.uint32(16)
    return mixed


_BAND_BYTES = ROWS * 4
# Each band's key prefix (its index) and where its values lie in the signature's bytes.
_BAND_SLICES = tuple(
    (f"{band:02x}", band * _BAND_BYTES, (band + 1) * _BAND_BYTES) for band in range(BANDS)
)


def _bands(hashes: np.ndarray) -> tuple[str, ...]:
    """The LSH bucket keys: each band's ``ROWS`` little-endian uint32 values hashed,
    after the band's index (one ``tobytes`` sliced, not one per band)."""
    raw = hashes[: BANDS * ROWS].astype("<u4", copy=False).tobytes()
    blake2b = hashlib.blake2b
    return tuple(
        [prefix + blake2b(raw[a:z], digest_size=8).hexdigest() for prefix, a, z in _BAND_SLICES]
    )
