"""settings: one frozen Settings from a TOML file plus the environment, every problem at once."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from pydantic import ValidationError

from worker.core.errors import ConfigError
from worker.settings import (
    JsonlSinkSettings,
    RedisStreamSinkSettings,
    feed_id_for,
    load_settings,
)


def _toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "syndicate.toml"
    path.write_text(text, encoding="utf-8")
    return path


def _problems(path: Path | None, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ=environ or {})
    return caught.value.problems


def test_defaults_without_a_file(tmp_path, monkeypatch):
    """With no file and no variables the documented defaults apply (embedded, one JSONL sink)."""
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={})
    assert settings.feeds == ()
    assert settings.fetch.timeout == 30.0
    assert settings.schedule.min_interval == 300.0
    assert settings.schedule.max_interval == 3600.0
    assert settings.distributed is False
    assert settings.effective_sinks() == {
        "articles": JsonlSinkSettings(type="jsonl", path=Path("var/articles.jsonl"))
    }


def test_file_is_read_into_feeds_and_sections(tmp_path):
    """Feeds, sections and named sinks in the file become typed settings and feed specs."""
    path = _toml(
        tmp_path,
        """
[fetch]
timeout = 12
user_agent = "test-agent/1"

[schedule]
min_interval = 60
max_interval = 600

[[feeds]]
url = "https://news.example/world.xml"
name = "World"
tags = ["world", "news"]
min_interval = 120
headers = { "X-B" = "2", "X-A" = "1" }

[[feeds]]
url = "https://news.example/business.xml"

[sinks.archive]
type = "jsonl"
path = "out/articles.jsonl"

[sinks.stream]
type = "redis_stream"
stream = "articles"
""",
    )
    settings = load_settings(path, environ={})
    assert settings.fetch.timeout == 12.0
    assert settings.fetch.user_agent == "test-agent/1"
    assert settings.schedule.max_interval == 600.0
    assert settings.source == str(path)
    world, business = settings.feed_specs()
    assert world.url == "https://news.example/world.xml"
    assert world.name == "World"
    assert world.tags == ("world", "news")
    assert world.min_interval == 120.0
    assert world.headers == (("X-A", "1"), ("X-B", "2"))
    assert world.origin == "config"
    assert business.min_interval is None
    assert settings.sinks["archive"] == JsonlSinkSettings(
        type="jsonl", path=Path("out/articles.jsonl")
    )
    assert isinstance(settings.sinks["stream"], RedisStreamSinkSettings)
    assert settings.effective_sinks() == dict(settings.sinks)


def test_feed_id_is_short_stable_and_per_url():
    """feed_id_for gives 16 hex characters, ignores padding, and differs between URLs."""
    a = feed_id_for("https://news.example/world.xml")
    assert re.fullmatch(r"[0-9a-f]{16}", a)
    assert feed_id_for("  https://news.example/world.xml\n") == a
    assert feed_id_for("https://news.example/business.xml") != a


def test_environment_overrides_the_file(tmp_path):
    """SYNDICATE_<SECTION>__<KEY> overrides the file's value, converted to the field's type."""
    path = _toml(tmp_path, "[fetch]\ntimeout = 30\n")
    settings = load_settings(path, environ={"SYNDICATE_FETCH__TIMEOUT": "7.5"})
    assert settings.fetch.timeout == 7.5


def test_environment_reaches_named_sink_tables(tmp_path):
    """SYNDICATE_SINKS__<NAME>__<KEY> sets a key inside a named sink table."""
    path = _toml(tmp_path, '[sinks.archive]\ntype = "jsonl"\npath = "a.jsonl"\n')
    settings = load_settings(path, environ={"SYNDICATE_SINKS__ARCHIVE__PATH": "b.jsonl"})
    assert settings.sinks["archive"] == JsonlSinkSettings(type="jsonl", path=Path("b.jsonl"))


def test_redis_url_selects_the_distributed_mode(tmp_path, monkeypatch):
    """REDIS_URL sets store.redis_url and switches to the distributed mode."""
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={"REDIS_URL": "redis://cache.internal:6379/2"})
    assert settings.store.redis_url == "redis://cache.internal:6379/2"
    assert settings.distributed is True


def test_unrelated_variables_are_ignored(tmp_path, monkeypatch):
    """Variables without the prefix, or without a section separator, are not settings."""
    monkeypatch.chdir(tmp_path)
    settings = load_settings(
        environ={"PATH": "/bin", "SYNDICATE_CONFIG_HINT": "x", "HOME": "/root"}
    )
    assert settings.fetch.timeout == 30.0


def test_every_problem_is_reported_at_once(tmp_path):
    """Mistakes in five places plus a bad variable are all reported as source: key: reason."""
    path = _toml(
        tmp_path,
        """
[fetch]
timeout = -1
max_redirect = 3

[schedule]
min_interval = 600
max_interval = 60

[log]
level = "LOUD"

[[feeds]]
url = "https://news.example/a.xml"

[[feeds]]
url = "https://news.example/a.xml"
""",
    )
    problems = _problems(path, {"SYNDICATE_FETCH__CONCURRENCY": "lots"})
    file = str(path)
    expected = [
        (file, "fetch.timeout", "greater than 0"),
        (file, "fetch.max_redirect", "unknown key"),
        (file, "schedule", "min_interval must not exceed max_interval"),
        (file, "log.level", "'DEBUG', 'INFO', 'WARNING' or 'ERROR'"),
        (file, "feeds", "feeds[1].url duplicates feeds[0].url"),
        ("environment SYNDICATE_FETCH__CONCURRENCY", "fetch.concurrency", "valid integer"),
    ]
    for source, key, reason in expected:
        assert any(p.startswith(f"{source}: {key}: ") and reason in p for p in problems), (
            f"no problem for {key} in {problems}"
        )
    assert len(problems) == len(expected)


def test_problems_inside_lists_and_sinks_name_their_path(tmp_path):
    """Problems in a feed of the list and in a named sink give the index and the sink name."""
    path = _toml(
        tmp_path,
        """
[[feeds]]
url = "https://news.example/ok.xml"

[[feeds]]
url = "ftp://news.example/feed"
min_interval = 0

[sinks.stream]
type = "redis_stream"
maxlen = 10
""",
    )
    problems = _problems(path)
    assert f"{path}: feeds[1].url: must be an absolute http:// or https:// URL" in problems
    assert any(p.startswith(f"{path}: feeds[1].min_interval: ") for p in problems)
    assert f"{path}: sinks.stream.stream: required key is missing" in problems


def test_bad_sink_name_is_refused(tmp_path):
    """A sink name that cannot be an environment variable segment is refused with the reason."""
    path = _toml(tmp_path, '[sinks.Archive-1]\ntype = "jsonl"\npath = "a"\n')
    (problem,) = _problems(path)
    assert problem.startswith(f"{path}: sinks: sink name 'Archive-1'")


def test_unknown_or_missing_sink_type_names_the_sink(tmp_path):
    """A sink of an unknown type, and one with no type, are each reported under their name."""
    path = _toml(tmp_path, '[sinks.hook]\ntype = "carrier_pigeon"\n\n[sinks.arch]\npath = "a"\n')
    problems = _problems(path)
    assert len(problems) == 2
    assert any(p.startswith(f"{path}: sinks.hook: ") and "carrier_pigeon" in p for p in problems)
    assert any(p.startswith(f"{path}: sinks.arch: ") and "type" in p for p in problems)


@pytest.mark.parametrize(
    ("toml", "key", "variable"),
    [
        ('[store]\npassword = "hunter2"\n', "store.password", "SYNDICATE_STORE__PASSWORD"),
        (
            '[sinks.hook]\ntype = "jsonl"\npath = "a"\nsecret = "hunter2"\n',
            "sinks.hook.secret",
            "SYNDICATE_SINKS__HOOK__SECRET",
        ),
        ('[fetch]\nTOKEN = "hunter2"\n', "fetch.TOKEN", "SYNDICATE_FETCH__TOKEN"),
    ],
)
def test_secrets_in_the_file_are_refused_without_echoing_them(tmp_path, toml, key, variable):
    """A secret in the file is refused naming key and variable, never echoing its value."""
    path = _toml(tmp_path, toml)
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert f"{path}: {key}: secrets are read from the environment only; set {variable}" in (
        caught.value.problems
    )
    assert "hunter2" not in str(caught.value)


def test_invalid_toml_names_the_file(tmp_path):
    """A file that is not TOML is one problem naming the file."""
    path = _toml(tmp_path, "[fetch\ntimeout = 3\n")
    (problem,) = _problems(path)
    assert problem.startswith(f"{path}: not valid TOML: ")


def test_missing_explicit_file_is_an_error(tmp_path):
    """A config path given explicitly (argument or SYNDICATE_CONFIG) must exist."""
    missing = tmp_path / "nope.toml"
    assert _problems(missing) == [f"{missing}: no such file"]
    with pytest.raises(ConfigError, match="no such file"):
        load_settings(environ={"SYNDICATE_CONFIG": str(missing)})


def test_syndicate_config_variable_selects_the_file(tmp_path):
    """SYNDICATE_CONFIG in the given environment names the file to read."""
    path = _toml(tmp_path, "[fetch]\ntimeout = 4\n")
    settings = load_settings(environ={"SYNDICATE_CONFIG": str(path)})
    assert settings.fetch.timeout == 4.0


def test_given_environment_is_the_only_one_consulted(tmp_path, monkeypatch):
    """With an explicit environ mapping, the process environment is not read at all."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.setenv("SYNDICATE_CONFIG", str(_toml(elsewhere, "[fetch]\ntimeout = 4\n")))
    monkeypatch.setenv("SYNDICATE_FETCH__TIMEOUT", "1")
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={})
    assert settings.fetch.timeout == 30.0


def test_settings_are_frozen(tmp_path, monkeypatch):
    """Settings cannot be changed after loading."""
    monkeypatch.chdir(tmp_path)
    settings = load_settings(environ={})
    with pytest.raises(ValidationError):
        settings.fetch.timeout = 1.0  # type: ignore[misc]


# -- delivery: sink types, routing, secrets --------------------------------------------

_HOOK_KEY = "whsec_" + "MDEyMzQ1Njc4OWFiY2RlZg=="  # base64 of 16 bytes


def test_every_sink_type_reads_with_its_defaults(tmp_path):
    """webhook, postgres, stdout and rotating jsonl sinks are typed settings with the
    documented defaults; the webhook secret comes from the environment."""
    path = _toml(
        tmp_path,
        """
[sinks.hook]
type = "webhook"
url = "https://hooks.example/in"
tags = ["world"]

[sinks.pg]
type = "postgres"
dsn = "host=db user=syndicate dbname=news"

[sinks.debug]
type = "stdout"

[sinks.files]
type = "jsonl"
path = "out/a.jsonl"
rotate_bytes = 1000000
rotate_daily = true
""",
    )
    s = load_settings(path, environ={"SYNDICATE_SINKS__HOOK__SECRET": _HOOK_KEY})
    hook = s.sinks["hook"]
    assert (hook.type, hook.timeout, hook.concurrency) == ("webhook", 10.0, 4)
    assert hook.signing_keys() == [b"0123456789abcdef"]
    assert _HOOK_KEY not in repr(s)
    assert (s.sinks["pg"].table, s.sinks["pg"].connect_timeout) == ("syndicate_articles", 10.0)
    assert s.sinks["debug"].type == "stdout"
    assert (s.sinks["files"].rotate_bytes, s.sinks["files"].dedupe_files) == (1000000, 2)
    assert s.sink_filters() == {"hook": ("world",), "pg": (), "debug": (), "files": ()}
    assert (s.delivery.retry_window, s.store.history_days) == (86400.0, 7.0)


def test_two_rotating_webhook_secrets_are_both_used(tmp_path):
    """A space-separated pair of secrets gives two signing keys, newest first."""
    path = _toml(tmp_path, '[sinks.hook]\ntype = "webhook"\nurl = "https://h.example/"\n')
    other = "whsec_" + "ZmVkY2JhOTg3NjU0MzIxMA=="
    s = load_settings(path, environ={"SYNDICATE_SINKS__HOOK__SECRET": f"{_HOOK_KEY} {other}"})
    assert s.sinks["hook"].signing_keys() == [b"0123456789abcdef", b"fedcba9876543210"]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (None, "required; set SYNDICATE_SINKS__HOOK__SECRET"),
        ("hunter2-not-a-whsec", "must start with 'whsec_'"),
        ("whsec_!!!notbase64", "not valid base64"),
        ("whsec_c2hvcnQ=", "shorter than 16 bytes"),
        (f"{_HOOK_KEY} {_HOOK_KEY} {_HOOK_KEY}", "give one secret, or two"),
    ],
)
def test_webhook_secret_problems_name_the_variable_and_never_echo_it(tmp_path, value, reason):
    """A missing or malformed webhook secret is one clear problem without its value."""
    path = _toml(tmp_path, '[sinks.hook]\ntype = "webhook"\nurl = "https://h.example/"\n')
    env = {"SYNDICATE_SINKS__HOOK__SECRET": value} if value else {}
    (problem,) = _problems(path, env)
    assert "sinks.hook.secret" in problem and reason in problem
    if value:
        assert problem.startswith("environment SYNDICATE_SINKS__HOOK__SECRET")
        assert "hunter2" not in problem and "notbase64" not in problem


def test_routing_to_unknown_sinks_is_a_config_error_per_feed(tmp_path):
    """A feed naming a sink that is not configured, or an empty list, is reported with
    the feed's index; routing to the default sink works when none is configured."""
    path = _toml(
        tmp_path,
        """
[[feeds]]
url = "https://a.example/1"
sinks = ["archive", "archiv"]

[[feeds]]
url = "https://a.example/2"
sinks = []

[[feeds]]
url = "https://a.example/3"
sinks = ["archive"]

[sinks.archive]
type = "jsonl"
path = "a.jsonl"
""",
    )
    problems = _problems(path)
    assert problems == [
        f"{path}: feeds[0].sinks: unknown sink 'archiv' (configured: archive)",
        f"{path}: feeds[1].sinks: an empty list delivers this feed nowhere; leave it out "
        "to route by tags",
    ]
    default = _toml(tmp_path, '[[feeds]]\nurl = "https://a.example/1"\nsinks = ["articles"]\n')
    assert load_settings(default, environ={}).feeds[0].spec().sinks == ("articles",)


def test_bad_postgres_table_name_is_refused(tmp_path):
    """A table name that is not a plain SQL name is refused before any SQL is built."""
    path = _toml(tmp_path, '[sinks.pg]\ntype = "postgres"\ndsn = "x"\ntable = "a; drop"\n')
    (problem,) = _problems(path)
    assert problem.startswith(f"{path}: sinks.pg.table: must be a lowercase SQL name")


def test_feed_auth_env_and_headers_are_validated(tmp_path):
    """auth_env must be a variable name; secret and transport headers are refused with
    the reason, each reported against its feed."""
    from worker.core.errors import ConfigError
    from worker.settings import load_settings

    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[feeds]]\nurl = "https://a.example/f"\nauth_env = "not a name"\n'
        '[[feeds]]\nurl = "https://b.example/f"\nheaders = { "Authorization" = "x" }\n'
        '[[feeds]]\nurl = "https://c.example/f"\nheaders = { "Host" = "evil" }\n'
    )
    with pytest.raises(ConfigError) as exc:
        load_settings(bad, {})
    text = "\n".join(exc.value.problems)
    assert "feeds[0].auth_env" in text
    assert "feeds[1].headers" in text and "use auth_env" in text
    assert "feeds[2].headers" in text and "set by the fetcher" in text
    good = tmp_path / "good.toml"
    good.write_text(
        '[[feeds]]\nurl = "https://a.example/f"\nauth_env = "A_AUTH"\nheaders = { "X-Key" = "1" }\n'
    )
    spec = load_settings(good, {}).feed_specs()[0]
    assert spec.auth_env == "A_AUTH" and spec.headers == (("X-Key", "1"),)


def test_bad_boilerplate_rules_are_reported_with_their_keys(tmp_path):
    """An invalid CSS selector, regular expression or full_text mode is named by key."""
    config = tmp_path / "bad.toml"
    config.write_text(
        '[[feeds]]\nurl = "https://a.example/f"\nremove_selectors = ["div..x"]\n'
        '[content]\nremove_patterns = ["("]\nfull_text = "sometimes"\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_settings(config, {})
    problems = "\n".join(caught.value.problems)
    assert "feeds[0].remove_selectors: 'div..x' is not a CSS selector" in problems
    assert "content.remove_patterns: '(' is not a regular expression" in problems
    assert "content.full_text: Input should be 'auto', 'always' or 'never'" in problems


def test_feed_content_options_reach_its_spec(tmp_path):
    """A feed's full_text and boilerplate rules travel in its FeedSpec (and back)."""
    config = tmp_path / "ok.toml"
    config.write_text(
        '[[feeds]]\nurl = "https://a.example/f"\nfull_text = "always"\n'
        'remove_selectors = ["aside"]\nremove_patterns = ["Sponsored"]\n'
    )
    (spec,) = load_settings(config, {}).feed_specs()
    assert (spec.full_text, spec.remove_selectors, spec.remove_patterns) == (
        "always",
        ("aside",),
        ("Sponsored",),
    )
    assert type(spec).from_dict(spec.to_dict()) == spec
