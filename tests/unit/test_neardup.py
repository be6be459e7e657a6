"""neardup: body fingerprints, their similarity, and which story a new article copies."""

from __future__ import annotations

import hashlib
import random
import re

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from tests.captures import load
from worker.core import neardup
from worker.core.models import SeenRecord
from worker.core.neardup import (
    BANDS,
    NUM_PERM,
    assign_cluster,
    body_words,
    fingerprint,
    similarity,
    title_key,
)
from worker.settings import DedupeSettings

BODY = (
    "Engineers reopened the main rail line between Harrowgate and Fenwick five days after "
    "a landslide buried the tracks near the Quill viaduct. The operator said freight would "
    "resume over the weekend once inspectors had checked the drainage along the cutting."
)


@pytest.fixture(scope="module")
def outlets():
    """The wire story at three outlets and a different story on the same topic."""
    northern = load("syndicated_northern.xml", "northern")
    return {
        "northern": northern[0],
        "unions": northern[1],
        "valley": load("syndicated_valley.xml", "valley")[0],
        "coastal": load("syndicated_coastal.xml", "coastal")[0],
    }


def rec(article, cluster_id=None, duplicate_of=None) -> SeenRecord:
    fp = fingerprint(article.title, article.content_text)
    return SeenRecord(
        article.article_id,
        1,
        article.content_hash,
        signature=fp.signature,
        cluster_id=cluster_id or article.article_id,
        duplicate_of=duplicate_of,
    )


def test_fingerprint_shape_and_determinism():
    """A fingerprint is 128 16-bit values and 16 band keys, the same every time."""
    fp = fingerprint("Title", BODY)
    assert len(fp.signature) == 2 * NUM_PERM
    assert len(fp.bands) == BANDS and len(set(fp.bands)) == BANDS
    assert fingerprint("Title", BODY) == fp
    assert fp.words == len(BODY.split())


def test_identical_texts_are_one_and_unrelated_texts_near_zero():
    """Similarity is 1.0 for the same words and close to 0 for unrelated text."""
    a = fingerprint(None, BODY).signature
    b = fingerprint(
        None,
        "Councillors voted to build a barrier across the estuary mouth "
        "after a decade of argument over flooding in the lower town.",
    ).signature
    assert similarity(a, a) == 1.0
    assert similarity(a, b) < 0.05
    assert similarity(b"", a) is None


def _shingle_set(words: list[str]) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + 3]) for i in range(len(words) - 2)}


def test_similarity_estimates_the_jaccard_similarity_of_the_shingles() -> None:
    """Over 240 edited pairs of made-up text, the estimate follows the exact Jaccard
    similarity of the two shingle sets: no bias, and the spread 128 permutations give
    (a standard deviation of at most 0.044, so a mean absolute error near 0.03)."""
    rng = random.Random(7)
    vocabulary = [f"{rng.choice('bcdfgklmnprst')}{rng.choice('aeiou')}{n}" for n in range(3000)]
    errors = []
    for n in range(240):
        words = [rng.choice(vocabulary) for _ in range(rng.randint(80, 400))]
        rate = (0.02, 0.05, 0.1, 0.2, 0.4, 0.7)[n % 6]
        edited = [rng.choice(vocabulary) if rng.random() < rate else w for w in words]
        a, b = _shingle_set(words), _shingle_set(edited)
        exact = len(a & b) / len(a | b)
        estimate = similarity(
            fingerprint(None, " ".join(words)).signature,
            fingerprint(None, " ".join(edited)).signature,
        )
        assert estimate is not None
        errors.append(estimate - exact)
    assert abs(sum(errors) / len(errors)) < 0.01
    assert sum(map(abs, errors)) / len(errors) < 0.045
    assert max(map(abs, errors)) < 0.2


def test_word_order_makes_the_shingles() -> None:
    """The same words in reverse order share no 3-gram: nothing alike."""
    words = BODY.split()
    backwards = " ".join(reversed(words))
    sim = similarity(fingerprint(None, BODY).signature, fingerprint(None, backwards).signature)
    assert sim is not None and sim < 0.1


def test_churn_does_not_reach_the_fingerprint():
    """Case, punctuation, spacing, times, dates, relative times and ad labels are not
    words that count."""
    noisy = (
        "Updated 10:42 GMT\n\nADVERTISEMENT\n\n"
        + BODY.upper().replace(" ", "  ")
        + " (5 minutes ago, 22 May 2024, 2024-05-22T10:42:00Z)\n\nStory continues below"
    )
    assert body_words(noisy) == body_words(BODY)
    assert similarity(fingerprint(None, noisy).signature, fingerprint(None, BODY).signature) == 1.0


def test_title_key_reads_titles_as_a_reader_does():
    """Titles that differ in case, punctuation or spacing share a key; other words do not."""
    assert title_key("Rail line REOPENS!") == title_key("  rail line reopens ")
    assert title_key("Rail line reopens") != title_key("Rail line closes")


@settings(max_examples=50, deadline=None)
@given(st.lists(st.sampled_from(["", " ", "\n\n", "\t"]), min_size=1, max_size=5))
def test_whitespace_never_changes_a_fingerprint(gaps):
    """However the words are spaced, the fingerprint is the same."""
    words = BODY.split()
    spaced = "".join(w + gaps[i % len(gaps)] + " " for i, w in enumerate(words))
    assert fingerprint("T", spaced) == fingerprint("T", BODY)


def test_syndicated_copies_join_the_first_articles_story(outlets):
    """Copies with other headlines, boilerplate and light edits are duplicates of the
    first article seen; the story they join is that article's. (Their shingle sets'
    exact Jaccard similarities to the first are 0.64 and 0.58; an estimate's standard
    deviation is about 0.04. The threshold is the configured default.)"""
    first = outlets["northern"]
    index = {first.article_id: rec(first)}
    threshold = DedupeSettings().duplicate_similarity
    shingles = _shingle_set(list(body_words(first.content_text)))
    for name in ("valley", "coastal"):
        copy = outlets[name]
        fp = fingerprint(copy.title, copy.content_text)
        cluster = assign_cluster(copy.article_id, fp, index, threshold=threshold, min_words=40)
        assert (cluster.cluster_id, cluster.duplicate_of) == (first.article_id,) * 2
        assert cluster.similarity is not None and cluster.similarity >= threshold
        theirs = _shingle_set(list(body_words(copy.content_text)))
        exact = len(shingles & theirs) / len(shingles | theirs)
        assert exact >= 0.5  # copies, as the fixtures were written
        assert abs(cluster.similarity - exact) < 0.15  # within about 3.5 deviations


def test_a_copy_of_a_copy_points_at_the_first_article(outlets):
    """When the most similar candidate is itself a copy, the new one joins its story's
    first article, not the copy."""
    first, copy, third = outlets["northern"], outlets["valley"], outlets["coastal"]
    index = {copy.article_id: rec(copy, cluster_id=first.article_id, duplicate_of=first.article_id)}
    fp = fingerprint(third.title, third.content_text)
    cluster = assign_cluster(third.article_id, fp, index, threshold=0.5, min_words=40)
    assert cluster.duplicate_of == first.article_id


def test_another_story_on_the_same_topic_starts_its_own_cluster(outlets):
    """The unions story shares the topic and place names but is its own story."""
    first, unions = outlets["northern"], outlets["unions"]
    fp = fingerprint(unions.title, unions.content_text)
    cluster = assign_cluster(
        unions.article_id, fp, {first.article_id: rec(first)}, threshold=0.5, min_words=40
    )
    assert cluster.original and cluster.cluster_id == unions.article_id


def test_short_bodies_are_in_no_cluster(outlets):
    """A body under min_words words is neither a copy nor the first of a story."""
    first = outlets["northern"]
    fp = fingerprint("Short", "Rail line reopens after landslide.")
    assert assign_cluster(
        "x", fp, {first.article_id: rec(first)}, threshold=0.5, min_words=40
    ) == neardup.Cluster(None, None)


def test_copies_share_an_index_bucket(outlets):
    """The LSH bands of a copy meet the first article's in at least one bucket."""
    a = fingerprint(None, outlets["northern"].content_text).bands
    for name in ("valley", "coastal"):
        assert set(a) & set(fingerprint(None, outlets[name].content_text).bands)
    assert not set(a) & set(fingerprint(None, outlets["unions"].content_text).bands)


def test_a_huge_body_is_read_up_to_the_word_cap():
    """A megabyte of text is fingerprinted on its first MAX_WORDS words only: the words
    after the cap do not change the fingerprint (its cost is bounded by the cap)."""
    words = [f"w{i}" for i in range(200_000)]
    fp = fingerprint(None, " ".join(words))
    assert fp.words == neardup.MAX_WORDS
    assert fp == fingerprint(None, " ".join(words[: neardup.MAX_WORDS] + ["other"] * 9))


def test_fingerprinting_loads_minhash_without_the_rest_of_datasketch() -> None:
    """A parse worker's first fingerprint must not import SciPy (about 40 MB resident),
    and the whole package stays importable afterwards, with the same MinHash class."""
    import subprocess
    import sys

    probe = (
        "import sys\n"
        "from worker.core import neardup\n"
        "fp = neardup.fingerprint('t', 'one two three four five six seven eight')\n"
        "assert len(fp.signature) == 2 * neardup.NUM_PERM\n"
        "print('scipy' in sys.modules, 'datasketch' in sys.modules)\n"
        "import datasketch\n"
        "print(datasketch.MinHash is neardup._minhash_class())\n"
        "print(neardup.fingerprint('t', 'one two three four five six seven eight') == fp)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    ).stdout.split("\n")
    assert out[:3] == ["False False", "True", "True"]


_CHURNY = st.lists(
    st.sampled_from(
        [
            "monday",
            "wednesday",
            "sunday",
            "jan",
            "sept.",
            "march",
            "may",
            "12:30",
            "9.15",
            "3pm",
            "2026-12-07",
            "5th",
            "2",
            "minutes",
            "ago",
            "just",
            "now",
            "yesterday",
            "today",
            "an",
            "hour",
            "utc",
            "the",
            "council",
            ",",
            " ",
        ]
    ),
    max_size=12,
).map(" ".join)


@settings(max_examples=2000)
@given(_CHURNY)
def test_the_churn_screen_lets_through_every_paragraph_with_churn(paragraph):
    """A paragraph the time-and-date pattern would change is never skipped by the cheap
    screen in front of it, but for an abbreviated weekday before a month and no number."""
    if neardup._CHURN.search(paragraph):
        assert neardup._may_churn(paragraph)


def test_the_churn_screen_keeps_its_one_known_gap():
    """Fingerprints and content keys in stores were made with this screen: changing what
    it lets through changes them (see the comment on ``neardup._may_churn``)."""
    assert neardup._CHURN.search("tues jan")
    assert not neardup._may_churn("tues jan")
    assert neardup.body_words("Tues Jan") == ["tues", "jan"]


@given(
    st.text(st.sampled_from("abdnoy ,.:") | st.characters(max_codepoint=0x7F), max_size=40)
    | st.text(
        st.sampled_from("ago now day 7\u0663\u0967\uff15\u00e9x") | st.characters(), max_size=40
    )
)
def test_the_churn_screen_is_its_rule_for_ascii_and_other_text(folded):
    """ASCII text takes a shorter route to its digits (substring tests, not \\d): both
    routes say what the rule says, for ASCII digits and for other scripts' (U+0663)."""
    rule = any(w in folded for w in ("ago", "now", "day")) or re.search(r"\d", folded)
    assert neardup._may_churn(folded) == bool(rule)


def _words_one_paragraph_at_a_time(text: str) -> tuple[str, ...]:
    """``neardup._words`` as it was written first: every paragraph through the churn
    screen, every text through the \\w+ pattern."""
    kept = []
    for paragraph in neardup._fold(text).split("\n"):
        stripped = paragraph.strip()
        if not stripped:
            continue
        if (
            len(stripped) <= neardup._NOISE_MAX_CHARS
            and len(stripped.split()) <= neardup._NOISE_MAX_WORDS
            and neardup._NOISE_PARAGRAPH.match(stripped)
        ):
            continue
        kept.append(neardup._CHURN.sub(" ", stripped) if neardup._may_churn(stripped) else stripped)
    return tuple(neardup._WORD.findall("\n".join(kept))[: neardup.MAX_WORDS])


_TEXT_PIECES = st.sampled_from(
    [
        "council",
        "vote",
        "12:30",
        "2 hours ago",
        "now",
        "Monday",
        "Advertisement",
        "Read more",
        "_x",
        "a-b",
        "it's",
        "caf\u00e9",
        "\u00bd",
        "\u2160",
        "\n",
        "\n\n",
        " ",
        ".",
        ",",
        "\t",
    ]
)


@settings(max_examples=2000)
@given(st.lists(_TEXT_PIECES | st.text(max_size=4), max_size=30).map(" ".join))
def test_body_words_are_what_one_paragraph_at_a_time_gives(text):
    """The whole-text churn screen and the ASCII route to the words change no body's
    words: ASCII or not, with churn or without, noise paragraphs or none."""
    assert neardup._words.__wrapped__(text) == _words_one_paragraph_at_a_time(text)


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["same", "scheme 1", "none", "short"]),
            st.integers(0, 128),  # how many of the 128 values agree with the text's
        ),
        max_size=12,
    ),
    st.randoms(use_true_random=False),
)
def test_candidates_compared_together_get_what_one_by_one_gives(kinds, rng):
    """``_similarities`` compares the records of this scheme in one NumPy operation and
    gives each the same float ``similarity_to`` gives; other schemes, records without a
    signature and odd lengths go one by one."""
    fp = fingerprint("t", " ".join(f"w{n}" for n in range(60)))
    mine = np.frombuffer(fp.signature, dtype="<u2")
    records = []
    for n, (kind, agree) in enumerate(kinds):
        values = mine.copy()
        for i in rng.sample(range(values.size), values.size - agree):
            values[i] ^= 0x5A5A
        signature = {"short": values[:64].tobytes(), "none": b""}.get(kind, values.tobytes())
        scheme = 1 if kind == "scheme 1" else neardup.SIGNATURE_SCHEME
        records.append(SeenRecord(f"a{n}", 1, "h", signature=signature, signature_scheme=scheme))
    got = {r.article_id: sim for r, sim in neardup._similarities(fp, records)}
    assert got == {r.article_id: neardup.similarity_to(fp, r) for r in records}


_TITLE_PIECES = st.sampled_from(
    [
        "Tue",
        "Tues",
        "Wed",
        "Thu",
        "Fri",
        "Fr\u0131",
        "Sat",
        "\u017fat",
        "Sun.",
        "Mon",
        "Jan",
        "Dec",
        "5th",
        "12:30",
        "now",
        "ago",
        "today",
        "Council",
        ",",
        " ",
        "\u2160",
        "caf\u00e9",
    ]
)


@settings(max_examples=2000)
@given(st.lists(_TITLE_PIECES, max_size=6).map(" ".join) | st.text(max_size=12))
@example("Mon Jan")
@example("Tue Jan")
@example("Wed Jan")
@example("Thu Jan")
@example("Fri Jan")
@example("Fr\u0131 Jan")
@example("Sat Jan")
@example("Sun Jan")
def test_title_keys_are_what_the_full_churn_pattern_gives(title):
    """The screen in front of the title's churn pattern never changes a title key."""
    words = neardup._WORD.findall(neardup._CHURN.sub(" ", neardup._fold(title)))
    expected = hashlib.blake2b(" ".join(words).encode(), digest_size=6).hexdigest()
    assert neardup.title_key.__wrapped__(title) == expected
