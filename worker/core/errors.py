"""The exception tree, split by what the caller can do about it.

::

    SyndicateError
     ├── ConfigError                 bad configuration: fix the file, nothing runs
     ├── FeedError(feed, reason)     something about one feed
     │    ├── TransientFeedError     retry later with backoff
     │    │    ├── FetchTimeout      the total deadline passed
     │    │    ├── FetchConnectError DNS, refused, reset
     │    │    └── ServerError       5xx, 429 (``retry_after`` when the server said)
     │    └── PermanentFeedError     record and keep probing slowly
     │         ├── FetchRefused      the policy refused the request (scheme, address, size)
     │         ├── HTTPStatusError   a 4xx that is not a throttle
     │         └── ParseError        the bytes are not a feed we can read
     └── SinkError(sink, reason)     delivery to one sink
          ├── SinkUnavailable        retry with backoff (``retry_after`` when known)
          └── SinkRejected           the sink refused the event: dead-letter it

Each exception carries the identifiers it is about, so a log line can name the feed or
sink and the reason without formatting the message again. Library exceptions are wrapped
at the edge (``raise FetchTimeout(...) from exc``); ``core`` never sees an httpx error.
"Not modified" is a result, not an exception.
"""

from __future__ import annotations


class SyndicateError(Exception):
    """Base of every error this project raises on purpose."""


class ConfigError(SyndicateError):
    """The configuration is invalid; ``problems`` lists every one of them."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("invalid configuration:\n  " + "\n  ".join(problems))


class FeedError(SyndicateError):
    """Something went wrong with one feed."""

    kind = "feed_error"

    def __init__(self, feed: str, reason: str) -> None:
        self.feed = feed
        self.reason = reason
        super().__init__(f"{feed}: {reason}")


class TransientFeedError(FeedError):
    """Worth retrying after a backoff."""

    kind = "transient"

    def __init__(self, feed: str, reason: str, retry_after: float | None = None) -> None:
        super().__init__(feed, reason)
        self.retry_after = retry_after


class FetchTimeout(TransientFeedError):
    kind = "timeout"


class FetchConnectError(TransientFeedError):
    kind = "connect_error"


class ServerError(TransientFeedError):
    kind = "server_error"


class PermanentFeedError(FeedError):
    """Retrying soon will not help; the feed is still probed on a slow backoff."""

    kind = "permanent"


class FetchRefused(PermanentFeedError):
    kind = "refused"


class HTTPStatusError(PermanentFeedError):
    kind = "http_error"


class ParseError(PermanentFeedError):
    kind = "parse_error"


class SinkError(SyndicateError):
    """Delivery to one sink failed."""

    def __init__(self, sink: str, reason: str) -> None:
        self.sink = sink
        self.reason = reason
        super().__init__(f"sink {sink}: {reason}")


class SinkUnavailable(SinkError):
    def __init__(self, sink: str, reason: str, retry_after: float | None = None) -> None:
        super().__init__(sink, reason)
        self.retry_after = retry_after


class SinkRejected(SinkError):
    pass
