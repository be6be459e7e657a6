"""The URL fast paths give exactly what the urllib route gives, on URLs built to sit on
either side of every condition the fast paths check."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from worker.core import urls

SCHEMES = st.sampled_from(["http", "https", "HTTP", "Https", "ftp", "javascript", ""])
LABEL = st.text(alphabet="abcXYZ019-é_", min_size=0, max_size=6)
HOSTS = st.one_of(
    st.lists(LABEL, min_size=1, max_size=4).map(".".join),
    st.sampled_from(
        [
            "www.google.com",
            "l.facebook.com",
            "[::1]",
            "127.0.0.1",
            "a.",
            ".",
            "xn--bcher-kva.example",
            "Example.COM",
            "user@host",
            "",
        ]
    ),
)
PORTS = st.one_of(
    st.just(""),
    st.sampled_from(
        [":80", ":443", ":8080", ":080", ":0", ":65535", ":65536", ":99999", ":", ":x1"]
    ),
)
PATH_CHARS = "abz09/._-~%;?#=&+ \t\u00e9"
PATHS = st.one_of(
    st.just(""),
    st.text(alphabet=PATH_CHARS, max_size=20).map(lambda p: "/" + p),
    st.text(alphabet=PATH_CHARS, max_size=12),
)
QUERIES = st.sampled_from(
    [
        "",
        "?",
        "#",
        "?#",
        "?a=1",
        "?utm_source=x&b=2",
        "#frag",
        "?url=http://x.example/",
        "?a=1#f",
        "?a",
        "?a=b+c",
        "?a=%20",
        "?a=1&&b=2",
        "?A~.=x_-",
        "?utm_source=x",
        "?a=1;b=2",
        "?a=1&",
        "?fbclid=1&UTM_medium=2&keep=3",
        "?a=é",
        "?a=1?b=2",
        "#a#b",
    ]
)


@st.composite
def url_like(draw: st.DrawFn) -> str:
    scheme = draw(SCHEMES)
    sep = draw(st.sampled_from(["://", ":/", "//", ""]))
    lead = draw(st.sampled_from(["", " ", "\n"]))
    return lead + scheme + sep + draw(HOSTS) + draw(PORTS) + draw(PATHS) + draw(QUERIES)


BASES = st.sampled_from(
    [
        None,
        "",
        "https://feeds.example/news/rss.xml",
        "http://127.0.0.1:8080/feed/1.xml",
        "ftp://files.example/",
    ]
)


@settings(max_examples=3000, deadline=None)
@given(url_like(), BASES)
def test_http_url_fast_path_matches_urllib(value: str, base: str | None) -> None:
    expected = urls._resolved(value.strip(), base) if value else None
    assert urls.http_url(value, base) == expected


@settings(max_examples=3000, deadline=None)
@given(url_like())
def test_canonical_url_fast_path_matches_urllib(value: str) -> None:
    absolute = urls.http_url(value)
    expected = urls._canonical(absolute) if absolute else None
    assert urls.canonical_url(value) == expected


def test_fast_paths_take_the_common_links_and_leave_the_rest() -> None:
    """The fast paths are used for plain links (else they would save nothing), and what
    needs rewriting still gets rewritten."""
    plain = "https://news.example/2026/11/25/story-name"
    assert urls._PLAIN.fullmatch(plain) and urls._simple_canonical(plain) == plain
    assert urls._PLAIN.fullmatch(plain + "?utm_source=rss&id=4#top")
    assert urls._simple_canonical(plain + "?utm_source=rss&id=4#top") == plain + "?id=4"
    assert urls._simple_canonical("http://127.0.0.1:8080/feed/1.xml")
    for other in (
        "http://news.example:80/a",
        "http://news.example:080/a",
        "http://News.example/a",
        "http://news.example",
        "https://www.google.com/url",
        "http://news.example/a?b=c+d",
    ):
        assert urls._simple_canonical(other) is None, other
    assert urls.canonical_url("http://news.example:80/a") == "http://news.example/a"
    assert urls.canonical_url("http://News.Example") == "http://news.example/"
    assert urls.http_url("/a b", "https://x.example/feed") == "https://x.example/a%20b"
    assert urls.http_url("https://x.example:99999/") is None
