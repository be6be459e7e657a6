"""``Article.to_dict`` writes its source and enclosures out by hand (for speed); they must
stay what ``dataclasses.asdict`` gives, as fields are added."""

from __future__ import annotations

import dataclasses

from hypothesis import given
from hypothesis import strategies as st

from worker.core.models import Article, Enclosure, SourceRef

TEXT = st.none() | st.text(max_size=8)
sources = st.builds(
    SourceRef, feed_id=st.text(max_size=8), feed_url=st.text(max_size=8), title=TEXT, site=TEXT
)
enclosures = st.builds(
    Enclosure, url=st.text(max_size=8), type=TEXT, length=st.none() | st.integers(0, 2**40)
)


@given(source=sources, attached=st.lists(enclosures, max_size=3))
def test_source_and_enclosures_are_as_asdict_gives_them(source, attached):
    article = Article(
        article_id="a1",
        url=None,
        canonical_url=None,
        guid=None,
        title=None,
        summary=None,
        content_html=None,
        content_text=None,
        authors=(),
        categories=(),
        published=None,
        updated=None,
        language=None,
        image=None,
        enclosures=tuple(attached),
        source=source,
        content_hash="h",
    )
    data = article.to_dict()
    assert data["source"] == dataclasses.asdict(source)
    assert data["enclosures"] == [dataclasses.asdict(e) for e in attached]
