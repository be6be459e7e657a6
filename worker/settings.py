"""Configuration: one frozen ``Settings`` built once from a TOML file plus the environment.

Every default lives in this module, next to the field it belongs to. Environment
variables override the file: ``SYNDICATE_<SECTION>__<KEY>`` (``SYNDICATE_FETCH__TIMEOUT=10``),
nested for named tables (``SYNDICATE_SINKS__ARCHIVE__PATH``). ``REDIS_URL`` selects the
distributed mode. Secrets are read from the environment only.

Validation reports every problem at once, each as ``<source>: <key path>: <reason>``.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from worker.core.errors import ConfigError
from worker.core.http_policy import RESERVED_HEADERS
from worker.core.models import FeedSpec

DEFAULT_CONFIG_PATH = "config/syndicate.toml"
ENV_PREFIX = "SYNDICATE_"
# The sink used when none is configured.
DEFAULT_SINK = "articles"
SECRET_KEYS = frozenset({"secret", "secrets", "password", "token"})


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _check_http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("must be an absolute http:// or https:// URL")
    return value


def _check_selectors(values: tuple[str, ...]) -> tuple[str, ...]:
    from cssselect import SelectorError
    from lxml.cssselect import CSSSelector

    for value in values:
        try:
            CSSSelector(value)
        except SelectorError as exc:
            raise ValueError(f"{value!r} is not a CSS selector ({exc})") from exc
    return values


def _check_patterns(values: tuple[str, ...]) -> tuple[str, ...]:
    for value in values:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"{value!r} is not a regular expression ({exc})") from exc
    return values


class FeedSettings(_Model):
    url: str
    name: str | None = None
    tags: tuple[str, ...] = ()
    # Per-feed bounds override [schedule]; None means "use the global one".
    min_interval: float | None = Field(default=None, gt=0)
    max_interval: float | None = Field(default=None, gt=0)
    headers: dict[str, str] = Field(default_factory=dict)
    # Name of an environment variable holding "user:password" for HTTP basic auth (the
    # secret stays in the environment; it is sent to the feed's own origin only).
    auth_env: str | None = Field(default=None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    # Fetch each article's page for the full text; None: [content].full_text.
    full_text: Literal["auto", "always", "never"] | None = None
    # Boilerplate rules of this feed, on top of [content]'s: CSS selectors of elements to
    # drop, and regular expressions matched at the start of each paragraph or line.
    remove_selectors: tuple[str, ...] = ()
    remove_patterns: tuple[str, ...] = ()
    # The sinks this feed's events go to, by name. Unset: every sink whose `tags` filter
    # matches this feed's tags (a sink without `tags` takes every feed).
    sinks: tuple[str, ...] | None = None

    _url = field_validator("url")(_check_http_url)
    _selectors = field_validator("remove_selectors")(_check_selectors)
    _patterns = field_validator("remove_patterns")(_check_patterns)

    @field_validator("headers")
    @classmethod
    def _headers(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            lower = name.lower()
            if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
                raise ValueError(f"header {name!r} is not a valid header name")
            if any(c in value for c in "\r\n\0"):
                raise ValueError(f"header {name!r} has a line break or NUL in its value")
            if lower in ("authorization", "cookie", "proxy-authorization"):
                raise ValueError(
                    f"header {name!r} would put a secret in the config file; "
                    "use auth_env (basic auth from the environment)"
                )
            if lower in RESERVED_HEADERS:
                raise ValueError(f"header {name!r} is set by the fetcher and cannot be changed")
        return headers

    @field_validator("sinks")
    @classmethod
    def _known_sinks(
        cls, sinks: tuple[str, ...] | None, info: ValidationInfo
    ) -> tuple[str, ...] | None:
        if sinks is None:
            return None
        if not sinks:
            raise ValueError(
                "an empty list delivers this feed nowhere; leave it out to route by tags"
            )
        # load_settings passes the configured sink names; a bare Settings(...) skips this.
        known = (info.context or {}).get("sink_names")
        if known is not None:
            for name in sinks:
                if name not in known:
                    raise ValueError(
                        f"unknown sink {name!r} (configured: {', '.join(sorted(known))})"
                    )
        return sinks

    @property
    def feed_id(self) -> str:
        return feed_id_for(self.url)

    def spec(self) -> FeedSpec:
        return FeedSpec(
            feed_id=self.feed_id,
            url=self.url,
            name=self.name,
            tags=self.tags,
            min_interval=self.min_interval,
            max_interval=self.max_interval,
            headers=tuple(sorted(self.headers.items())),
            origin="config",
            auth_env=self.auth_env,
            full_text=self.full_text,
            remove_selectors=self.remove_selectors,
            remove_patterns=self.remove_patterns,
            sinks=self.sinks,
        )


class FetchSettings(_Model):
    # Refuse loopback, private, link-local... addresses unless true (tests on 127.0.0.1).
    allow_private_networks: bool = False
    # Total deadline per request: connect + headers + body, in seconds.
    timeout: float = Field(default=30.0, gt=0)
    # Cap on the decoded body, in bytes.
    max_bytes: int = Field(default=10 * 1024 * 1024, gt=0)
    max_redirects: int = Field(default=5, ge=0, le=20)
    user_agent: str = "syndicate-worker/0.1 (+https://github.com/syndicate-worker)"
    # Concurrent requests inside one fetch task.
    concurrency: int = Field(default=32, ge=1, le=1000)
    # Feeds per fetch task message. 200 rather than 100: half the fetch, process and
    # deliver messages a pass, warm passes about 15 % faster, no larger processes
    # (docs/benchmarks.md); a worker that dies re-polls at most this many feeds.
    batch_size: int = Field(default=200, ge=1, le=5000)
    # What sends batches of feed requests: aiohttp (about 5x less CPU per request, see
    # docs/decisions/0008) or httpx. Single requests, pages and webhooks use httpx.
    transport: Literal["aiohttp", "httpx"] = "aiohttp"
    # Politeness per host, shared by every worker: sustained requests per second,
    # requests allowed back to back, and requests in flight at once. A feed over its
    # host's budget is rescheduled shortly (backpressure, not an error).
    host_rate: float = Field(default=1.0, gt=0)
    host_burst: int = Field(default=10, ge=1, le=10_000)
    host_concurrency: int = Field(default=4, ge=1, le=1000)
    # A feed moves to its redirect target after this many consecutive polls answered
    # with the same permanent redirect (301/308); 302/307 never move it.
    move_after: int = Field(default=3, ge=1, le=100)


class ScheduleSettings(_Model):
    min_interval: float = Field(default=300.0, gt=0)
    max_interval: float = Field(default=3600.0, gt=0)
    # How often beat runs the tick that claims due feeds and due deliveries.
    tick_interval: float = Field(default=5.0, gt=0)
    # A claimed feed is claimed again after this long if its poll never finished.
    lease: float = Field(default=600.0, gt=0)
    # Longest backoff after repeated errors.
    max_backoff: float = Field(default=86400.0, gt=0)

    @model_validator(mode="after")
    def _bounds(self) -> ScheduleSettings:
        if self.min_interval > self.max_interval:
            raise ValueError("min_interval must not exceed max_interval")
        return self


class StoreSettings(_Model):
    # Embedded mode keeps its SQLite state, broker folder and default JSONL file here.
    data_dir: Path = Path("var")
    # Set (or REDIS_URL) for the distributed mode: Redis is broker and store.
    redis_url: str | None = None
    prefix: str = "syndicate"
    # How long an article is remembered for dedupe, in days.
    seen_ttl_days: float = Field(default=30.0, gt=0)
    # How long every event body is kept after it was created, in days, for
    # `syndicate replay` (docs/decisions/0010-event-history-for-replay.md). Bodies still
    # pending or dead-lettered for some sink are kept until delivered, whatever this says.
    history_days: float = Field(default=7.0, gt=0)
    # How long a delivery receipt (event, sink, when) is kept for `syndicate trace`, in
    # days. About 72 bytes per event and sink in Redis (docs/operations.md).
    receipt_days: float = Field(default=7.0, gt=0)


# deliver: every article, copies with their cluster fields; suppress: no syndicated copies
# (articles with duplicate_of set) and no updates of them.
DuplicatePolicy = Literal["deliver", "suppress"]


class _SinkBase(_Model):
    # Routing: only feeds with at least one of these tags; empty: every feed. A feed's own
    # `sinks` list, when set, overrides this.
    tags: tuple[str, ...] = ()
    # What this sink gets of syndicated copies (docs/dedupe.md).
    duplicates: DuplicatePolicy = "deliver"


class JsonlSinkSettings(_SinkBase):
    type: Literal["jsonl"]
    path: Path
    # Rotate the file once it reaches this many bytes; 0: never by size.
    rotate_bytes: int = Field(default=0, ge=0)
    # Rotate at the first write of a new UTC day.
    rotate_daily: bool = False
    # Rotated files whose event ids are still checked, so a redelivery after a rotation
    # is not written again.
    dedupe_files: int = Field(default=2, ge=0, le=100)


class RedisStreamSinkSettings(_SinkBase):
    type: Literal["redis_stream"]
    stream: str
    # Redis to write to; defaults to the store's Redis.
    url: str | None = None
    # Approximate cap on the stream length (XADD MAXLEN ~).
    maxlen: int = Field(default=1_000_000, gt=0)


WEBHOOK_SECRET_PREFIX = "whsec_"  # noqa: S105 - the format's prefix, not a secret


class WebhookSinkSettings(_SinkBase):
    type: Literal["webhook"]
    url: str
    # One signing secret, or two separated by a space while rotating (both sign every
    # request). `whsec_` + base64, as Standard Webhooks writes it. Environment only:
    # SYNDICATE_SINKS__<NAME>__SECRET.
    secret: SecretStr
    # Deadline of one attempt (connect + request + response), in seconds.
    timeout: float = Field(default=10.0, gt=0, le=300)
    # Requests in flight at once within one deliver task.
    concurrency: int = Field(default=4, ge=1, le=64)

    _url = field_validator("url")(_check_http_url)

    @field_validator("secret")
    @classmethod
    def _secret_form(cls, value: SecretStr) -> SecretStr:
        keys = value.get_secret_value().split()
        if not 1 <= len(keys) <= 2:
            raise ValueError("give one secret, or two separated by a space while rotating")
        for n, key in enumerate(keys, 1):
            if not key.startswith(WEBHOOK_SECRET_PREFIX):
                raise ValueError(f"secret {n} must start with {WEBHOOK_SECRET_PREFIX!r}")
            try:
                raw = base64.b64decode(key[len(WEBHOOK_SECRET_PREFIX) :], validate=True)
            except ValueError:
                raise ValueError(f"secret {n} is not valid base64 after the prefix") from None
            if len(raw) < 16:
                raise ValueError(f"secret {n} is shorter than 16 bytes")
        return value

    def signing_keys(self) -> list[bytes]:
        """The raw HMAC keys, newest first as configured."""
        return [
            base64.b64decode(k[len(WEBHOOK_SECRET_PREFIX) :])
            for k in self.secret.get_secret_value().split()
        ]


class PostgresSinkSettings(_SinkBase):
    type: Literal["postgres"]
    # libpq connection string or URL. Keep the password out of the file: PGPASSWORD, or
    # the whole DSN in SYNDICATE_SINKS__<NAME>__DSN.
    dsn: str
    # Table of the articles, optionally schema-qualified; created and migrated by the worker.
    table: str = "syndicate_articles"
    connect_timeout: float = Field(default=10.0, gt=0)

    @field_validator("table")
    @classmethod
    def _identifier(cls, table: str) -> str:
        if not re.fullmatch(r"([a-z_][a-z0-9_]{0,62}\.)?[a-z_][a-z0-9_]{0,62}", table):
            raise ValueError(
                "must be a lowercase SQL name (letters, digits, _), optionally schema.table"
            )
        return table


class StdoutSinkSettings(_SinkBase):
    """Every event as one JSON line on standard output; for debugging (not idempotent)."""

    type: Literal["stdout"]


SinkSettings = Annotated[
    JsonlSinkSettings
    | RedisStreamSinkSettings
    | WebhookSinkSettings
    | PostgresSinkSettings
    | StdoutSinkSettings,
    Field(discriminator="type"),
]


class DedupeSettings(_Model):
    # The near-duplicate index keeps an article this long after it was filed, in days.
    # (Fingerprints live in the seen records: store.seen_ttl_days after last seen.)
    window_days: float = Field(default=30.0, gt=0)
    # An edit is an update when the title changed or the body's estimated similarity
    # (Jaccard of word 3-grams) to the last published revision fell below this.
    update_similarity: float = Field(default=0.9, gt=0, le=1)
    # article.updated events per article per day at most; 0: never publish updates.
    max_updates_per_day: int = Field(default=3, ge=0)
    # A new article whose body is at least this similar to an earlier story's is its copy.
    duplicate_similarity: float = Field(default=0.4, gt=0, le=1)
    # Bodies with fewer words are in no cluster (too short to call a copy).
    min_words: int = Field(default=40, ge=1)
    # A feed's GUIDs (or links) are distrusted when more than this share of a poll's
    # items have a bad one; trusted again after clean_polls polls in a row within it.
    bad_key_ratio: float = Field(default=0.05, ge=0, lt=1)
    clean_polls: int = Field(default=5, ge=1)


class LogSettings(_Model):
    level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # auto: readable on a terminal, JSON lines otherwise.
    format: Literal["auto", "json", "console"] = "auto"


class DeliverySettings(_Model):
    # Events per deliver message.
    batch_size: int = Field(default=500, ge=1, le=10_000)
    # A claimed delivery is claimed again after this long if it never finished.
    lease: float = Field(default=300.0, gt=0)
    # First retry delay and the cap of the exponential backoff, in seconds.
    retry_base: float = Field(default=5.0, gt=0)
    retry_max: float = Field(default=3600.0, gt=0)
    # A delivery still failing this long after its first failure goes to the dead-letter
    # list (`syndicate dlq list`), in seconds. A sink's Retry-After is honoured up to it.
    retry_window: float = Field(default=86400.0, gt=0)


class ContentSettings(_Model):
    # Fetch the article page for the full text: "auto" when items look cut off ("[…]",
    # "Read more", WordPress's "appeared first on") and stop for a feed whose pages turn
    # out no longer than its items; "always"; or "never".
    full_text: Literal["auto", "always", "never"] = "auto"
    # Pages fetched per feed poll at most (bounded time per poll).
    max_pages_per_poll: int = Field(default=10, ge=0, le=500)
    # The built-in boilerplate line patterns ("ALSO READ:", "READ MORE:", "Related:",
    # "Disclaimer:", "The post ... appeared first on ...").
    default_rules: bool = True
    # Boilerplate rules for every feed: CSS selectors, and regular expressions matched at
    # the start of each paragraph or line.
    remove_selectors: tuple[str, ...] = ()
    remove_patterns: tuple[str, ...] = ()
    # Learned boilerplate: articles remembered per source (site), and in how many of
    # them a paragraph must recur to be removed. 0 articles switches learning off.
    history_size: int = Field(default=50, ge=0, le=1000)
    learn_min_articles: int = Field(default=3, ge=2)
    # Detect the language (offline, py3langid) when the feed declares none.
    detect_language: bool = True
    # What one document may cost: items read per poll (the newest), categories per item.
    max_entries: int = Field(default=500, ge=1, le=100_000)
    max_categories: int = Field(default=50, ge=1, le=10_000)

    _selectors = field_validator("remove_selectors")(_check_selectors)
    _patterns = field_validator("remove_patterns")(_check_patterns)


class HealthSettings(_Model):
    # `syndicate health` thresholds, in seconds unless said otherwise.
    # The tick (beat) must have run within this long.
    beat_max_age: float = Field(default=120.0, gt=0)
    # No feed may be due and unclaimed for longer than this.
    max_feed_lag: float = Field(default=900.0, gt=0)
    # No delivery may be overdue (due and unclaimed) for longer than this.
    max_delivery_lag: float = Field(default=900.0, gt=0)
    # Messages waiting in one queue at most.
    max_queue_length: int = Field(default=10_000, ge=1)
    # A non-empty queue must have seen a task finish (Redis broker) or its oldest
    # message be younger than this (filesystem broker).
    max_queue_idle: float = Field(default=900.0, gt=0)


class Settings(_Model):
    feeds: tuple[FeedSettings, ...] = ()
    fetch: FetchSettings = FetchSettings()
    schedule: ScheduleSettings = ScheduleSettings()
    store: StoreSettings = StoreSettings()
    sinks: dict[str, SinkSettings] = Field(default_factory=dict)
    delivery: DeliverySettings = DeliverySettings()
    content: ContentSettings = ContentSettings()
    dedupe: DedupeSettings = DedupeSettings()
    log: LogSettings = LogSettings()
    health: HealthSettings = HealthSettings()
    # Where the settings came from, for messages; not a config key.
    source: str = Field(default="<defaults>", exclude=True)

    @field_validator("sinks", mode="before")
    @classmethod
    def _sink_names(cls, sinks: dict[str, Any]) -> dict[str, Any]:
        for name in sinks:
            if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
                raise ValueError(
                    f"sink name {name!r} must be lowercase letters, digits and _ "
                    "(it becomes part of SYNDICATE_SINKS__<NAME>__... variables)"
                )
        return sinks

    # A field validator, not a model one: those only run when every other section is valid,
    # and a duplicate feed would go unreported next to a typo elsewhere.
    @field_validator("feeds")
    @classmethod
    def _feeds_unique(cls, feeds: tuple[FeedSettings, ...]) -> tuple[FeedSettings, ...]:
        seen: dict[str, int] = {}
        for i, feed in enumerate(feeds):
            if feed.url in seen:
                raise ValueError(f"feeds[{i}].url duplicates feeds[{seen[feed.url]}].url")
            seen[feed.url] = i
            if (
                feed.min_interval is not None
                and feed.max_interval is not None
                and feed.min_interval > feed.max_interval
            ):
                raise ValueError(f"feeds[{i}]: min_interval must not exceed max_interval")
        return feeds

    @property
    def distributed(self) -> bool:
        return bool(self.store.redis_url)

    @property
    def data_dir(self) -> Path:
        return self.store.data_dir

    def effective_sinks(self) -> dict[str, SinkSettings]:
        """The configured sinks, or the default JSONL file when none is configured."""
        if self.sinks:
            return dict(self.sinks)
        path = self.data_dir / "articles.jsonl"
        return {DEFAULT_SINK: JsonlSinkSettings(type="jsonl", path=path)}

    def sink_filters(self) -> dict[str, tuple[str, ...]]:
        """Each effective sink's tag filter, for ``worker.core.routing``."""
        return {name: conf.tags for name, conf in self.effective_sinks().items()}

    def feed_specs(self) -> list[FeedSpec]:
        return [f.spec() for f in self.feeds]


def feed_id_for(url: str) -> str:
    """A short stable id for a feed, derived from the URL the operator subscribed to."""
    return hashlib.sha256(url.strip().encode()).hexdigest()[:16]


def config_path(explicit: str | os.PathLike[str] | None = None) -> Path:
    return Path(explicit or os.environ.get("SYNDICATE_CONFIG") or DEFAULT_CONFIG_PATH)


def load_settings(
    path: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Read the config file and the environment; raise ``ConfigError`` with every problem."""
    environ = os.environ if environ is None else environ
    # Not config_path(None): that would read os.environ instead of ``environ``.
    file = Path(path or environ.get("SYNDICATE_CONFIG") or DEFAULT_CONFIG_PATH)
    problems: list[str] = []
    data: dict[str, Any] = {}
    if file.exists():
        try:
            with file.open("rb") as fh:
                data = tomllib.load(fh)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"{file}: not valid TOML: {exc}"]) from exc
        except OSError as exc:
            raise ConfigError([f"{file}: cannot read: {exc.strerror}"]) from exc
        problems += [f"{file}: {p}" for p in _secrets_in_file(data)]
        data = _without_secrets(data)
    elif path is not None or "SYNDICATE_CONFIG" in environ:
        raise ConfigError([f"{file}: no such file"])

    env_origin: dict[tuple[str, ...], str] = {}
    for name, value in sorted(environ.items()):
        keys = _env_key_path(name, data)
        if keys is None:
            continue
        env_origin[keys] = name
        _set_path(data, keys, value)

    try:
        settings = Settings.model_validate(
            {**data, "source": str(file)}, context={"sink_names": _sink_names(data)}
        )
    except ValidationError as exc:
        for err in exc.errors():
            loc = _clean_loc(err["loc"])
            where = _format_loc(loc)
            origin = _origin_for(loc, env_origin)
            source = origin or str(file)
            msg = _MESSAGES.get(err["type"]) or err["msg"].removeprefix("Value error, ")
            if err["type"] == "missing" and loc and loc[-1] in SECRET_KEYS:
                var = ENV_PREFIX + "__".join(p.upper() for p in loc)
                msg = f"required; set {var} (secrets are read from the environment only)"
            problems.append(f"{source}: {where}: {msg}" if where else f"{source}: {msg}")
    if problems:
        raise ConfigError(problems)
    return settings


def _sink_names(data: Mapping[str, Any]) -> set[str]:
    """The sink names feeds may route to: the configured ones, or the default sink."""
    sinks = data.get("sinks")
    if isinstance(sinks, Mapping) and sinks:
        return {str(name) for name in sinks}
    return {DEFAULT_SINK}


def _secrets_in_file(data: Mapping[str, Any], path: tuple[str, ...] = ()) -> list[str]:
    found = []
    for key, value in data.items():
        here = (*path, key)
        if isinstance(value, Mapping):
            found += _secrets_in_file(value, here)
        elif key.lower() in SECRET_KEYS:
            var = ENV_PREFIX + "__".join(p.upper() for p in here)
            found.append(
                f"{_format_loc(here)}: secrets are read from the environment only; set {var}"
            )
    return found


def _without_secrets(data: Mapping[str, Any]) -> dict[str, Any]:
    return {
        k: _without_secrets(v) if isinstance(v, Mapping) else v
        for k, v in data.items()
        if isinstance(v, Mapping) or k.lower() not in SECRET_KEYS
    }


_MESSAGES = {
    "extra_forbidden": "unknown key (a typo?)",
    "missing": "required key is missing",
}
_SINK_TYPES = frozenset({"jsonl", "redis_stream", "webhook", "postgres", "stdout"})


def _clean_loc(loc: tuple[int | str, ...]) -> tuple[str, ...]:
    parts = [str(p) for p in loc]
    # Drop the discriminator pydantic inserts for tagged unions: sinks.<name>.<type>.key
    if len(parts) > 2 and parts[0] == "sinks" and parts[2] in _SINK_TYPES:
        del parts[2]
    return tuple(parts)


def _env_key_path(name: str, data: Mapping[str, Any]) -> tuple[str, ...] | None:
    if name == "REDIS_URL":
        return ("store", "redis_url")
    if not name.startswith(ENV_PREFIX) or "__" not in name:
        return None
    parts = [p.lower() for p in name[len(ENV_PREFIX) :].split("__")]
    if any(not p for p in parts):
        return None
    return tuple(parts)


def _set_path(data: dict[str, Any], keys: tuple[str, ...], value: str) -> None:
    node = data
    for key in keys[:-1]:
        child = node.get(key)
        if not isinstance(child, dict):
            child = {}
            node[key] = child
        node = child
    node[keys[-1]] = value


def _origin_for(loc: tuple[str, ...], env_origin: Mapping[tuple[str, ...], str]) -> str | None:
    for keys, name in env_origin.items():
        if loc[: len(keys)] == keys or (keys[: len(loc)] == loc and loc):
            return f"environment {name}"
    return None


def _format_loc(loc: tuple[str, ...]) -> str:
    out = ""
    for part in loc:
        if part.isdigit():
            out += f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out
