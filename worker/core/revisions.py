"""Is a known article's new content an update worth an event?

Meaningful: the title reads differently, or the body's similarity to the last published
revision fell below ``update_similarity``. The comparison is between fingerprints
(worker/core/neardup.py), so what they ignore never counts: spacing, case, punctuation,
times and dates, ad labels; the link's tracking parameters and the categories are not in
them at all. Updates are capped per article per day: an edit past the cap waits, and the
first poll after the day is over publishes the article as it is then.

Only the feed that first published an article updates it: section feeds of one outlet
often carry the same article with a summary of their own, and letting each of them
revise it would flip it back and forth at every poll.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from worker.core.models import Article, Changes, SeenRecord
from worker.core.neardup import Fingerprint, similarity_to

DAY = 86_400.0

Verdict = Literal["new", "updated", "unchanged", "trivial", "capped"]


@dataclass(frozen=True, slots=True)
class Policy:
    update_similarity: float = 0.9
    max_updates_per_day: int = 3


@dataclass(frozen=True, slots=True)
class Judgement:
    """The verdict, what changed, and the update window to record with the revision."""

    verdict: Verdict
    changes: Changes | None = None
    window_start: float = 0.0
    window_updates: int = 0

    @property
    def publish(self) -> bool:
        return self.verdict in ("new", "updated")


def judge(
    article: Article,
    fp: Fingerprint | None,
    record: SeenRecord | None,
    now: float,
    policy: Policy = Policy(),
    *,
    feed_key: str = "",
) -> Judgement:
    """``fp`` is the article's fingerprint; it may be None only when the content hash
    is the record's (nothing to compare). ``feed_key`` names the feed it came from
    (``identity.short_key("feed", feed_id)``)."""
    if record is None:
        return Judgement("new")
    if record.content_hash == article.content_hash:
        return Judgement("unchanged")
    if record.feed_key and feed_key and record.feed_key != feed_key:
        return Judgement("unchanged")
    if fp is None:
        raise ValueError("a changed article needs its fingerprint")
    title = bool(record.title_key) and record.title_key != fp.title_key
    sim = similarity_to(fp, record)
    # A record from before fingerprints cannot be compared: its change counts.
    meaningful = sim is None or title or sim < policy.update_similarity
    if not meaningful:
        return Judgement("trivial")
    start, used = record.window_start, record.window_updates
    if now - start >= DAY:
        start, used = now, 0
    if used >= policy.max_updates_per_day:
        return Judgement("capped")
    return Judgement("updated", Changes(title=title, content_similarity=sim), start, used + 1)
