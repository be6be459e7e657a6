"""revisions: a pair of captures of one feed before and after an edit (NewsBlur-style);
meaningful edits are updates, churn is not, and updates are capped per day."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.captures import load
from worker.core.identity import short_key
from worker.core.models import Article, SeenRecord
from worker.core.neardup import fingerprint
from worker.core.revisions import DAY, Policy, judge

NOW = 1_800_000_000.0
FEED = short_key("feed", "coast")


def record_of(article: Article, **kw: object) -> SeenRecord:
    fp = fingerprint(article.title, article.content_text)
    return SeenRecord(
        article.article_id,
        1,
        article.content_hash,
        feed_key=FEED,
        title_key=fp.title_key,
        signature=fp.signature,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module")
def captures() -> dict[str, tuple[Article, Article]]:
    before = {a.guid: a for a in load("edit_before.xml", "coast")}
    after = {a.guid: a for a in load("edit_after.xml", "coast")}
    names = {
        "sd-coast-1001": "barrier",
        "sd-coast-1002": "storm",
        "sd-coast-1003": "ferry",
        "sd-coast-1004": "museum",
    }
    return {names[g]: (before[g], after[g]) for g in names}


def verdict(pair: tuple[Article, Article], now: float = NOW, **kw: object):
    old, new = pair
    fp = fingerprint(new.title, new.content_text)
    return judge(new, fp, record_of(old, **kw), now, feed_key=FEED)


def test_the_captures_keep_their_ids_across_the_edit(captures):
    """Every item of the second capture is the same article as in the first."""
    assert all(old.article_id == new.article_id for old, new in captures.values())
    assert all(old.content_hash != new.content_hash for old, new in captures.values())


def test_an_edited_headline_is_an_update_that_says_the_title_changed(captures):
    """A rewritten headline over the same body is an update; the body is unchanged."""
    j = verdict(captures["barrier"])
    assert j.verdict == "updated"
    assert j.changes is not None and j.changes.title is True
    assert j.changes.content_similarity == 1.0


def test_a_new_paragraph_is_an_update_with_its_similarity(captures):
    """A paragraph of new developments brings the body's similarity under 0.9: an update."""
    j = verdict(captures["storm"])
    assert j.verdict == "updated"
    assert j.changes is not None and j.changes.title is False
    assert j.changes.content_similarity is not None and j.changes.content_similarity < 0.9
    assert (j.window_start, j.window_updates) == (NOW, 1)


def test_churn_is_not_an_update(captures):
    """Tracking parameters, spacing, a new timestamp, an ad label and reordered categories
    change the raw entry but not what a reader reads: no update."""
    old, new = captures["ferry"]
    assert old.url != new.url and old.categories != new.categories
    j = verdict(captures["ferry"])
    assert j.verdict == "trivial" and not j.publish


def test_a_one_word_correction_is_below_the_threshold(captures):
    """A single corrected word in a long body stays above the similarity threshold."""
    assert verdict(captures["museum"]).verdict == "trivial"
    stricter = Policy(update_similarity=0.97)
    old, new = captures["museum"]
    fp = fingerprint(new.title, new.content_text)
    assert judge(new, fp, record_of(old), NOW, stricter, feed_key=FEED).verdict == "updated"


def test_unchanged_and_new(captures):
    """The same content is unchanged; an article without a record is new."""
    old, _ = captures["storm"]
    assert judge(old, None, record_of(old), NOW).verdict == "unchanged"
    assert judge(old, None, None, NOW).verdict == "new"


def test_updates_are_capped_per_day_and_wait_for_the_next_day(captures):
    """At most max_updates_per_day updates in a day; past the cap the edit waits, and the
    next day it is published with a fresh window."""
    pair = captures["storm"]
    assert verdict(pair, window_start=NOW - 3600, window_updates=2).window_updates == 3
    capped = verdict(pair, window_start=NOW - 3600, window_updates=3)
    assert capped.verdict == "capped" and not capped.publish
    later = verdict(pair, now=NOW - 3600 + DAY, window_start=NOW - 3600, window_updates=3)
    assert later.verdict == "updated"
    assert (later.window_start, later.window_updates) == (NOW - 3600 + DAY, 1)


def test_zero_updates_a_day_turns_updates_off(captures):
    """max_updates_per_day = 0: an edit never becomes an event."""
    old, new = captures["storm"]
    fp = fingerprint(new.title, new.content_text)
    j = judge(new, fp, record_of(old), NOW, Policy(max_updates_per_day=0), feed_key=FEED)
    assert j.verdict == "capped"


def test_only_the_first_feed_revises_an_article(captures):
    """The same article seen with other content through another feed is not an update."""
    old, new = captures["storm"]
    fp = fingerprint(new.title, new.content_text)
    other = short_key("feed", "business")
    assert judge(new, fp, record_of(old), NOW, feed_key=other).verdict == "unchanged"


def test_a_record_from_before_fingerprints_counts_any_change(captures):
    """A legacy record (no fingerprint) cannot be compared: the change is an update."""
    old, new = captures["ferry"]
    fp = fingerprint(new.title, new.content_text)
    legacy = SeenRecord(old.article_id, 2, old.content_hash)
    j = judge(new, fp, legacy, NOW)
    assert j.verdict == "updated"
    assert j.changes is not None and j.changes.content_similarity is None


def test_a_changed_article_without_fingerprint_is_a_programming_error(captures):
    """judge refuses to guess when it is given nothing to compare."""
    old, new = captures["storm"]
    with pytest.raises(ValueError, match="fingerprint"):
        judge(new, None, record_of(old), NOW)


def test_changes_are_in_the_event_data(captures):
    """The updated article carries its changes; a created one carries null."""
    old, new = captures["barrier"]
    j = verdict(captures["barrier"])
    assert replace(new, changes=j.changes).to_dict()["changes"] == {
        "title": True,
        "content_similarity": 1.0,
    }
    assert old.to_dict()["changes"] is None


def test_a_record_of_signature_scheme_1_is_judged_as_before_the_upgrade(captures):
    """A record written with scheme 1 signatures (before 2026-12-07) is compared with the
    new text's scheme 1 signature: churn and a one-word correction stay trivial, a new
    paragraph is still an update with about the same similarity."""
    from worker.core import neardup

    def judged(pair: tuple[Article, Article]):
        old, new = pair
        legacy = neardup._signature(
            neardup._minhash(neardup._sha1_hashes(neardup.body_words(old.content_text)))
        )
        rec = replace(record_of(old), signature=legacy, signature_scheme=1)
        return judge(new, fingerprint(new.title, new.content_text), rec, NOW, feed_key=FEED)

    assert judged(captures["ferry"]).verdict == "trivial"
    assert judged(captures["museum"]).verdict == "trivial"
    storm = judged(captures["storm"])
    current = verdict(captures["storm"])
    assert storm.verdict == current.verdict == "updated"
    assert storm.changes is not None and current.changes is not None
    old_sim, new_sim = storm.changes.content_similarity, current.changes.content_similarity
    assert old_sim is not None and new_sim is not None and abs(old_sim - new_sim) < 0.15
