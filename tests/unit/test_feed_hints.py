"""feed_hints: a feed document's own refresh hints (ttl, sy:*, skipHours, skipDays)."""

from __future__ import annotations

import pytest

from worker.core.feed_hints import read_hints
from worker.core.models import FeedHints
from worker.core.rhythm import publication_times

RSS = b"""<?xml version="1.0"?>
<rss version="2.0" xmlns:sy="http://purl.org/rss/1.0/modules/syndication/">
<channel><title>T</title>%s<item><title>a</title><ttl>1</ttl></item></channel></rss>"""


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b"<ttl>60</ttl>", FeedHints(ttl=3600.0)),
        (b"<ttl> 15 </ttl>", FeedHints(ttl=900.0)),
        (
            b"<sy:updatePeriod>hourly</sy:updatePeriod><sy:updateFrequency>2</sy:updateFrequency>",
            FeedHints(update_interval=1800.0),
        ),
        (b"<sy:updatePeriod>weekly</sy:updatePeriod>", FeedHints(update_interval=604800.0)),
        (b"<sy:updateFrequency>4</sy:updateFrequency>", FeedHints(update_interval=21600.0)),
        (
            b"<skipHours><hour>0</hour><hour>1</hour><hour>24</hour><hour>99</hour></skipHours>",
            FeedHints(skip_hours=(0, 1)),
        ),
        (
            b"<skipDays><day>Saturday</day><day>sunday</day><day>Funday</day></skipDays>",
            FeedHints(skip_days=(5, 6)),
        ),
        # nonsense is dropped, not guessed
        (b"<ttl>0</ttl><sy:updatePeriod>fortnightly</sy:updatePeriod>", FeedHints()),
        (b"<ttl>999999999</ttl>", FeedHints()),
        (
            b"<skipHours>" + b"".join(b"<hour>%d</hour>" % h for h in range(24)) + b"</skipHours>",
            FeedHints(),
        ),
        (b"", FeedHints()),
    ],
)
def test_hints_from_the_channel_head(head, expected):
    """Each hint is read from the channel; an item's elements are not the channel's."""
    assert read_hints(RSS % head) == expected


def test_json_feed_and_garbage_have_no_hints():
    """A JSON Feed, empty or binary input gives empty hints, never an error."""
    assert read_hints(b'{"version":"https://jsonfeed.org/version/1.1","items":[]}') == FeedHints()
    assert read_hints(b"") == FeedHints()
    assert read_hints(bytes(range(256)) * 100) == FeedHints()


def test_publication_times_use_plausible_item_dates():
    """Item dates are used when not in the future; undated or future-dated items count as
    found now, except on a feed's first poll, where only the dated past ones count."""
    now = 1_800_000_000.0  # 2027-01-15T08:00:00Z
    dates = ["2027-01-15T07:00:00Z", None, "2099-01-01T00:00:00Z", "not a date"]
    assert publication_times(dates, now, first_poll=False) == [now - 3600, now, now, now]
    assert publication_times(dates, now, first_poll=True) == [now - 3600]
