"""Boilerplate rules, learned boilerplate, page extraction and language detection."""

from __future__ import annotations

import random
import re
from pathlib import Path

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from worker.core import boilerplate, language
from worker.core import extract as extract_module
from worker.core.boilerplate import Rules, fingerprints, learn, remove, source_key
from worker.core.extract import combine, extract, is_teaser, much_longer, trim
from worker.core.models import RawEntry, SourceRef
from worker.core.normalize import Cleaning, normalize_entry, with_page, without_learned
from worker.core.text import collapse, fold_keywords

PAGES = Path(__file__).resolve().parent.parent / "fixtures" / "pages"
SOURCE = SourceRef(feed_id="f1", feed_url="https://news.example/feed.xml")


@pytest.mark.parametrize(
    "line",
    [
        "ALSO READ: Ferry Operators Warn of Winter Timetable Cuts",
        "Also Read Rail Strike Ends After Overnight Talks",
        "READ MORE: Museum Reopens Its Maritime Wing",
        "Related: The harbour vote, explained",
        "Don't miss: our guide to the referendum",
        "Disclaimer: figures are provisional.",
        "The post A Headline appeared first on The Paper.",
    ],
)
def test_default_patterns_remove_promotions_and_trailers(line):
    """Each built-in pattern takes its line out of the body and into the removed list."""
    body, removed = remove(f"<p>Story.</p><p>{line}</p><p>More story.</p>")
    assert body == "<p>Story.</p><p>More story.</p>"
    assert removed == (line,)


@pytest.mark.parametrize(
    "line",
    [
        "Related research has shown the barrier would work.",
        "Read more carefully, the report says something else.",
        "Relatedly: " + "a long paragraph " * 40,
    ],
)
def test_story_sentences_that_merely_start_alike_stay(line):
    """A paragraph that only begins with similar words (no colon, or far too long) stays."""
    markup = f"<p>{line}</p>"
    assert remove(markup) == (markup, ())


def test_selectors_and_patterns_from_config_apply_on_top_of_the_defaults():
    """A source's CSS selector and line pattern remove their blocks, defaults still apply."""
    rules = Rules.build(["div.promo", "aside"], [r"Sponsored by\b"])
    markup = (
        "<p>Story.</p><div class='promo'><p>Buy now</p></div><aside>Side</aside>"
        "<p>Sponsored by Acme</p><p>ALSO READ: Other</p><p>End.</p>"
    )
    body, removed = remove(markup, rules)
    assert body == "<p>Story.</p><p>End.</p>"
    assert removed == ("Buy now", "Side", "Sponsored by Acme", "ALSO READ: Other")


def test_defaults_can_be_switched_off():
    """Rules built without defaults leave "ALSO READ" lines alone."""
    markup = "<p>ALSO READ: Other</p>"
    assert remove(markup, Rules.build(defaults=False)) == (markup, ())


def test_a_wrapper_is_never_removed_for_the_line_it_holds():
    """Only innermost blocks are lines: a div holding a promo and the story keeps the story."""
    body, removed = remove("<div><p>ALSO READ: x</p><p>Story.</p></div>")
    assert body == "<div><p>Story.</p></div>"
    assert removed == ("ALSO READ: x",)


def test_learned_lines_are_those_recurring_in_enough_articles():
    """A line present in at least min_articles remembered articles is learned; rarer are not."""
    trailer = fingerprints("<p>Published by Ann Lee</p>")[0]
    history = [fingerprints(f"<p>Story {n}.</p><p>Published by Ann Lee</p>") for n in range(3)] + [
        fingerprints("<p>Story 9.</p><p>A one-off line.</p>")
    ]
    learned = learn(history, min_articles=3)
    assert learned == frozenset({trailer})
    assert learn(history[:2], min_articles=3) == frozenset()


def test_fingerprints_ignore_case_and_spacing_and_include_removed_lines():
    """Fingerprints match across case and spacing; removed lines keep being counted."""
    (a,) = fingerprints("<p>Published  by ANN lee</p>")
    (b,) = fingerprints("<p>published by Ann Lee</p>")
    assert a == b
    assert len(fingerprints("<p>x</p>", removed=("Disclaimer: y",))) == 2


def test_without_learned_moves_recurring_lines_to_removed():
    """without_learned drops learned lines, recomputes the text and keeps what was removed."""
    article = normalize_entry(
        RawEntry(guid="g", title="t", content="<p>Story.</p><p>ALSO READ: x</p><p>Subscribe!</p>"),
        SOURCE,
        SOURCE.feed_url,
    )
    learned = frozenset(fingerprints("<p>Subscribe!</p>"))
    cleaned = without_learned(article, learned)
    assert cleaned.content_text == "Story."
    assert cleaned.removed_boilerplate == ("ALSO READ: x", "Subscribe!")
    assert cleaned.content_hash != article.content_hash
    assert without_learned(article, frozenset()) is article


@pytest.mark.parametrize(
    ("url", "key"),
    [
        ("https://www.paper.example/a", "paper.example"),
        ("https://m.paper.example/a", "m.paper.example"),
        (None, "feed-1"),
    ],
)
def test_source_key_is_the_site_without_www(url, key):
    """History is kept per site (without "www."), per feed when an article has no URL."""
    assert source_key(url, "feed-1") == key


_URL_PARTS = st.sampled_from(
    [
        "http",
        "https",
        "HTTPS",
        "://",
        "/",
        "www.",
        "a",
        "B",
        "0",
        ".",
        "-",
        ":8",
        "@",
        "[::1]",
        "?",
        "#",
        "%41",
        " ",
        "\t",
        "\n",
        "\x00",
        "\u00e9",
        "example",
        "Ex",
    ]
)


@settings(max_examples=2000)
@given(st.lists(_URL_PARTS, max_size=12).map("".join))
def test_source_key_fast_path_agrees_with_urlsplit(url):
    """The regex route for plain URLs gives the host urlsplit gives, for any URL."""
    from urllib.parse import urlsplit

    expected = ((urlsplit(url).hostname or "") if url else "").removeprefix("www.") or "f"
    assert source_key(url, "f") == expected


def test_seed_page_extraction_keeps_story_and_drops_comments():
    """The seed-shaped page gives its story, sub-headings, author, date and image; no comments."""
    page = (PAGES / "seed_article.html").read_text()
    got = extract(page, "https://lanternledger.example/world/moscow-grain-corridor-proposal/")
    assert got is not None
    assert got.author == "Amreen Ahmad"
    assert got.published == "2025-11-28T00:00:00Z"
    assert (
        got.image
        == "https://lanternledger.example/wp-content/uploads/2025/11/odesa-port-cranes.jpg"
    )
    assert "<h2>Markets Wait for a Signal</h2>" in got.content_html
    assert "Insurers will decide" not in got.content_html
    assert "Leave a Reply" not in got.content_html


def test_trim_drops_repeated_headline_and_trailing_prompts():
    """The headline repeated as the first block and trailing subscribe/bio lines are trimmed."""
    blocks = [
        ("p", "Harbour Votes on a Barrier"),
        ("p", "The council met on Thursday."),
        ("p", "Ann Lee is a reporter covering the coast for the Paper."),
        ("p", "Sign up for our newsletter to get updates in your inbox."),
    ]
    kept, trimmed = trim(blocks, "Harbour votes on a barrier!")
    assert kept == [("p", "The council met on Thursday.")]
    assert trimmed == (
        "Harbour Votes on a Barrier",
        "Sign up for our newsletter to get updates in your inbox.",
        "Ann Lee is a reporter covering the coast for the Paper.",
    )


def test_trim_drops_page_chrome_above_a_headline_repeated_near_the_top():
    """The headline's last appearance in the first half ends the page chrome above it."""
    story = "The council met on Thursday and voted to build the barrier at last."
    blocks = [
        ("p", "Harbour Votes on a Barrier"),
        ("p", "Photo: Ann Lee"),
        ("p", "Image 1 of 8"),
        ("p", "Harbour Votes on a Barrier"),
        ("p", story),
        ("p", story.replace("Thursday", "Friday")),
    ]
    kept, trimmed = trim(blocks, "Harbour votes on a barrier")
    assert [text for _, text in kept] == [story, story.replace("Thursday", "Friday")]
    assert trimmed[:4] == (
        "Harbour Votes on a Barrier",
        "Photo: Ann Lee",
        "Image 1 of 8",
        "Harbour Votes on a Barrier",
    )


def test_trim_keeps_a_headline_quoted_in_the_second_half():
    """A block equal to the headline late in the story is story, not chrome."""
    story = "The council met on Thursday and voted to build the barrier at last."
    blocks = [("p", story), ("p", story.replace("Thursday", "Friday")), ("p", "Barrier now")]
    kept, _ = trim(list(blocks), "Barrier now")
    assert kept == blocks


PROSE = [
    f"Paragraph {n} of the story goes on long enough to be prose, as a reporter would "
    f"write it, with a subject, a verb and a full stop at the end of paragraph {n}."
    for n in range(1, 9)
]


def test_combine_takes_the_second_opinion_when_the_first_stopped_inside_the_story():
    """readability's body wins when it adds prose paragraphs worth half of trafilatura's text."""
    main = [("p", text) for text in PROSE[:3]]
    other = [("p", text) for text in PROSE]
    assert combine(main, main, other) == other


def test_combine_keeps_the_first_opinion_when_the_second_adds_only_short_lines():
    """Short lines (share prompts, tags) are no sign that trafilatura cut the story."""
    main = [("p", text) for text in PROSE[:3]]
    other = [("p", "Share this on WhatsApp"), *main, ("p", "Tags: harbour, barrier, council")]
    assert combine(main, [], other) == main


def test_combine_drops_edge_blocks_no_other_opinion_kept_and_keeps_inner_ones():
    """Leading and trailing blocks neither witness has are dropped; inner ones stay."""
    inner = ("p", "A short quote between paragraphs.")
    main = [
        ("p", "Gallery: 1 of 8"),
        ("p", PROSE[0]),
        inner,
        ("p", PROSE[1]),
        ("p", "Get the best of the coast in your inbox."),
    ]
    precise = [("p", PROSE[0])]
    other = [("p", PROSE[1])]
    assert combine(main, precise, other) == [("p", PROSE[0]), inner, ("p", PROSE[1])]


def test_combine_never_votes_out_everything_or_votes_without_witnesses():
    """With no witness, or none agreeing on any block, the first opinion is kept whole."""
    main = [("p", PROSE[0]), ("p", PROSE[1])]
    assert combine(main, [], []) == main
    assert combine(main, [("p", "Something else entirely.")], []) == main
    assert combine([], [], [("p", PROSE[0])]) == []


def test_a_story_split_into_chunks_by_ad_rows_is_extracted_whole():
    """A page whose story is cut into containers by ad rows keeps every paragraph, in order:
    trafilatura alone keeps the first container only."""
    page = (PAGES / "chunked_article.html").read_text()
    got = extract(page, "https://coastpaper.example/news/harbour-barrier-vote")
    assert got is not None
    paragraphs = re.findall(r"<p>(.*?)</p>", got.content_html)
    assert len(paragraphs) == 10
    assert paragraphs[0].startswith("The harbour council voted on Thursday")
    assert paragraphs[-1].startswith("Residents of the lower town")
    assert "Advertisement" not in got.content_html
    assert "inbox" not in got.content_html
    assert "Home" not in got.content_html


def test_with_page_keeps_the_feeds_fields_and_cleans_the_page():
    """The page supplies body (cleaned) and missing author; the feed's title and summary win."""
    article = normalize_entry(
        RawEntry(
            guid="g",
            title="Grain talks",
            link="https://lanternledger.example/a",
            summary="Standfirst. [&#8230;]",
            categories=("Russia",),
        ),
        SOURCE,
        SOURCE.feed_url,
    )
    page = extract((PAGES / "seed_article.html").read_text(), "https://lanternledger.example/a")
    assert page is not None
    whole = with_page(article, page, Cleaning())
    assert whole.summary == "Standfirst."
    assert whole.title == "Grain talks"
    assert whole.authors == ("Amreen Ahmad",)
    assert whole.content_text is not None and "ALSO READ" not in whole.content_text
    assert len([r for r in whole.removed_boilerplate if r.startswith("ALSO READ")]) == 3


@pytest.mark.parametrize(
    ("text", "removed", "expected"),
    [
        ("Kremlin signals interest, leaving exporters waiting. [\u2026]", (), True),
        ("A short item. Read more", (), True),
        ("A complete story.", (), False),
        ("Teaser.", ("The post X appeared first on Y.",), True),
        (None, (), False),
    ],
)
def test_is_teaser(text, removed, expected):
    """Items closing with "[…]", "Read more" or WordPress's trailer are teasers."""
    assert is_teaser(text, removed) is expected


_ENDINGS = st.lists(
    st.sampled_from(
        [
            "word",
            "Read More",
            "READ MORE!",
            "continue reading",
            "Continue Read\u0131ng",
            "[",
            "]",
            "\u2026",
            "...",
            ".",
            "(more)",
            "(MORE\u2026)",
            "read the full story",
            "READ THE REST OF THE ARTICLE",
            "\u017ftory",
            "\u0130",
            " ",
            "\n",
            "»",
            "-",
        ]
    ),
    max_size=8,
).map("".join)


@settings(max_examples=2000)
@given(_ENDINGS, st.text(max_size=250))
def test_the_teaser_screen_never_hides_an_ending_the_pattern_knows(ending, before):
    """The keyword screen in front of the teaser pattern lets through every text the
    pattern matches, odd case foldings included."""
    text = before + ending
    expected = bool(extract_module._TEASER_END.search(text[-200:]))
    assert is_teaser(text) is expected


def test_much_longer_needs_a_real_difference():
    """A page counts as much longer only well beyond the item (1.5x and 200 characters)."""
    assert much_longer("x" * 100, "x" * 400)
    assert not much_longer("x" * 1000, "x" * 1200)


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("Councillors will decide on Thursday whether to commit to a tidal barrier.", "en"),
        ("Der Stadtrat entscheidet am Donnerstag über ein neues Sperrwerk im alten Hafen.", "de"),
        ("Le conseil municipal décidera jeudi de la construction d'un barrage dans le port.", "fr"),
        ("short", None),
    ],
)
def test_language_is_detected_offline_when_confident(text, code):
    """Enough text in one language gives its code; too little gives None."""
    assert language.detect(text) == code


def test_undeclared_language_is_detected_and_declared_one_wins():
    """normalize fills language from the text only when the feed declares none."""
    raw = RawEntry(
        guid="g",
        title="Der Stadtrat entscheidet am Donnerstag über das Sperrwerk",
        content="<p>Die Entscheidung fällt nach langer Debatte im Rathaus.</p>",
    )
    assert normalize_entry(raw, SOURCE, SOURCE.feed_url).language == "de"
    assert normalize_entry(raw, SOURCE, SOURCE.feed_url, "nl").language == "nl"
    off = Cleaning(detect_language=False)
    assert normalize_entry(raw, SOURCE, SOURCE.feed_url, cleaning=off).language is None


def test_rules_are_compiled_once_per_set():
    """rules_for returns the same compiled rules for the same selectors and patterns."""
    a = boilerplate.rules_for(("div.x",), ("Foo:",))
    assert a is boilerplate.rules_for(("div.x",), ("Foo:",))


# -- the keyword screen before parsing -------------------------------------------------------


def test_the_screen_folds_everything_re_matches_with_an_ascii_letter() -> None:
    """Every character that ``(?i)`` matches with a letter of the built-in keywords folds
    to that letter, so the keyword screen never misses what a pattern would find."""
    import sys

    letters = sorted(set("".join("".join(k) for k in boilerplate._KEYWORDS.values())))
    wrong = []
    for letter in letters:
        pattern = re.compile("(?i)" + re.escape(letter))
        for cp in range(sys.maxunicode + 1):
            if 0xD800 <= cp <= 0xDFFF:
                continue
            char = chr(cp)
            if pattern.fullmatch(char) and fold_keywords("x" + char + "x") != f"x{letter}x":
                wrong.append((letter, hex(cp)))
    assert wrong == []


_SCREEN_WORDS = st.sampled_from(
    [
        "also",
        "read",
        "more",
        "to",
        "related",
        "stories",
        "recommended",
        "see",
        "don't",
        "miss",
        "must",
        "trending",
        "watch",
        "listen",
        "disclaimer",
        "the post",
        "appeared",
        "first",
        "on",
        "story",
        "<p>",
        "</p>",
        "<b>",
        ":",
        "-",
        "\u2014",
        "|",
        ">",
        "\u00bb",
        " ",
        "  ",
        "\n",
        "\u017f",
        "\u0130",
        "\u0131",
        "\u212a",
    ]
)


@given(st.lists(_SCREEN_WORDS, max_size=14).map("".join), st.randoms())
@settings(max_examples=400, deadline=None)
@example("<p>Disclaimer: not advice</p>", random.Random(0))
@example("The post A story appeared first on Paper", random.Random(0))
@example("<p>ALSO READ: more</p>", random.Random(0))
@example("<p>Watch: the video</p>", random.Random(0))
def test_the_screen_says_no_only_when_no_pattern_occurs(text: str, rnd) -> None:
    markup = "".join(c.upper() if rnd.random() < 0.3 else c for c in text)
    rules = boilerplate.DEFAULT_RULES
    if any(p.search(markup) for p in rules._lines):
        assert rules.may_occur(markup)


def test_the_screen_searches_config_patterns_as_they_are() -> None:
    rules = Rules.build(patterns=[r"Sponsored by \w+"], defaults=False)
    assert rules.may_occur("<p>Sponsored by Acme</p>")
    assert not rules.may_occur("<p>sponsored by acme</p>")  # the pattern is case-sensitive
    assert not boilerplate.DEFAULT_RULES.may_occur("<p>A plain story paragraph.</p>")
    assert boilerplate.DEFAULT_RULES.may_occur("<p>ALSO READ: more</p>")


_BODY_PIECES = st.sampled_from(
    [
        "<p>",
        "</p>",
        "<div>",
        "</div>",
        "<li>",
        "<ul>",
        "</ul>",
        "<b>",
        "</b>",
        "<br>",
        "<h2>",
        "</h2>",
        "<td>",
        "<table>",
        "<script>x",
        "</script>",
        "<noscript>",
        "</noscript>",
        "<template>",
        "<!-- c -->",
        "<html>",
        "</body>",
        "  ",
        "ALSO READ: more",
        "Story words here. ",
        " &amp; ",
        "&#1;",
        "&#x202e;",
        "\n",
    ]
)
_MARKUP = st.lists(_BODY_PIECES | st.text(max_size=3), max_size=16).map("".join)


def _tree_lines(markup: str) -> tuple[str, ...] | None:
    """The lines as they were read before they came with the text: lxml's own fragment
    parse, then each line element's text from the tree."""
    import lxml.html
    from lxml import etree

    try:
        root = lxml.html.fragment_fromstring(markup, create_parent="div")
    except (etree.ParserError, ValueError, AssertionError, IndexError):
        return None
    return tuple(collapse(el.text_content()) for el in boilerplate._lines(root))


def _tree_text(markup: str) -> str:
    """html_to_text as it was before it parsed into the parser's own body."""
    import html as html_module

    import lxml.html
    from lxml import etree

    from worker.core import text

    markup = text._CHAR_REF.sub(text._drop_control_ref, text.scrub(markup))
    if not markup.strip():
        return ""
    try:
        root = lxml.html.fragment_fromstring(markup, create_parent="div")
    except (etree.ParserError, ValueError, AssertionError, IndexError):
        return text.collapse(text.scrub(html_module.unescape(text._ANY_TAG.sub(" ", markup))))
    parts: list[str] = []
    text._walk(root, parts, None)
    joined = text.scrub("".join(parts))
    lines = [text.collapse(line) for line in text._BLANK_LINES.split(joined)]
    return "\n\n".join(line for line in lines if line)


@settings(max_examples=600, deadline=None)
@given(_MARKUP)
def test_lines_read_with_the_text_are_the_trees_lines(markup):
    """A body's text and its lines, read in one walk of the parser's body, are what lxml's
    fragment and each line element's text in that tree give; kept or not. (Lines are
    read of sanitized bodies, which hold no control character, not even as a numeric
    reference: lxml refused one in the leading text of its fragment, not in its body.)"""
    from worker.core import text

    text.forget_lines()
    clean = text._CHAR_REF.sub(text._drop_control_ref, text.scrub(markup))
    assert text.line_texts(clean) == _tree_lines(clean)
    assert text.html_to_text(markup) == _tree_text(markup)
    fresh = fingerprints(markup)
    assert text.html_to_text(markup, keep_lines=True) == _tree_text(markup)
    assert fingerprints(markup) == fresh


def _counting_parses(monkeypatch):
    from worker.core import text

    calls = []
    real = text.parse_fragment

    def counted(markup):
        calls.append(markup)
        return real(markup)

    monkeypatch.setattr(text, "parse_fragment", counted)
    return calls


def test_fingerprints_reuse_the_lines_html_to_text_kept(monkeypatch):
    """Fingerprinting a body just read for its text does not parse it again."""
    from worker.core import text

    calls = _counting_parses(monkeypatch)
    body = "<p>First line of the story.</p><p>Second line.</p>"
    text.forget_lines()
    text.html_to_text(body, keep_lines=True)
    assert fingerprints(body) == (
        boilerplate.fingerprint("First line of the story."),
        boilerplate.fingerprint("Second line."),
    )
    assert calls == [body]


def test_lines_are_kept_per_thread_and_bounded(monkeypatch):
    """Another thread parses the body again; only the newest few bodies are kept."""
    import threading

    from worker.core import text

    calls = _counting_parses(monkeypatch)
    body = "<p>One line.</p>"
    text.forget_lines()
    text.html_to_text(body, keep_lines=True)
    worker = threading.Thread(target=fingerprints, args=(body,))
    worker.start()
    worker.join()
    assert calls == [body, body]
    others = [f"<p>Body {n}.</p>" for n in range(text._RECENT_BODIES)]
    for other in others:
        text.html_to_text(other, keep_lines=True)
    fingerprints(body)  # pushed out by the newer bodies: parsed again
    fingerprints(others[-1])  # still kept
    assert calls == [body, body, *others, body]
