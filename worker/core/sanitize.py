"""HTML content cleaned with an allowlist (nh3, the ammonia sanitizer)."""

from __future__ import annotations

from contextvars import ContextVar
from functools import cache

import nh3

from worker.core.text import scrub
from worker.core.urls import http_url

TAGS = frozenset(nh3.ALLOWED_TAGS - {"area", "map", "center", "acronym", "tt", "strike"}) | {
    "picture",
    "source",
    "video",
    "audio",
    "main",
    "section",
}
ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "hreflang", "title"},
    "img": {"src", "alt", "title", "width", "height", "srcset"},
    "source": {"src", "srcset", "type", "media"},
    "video": {"src", "poster", "controls", "width", "height"},
    "audio": {"src", "controls"},
    "blockquote": {"cite"},
    "q": {"cite"},
    "del": {"cite", "datetime"},
    "ins": {"cite", "datetime"},
    "time": {"datetime"},
    "ol": {"start", "reversed"},
    "td": {"colspan", "rowspan"},
    "th": {"colspan", "rowspan", "scope"},
    "abbr": {"title"},
}
URL_ATTRIBUTES = frozenset({"href", "src", "cite", "poster"})
CONTENT_DROPPED = frozenset({"script", "style", "noscript", "template", "iframe", "object"})


def _url_attribute(attr: str, value: str, base: str | None) -> str | None:
    """An allowed attribute's value as kept: URLs absolute http(s) against ``base``, or
    None (the attribute is dropped)."""
    if attr in URL_ATTRIBUTES:
        return http_url(value, base)
    if attr == "srcset":
        kept = []
        for candidate in value.split(","):
            url, _, size = candidate.strip().partition(" ")
            resolved = http_url(url, base)
            if resolved:
                kept.append(f"{resolved} {size}".strip())
        return ", ".join(kept) or None
    return value


# The base URL of the markup being cleaned, for the one kept cleaner's attribute filter
# (nh3 calls it back on the calling thread, inside ``clean``).
_BASE: ContextVar[str | None] = ContextVar("sanitize_base", default=None)


def _keep(tag: str, attr: str, value: str) -> str | None:
    return _url_attribute(attr, value, _BASE.get())


# One cleaner, built once: ``nh3.clean`` builds its sanitizer from the Python sets on
# every call, which was about two thirds of a sanitize (51 against 19 us a farm body).
# Until 2026-12-08 a cleaner was kept per base URL (the last 64): a base is the feed's
# own URL, so a parse task of many feeds' documents built one for nearly every document.
@cache
def _cleaner() -> nh3.Cleaner:
    return nh3.Cleaner(
        tags=set(TAGS),
        clean_content_tags=set(CONTENT_DROPPED),
        attributes=ATTRIBUTES,
        attribute_filter=_keep,
        url_schemes={"http", "https", "mailto"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


def sanitize_html(markup: str | None, base: str | None) -> str | None:
    """Allowlisted HTML with absolute http(s) URLs; scripts, handlers and styles gone."""
    if not markup:
        return None
    markup = scrub(markup)
    token = _BASE.set(base)
    try:
        cleaned = _cleaner().clean(markup)
    finally:
        _BASE.reset(token)
    # nh3 decodes character references ("&#x202e;", "&#1;") and writes the characters
    # out. Only numeric ones can stand for a character scrub drops (no named reference
    # does: tests/unit/test_sanitize.py), so only markup that holds one is scrubbed again
    # (the second scan of every body was 1.7 % of a cold pass's parse samples).
    if "&#" in markup:
        cleaned = scrub(cleaned)
    return cleaned.strip() or None
