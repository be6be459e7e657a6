"""identity: GUIDs that are empty, repeated, shared, regenerated or reused, and links that
many items share, never turn one article into two or two into one.

The store is played by ``Memory`` (ids and aliases in dicts, committed the way the
pipeline commits); the feed documents are captures in tests/fixtures/dedupe.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from tests.captures import load
from worker.core.identity import Rules, Transition, analyse, resolve, url_id
from worker.core.models import FeedIdentity, SeenRecord
from worker.core.revisions import judge

NOW = 1_800_000_000.0


@dataclass
class Memory:
    """What a store remembers, kept in dicts, and a poll driven through the pure core."""

    records: dict[str, SeenRecord] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)
    profiles: dict[str, FeedIdentity] = field(default_factory=dict)
    transitions: list[Transition] = field(default_factory=list)
    rules: Rules = field(default_factory=Rules)

    def lookup(self, ids: list[str]) -> dict[str, SeenRecord]:
        out = {k: self.records[k] for k in ids if k in self.records}
        for k in ids:
            if k not in out and k in self.aliases:
                out[k] = self.records[self.aliases[k]]
        return out

    def poll(self, name: str, feed_id: str = "feed", now: float = NOW) -> dict[str, list[str]]:
        """Poll one capture; returns the article ids per verdict."""
        entries = analyse(load(name, feed_id), feed_id)
        profile = self.profiles.get(feed_id, FeedIdentity(feed_id))
        res = resolve(
            entries, profile, self.lookup([k for e in entries for k in e.ids()]), self.rules
        )
        self.profiles[feed_id] = res.profile
        self.transitions += res.transitions
        out: dict[str, list[str]] = {}
        for item in res.items:
            verdict = judge(
                item.article, item.fingerprint, item.record, now, feed_key=item.feed_key
            )
            out.setdefault(verdict.verdict, []).append(item.article.article_id)
            if not verdict.publish:
                continue
            fp = item.fingerprint
            assert fp is not None
            rec = item.record
            self.records[item.article.article_id] = SeenRecord(
                item.article.article_id,
                (rec.revision if rec else 0) + 1,
                item.article.content_hash,
                feed_key=rec.feed_key if rec else item.feed_key,
                title_key=fp.title_key,
                signature=fp.signature,
                window_start=verdict.window_start,
                window_updates=verdict.window_updates,
            )
            for alias in item.aliases:
                self.aliases.setdefault(alias, item.article.article_id)
        return out

    def known(self) -> int:
        return len(self.records)


def test_empty_guids_fall_back_to_links_then_content_and_say_so_once():
    """Items without GUIDs are identified by link, or by content without a link; the feed's
    GUIDs are distrusted with one logged transition, not one per poll."""
    memory = Memory()
    first = memory.poll("guid_empty.xml")
    assert len(first["new"]) == 3
    articles = load("guid_empty.xml", "feed")
    assert url_id("https://gazette.fenwick.example/news/ferry-timetable") in first["new"]
    assert articles[2].canonical_url is None
    assert memory.poll("guid_empty.xml") == {"unchanged": first["new"]}
    assert memory.poll("guid_empty.xml") == {"unchanged": first["new"]}
    assert [(t.key, t.trusted, t.reason) for t in memory.transitions] == [("guid", False, "empty")]
    assert memory.profiles["feed"].guid.bad_empty == 3 * 3


def test_an_item_repeated_in_a_document_is_one_article_under_either_guid():
    """The same item listed twice (same GUID, or two GUIDs for one item) is one article."""
    memory = Memory()
    first = memory.poll("guid_repeated.xml")
    assert len(first["new"]) == 2
    assert memory.poll("guid_repeated.xml") == {"unchanged": first["new"]}
    # one of two items carried two GUIDs: half the items, far over 5 %
    assert [(t.key, t.reason) for t in memory.transitions] == [("guid", "repeated")]


def test_one_guid_shared_by_different_items_keeps_them_apart():
    """Three notices under one GUID (a permalink, so also their link) stay three articles,
    poll after poll."""
    memory = Memory()
    first = memory.poll("guid_shared.xml")
    assert len(set(first["new"])) == 3
    assert memory.poll("guid_shared.xml") == {"unchanged": first["new"]}
    assert [(t.key, t.reason) for t in memory.transitions] == [
        ("guid", "shared"),
        ("link", "shared"),
    ]


def test_guids_regenerated_on_every_poll_find_the_same_articles_by_content():
    """New GUIDs for the same notices are no new articles; the switch is logged once, and a
    genuinely new notice is still new."""
    memory = Memory()
    first = memory.poll("guid_unstable_poll1.xml")
    assert len(first["new"]) == 3
    assert memory.transitions == []  # nothing to compare with yet
    second = memory.poll("guid_unstable_poll2.xml")
    assert second == {"unchanged": first["new"]}
    assert [(t.key, t.trusted, t.reason) for t in memory.transitions] == [
        ("guid", False, "unstable")
    ]
    third = memory.poll("guid_unstable_poll3.xml")
    assert sorted(third["unchanged"]) == sorted(first["new"])
    assert len(third["new"]) == 1
    assert len(memory.transitions) == 1


def test_a_guid_reused_for_another_item_makes_a_new_article_not_an_update():
    """A feed that puts each new notice under the GUID "latest" gets one article per
    notice, not one article edited over and over."""
    memory = Memory()
    first = memory.poll("guid_reused_poll1.xml")
    second = memory.poll("guid_reused_poll2.xml")
    assert list(second) == ["new"]
    assert second["new"] != first["new"]
    assert memory.known() == 2
    assert [(t.key, t.reason) for t in memory.transitions] == [("guid", "shared")]
    # the first notice, should it come back, is still the first article
    assert memory.poll("guid_reused_poll1.xml") == {"unchanged": first["new"]}


def test_links_shared_by_episodes_or_pointing_home_do_not_merge_them():
    """Episodes that all link to the show page, or to the front page, stay apart (by GUID)."""
    memory = Memory()
    first = memory.poll("links_shared.xml")
    assert len(set(first["new"])) == 3
    assert url_id("https://radio.tinkerlog.example/show/weekly") not in first["new"]
    assert memory.poll("links_shared.xml") == {"unchanged": first["new"]}
    assert [(t.key, t.reason) for t in memory.transitions] == [("link", "shared")]


def test_distrusted_guids_are_trusted_again_after_clean_polls():
    """After ``clean_polls`` polls within the ratio, GUIDs are trusted again, logged once."""
    memory = Memory(rules=Rules(clean_polls=2))
    memory.poll("guid_unstable_poll1.xml")
    memory.poll("guid_unstable_poll2.xml")
    memory.poll("guid_unstable_poll2.xml")
    assert not memory.profiles["feed"].guid.trusted
    memory.poll("guid_unstable_poll2.xml")
    assert memory.profiles["feed"].guid.trusted
    assert [t.trusted for t in memory.transitions] == [False, True]


def test_losing_trust_in_guids_changes_no_known_article():
    """Articles first identified by GUID keep their ids when the feed falls back to content
    identity, and again when it returns to GUIDs."""
    memory = Memory(rules=Rules(clean_polls=1))
    first = memory.poll("guid_unstable_poll1.xml")
    memory.poll("guid_unstable_poll2.xml")  # distrusted: new items would get content ids
    assert memory.poll("guid_unstable_poll2.xml")["unchanged"] == first["new"]
    assert memory.profiles["feed"].guid.trusted  # one clean poll is enough here
    third = memory.poll("guid_unstable_poll3.xml")  # distrusted again, one new item
    assert not memory.profiles["feed"].guid.trusted
    assert sorted(third["unchanged"]) == sorted(first["new"])
    assert memory.known() == 4
    assert [t.trusted for t in memory.transitions] == [False, True, False]


def test_a_link_that_changes_with_the_headline_keeps_the_article_by_its_guid():
    """A slug rewritten with an edited headline is an update of the same article."""
    memory = Memory()
    before = memory.poll("edit_before.xml")
    articles = load("edit_after.xml", "feed")
    barrier = articles[0]
    slug = "https://dispatch.sorrowby.example/2024/05/20/40m-tidal-barrier"
    moved = [replace(a, canonical_url=slug) if a is barrier else a for a in articles]
    entries = analyse(moved, "feed")
    res = resolve(
        entries, memory.profiles["feed"], memory.lookup([k for e in entries for k in e.ids()])
    )
    item = res.items[0]
    assert item.matched_by == "guid"
    assert item.article.article_id == before["new"][0]
    assert url_id(slug) in item.aliases


def test_records_of_signature_scheme_1_still_tell_an_edit_from_a_reused_guid():
    """Records written before signature scheme 2 hold SHA-1 signatures. An item whose
    headline was rewritten and whose body gained a sentence, compared with one of them,
    is still the same article, not a new one behind a reused link or GUID: the bodies
    are compared in scheme 1 (compared across schemes they would look unrelated)."""
    from worker.core import neardup

    memory = Memory()
    before = memory.poll("edit_before.xml")
    texts = {a.article_id: a.content_text for a in load("edit_before.xml", "feed")}
    for article_id, rec in list(memory.records.items()):
        words = neardup.body_words(texts[article_id])
        legacy = neardup._signature(neardup._minhash(neardup._sha1_hashes(words)))
        memory.records[article_id] = replace(rec, signature=legacy, signature_scheme=1)
    barrier = load("edit_after.xml", "feed")[0]  # its headline was rewritten
    assert barrier.article_id == before["new"][0]
    text = (barrier.content_text or "") + "\n\nEngineers will report again in June."
    # A new slug too, so that the GUID alone finds the record and is put to the test.
    slug = "https://dispatch.sorrowby.example/2024/05/20/40m-tidal-barrier"
    edited = replace(barrier, canonical_url=slug, content_text=text, content_hash="edited")
    entries = analyse([edited], "feed")
    res = resolve(
        entries, memory.profiles["feed"], memory.lookup([k for e in entries for k in e.ids()])
    )
    [item] = res.items
    assert item.record is not None and item.record.signature_scheme == 1
    assert item.matched_by == "guid"
    assert item.article.article_id == barrier.article_id
