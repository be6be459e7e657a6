"""Structured logs: every line is a static event name plus fields.

JSON lines when stderr is not a terminal (a service, a container), readable colours when
it is. The standard library's records (Celery, kombu, httpx) go through the same
formatter, so an operator searches one format. Context such as ``task_id`` and
``feed_id`` is bound once with :func:`structlog.contextvars.bind_contextvars`.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any, Literal

import structlog

_CONTROL = re.compile(r"[\x00-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
MAX_FIELD_CHARS = 2000
# A password in a URL (redis://:pw@host, https://user:pw@host) is masked wherever it
# appears; fields named like a secret are masked whole.
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^/@\s:]*):[^/@\s]*@")
_SECRET_NAMES = frozenset(
    {
        "password",
        "passwd",
        "secret",
        "token",
        "authorization",
        "cookie",
        "api_key",
        "apikey",
        "signing_key",
        "credentials",
    }
)
REDACTED = "[redacted]"


def _is_secret_name(key: str) -> bool:
    k = key.lower()
    return k in _SECRET_NAMES or k.endswith(("_password", "_secret", "_token", "_key"))


def _clean(value: Any, depth: int = 0) -> Any:
    if isinstance(value, str):
        text = value if len(value) <= MAX_FIELD_CHARS else value[:MAX_FIELD_CHARS] + "…"
        # \t and \n included: one event is one line, whatever a feed or a server sent.
        return _CONTROL.sub("�", _URL_PASSWORD.sub(r"\1:***@", text))
    if depth < 3 and isinstance(value, dict):
        return {
            k: REDACTED if isinstance(k, str) and _is_secret_name(k) else _clean(v, depth + 1)
            for k, v in value.items()
        }
    if depth < 3 and isinstance(value, list | tuple):
        return [_clean(v, depth + 1) for v in value]
    return value


def _scrub(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Keep log lines single, bounded, free of control characters from feeds, and free of
    secrets (URL passwords, secret-named fields)."""
    for key, value in event_dict.items():
        if key == "exception" and isinstance(value, str):
            # A traceback is multi-line by nature (JSON escapes it); only mask passwords.
            event_dict[key] = _URL_PASSWORD.sub(r"\1:***@", value)
        elif _is_secret_name(key) and value is not None:
            event_dict[key] = REDACTED
        else:
            event_dict[key] = _clean(value)
    return event_dict


def configure_logging(
    level: str = "INFO", fmt: Literal["auto", "json", "console"] = "auto"
) -> None:
    """Route structlog and stdlib logging through one formatter on stderr."""
    if fmt == "auto":
        fmt = "console" if sys.stderr.isatty() else "json"
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.format_exc_info,
        _scrub,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer(sort_keys=False)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=True)
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=[structlog.stdlib.ExtraAdder(), *shared],
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Chatty at INFO: one line per request, per task received/succeeded, per beat send.
    # Our own feed.polled / delivery.batch / tick.claimed lines carry that information.
    for name in (
        "httpx",
        "httpcore",
        "celery.worker.strategy",
        "celery.app.trace",
        "celery.beat",
        "kombu.connection",
    ):
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
    structlog.configure(
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )


def get_logger(name: str) -> structlog.stdlib.BoundLogger:
    logger: structlog.stdlib.BoundLogger = structlog.stdlib.get_logger(name)
    return logger
