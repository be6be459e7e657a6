"""Which documents of a parse task are decided together (``rounds.next_round``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from worker.core.models import FeedIdentity, FeedSpec, FeedState, FetchResult
from worker.rounds import ReadDoc, next_round


@dataclass
class Keys:
    """An entry as far as rounds go: the identity keys it may be known by."""

    keys: tuple[str, ...]

    def ids(self) -> list[str]:
        return list(self.keys)


def doc(feed: str, *keys: str) -> ReadDoc:
    url = f"https://{feed}.example/feed"
    fake: Any = None  # what a round never reads while splitting
    return ReadDoc(
        result=FetchResult(feed_id=feed, url=url, status="ok", body=b"x"),
        spec=FeedSpec(feed_id=feed, url=url),
        state=FeedState(feed_id=feed, url=url),
        profile=FeedIdentity(feed),
        now=0.0,
        doc=fake,
        skipped=[],
        title=None,
        site=None,
        entries=[Keys((k,)) for k in keys],  # type: ignore[misc]
        lines=[],
    )


def names(docs: list[ReadDoc]) -> list[str]:
    return [d.spec.feed_id for d in docs]


def test_documents_sharing_a_key_or_a_feed_wait_for_the_next_round():
    docs = [doc("a", "k1", "k2"), doc("b", "k2"), doc("c", "k3"), doc("a", "k9"), doc("d")]
    now, later = next_round(docs)
    assert names(now) == ["a", "c", "d"]
    assert names(later) == ["b", "a"]
    now, later = next_round(later)
    assert (names(now), later) == (["b", "a"], [])
