"""urls: http(s)-only URLs resolved against a base, and the canonical form used for identity."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.core.urls import canonical_url, http_url, is_tracking_param, unwrap

BASE = "https://news.example/section/feed.xml"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("/2024/story", "https://news.example/2024/story"),
        ("story", "https://news.example/section/story"),
        ("../about", "https://news.example/about"),
        ("//cdn.example/img.jpg", "https://cdn.example/img.jpg"),
        ("?page=2", "https://news.example/section/feed.xml?page=2"),
        ("http://other.example/x", "http://other.example/x"),
        ("  https://news.example/padded  ", "https://news.example/padded"),
        ("https://news.example/with space", "https://news.example/with%20space"),
        ("https://news.example/line\nbreak", "https://news.example/linebreak"),
    ],
)
def test_http_url_resolves_against_the_base(value, expected):
    """Relative references resolve against the base; whitespace is trimmed or encoded."""
    assert http_url(value, BASE) == expected


@pytest.mark.parametrize(
    "value",
    [
        "javascript:alert(1)",
        "JavaScript:alert(1)",
        " java\tscript:alert(1)",
        "java\nscript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "vbscript:msgbox(1)",
        "mailto:desk@news.example",
        "ftp://files.news.example/a",
        "file:///etc/passwd",
        "http:///no-host",
        "https://[::1",
        "http://news.example:abc/x",
        "http://news.example:99999/x",
        "",
        None,
    ],
)
def test_http_url_refuses_everything_but_http_and_https(value):
    """Script and other schemes, host-less, bad-IPv6 and bad-port URLs give None."""
    assert http_url(value) is None
    assert http_url(value, BASE) is None


def test_http_url_without_base_refuses_relative():
    """A relative reference with no base to resolve against is not a URL."""
    assert http_url("/2024/story") is None


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "https://news.example/a?utm_source=rss&utm_medium=feed&id=7",
            "https://news.example/a?id=7",
        ),
        ("https://news.example/a?fbclid=IwAR0&gclid=Cj0K", "https://news.example/a"),
        ("https://news.example/a?mc_cid=1&mc_eid=2&page=3", "https://news.example/a?page=3"),
        ("https://news.example/a?UTM_Campaign=x", "https://news.example/a"),
        ("https://news.example/a#comments", "https://news.example/a"),
        ("HTTPS://News.EXAMPLE/Path/Case", "https://news.example/Path/Case"),
        ("http://news.example:80/a", "http://news.example/a"),
        ("https://news.example:443/a", "https://news.example/a"),
        ("https://news.example:8443/a", "https://news.example:8443/a"),
        ("http://news.example:443/a", "http://news.example:443/a"),
        ("https://news.example", "https://news.example/"),
        ("https://news.example./a", "https://news.example/a"),
        ("https://user:pw@news.example/a", "https://news.example/a"),
        ("https://[2001:DB8::1]:8080/a", "https://[2001:db8::1]:8080/a"),
        ("https://bücher.example/a", "https://xn--bcher-kva.example/a"),
        ("https://news.example/a?b=2&a=1", "https://news.example/a?b=2&a=1"),
        ("https://news.example/a?flag", "https://news.example/a?flag="),
    ],
)
def test_canonical_url(url, expected):
    """canonical_url drops tracking, fragment, default port, user info; lowercases the host."""
    assert canonical_url(url) == expected


@pytest.mark.parametrize(
    ("wrapped", "target"),
    [
        (
            "https://www.google.com/url?rct=j&sa=t&url=https://news.example/a%3Fid%3D7&ct=ga",
            "https://news.example/a?id=7",
        ),
        ("https://google.com/url?q=https%3A%2F%2Fnews.example%2Fb", "https://news.example/b"),
        (
            "https://l.facebook.com/l.php?u=https%3A%2F%2Fnews.example%2Fc&h=AT0",
            "https://news.example/c",
        ),
        ("https://out.reddit.com/?url=https://news.example/d", "https://news.example/d"),
    ],
)
def test_canonical_url_unwraps_redirect_wrappers(wrapped, target):
    """Google Alerts, Facebook and Reddit redirect links are replaced by their target."""
    assert canonical_url(wrapped) == target


def test_unwrap_leaves_non_http_targets_and_other_paths_alone():
    """A wrapper whose target is not http(s), or a wrapper host on another path, is kept."""
    evil = "https://www.google.com/url?url=javascript:alert(1)"
    search = "https://www.google.com/search?q=https://news.example/a"
    assert unwrap(evil) == evil
    assert unwrap(search) == search


def test_unwrap_follows_nested_wrappers():
    """A wrapper around a wrapper is unwrapped to the final target."""
    inner = "https://l.facebook.com/l.php?u=https%3A%2F%2Fnews.example%2Fe"
    outer = "https://www.google.com/url?url=" + inner.replace("%", "%25").replace("?", "%3F")
    assert canonical_url(outer) == "https://news.example/e"


@pytest.mark.parametrize(
    ("name", "tracking"),
    [
        ("utm_source", True),
        ("UTM_MEDIUM", True),
        ("fbclid", True),
        ("gclid", True),
        ("mc_cid", True),
        ("mc_eid", True),
        ("_hsenc", True),
        ("id", False),
        ("page", False),
        ("q", False),
        ("utm", False),
        ("source", False),
    ],
)
def test_is_tracking_param(name, tracking):
    """utm_*, mc_*, click ids and friends are tracking parameters; ordinary ones are not."""
    assert is_tracking_param(name) is tracking


@pytest.mark.parametrize(
    "url", [None, "javascript:alert(1)", "http://./a", "http://.//a", "http://[::1]@[[/"]
)
def test_canonical_url_of_nothing_unsafe_or_hostless_is_none(url):
    """No URL, a script URL or an unreadable/dot-only host has no canonical form."""
    assert canonical_url(url) is None


_HOSTS = st.sampled_from(["news.example", "NEWS.example", "news.example.", "news.example:443"])
_PATHS = st.lists(
    st.text(st.characters(categories=["Ll", "Lu", "Nd"]) | st.sampled_from("-_.~%"), max_size=8),
    max_size=3,
).map(lambda parts: "/" + "/".join(parts))
_KEPT = st.lists(
    st.tuples(st.sampled_from(["id", "page", "q", "lang"]), st.text("abc123", max_size=4)),
    max_size=3,
    unique_by=lambda kv: kv[0],
)
_TRACKING = st.lists(
    st.tuples(
        st.sampled_from(
            [
                "utm_source",
                "utm_medium",
                "utm_campaign",
                "fbclid",
                "gclid",
                "mc_cid",
                "mc_eid",
                "utm_content",
            ]
        ),
        st.text("xyz789", max_size=5),
    ),
    max_size=4,
)


def _query(pairs):
    return "&".join(f"{k}={v}" for k, v in pairs)


@st.composite
def _plain_and_noisy(draw):
    """One link written plainly, and again with tracking parameters (anywhere among the
    others), a fragment, padding, another host spelling or the default port."""
    path, kept, tracking = draw(_PATHS), draw(_KEPT), draw(_TRACKING)
    host = draw(_HOSTS)
    fragment = draw(st.sampled_from(["", "#top", "#comments"]))
    pad = draw(st.sampled_from(["", " ", "\n", "\t "]))
    plain = f"https://news.example{path}" + (f"?{_query(kept)}" if kept else "")
    mixed = kept[:1] + tracking + kept[1:]
    noisy = f"{pad}https://{host}{path}" + (f"?{_query(mixed)}" if mixed else "") + fragment + pad
    return plain, noisy


@settings(max_examples=200, deadline=None)
@given(_plain_and_noisy())
def test_tracking_fragment_and_padding_never_change_the_canonical_form(pair):
    """Tracking parameters, fragment, padding or default port never change the canonical URL."""
    plain, noisy = pair
    canonical = canonical_url(noisy)
    assert canonical == canonical_url(plain)
    assert canonical is not None
    parts = urlsplit(canonical)
    assert parts.fragment == ""
    assert not any(is_tracking_param(k) for k, _ in parse_qsl(parts.query))


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60).map(lambda s: "https://news.example/" + s) | st.text(max_size=40))
def test_canonical_url_never_raises_and_is_idempotent(value):
    """canonical_url takes any string, returns None or http(s), and is idempotent."""
    once = canonical_url(value)
    if once is not None:
        assert once.startswith(("http://", "https://"))
        assert canonical_url(once) == once
