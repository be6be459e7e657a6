"""``syndicate``: the command line.

Every command takes ``--config PATH`` (default config/syndicate.toml, or
``SYNDICATE_CONFIG``). Errors go to stderr with a non-zero exit: 2 for a bad
configuration, 1 for anything else.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

import click

from worker.cli_base import config_option, load
from worker.core.errors import FeedError
from worker.settings import FeedSettings, Settings

# The commands below call it by this name; worker/cli_base.py is shared with cli_ops.
_load = load


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="syndicate-worker")
def main() -> None:
    """An event-driven feed syndication worker."""


@main.command("check-config")
@config_option
def check_config(config: Path | None) -> None:
    """Validate the configuration; list every problem and exit non-zero if any."""
    settings = _load(config)
    sinks = ", ".join(f"{n} ({s.type})" for n, s in settings.effective_sinks().items())
    mode = "distributed (Redis)" if settings.distributed else f"embedded ({settings.data_dir})"
    click.echo(f"{settings.source}: OK")
    click.echo(f"  mode:  {mode}")
    click.echo(f"  feeds: {len(settings.feeds)}")
    click.echo(f"  sinks: {sinks}")
    for i, feed in enumerate(settings.feeds):
        if feed.auth_env and ":" not in os.environ.get(feed.auth_env, ""):
            click.echo(
                f"  warning: feeds[{i}].auth_env: {feed.auth_env} is not set to "
                "user:password here; this feed's polls will fail where it is unset",
                err=True,
            )
    from worker.core.routing import route

    filters = settings.sink_filters()
    routed = {name: 0 for name in filters}
    for feed in settings.feeds:
        for name in route(feed.tags, feed.sinks, filters):
            routed[name] += 1
    click.echo("  routes: " + ", ".join(f"{n} <- {k} feeds" for n, k in routed.items()))


@main.command()
@config_option
@click.argument("url")
@click.option(
    "--explain",
    is_flag=True,
    help="Also say how it went: the fetch outcome and parse path on stderr, and "
    "per item the boilerplate removed and the identity decisions.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="With --explain: one JSON document (the explanation and the articles).",
)
def poll(config: Path | None, url: str, explain: bool, as_json: bool) -> None:
    """Fetch, parse and normalize one feed; print one JSON article per line. Keeps no state."""
    settings = _load(config)
    from worker.pipeline import poll_once
    from worker.runtime import Runtime

    rt = Runtime(settings)
    if explain:
        _poll_explained(rt, url, as_json)
        return
    try:
        articles = poll_once(rt, url)
    except FeedError as exc:
        click.echo(f"syndicate poll: {url}: {exc.reason}", err=True)
        sys.exit(1)
    finally:
        rt.close()
    out = sys.stdout
    for article in articles:
        out.write(json.dumps(article.to_dict(), ensure_ascii=False) + "\n")
    out.flush()


def _poll_explained(rt: Any, url: str, as_json: bool) -> None:
    from worker.poll_explain import explain_poll, render_text

    settings = rt.settings
    use_store = settings.distributed or (settings.data_dir / "state.db").exists()
    try:
        explained = explain_poll(rt, url, use_store=use_store)
    finally:
        rt.close()
    if as_json:
        click.echo(json.dumps(explained.as_dict(), ensure_ascii=False, indent=2))
    else:
        click.echo(render_text(explained), err=True)
        for article in explained.articles:
            click.echo(json.dumps(article.to_dict(), ensure_ascii=False))
    if explained.error:
        click.echo(f"syndicate poll: {url}: {explained.error}", err=True)
        sys.exit(1)


def _metrics(settings: Settings, port: int | None) -> None:
    """Serve Prometheus metrics from this (the parent) process, before workers fork."""
    if port is None:
        return
    from worker import metrics
    from worker.logging import get_logger

    addr = os.environ.get("SYNDICATE_METRICS_ADDR", "0.0.0.0")  # noqa: S104 - containers
    try:
        folder = metrics.serve(settings, port, addr)
    except OSError as exc:
        click.echo(f"syndicate: --metrics-port {port}: {exc.strerror}", err=True)
        sys.exit(1)
    get_logger("worker.cli").info("metrics.serving", port=port, addr=addr, folder=str(folder))


metrics_option = click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Serve Prometheus metrics on this port, for all worker processes together "
    "(address: $SYNDICATE_METRICS_ADDR, default 0.0.0.0).",
)


def default_concurrency(cgroup: Path = Path("/sys/fs/cgroup")) -> int:
    """One worker process more than the CPUs this process may use: its affinity (which a
    container's cpuset narrows), or its cgroup's CPU quota if that is lower (`cpus:` in
    compose, a Kubernetes limit). A parse task waits on Redis for about a sixth of its
    time (each call and script), and the extra process runs in those waits: on 2 cores,
    2 processes kept 1.55-1.62 cores busy through a cold pass and 3 kept 1.83-1.86
    (docs/benchmarks.md)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    quota = _cgroup_cpus(cgroup)
    if quota is not None:
        cpus = min(cpus, quota)
    return cpus + 1


def _cgroup_cpus(root: Path) -> int | None:
    """The CPU quota of this process's cgroup, rounded up to whole CPUs; None when there
    is none or it cannot be read (cgroup v2 ``cpu.max``, v1 ``cpu.cfs_quota_us``)."""
    try:
        if (root / "cpu.max").exists():
            quota, period = (root / "cpu.max").read_text().split()[:2]
            if quota == "max":
                return None
            return max(1, math.ceil(int(quota) / int(period)))
        v1 = root / "cpu"
        if (v1 / "cpu.cfs_quota_us").exists():
            quota_us = int((v1 / "cpu.cfs_quota_us").read_text())
            if quota_us <= 0:
                return None
            return max(1, math.ceil(quota_us / int((v1 / "cpu.cfs_period_us").read_text())))
    except (OSError, ValueError):
        return None
    return None


@main.command()
@config_option
@click.option(
    "--queues",
    "-Q",
    default="fetch,parse,publish",
    show_default=True,
    help="Comma-separated queues to consume.",
)
@click.option(
    "--concurrency",
    "-c",
    type=int,
    default=None,
    help="Worker processes (default: one more than the CPUs this process may use).",
)
@click.option(
    "--pool",
    type=click.Choice(["prefork", "threads", "solo"]),
    default="prefork",
    show_default=True,
)
@click.option("--hostname", "-n", default=None, help="Worker node name.")
@metrics_option
def worker(  # noqa: PLR0917
    config: Path | None,
    queues: str,
    concurrency: int | None,
    pool: str,
    hostname: str | None,
    metrics_port: int | None,
) -> None:
    """Run a worker consuming the given queues (distributed mode: any number, anywhere)."""
    settings = _load(config)
    _check_queues(queues)
    _metrics(settings, metrics_port)
    from worker.celery_app import app

    app.use_settings(settings)
    argv = [
        "worker",
        "-Q",
        queues,
        "--pool",
        pool,
        "--loglevel",
        settings.log.level,
        "--without-mingle",
        "--without-gossip",
    ]
    argv += ["--concurrency", str(concurrency or default_concurrency())]
    if hostname:
        argv += ["--hostname", hostname]
    app.worker_main(argv)


@main.command()
@config_option
def beat(config: Path | None) -> None:
    """Run the scheduler: one periodic tick that claims due feeds and deliveries."""
    settings = _load(config)
    from worker.celery_app import app

    app.use_settings(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    app.start(["beat", "--loglevel", settings.log.level])


@main.command()
@config_option
@click.option("--demo", is_flag=True, help="Also serve sample feeds from 127.0.0.1 and poll them.")
@click.option(
    "--concurrency", "-c", type=int, default=2, show_default=True, help="Worker processes."
)
@metrics_option
def run(config: Path | None, demo: bool, concurrency: int, metrics_port: int | None) -> None:
    """Run everything in one process: worker, scheduler and (without REDIS_URL) an
    embedded broker and SQLite store under the data directory."""
    settings = _load(config)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    _metrics(settings, metrics_port)
    if demo:
        settings = _start_demo(settings)
    from worker.celery_app import app, sync_config_feeds
    from worker.logging import get_logger

    app.use_settings(settings)
    sync_config_feeds(app.runtime)
    sinks = {
        n: str(getattr(s, "path", getattr(s, "stream", "")))
        for n, s in settings.effective_sinks().items()
    }
    get_logger("worker.cli").info(
        "syndicate.started",
        mode="distributed" if settings.distributed else "embedded",
        data_dir=str(settings.data_dir.resolve()),
        feeds=len(settings.feeds),
        sinks=sinks,
    )
    app.runtime.close()  # children open their own connections
    app.worker_main(
        [
            "worker",
            "-B",
            "-Q",
            ",".join(("fetch", "parse", "publish")),
            "--concurrency",
            str(concurrency),
            "--loglevel",
            settings.log.level,
            "--without-mingle",
            "--without-gossip",
        ]
    )


@main.group()
def dlq() -> None:
    """The dead-letter list: deliveries given up on (rejected, or out of retry window)."""


@dlq.command("list")
@config_option
@click.option("--sink", default=None, help="Only this sink's dead letters.")
@click.option("--limit", type=int, default=100, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
def dlq_list(config: Path | None, sink: str | None, limit: int, as_json: bool) -> None:
    """List dead letters, oldest first, with their attempts and last error."""
    settings = _load(config)
    from worker.runtime import Runtime

    rt = Runtime(settings)
    try:
        counts = rt.store.dead_letter_counts()
        letters = rt.store.dead_letters(sink, limit)
    finally:
        rt.close()
    if as_json:
        for d in letters:
            click.echo(
                json.dumps(
                    {
                        "sink": d.sink,
                        "event_id": d.event_id,
                        "dead_at": _iso(d.dead_at),
                        "attempts": d.attempts,
                        "first_failed_at": _iso(d.first_failed_at) if d.first_failed_at else None,
                        "error": d.error,
                    }
                )
            )
        return
    if not counts:
        click.echo("no dead letters")
        return
    click.echo("dead letters: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    for d in letters:
        click.echo(
            f"{_iso(d.dead_at)}  {d.sink:<12} {d.event_id:<32} attempts={d.attempts:<3} {d.error}"
        )
    shown = sum(counts.get(sink, 0) for sink in ([sink] if sink else counts))
    if shown > len(letters):
        click.echo(f"... {shown - len(letters)} more (--limit)")


@dlq.command("replay")
@config_option
@click.option("--sink", default=None, help="Only this sink's dead letters.")
@click.option("--id", "event_ids", multiple=True, help="Only this event id (repeatable).")
@click.option("--all", "everything", is_flag=True, help="Every dead letter of every sink.")
def dlq_replay(
    config: Path | None, sink: str | None, event_ids: tuple[str, ...], everything: bool
) -> None:
    """Queue dead letters again with a fresh retry budget; the workers deliver them
    from the next tick."""
    if not (sink or event_ids or everything):
        click.echo(
            "syndicate dlq replay: say what to replay: --sink NAME, --id EVENT_ID or --all",
            err=True,
        )
        sys.exit(2)
    settings = _load(config)
    if sink:
        _check_sink(settings, sink, "dlq replay")
    from worker.runtime import Runtime

    rt = Runtime(settings)
    try:
        moved = rt.store.replay_dead_letters(sink, list(event_ids) or None, rt.clock())
    finally:
        rt.close()
    click.echo(f"queued {moved} dead letter{'s' * (moved != 1)} again")


@main.command()
@config_option
@click.option(
    "--since",
    required=True,
    help="Start of the window: an ISO 8601 time (UTC unless it says) or an age "
    "such as 90m, 6h, 2d.",
)
@click.option("--until", default=None, help="End of the window (default: now).")
@click.option("--sink", required=True, help="The sink to deliver to (new or repaired).")
@click.option("--wait", is_flag=True, help="Stay until the workers have delivered them.")
def replay(config: Path | None, since: str, until: str | None, sink: str, wait: bool) -> None:
    """Deliver the stored history of events to a sink again.

    Every event created in the window is queued for the sink (whatever the routing says);
    sinks drop the ids they already have. History is kept for store.history_days.
    """
    settings = _load(config)
    _check_sink(settings, sink, "replay")
    now = time.time()
    try:
        start = _parse_when(since, now)
        end = _parse_when(until, now) if until else now
    except ValueError as exc:
        click.echo(f"syndicate replay: {exc}", err=True)
        sys.exit(2)
    from worker.pipeline import replay_history
    from worker.runtime import Runtime

    rt = Runtime(settings)
    try:
        total = rt.store.history_count(start, end)
        with click.progressbar(length=total, label=f"queueing for {sink}", file=sys.stderr) as bar:
            queued = replay_history(rt, sink, start, end, progress=bar.update)
        click.echo(
            f"queued {queued} events created {_iso(start)} .. {_iso(end)} for sink "
            f"{sink}; the workers deliver them from the next tick"
        )
        if wait and queued:
            _wait_delivered(rt, sink, queued)
    finally:
        rt.close()


def _wait_delivered(rt: Any, sink: str, queued: int) -> None:
    done = 0
    with click.progressbar(length=queued, label=f"delivering to {sink}", file=sys.stderr) as bar:
        while True:
            pending = rt.store.pending_counts().get(sink, 0)
            now_done = max(0, queued - pending)
            bar.update(now_done - done)
            done = now_done
            if pending == 0:
                break
            time.sleep(1.0)
    dead = rt.store.dead_letter_counts().get(sink, 0)
    click.echo(f"delivered; dead letters of {sink}: {dead}")


def _check_sink(settings: Settings, sink: str, command: str) -> None:
    known = settings.effective_sinks()
    if sink not in known:
        click.echo(
            f"syndicate {command}: unknown sink {sink!r} (configured: {', '.join(sorted(known))})",
            err=True,
        )
        sys.exit(2)


_AGE = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


def _parse_when(value: str, now: float) -> float:
    """An ISO 8601 time (naive means UTC) or an age like 90m / 6h / 2d, as epoch seconds."""
    from datetime import UTC, datetime

    text = value.strip()
    if text[:-1].isdigit() and text[-1:] in _AGE:
        return now - int(text[:-1]) * _AGE[text[-1]]
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"{value!r} is neither an ISO 8601 time nor an age like 90m, 6h, 2d"
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return when.timestamp()


def _iso(ts: float) -> str:
    from worker.core.dates import epoch_to_iso

    return epoch_to_iso(ts)


@main.command()
@config_option
@click.argument("feed")
@click.option("--json", "as_json", is_flag=True, help="One JSON document, for machines.")
def explain(config: Path | None, feed: str, as_json: bool) -> None:
    """Show a feed's state, its next poll and why, and its recent polls.

    FEED is a feed id, its URL (as configured, or where it moved) or its name.
    """
    settings = _load(config)
    from worker.explain import find_feed, render_json, render_text
    from worker.runtime import Runtime

    rt = Runtime(settings)
    try:
        found = find_feed(rt.store, feed)
        if isinstance(found, str):
            click.echo(f"syndicate explain: {feed}: {found}", err=True)
            sys.exit(1)
        spec, state = found
        now = rt.clock()
        click.echo(render_json(spec, state, now) if as_json else render_text(spec, state, now))
    finally:
        rt.close()


@main.command()
@config_option
@click.argument("feed")
def revive(config: Path | None, feed: str) -> None:
    """Put a retired (gone) feed back on the schedule, due now, its error streak reset."""
    settings = _load(config)
    from dataclasses import replace

    from worker.explain import find_feed
    from worker.runtime import Runtime

    rt = Runtime(settings)
    try:
        found = find_feed(rt.store, feed)
        if isinstance(found, str):
            click.echo(f"syndicate revive: {feed}: {found}", err=True)
            sys.exit(1)
        spec, state = found
        rt.store.save_states(
            [
                replace(
                    state,
                    lifecycle="active",
                    error_streak=0,
                    next_poll_at=rt.clock(),
                    next_reason="revived",
                )
            ]
        )
        click.echo(f"{spec.feed_id}: active again, due now ({state.url})")
    finally:
        rt.close()


def _start_demo(settings: Settings) -> Settings:
    from worker.demo.feeds import serve_demo
    from worker.demo.server import FeedServer
    from worker.logging import get_logger

    server = FeedServer().start()
    urls = serve_demo(server, clock=time.time)
    get_logger("worker.cli").warning(
        "demo.serving", urls=urls, note="private addresses allowed for this run"
    )
    demo_feeds = tuple(
        FeedSettings(
            url=u, name=f"demo {Path(u).stem}", tags=("demo",), min_interval=5, max_interval=10
        )
        for u in urls
    )
    fetch = settings.fetch.model_copy(update={"allow_private_networks": True})
    return settings.model_copy(update={"feeds": settings.feeds + demo_feeds, "fetch": fetch})


def _check_queues(queues: str) -> None:
    from worker.celery_app import QUEUES

    unknown = [q for q in queues.split(",") if q not in QUEUES]
    if unknown:
        click.echo(
            f"syndicate worker: unknown queue(s) {', '.join(unknown)}; known: {', '.join(QUEUES)}",
            err=True,
        )
        sys.exit(2)


def _register_operations() -> None:
    from worker.cli_ops import COMMANDS

    for command in COMMANDS:
        main.add_command(command)


_register_operations()

if __name__ == "__main__":
    main()


if __name__ == "__main__":
    main()
