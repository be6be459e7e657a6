"""The operator's commands: ``feeds ...``, ``stats``, ``trace``, ``health``.

Each reads (or, for ``feeds``, changes) the store the configuration points at: SQLite
under the data directory in embedded mode, Redis in distributed mode. Text for a
terminal, one JSON document with ``--json``; errors on stderr with a non-zero exit.
"""

from __future__ import annotations

import json
import sys
import time
from email.utils import formatdate
from pathlib import Path
from typing import Any

import click

from worker.cli_base import config_option, fail, json_option, load, table


def _runtime(config: Path | None) -> Any:
    from worker.runtime import Runtime

    return Runtime(load(config))


def _dump(doc: Any) -> None:
    click.echo(json.dumps(doc, ensure_ascii=False, indent=2))


# -- feeds ------------------------------------------------------------------------------


@click.group()
def feeds() -> None:
    """The feeds: config-defined ones (the config file is their source of truth; beat and
    run sync them into the store) plus the ones kept in the store (added here)."""


@feeds.command("list")
@config_option
@json_option
def feeds_list(config: Path | None, as_json: bool) -> None:
    """Every feed, config-defined and store-kept, with where it comes from."""
    from worker.feeds_admin import list_feeds

    rt = _runtime(config)
    try:
        listed = list_feeds(rt.settings, rt.store)
    finally:
        rt.close()
    if as_json:
        _dump([f.as_dict() for f in listed])
        return
    rows = []
    for f in listed:
        d = f.as_dict()
        state = (
            "not synced yet"
            if not d["synced"]
            else (f"{d['state']}" + (f", {d['error_streak']} errors" if d["error_streak"] else ""))
        )
        rows.append(
            [
                str(d["feed_id"]),
                f.origin,
                f.spec.name or "-",
                ",".join(f.spec.tags) or "-",
                state,
                f.spec.url,
            ]
        )
    click.echo(
        table(["ID", "ORIGIN", "NAME", "TAGS", "STATE", "URL"], rows)
        if rows
        else "no feeds (add some with `syndicate feeds add URL`)"
    )


@feeds.command("add")
@config_option
@click.argument("url")
@click.option("--name", default=None, help="A name for logs and `explain`.")
@click.option("--tags", "tags", multiple=True, help="Tags, comma-separated or repeated.")
def feeds_add(config: Path | None, url: str, name: str | None, tags: tuple[str, ...]) -> None:
    """Watch one more feed (kept in the store; polled from the next tick)."""
    from worker.core.opml import check_feed_url, clean_text
    from worker.feeds_admin import new_spec, where_known

    reason = check_feed_url(url)
    if reason:
        fail("feeds add", f"{url!r}: {reason}", 2)
    tag_list = [t for t in (clean_text(x, 100) for v in tags for x in v.split(",")) if t]
    spec = new_spec(url, clean_text(name), tag_list)
    rt = _runtime(config)
    try:
        known = where_known(rt.settings, rt.store, [spec.feed_id])
        if known:
            fail("feeds add", f"{url}: already a {known[spec.feed_id]} feed ({spec.feed_id})")
        rt.store.add_feeds([spec], rt.clock())
    finally:
        rt.close()
    click.echo(f"{spec.feed_id}: added {url}; due now")


@feeds.command("remove")
@config_option
@click.argument("feed")
def feeds_remove(config: Path | None, feed: str) -> None:
    """Stop watching a store-kept feed (FEED: id, URL or name). Config feeds are removed
    from the config file."""
    from worker.explain import find_feed

    rt = _runtime(config)
    try:
        configured = {s.feed_id for s in rt.settings.feed_specs()}
        if any(
            feed in (s.feed_id, s.url) or (s.name or "").casefold() == feed.casefold()
            for s in rt.settings.feed_specs()
        ):
            fail(
                "feeds remove",
                f"{feed}: defined in {rt.settings.source}; remove it there "
                "(beat and run sync config feeds when they start)",
            )
        found = find_feed(rt.store, feed)
        if isinstance(found, str):
            fail("feeds remove", f"{feed}: {found}")
        spec, _ = found
        if spec.feed_id in configured or spec.origin == "config":
            fail(
                "feeds remove",
                f"{feed}: defined in {rt.settings.source}; remove it there "
                "(beat and run sync config feeds when they start)",
            )
        rt.store.remove_feed(spec.feed_id)
    finally:
        rt.close()
    click.echo(f"{spec.feed_id}: removed {spec.url}")


@feeds.command("import-opml")
@config_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@json_option
def feeds_import(config: Path | None, file: Path, as_json: bool) -> None:
    """Add every feed of an OPML file; duplicates and invalid URLs are reported, not fatal.
    Exits 0 when the file could be read, whatever it held."""
    from worker.core.errors import ParseError
    from worker.core.opml import read_opml
    from worker.feeds_admin import import_feeds

    try:
        doc = read_opml(file.read_bytes(), str(file))
    except ParseError as exc:
        fail("feeds import-opml", f"{file}: {exc.reason}")
    rt = _runtime(config)
    try:
        with click.progressbar(
            length=len(doc.feeds), label=f"importing {file.name}", file=sys.stderr
        ) as bar:
            report = import_feeds(rt.settings, rt.store, doc, rt.clock(), progress=bar.update)
    finally:
        rt.close()
    if as_json:
        _dump(report.as_dict())
        return
    click.echo(
        f"added {len(report.added)} feeds, {len(report.duplicates)} duplicates, "
        f"{len(report.invalid)} invalid"
    )
    for p in report.duplicates:
        click.echo(f"  duplicate  line {p.line}: {p.url} ({p.reason})")
    for p in report.invalid:
        click.echo(f"  invalid    line {p.line}: {p.url or '-'} ({p.reason})")


@feeds.command("export-opml")
@config_option
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write here instead of stdout.",
)
def feeds_export(config: Path | None, output: Path | None) -> None:
    """Every feed (config and store) as OPML 2.0, tags as categories."""
    from worker.core.opml import write_opml
    from worker.feeds_admin import list_feeds

    rt = _runtime(config)
    try:
        listed = list_feeds(rt.settings, rt.store)
    finally:
        rt.close()
    body = write_opml(
        ((f.spec.url, f.spec.name, f.spec.tags) for f in listed),
        "syndicate feeds",
        formatdate(time.time(), usegmt=True),
    )
    if output:
        output.write_bytes(body)
        click.echo(f"wrote {len(listed)} feeds to {output}", err=True)
    else:
        sys.stdout.buffer.write(body)


# -- stats, trace, health ---------------------------------------------------------------


@click.command()
@config_option
@json_option
def stats(config: Path | None, as_json: bool) -> None:
    """One line per feed (last poll, errors, next poll and why, 304 ratio, articles a
    day, median publication-to-delivery latency) and the totals per sink."""
    from worker import stats as st

    rt = _runtime(config)
    try:
        data = st.gather(rt.settings, rt.store, rt.clock())
    finally:
        rt.close()
    if as_json:
        _dump(st.as_json(data))
    else:
        click.echo(st.render_text(data))


@click.command()
@config_option
@click.argument("article_url")
@json_option
def trace(config: Path | None, article_url: str, as_json: bool) -> None:
    """Was this article seen, under which id, why was it (not) published, and where was
    it delivered. Exits 1 when it was never seen."""
    from worker import trace as tr

    rt = _runtime(config)
    try:
        doc = tr.trace(rt.settings, rt.store, article_url, rt.clock())
    finally:
        rt.close()
    if isinstance(doc, str):
        fail("trace", f"{article_url}: {doc}", 2)
    if as_json:
        _dump(doc)
    else:
        click.echo(tr.render_text(doc))
    if not doc["seen"]:
        sys.exit(1)


@click.command()
@config_option
@click.option(
    "--check",
    "checks",
    multiple=True,
    type=click.Choice(["broker", "store", "sinks", "beat", "queues"]),
    help="Only these checks (repeatable; default: all).",
)
@click.option(
    "--queues",
    default="fetch,parse,publish",
    show_default=True,
    help="The queues the queues check looks at.",
)
@json_option
def health(config: Path | None, checks: tuple[str, ...], queues: str, as_json: bool) -> None:
    """Check the broker, the store, the sinks, beat liveness and queue lag. Exit 0 when
    nothing fails (warnings allowed), 1 otherwise."""
    from worker.adapters.broker import QUEUES
    from worker.health import CHECKS, run_checks

    wanted = [q for q in queues.split(",") if q]
    unknown = [q for q in wanted if q not in QUEUES]
    if unknown:
        fail("health", f"unknown queue(s) {', '.join(unknown)}; known: {', '.join(QUEUES)}", 2)
    settings = load(config)
    results = run_checks(settings, time.time(), checks or CHECKS, wanted)
    healthy = all(c.status != "fail" for c in results)
    if as_json:
        _dump(
            {
                "healthy": healthy,
                "checks": [
                    {"name": c.name, "status": c.status, "detail": c.detail} for c in results
                ],
            }
        )
    else:
        click.echo(
            table(
                ["CHECK", "STATUS", "DETAIL"],
                [[c.name, c.status.upper(), c.detail] for c in results],
            )
        )
        click.echo("healthy" if healthy else "UNHEALTHY")
    if not healthy:
        sys.exit(1)


COMMANDS = (feeds, stats, trace, health)
