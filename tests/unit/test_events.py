"""events: CloudEvents 1.0 JSON envelopes around articles."""

from __future__ import annotations

import json
from dataclasses import replace

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from worker.core.events import ARTICLE_CREATED, ARTICLE_UPDATED, article_event
from worker.core.models import Changes

DETECTED = "2024-03-14T18:06:02Z"


def _news(articles):
    return next(a for a in articles("rss20.xml") if a.guid == "dispatch-2024-0314-clinics")


def test_first_revision_is_article_created_with_cloudevents_envelope(articles):
    """Revision 1 is an article.created CloudEvent carrying the feed, article and time."""
    article = _news(articles)
    event = article_event(article, DETECTED)
    envelope = json.loads(event.body)
    assert event.type == ARTICLE_CREATED == "article.created"
    assert envelope["specversion"] == "1.0"
    assert envelope["type"] == "article.created"
    assert envelope["id"] == event.event_id == f"{article.article_id}.1"
    assert envelope["source"] == "https://dispatch.sorrowby.example/feeds/district.xml"
    assert envelope["subject"] == event.subject == article.article_id
    assert envelope["time"] == DETECTED
    assert envelope["datacontenttype"] == "application/json"
    data = envelope["data"]
    assert data["schema_version"] == "1.1"
    assert data["title"] == "Upland Clinics Trial Weekend Opening as Waiting Lists Lengthen"
    assert data["authors"] == ["Dafydd Arkwright"]
    assert data["canonical_url"] == (
        "https://dispatch.sorrowby.example/2024/03/14/upland-clinics-weekend-trial"
    )
    assert data["enclosures"] == [
        {
            "url": "https://cdn.sorrowby.example/audio/clinics-briefing.mp3",
            "type": "audio/mpeg",
            "length": 4823011,
        }
    ]
    assert data["source"]["feed_url"] == "https://dispatch.sorrowby.example/feeds/district.xml"


def test_later_revisions_are_article_updated_with_their_own_id(articles):
    """Revision 2 is article.updated with a new id; recomputing revision 1 gives the same id."""
    article = _news(articles)
    first = article_event(article, DETECTED)
    second = article_event(replace(article, revision=2), "2024-03-15T08:00:00Z")
    assert second.type == ARTICLE_UPDATED == "article.updated"
    assert second.event_id != first.event_id
    assert article_event(article, "2030-01-01T00:00:00Z").event_id == first.event_id


def test_body_is_compact_utf8_without_escapes(articles):
    """The body is UTF-8 JSON that keeps non-ASCII characters as themselves."""
    event = article_event(_news(articles), DETECTED)
    assert "Café".encode() in event.body
    assert b"\\u00e9" not in event.body
    assert b'", "' not in event.body


def test_every_fixture_article_serializes(articles):
    """Events from hostile and non-UTF-8 fixtures encode: nothing left that UTF-8 cannot carry."""
    for name in ("jsonfeed_hostile.json", "rss20_windows1252.xml", "rss20_utf16.xml"):
        for article in articles(name):
            envelope = json.loads(article_event(article, DETECTED).body.decode("utf-8"))
            assert envelope["data"]["article_id"] == article.article_id


def test_every_fixture_event_is_valid_against_the_published_schema(articles):
    """Events of every fixture feed, created and updated, match schemas/*.schema.json."""
    from tests.schemas import EVENT_FIXTURES, assert_valid_event

    checked = 0
    for name in EVENT_FIXTURES:
        for article in articles(name):
            for revision in (1, 3):
                doc = assert_valid_event(
                    article_event(replace(article, revision=revision), DETECTED).body
                )
                assert doc["type"] == ("article.created" if revision == 1 else "article.updated")
                checked += 1
    assert checked >= 30


def test_the_schema_refuses_a_broken_event(articles):
    """The schema is not a rubber stamp: a missing field, a wrong type or a created
    event with revision 2 is refused."""
    import pytest

    from tests.schemas import assert_valid_event

    good = json.loads(article_event(_news(articles), DETECTED).body)
    broken = [
        {k: v for k, v in good.items() if k != "subject"},
        {**good, "type": "article.deleted"},
        {**good, "data": {**good["data"], "revision": 2}},
        {**good, "data": {**good["data"], "authors": "Someone"}},
        {**good, "data": {**good["data"], "published": "14 March 2024"}},
    ]
    for doc in broken:
        with pytest.raises(AssertionError):
            assert_valid_event(doc)


_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)))
_FIXTURE = settings(max_examples=300, suppress_health_check=[HealthCheck.function_scoped_fixture])


@_FIXTURE
@given(title=_TEXT, text=_TEXT, authors=st.lists(_TEXT, max_size=3))
def test_bodies_are_byte_for_byte_what_the_json_module_writes(articles, title, text, authors):
    """Whatever the text (control characters, quotes, U+2028, astral planes), the body is
    what ``json.dumps(ensure_ascii=False, separators=(",", ":"))`` writes."""
    article = replace(_news(articles), title=title, content_text=text, authors=tuple(authors))
    body = article_event(article, DETECTED).body
    assert body == json.dumps(json.loads(body), ensure_ascii=False, separators=(",", ":")).encode()


@_FIXTURE
@given(similarity=st.floats(0, 1))
def test_a_similarity_reads_back_as_it_was(articles, similarity):
    """A float may be spelled otherwise than the json module would ("1e-5") but reads
    back the same."""
    changes = Changes(title=False, content_similarity=similarity)
    article = replace(_news(articles), revision=2, changes=changes)
    data = json.loads(article_event(article, DETECTED).body)["data"]
    assert data["changes"]["content_similarity"] == round(similarity, 3)
