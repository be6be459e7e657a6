"""identity: a stable article_id, a whitespace-blind content hash, items of one document."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from worker.core.identity import (
    analyse,
    article_id_for,
    content_hash,
    content_id,
    event_id_for,
    resolve,
)
from worker.core.models import FeedIdentity, RawEntry, SeenRecord, SourceRef
from worker.core.neardup import body_words, fingerprint
from worker.core.normalize import normalize_entry

HEX24 = re.compile(r"[0-9a-f]{24}")
HEX32 = re.compile(r"[0-9a-f]{32}")
FETCHED = "https://www.meridianpost.example/rss/world.xml"


def _article(link: str | None, *, feed_id: str = "world", guid: str | None = "g1", **kw):
    source = SourceRef(feed_id=feed_id, feed_url=FETCHED)
    raw = RawEntry(guid=guid, link=link, title=kw.pop("title", "Border crossing reopens"), **kw)
    return normalize_entry(raw, source, FETCHED)


def test_ids_and_hashes_have_their_documented_shape():
    """article_id is 24 lowercase hex characters, content_hash 32."""
    assert HEX24.fullmatch(
        article_id_for(
            feed_id="f", canonical_url="https://a.example/", guid=None, title=None, text=None
        )
    )
    assert HEX32.fullmatch(content_hash("title", "text"))


def test_canonical_url_decides_identity_over_guid_and_feed():
    """With a canonical URL, neither the GUID nor the feed changes the id."""
    a = article_id_for(
        feed_id="world", canonical_url="https://n.example/a", guid="1", title="x", text="y"
    )
    b = article_id_for(
        feed_id="business",
        canonical_url="https://n.example/a",
        guid="2",
        title="other",
        text="other",
    )
    c = article_id_for(
        feed_id="world", canonical_url="https://n.example/b", guid="1", title="x", text="y"
    )
    assert a == b
    assert a != c


def test_without_url_the_guid_is_scoped_to_its_feed():
    """Without a URL, the same GUID in two feeds is two articles; in one feed it is one."""
    a = article_id_for(feed_id="world", canonical_url=None, guid="42", title="x", text=None)
    b = article_id_for(feed_id="business", canonical_url=None, guid="42", title="x", text=None)
    again = article_id_for(feed_id="world", canonical_url=None, guid="42", title="y", text="z")
    assert a != b
    assert a == again


def test_without_url_or_guid_the_content_decides():
    """Without URL or GUID, the same title and text give the same id, other text another."""
    a = article_id_for(feed_id="w", canonical_url=None, guid=None, title="T", text="body")
    b = article_id_for(feed_id="w", canonical_url=None, guid=None, title="T", text="body")
    c = article_id_for(feed_id="w", canonical_url=None, guid=None, title="T", text="edited")
    assert a == b
    assert a != c


def test_id_kinds_do_not_collide():
    """A GUID that looks like a URL does not share an id with that canonical URL."""
    url = "https://n.example/a"
    by_url = article_id_for(feed_id="w", canonical_url=url, guid=None, title=None, text=None)
    by_guid = article_id_for(feed_id="w", canonical_url=None, guid=url, title=None, text=None)
    assert by_url != by_guid


def test_content_hash_ignores_whitespace_but_not_words():
    """Reflowed whitespace keeps the content hash; a changed word changes it."""
    base = content_hash("Border crossing reopens", "Lorries queued overnight.")
    assert content_hash("  Border\ncrossing   reopens ", "Lorries\tqueued\n\novernight.") == base
    assert content_hash("Border crossing reopens", "Lorries queued overnight!") != base
    assert content_hash("Border crossing closes", "Lorries queued overnight.") != base


def test_event_id_is_per_article_and_revision():
    """The event id names the article and the revision."""
    assert event_id_for("0123456789abcdef01234567", 3) == "0123456789abcdef01234567.3"
    assert event_id_for("a", 1) != event_id_for("a", 2)


_PADDING = st.sampled_from(["", " ", "\n", "\t", " \n\t "])
_TRACKING = st.lists(
    st.sampled_from(
        [
            "utm_source=rss",
            "utm_medium=feed",
            "fbclid=IwAR0x",
            "gclid=Cj0K",
            "mc_cid=51f",
            "mc_eid=9a",
            "utm_campaign=spring",
        ]
    ),
    max_size=4,
)


@settings(max_examples=150, deadline=None)
@given(before=_PADDING, after=_PADDING, tracking=_TRACKING, fragment=st.sampled_from(["", "#c"]))
def test_article_id_is_stable_across_whitespace_and_tracking_in_the_link(
    before, after, tracking, fragment
):
    """The same story linked with padding, tracking parameters or a fragment keeps its id."""
    plain = _article("https://www.meridianpost.example/2024/05/02/border?id=7")
    query = "&".join(["id=7", *tracking])
    noisy_link = (
        f"{before}https://www.meridianpost.example/2024/05/02/border?{query}{fragment}{after}"
    )
    noisy = _article(noisy_link)
    assert noisy.article_id == plain.article_id


@settings(max_examples=100, deadline=None)
@given(st.text(" \n\t\u00a0", min_size=1, max_size=6), st.text(" \n\t", min_size=1, max_size=6))
def test_content_hash_of_normalized_articles_ignores_reflowed_text(gap1, gap2):
    """Two copies of an entry that differ only in the whitespace of the content hash alike."""
    one = _article("https://n.example/a", content="<p>Lorries queued overnight.</p>")
    two = _article("https://n.example/a", content=f"<p>Lorries{gap1}queued{gap2}overnight.</p>")
    assert one.content_hash == two.content_hash


def test_same_story_in_two_section_feeds_has_one_id(articles):
    """The story in the World and Business feeds has one article_id despite link noise."""
    world = articles("rss20_section_world.xml", feed_id="world")
    business = articles("rss20_section_business.xml", feed_id="business")
    crossing_world = [a for a in world if a.title == "Border crossing reopens after landslide"]
    (crossing_business,) = business
    assert {a.article_id for a in crossing_world} == {crossing_business.article_id}
    strike = next(a for a in world if a.title == "Port strike talks resume")
    assert strike.article_id != crossing_business.article_id


def test_a_story_repeated_in_one_document_is_one_item(articles):
    """A story listed twice in one feed is one item, and the first (newest) copy wins."""
    world = articles("rss20_section_world.xml", feed_id="world")
    entries = analyse(world, "world")
    assert len(world) == 3
    assert len(entries) == 2
    assert entries[0].article.guid == "mp-88412"
    assert len({e.article.article_id for e in entries}) == 2


def test_known_articles_keep_their_record_and_unknown_ones_are_new(articles):
    """Known articles resolve to their stored record; unknown ones have none."""
    world = articles("rss20_section_world.xml", feed_id="world")
    crossing = world[0]
    record = SeenRecord(crossing.article_id, 4, crossing.content_hash)
    entries = analyse(world, "world")
    known = {k: record for e in entries for k in e.ids() if k == crossing.article_id}
    items = {i.article.article_id: i for i in resolve(entries, FeedIdentity("world"), known).items}
    assert items[crossing.article_id].record == record
    strike = next(a for a in world if a.title == "Port strike talks resume")
    assert items[strike.article_id].record is None


def test_two_section_feeds_in_one_batch_share_the_story(articles):
    """Articles from two section feeds: the shared story has one id in both."""
    world = analyse(articles("rss20_section_world.xml", feed_id="world"), "world")
    business = analyse(articles("rss20_section_business.xml", feed_id="business"), "business")
    ids = {e.url for e in world} & {e.url for e in business}
    assert len(ids) == 1


def test_analyse_keeps_input_order():
    """Items come out in the order the articles came in, repeats dropped."""
    a = _article("https://n.example/1", guid="1")
    b = _article("https://n.example/2", guid="2", title="Second")
    c = _article("https://n.example/3", guid="3", title="Third")
    assert [e.article for e in analyse([c, a, c, b], "w")] == [c, a, b]


def test_an_entry_carries_the_words_its_content_key_and_fingerprint_read(articles):
    """The body is read once: the content key and the fingerprint made from the words
    ``analyse`` kept are those made from the text; an entry keyed from the memo has no
    words and its fingerprint reads the body."""
    world = articles("rss20_section_world.xml", feed_id="world")
    entries = analyse(world, "world")
    for e in entries:
        a = e.article
        assert e.words == tuple(body_words(a.content_text))
        assert e.content == content_id("world", a.title, a.content_text)
    prints = resolve(entries, FeedIdentity("world"), {}).items
    for item in prints:
        assert item.fingerprint == fingerprint(item.article.title, item.article.content_text)
    memo = [entries[0].content]
    (remembered, *_) = analyse(world, "world", memo)
    assert remembered.words is None and remembered.content == entries[0].content
    (item, *_) = resolve([remembered], FeedIdentity("world"), {}).items
    assert item.fingerprint == fingerprint(world[0].title, world[0].content_text)
