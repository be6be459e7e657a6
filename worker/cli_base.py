"""What every ``syndicate`` command shares: the ``--config`` option, loading the
settings (exit 2 with every problem), errors to stderr, and readable tables."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click

from worker.core.errors import ConfigError
from worker.settings import Settings, config_path, load_settings

F = TypeVar("F", bound=Callable[..., Any])


def config_option(fn: F) -> F:
    return click.option(
        "--config",
        "config",
        type=click.Path(dir_okay=False, path_type=Path),
        default=None,
        help="Config file (default: $SYNDICATE_CONFIG or config/syndicate.toml).",
    )(fn)


def json_option(fn: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="One JSON document, for machines.")(
        fn
    )


def load(config: Path | None) -> Settings:
    """Load settings, export their path for child processes, configure logging."""
    path = config_path(config)
    try:
        settings = load_settings(config)
    except ConfigError as exc:
        click.echo(f"syndicate: configuration is invalid ({len(exc.problems)} problems):", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        sys.exit(2)
    if path.exists():  # child processes and `celery -A` read the same file
        os.environ["SYNDICATE_CONFIG"] = str(path.resolve())
    from worker.logging import configure_logging

    configure_logging(settings.log.level, settings.log.format)
    return settings


def fail(command: str, message: str, code: int = 1) -> NoReturn:
    """An error on stderr, nothing on stdout, a non-zero exit."""
    click.echo(f"syndicate {command}: {message}", err=True)
    sys.exit(code)


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell; the last column is left ragged."""
    if not rows:
        return "  ".join(headers)
    widths = [max(len(str(r[i])) for r in (headers, *rows)) for i in range(len(headers))]
    lines = []
    for row in (headers, *rows):
        cells = [str(c).ljust(w) for c, w in zip(row[:-1], widths, strict=False)]
        lines.append("  ".join([*cells, str(row[-1])]).rstrip())
    return "\n".join(lines)


def iso(ts: float | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def ago(ts: float | None, now: float) -> str:
    """``3m ago`` / ``in 12m`` / ``-``."""
    if ts is None:
        return "-"
    delta = ts - now
    text = duration(abs(delta))
    return f"in {text}" if delta > 0 else f"{text} ago"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    s = round(seconds)
    if abs(s) < 120:
        return f"{s}s"
    if abs(s) < 7200:
        return f"{s // 60}m"
    if abs(s) < 2 * 86400:
        return f"{s // 3600}h{(s % 3600) // 60:02d}m"
    return f"{s // 86400}d{(s % 86400) // 3600:02d}h"
