"""settings: the [dedupe] section and each sink's duplicates policy."""

from __future__ import annotations

import pytest

from worker.core.errors import ConfigError
from worker.settings import Settings, load_settings


def test_dedupe_defaults_and_sink_policy(tmp_path):
    """Defaults are as documented; a sink can suppress syndicated copies."""
    config = tmp_path / "s.toml"
    config.write_text(
        '[sinks.originals]\ntype = "jsonl"\npath = "o.jsonl"\nduplicates = "suppress"\n'
    )
    s = load_settings(config, {})
    assert (
        s.dedupe.window_days,
        s.dedupe.update_similarity,
        s.dedupe.max_updates_per_day,
        s.dedupe.duplicate_similarity,
        s.dedupe.bad_key_ratio,
    ) == (30, 0.9, 3, 0.4, 0.05)
    assert s.sinks["originals"].duplicates == "suppress"
    assert Settings().effective_sinks()["articles"].duplicates == "deliver"


def test_bad_dedupe_values_are_reported_with_their_keys(tmp_path):
    """A wrong policy and an out-of-range threshold are both reported, by key."""
    config = tmp_path / "s.toml"
    config.write_text(
        '[sinks.a]\ntype = "jsonl"\npath = "a.jsonl"\nduplicates = "drop"\n'
        "[dedupe]\nupdate_similarity = 1.5\n"
    )
    with pytest.raises(ConfigError) as err:
        load_settings(config, {})
    text = "\n".join(err.value.problems)
    assert "sinks.a.duplicates" in text
    assert "dedupe.update_similarity" in text
