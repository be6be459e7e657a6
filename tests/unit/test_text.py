"""text: plain text out of feed strings, with no markup, entities or unsafe characters."""

from __future__ import annotations

import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from worker.core import text
from worker.core.text import collapse, html_to_text, plain_text, scrub, truncate

# Written out here, not imported: C0 controls but tab and newline, DEL, bidi controls,
# lone surrogates.
FORBIDDEN = re.compile("[\x00-\x08\x0b-\x1f\x7f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
# Any code point, lone surrogates included (Hypothesis leaves category Cs out by default).
ANY_CHAR = st.characters(exclude_categories=())
MARKUPISH = st.sampled_from(
    [
        "<p>",
        "</p>",
        "<b>",
        "</b>",
        "<br>",
        "<script>",
        "</script>",
        "<style>",
        "<!--",
        "-->",
        "&amp;",
        "&lt;",
        "&#1;",
        "&#0;",
        "&#x202e;",
        "&#xd800;",
        "&#xffff;",
        "&#147;",
        "<html>",
        "<head><title>",
        "</title></head>",
        "<!DOCTYPE html>",
        "<li>",
        "<h2>",
        "\x00",
        "\u202e",
        "\ud800",
        "\r\n",
        " ",
        "\n\n",
        "word",
    ]
)
HTMLISH = st.lists(st.one_of(MARKUPISH, st.text(ANY_CHAR, max_size=4)), max_size=16).map("".join)


@pytest.mark.parametrize(
    "char",
    [
        "\x00",
        "\x01",
        "\x08",
        "\x0b",
        "\x0c",
        "\x1b",
        "\x7f",
        "\x85",
        "\u202a",
        "\u202b",
        "\u202c",
        "\u202d",
        "\u202e",
        "\u2066",
        "\u2067",
        "\u2068",
        "\u2069",
        "\ud800",
        "\udfff",
        "\ufeff",
    ],
)
def test_scrub_removes_each_unsafe_character(char):
    """scrub drops NUL, C0/C1 controls, DEL, bidi controls, lone surrogates and a stray BOM."""
    assert scrub(f"a{char}b") == "ab"


@pytest.mark.parametrize("code", range(128), ids=lambda c: f"U+{c:04X}")
def test_scrub_of_ascii_text_keeps_and_drops_what_its_rule_does(code):
    """An ASCII string takes a shorter route (its bytes screened): each ASCII character
    is kept or dropped as the rule for any text says."""
    value = f"ab{chr(code)}c"
    assert scrub(value) == text._UNSAFE.sub("", value)


@given(st.text(st.characters(max_codepoint=0x7F)) | st.text(ANY_CHAR))
def test_scrub_is_its_rule(raw):
    assert scrub(raw) == text._UNSAFE.sub("", raw.replace("\r\n", "\n"))


def test_scrub_keeps_ordinary_text():
    """scrub keeps tabs, newlines, accents, CJK, emoji and ZWJ, and turns CRLF into LF."""
    text = "Zoë\tmet 李 at the café 👩\u200d🔧\r\nnext line"
    assert scrub(text) == "Zoë\tmet 李 at the café 👩\u200d🔧\nnext line"


def test_collapse_squeezes_all_kinds_of_space():
    """collapse joins lines and runs of (non-breaking, ideographic...) spaces into one space."""
    assert collapse("  one\n two\u00a0\u00a0three\u3000four\t ") == "one two three four"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Plain title", "Plain title"),
        ("Fish &amp; chips &mdash; &#8220;best&#8221;", "Fish & chips \u2014 \u201cbest\u201d"),
        ("<b>Bold</b> and <i>italic</i>", "Bold and italic"),
        ("<p>Two</p><p>paragraphs</p>", "Two paragraphs"),
        ("Vote <script>steal()</script>counted", "Vote counted"),
        ("  spaced \n\n out  ", "spaced out"),
        ("a < b and c > d", "a < b and c > d"),
        ("&lt;b&gt;shown, not parsed&lt;/b&gt;", "<b>shown, not parsed</b>"),
        ("", None),
        (None, None),
        ("<img src=x>", None),
        ("   ", None),
    ],
)
def test_plain_text(raw, expected):
    """plain_text strips tags (and script contents), decodes entities, collapses space."""
    assert plain_text(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "&#1;<b>Council</b> vote <script>steal()</script>",
        "<html><head><title>Council vote</title></head></html>",
        "\uffff<b>Council</b> vote",
    ],
)
def test_plain_text_never_hands_back_markup(raw):
    """Inputs lxml refuses or trips over still come out of plain_text without tags."""
    out = plain_text(raw)
    assert out is not None
    assert "<" not in out
    assert "Council" in out
    assert "steal" not in out


def test_html_to_text_blocks_become_paragraphs():
    """Block elements become paragraphs separated by one blank line; inline ones do not."""
    markup = (
        "<h2>Heading</h2><p>First <em>para</em>graph.</p>"
        "<ul><li>one</li><li>two</li></ul>line<br>break"
    )
    assert html_to_text(markup) == "Heading\n\nFirst paragraph.\n\none\n\ntwo\n\nline\n\nbreak"


def test_html_to_text_drops_script_and_style_but_keeps_their_tails():
    """Script, style, template and noscript contents are not text; what follows them is."""
    markup = (
        "<p>Before<script>var x = '<p>not text</p>';</script> after"
        "<style>p{}</style>!</p><noscript>enable js</noscript><template>t</template>"
    )
    assert html_to_text(markup) == "Before after!"


def test_html_to_text_drops_comments_and_decodes_entities():
    """Comments vanish; entities become characters."""
    assert html_to_text("<p>A<!-- hidden -->&amp;B &eacute;</p>") == "A&B \u00e9"


def test_html_to_text_scrubs_characters_made_by_references():
    """Character references to bidi overrides and controls do not survive as characters."""
    assert html_to_text("<p>left&#x202E;right&#1;&#x7f;</p>") == "leftright"


@pytest.mark.parametrize(
    ("value", "limit", "expected"),
    [
        ("short", 10, "short"),
        ("exactly10!", 10, "exactly10!"),
        ("eleven chars", 10, "eleven ch…"),
        ("word   then", 8, "word…"),
        (None, 5, None),
    ],
)
def test_truncate(value, limit, expected):
    """truncate keeps strings within the limit and marks a cut with an ellipsis."""
    out = truncate(value, limit)
    assert out == expected
    assert out is None or len(out) <= limit


@settings(max_examples=300, deadline=None)
@given(HTMLISH)
def test_plain_text_output_is_one_clean_line(raw):
    """plain_text returns None or one trimmed line without unsafe characters, for any input."""
    out = plain_text(raw)
    if out is not None:
        assert out == out.strip() and out
        assert "\n" not in out
        assert not FORBIDDEN.search(out)


@settings(max_examples=300, deadline=None)
@given(HTMLISH)
def test_html_to_text_output_is_clean(raw):
    """html_to_text never raises and never returns unsafe characters or blank paragraphs."""
    out = html_to_text(raw)
    assert not FORBIDDEN.search(out)
    assert all(p.strip() == p and p for p in out.split("\n\n")) or out == ""


@given(st.text(ANY_CHAR))
def test_scrub_is_idempotent_and_encodable(raw):
    """scrub is idempotent and its output holds no unsafe character and encodes as UTF-8."""
    once = scrub(raw)
    assert scrub(once) == once
    # A lone CR stays (one-line fields collapse it into a space, like any whitespace).
    assert not FORBIDDEN.search(once.replace("\r", ""))
    once.encode("utf-8")


# Every character str.isspace() knows, and some that are not whitespace at all.
_WHITESPACE = "".join(chr(c) for c in range(0x110000) if chr(c).isspace())
_RULE = re.compile(r"[ \t\r\f\v\u00a0\u2000-\u200a\u3000]+")


@given(st.text(alphabet=_WHITESPACE + "ab\u00e9\u201c\u200b\x00", max_size=40))
def test_collapse_is_its_rule_whatever_whitespace_it_meets(value):
    """The str.split() route of collapse() gives what its rule gives: newlines and the
    listed spaces collapse to one space, the ends are stripped, other whitespace stays.
    Collapsing again changes nothing (``boilerplate._fingerprint`` relies on it)."""
    assert collapse(value) == _RULE.sub(" ", value.replace("\n", " ")).strip()
    assert collapse(collapse(value)) == collapse(value)


@pytest.mark.parametrize("space", list(_WHITESPACE), ids=lambda c: f"U+{ord(c):04X}")
def test_collapse_treats_each_whitespace_character_by_its_rule(space):
    for value in (f"a{space}b", f"a {space} b", f"{space}a{space}", f"a{space}{space}b"):
        assert collapse(value) == _RULE.sub(" ", value.replace("\n", " ")).strip()
