"""sanitize_html: an allowlist that keeps readable HTML and nothing that can run."""

from __future__ import annotations

import re

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from worker.core.sanitize import sanitize_html

BASE = "https://news.example/2024/05/story.html"
FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


@pytest.mark.parametrize(
    "markup",
    [
        "<p>ok</p><script>alert(1)</script>",
        "<p>ok</p><SCRIPT SRC=https://evil.example/x.js></SCRIPT>",
        "<p>ok</p><style>body{display:none}</style>",
        "<p>ok</p><iframe src='https://evil.example/'></iframe>",
        "<p>ok</p><object data='x.swf'></object>",
        "<p>ok</p><noscript><img src=x></noscript>",
        "<p>ok</p><template><b>hidden</b></template>",
        "<p>ok</p><!-- <script>alert(1)</script> -->",
    ],
)
def test_dangerous_elements_are_removed_with_their_content(markup):
    """script, style, iframe, object, noscript, template and comments vanish entirely."""
    assert sanitize_html(markup, BASE) == "<p>ok</p>"


@pytest.mark.parametrize(
    "markup",
    [
        '<p onclick="steal()">ok</p>',
        '<p onmouseover="steal()" ONLOAD="x()">ok</p>',
        '<p style="background:url(javascript:alert(1))">ok</p>',
        '<p class="promo" id="top">ok</p>',
    ],
)
def test_event_handlers_styles_and_other_attributes_are_removed(markup):
    """on* handlers, style, class and id attributes are dropped; the text stays."""
    assert sanitize_html(markup, BASE) == "<p>ok</p>"


@pytest.mark.parametrize(
    "href",
    [
        "javascript:alert(1)",
        "JAVASCRIPT:alert(1)",
        "java&#x09;script:alert(1)",
        " javascript:alert(1)",
        "data:text/html;base64,PHNjcmlwdD4=",
        "vbscript:msgbox(1)",
    ],
)
def test_script_urls_are_removed_from_links_and_images(href):
    """javascript:, data: and vbscript: URLs (however disguised) are dropped from href and src."""
    out = sanitize_html(f'<a href="{href}">x</a><img src="{href}" alt="y">', BASE)
    assert out is not None
    lowered = out.lower()
    assert "javascript" not in lowered and "data:" not in lowered and "vbscript" not in lowered
    assert "href=" not in out and "src=" not in out


def test_relative_urls_are_resolved_against_the_base():
    """Relative href, src, srcset, poster and cite values become absolute URLs."""
    out = sanitize_html(
        '<a href="../other.html">a</a><img src="img/a.jpg" srcset="img/a.jpg 1x, /b.jpg 2x">'
        '<video src="/v.mp4" poster="p.jpg"></video><blockquote cite="/source">q</blockquote>',
        BASE,
    )
    assert out is not None
    assert 'href="https://news.example/2024/other.html"' in out
    assert 'src="https://news.example/2024/05/img/a.jpg"' in out
    srcset = "https://news.example/2024/05/img/a.jpg 1x, https://news.example/b.jpg 2x"
    assert f'srcset="{srcset}"' in out
    assert 'src="https://news.example/v.mp4"' in out
    assert 'poster="https://news.example/2024/05/p.jpg"' in out
    assert 'cite="https://news.example/source"' in out


def test_srcset_keeps_only_safe_candidates():
    """A javascript: candidate in srcset is dropped; the safe one stays."""
    out = sanitize_html('<img srcset="javascript:alert(1) 1x, /ok.jpg 2x" alt="a">', BASE)
    assert out == '<img srcset="https://news.example/ok.jpg 2x" alt="a">'


def test_links_get_rel_noopener():
    """Every kept link carries rel="noopener noreferrer nofollow"."""
    out = sanitize_html('<a href="https://other.example/" rel="opener">x</a>', BASE)
    assert out == ('<a href="https://other.example/" rel="noopener noreferrer nofollow">x</a>')


def test_readable_markup_is_kept():
    """Paragraphs, headings, emphasis, lists, quotes, tables and figures survive as they are."""
    markup = (
        "<h2>Sub</h2><p><em>e</em> <strong>s</strong></p><ul><li>i</li></ul>"
        "<table><tbody><tr><td>c</td></tr></tbody></table>"
        "<figure><figcaption>cap</figcaption></figure>"
    )
    assert sanitize_html(markup, BASE) == markup


def test_unsafe_characters_are_removed_even_when_written_as_references():
    """NUL, controls and bidi overrides go, literal or as &#...; references."""
    out = sanitize_html("<p>a\x00b\u202ec&#x202E;d&#1;e&#x7f;f</p>", BASE)
    assert out == "<p>abcdef</p>"


@pytest.mark.parametrize("markup", [None, "", "   ", "<script>x</script>", "<!-- only -->"])
def test_nothing_left_is_none(markup):
    """Empty input, or input with nothing allowed in it, gives None rather than ""."""
    assert sanitize_html(markup, BASE) is None


_PIECES = st.sampled_from(
    [
        "<p>",
        "</p>",
        "<a href='javascript:alert(1)'>",
        "<a href='/x'>",
        "</a>",
        "<img src=x onerror=alert(1)>",
        "<script>",
        "</script>",
        "<style>",
        "<svg onload=x()>",
        "<iframe>",
        "<!--",
        "-->",
        "&#1;",
        "&#x202e;",
        "&amp;#x202e;",
        "&nbsp;",
        "&lrm;",
        "&",
        "\x00",
        "\ud800",
        "<b style='x'>",
        "</b>",
        "<math><mi xlink:href='javascript:x'>",
        "<form action='javascript:x'>",
        "text",
        " ",
        "<",
        '"',
        "'",
        ">",
        "=",
        "<img src='data:image/png;base64,AA'>",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECES | st.text(max_size=3), max_size=20).map("".join))
def test_sanitized_output_holds_nothing_executable(markup):
    """Any hostile mix sanitizes to nothing executable or unsafe, and sanitizing is idempotent."""
    out = sanitize_html(markup, BASE)
    if out is None:
        return
    lowered = out.lower()
    assert "<script" not in lowered and "<iframe" not in lowered and "<svg" not in lowered
    assert not re.search(r"<[^>]*\son[a-z]+\s*=", lowered)
    # Text keeps "<" escaped, so every "<" left opens a real tag.
    assert not re.search(r"<[^>]*(javascript|data):", lowered)
    assert not FORBIDDEN.search(out)
    assert sanitize_html(out, BASE) == out


def _one_off(markup: str, base: str) -> str | None:
    """The sanitizer built afresh for one call, as ``nh3.clean`` does, and its output
    scrubbed whatever it holds: the reference the kept cleaner is held to."""
    import nh3

    from worker.core import sanitize
    from worker.core.text import scrub

    cleaned = nh3.clean(
        scrub(markup),
        tags=set(sanitize.TAGS),
        clean_content_tags=set(sanitize.CONTENT_DROPPED),
        attributes=sanitize.ATTRIBUTES,
        attribute_filter=lambda _tag, attr, value: sanitize._url_attribute(attr, value, base),
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )
    return scrub(cleaned).strip() or None


_BASES = st.sampled_from(
    [BASE, "https://other.example/a/b/", "http://third.example/x?y=1", "https://news.example/"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES | st.text(max_size=3), max_size=12).map("".join), _BASES)
def test_the_kept_cleaner_sanitizes_as_a_fresh_one_does(markup, base):
    """The one cleaner kept, told each call's base, gives what a sanitizer built for the
    call gives; output is scrubbed again only after numeric references, and gives the
    same as when it always was."""
    assert sanitize_html(markup, base) == _one_off(markup, base)


def test_each_base_resolves_its_own_relative_links():
    """The kept cleaner never resolves a link against an earlier call's base."""
    bases = [f"https://site{n}.example/dir/" for n in range(70)]
    for _ in range(2):
        for base in bases:
            out = sanitize_html('<a href="p.html">x</a>', base)
            assert out is not None and f'href="{base}p.html"' in out


def test_threads_cleaning_at_once_each_resolve_against_their_own_base():
    """The base reaches the shared cleaner's filter per thread (a context variable)."""
    import threading

    out: dict[int, set[str | None]] = {}

    def clean(n: int) -> None:
        base = f"https://site{n}.example/"
        out[n] = {sanitize_html('<a href="p">x</a>' * 50, base) for _ in range(200)}

    threads = [threading.Thread(target=clean, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for n, seen in out.items():
        (only,) = seen
        assert only is not None and only.count(f'href="https://site{n}.example/p"') == 50


def test_no_named_reference_stands_for_a_character_scrub_drops():
    """Why sanitize_html scrubs nh3's output only where the markup held "&#": of the
    references HTML names (the WHATWG table, which nh3's parser decodes too), none
    decodes to a character ``scrub`` removes."""
    import html.entities

    from worker.core.text import scrub

    assert len(html.entities.html5) > 2000
    assert [name for name, text in html.entities.html5.items() if scrub(text) != text] == []


_LINE_PIECES = _PIECES | st.sampled_from(
    ["<p>Advertisement</p>", "<p>Read more:</p>", "\u202e", "&#x85;"]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_LINE_PIECES | st.text(max_size=3), max_size=20).map("".join))
@example("<p>a&#x202e;b&#1;c\u2066d</p><p>Read more:</p><p>e&#x85;f</p>")
def test_sanitized_markup_reads_the_same_without_scrubbing_it_again(markup):
    """normalize reads a body's text with ``sanitized=True`` (no scrub of the markup):
    neither nh3 nor boilerplate removal writes what that scrub would have taken out.
    (The example has boilerplate.remove re-serialize markup that held references.)"""
    from worker.core import boilerplate
    from worker.core.text import html_to_text

    clean = sanitize_html(markup, BASE)
    for html in (clean, boilerplate.remove(clean)[0]):
        if html:
            assert html_to_text(html, sanitized=True) == html_to_text(html)
            assert not FORBIDDEN.search(html)
