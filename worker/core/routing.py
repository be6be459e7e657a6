"""Which sinks a feed's events go to: a pure function of the feed and the sink filters.

* A feed that names its sinks (``sinks = [...]`` in its table) goes to exactly those.
* Otherwise it goes to every sink whose ``tags`` filter shares a tag with the feed; a
  sink without a filter takes every feed.

Names that are not configured (a store-added feed naming a sink since removed) are
dropped here; the config validation refuses them in the file.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


def route(
    feed_tags: Sequence[str],
    feed_sinks: Sequence[str] | None,
    filters: Mapping[str, Sequence[str]],
) -> tuple[str, ...]:
    """The sink names for one feed, in the order the sinks are configured."""
    if feed_sinks is not None:
        named = set(feed_sinks)
        return tuple(name for name in filters if name in named)
    tags = set(feed_tags)
    return tuple(name for name, wanted in filters.items() if not wanted or tags & set(wanted))
