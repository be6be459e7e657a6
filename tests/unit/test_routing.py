"""routing: which sinks a feed's events go to."""

from __future__ import annotations

from worker.core.routing import route

FILTERS = {"archive": (), "world_hook": ("world",), "tech_bus": ("tech", "science")}


def test_unfiltered_sinks_take_every_feed_and_filters_match_any_tag():
    """A sink without tags takes every feed; a tagged one takes feeds sharing a tag."""
    assert route(("world", "news"), None, FILTERS) == ("archive", "world_hook")
    assert route(("science",), None, FILTERS) == ("archive", "tech_bus")
    assert route((), None, FILTERS) == ("archive",)


def test_a_feeds_own_sink_list_overrides_the_filters():
    """A feed naming its sinks goes to exactly those, in configuration order."""
    assert route(("world",), ("tech_bus", "archive"), FILTERS) == ("archive", "tech_bus")


def test_names_that_are_no_longer_configured_are_dropped():
    """A stored feed naming a removed sink routes to the sinks that still exist."""
    assert route((), ("gone", "archive"), FILTERS) == ("archive",)
