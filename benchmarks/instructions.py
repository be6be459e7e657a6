"""Instructions the worker executes for one stage, counted by callgrind: the same count
for the same code and input whatever else the shared machine does, where timings move
by 20-30 % between runs of one tree.

    python -m benchmarks.instructions cold|changed|fetch [--feeds N] [--redis URL]
                                      [--tree DIR]

Runs this module again under ``valgrind --tool=callgrind
--toggle-collect=starmap_next``, so that only the part it calls through
``itertools.starmap`` is counted, and prints the instructions per unit:

- ``cold``: ``pipeline.process`` over farm documents of 20 new items each (per new
  article; ``--feeds`` 60 by default);
- ``changed``: a first changed pass outside the count, then half of the feeds each with
  one new item among 19 known (per document; 40 feeds by default);
- ``fetch``: ``pipeline.fetch_batch`` over feeds followed a month (20 polls and 30
  publication times in each state) that all answer 304, the fetcher stubbed, logging
  as deployed (JSON at WARNING); the first batch of 200 outside the count (per feed;
  1,000 feeds by default).

``--tree`` counts another checkout's ``worker/`` (put first on ``sys.path``), so two
commits compare as ``--tree /tmp/base`` against the working tree: a ``git worktree`` of
each, two runs (they may run at once: load does not change the counts). Redis database
11 by default (flushed); the test suite uses others.
"""

from __future__ import annotations

import argparse
import gc
import itertools
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

DEFAULT_FEEDS = {"cold": 60, "changed": 40, "fetch": 1000}


def _counted(step: Callable[[Any], object], batches: Sequence[Any]) -> None:
    """The only calls callgrind counts (``--toggle-collect=starmap_next``), with the
    collector tuned as a worker's pool process tunes it (trees older than
    ``runtime.tune_collector`` did the same in ``celery_app``)."""
    try:
        from worker.runtime import tune_collector
    except ImportError:
        gc.freeze()
        gc.set_threshold(50_000, *gc.get_threshold()[1:])
    else:
        tune_collector()
    list(itertools.starmap(step, [(b,) for b in batches]))


def _runtime(urls: list[str], redis_url: str) -> Any:
    import redis

    from worker.runtime import Runtime
    from worker.settings import load_settings

    redis.Redis.from_url(redis_url).flushdb()
    config = Path(tempfile.mkdtemp()) / "bench.toml"
    config.write_text(
        "".join(f'[[feeds]]\nurl = "{u}"\n' for u in urls)
        + '[store]\nprefix = "instr"\n'
        + '[sinks.stream]\ntype = "redis_stream"\nstream = "instr:stream"\n'
    )
    rt = Runtime(load_settings(config, {"REDIS_URL": redis_url}))
    rt.store.sync_feeds(rt.settings.feed_specs(), time.time())
    return rt


def _parse_stage(kind: str, feeds: int, redis_url: str) -> int:
    from benchmarks.farm import Farm
    from worker import pipeline
    from worker.core.models import FetchResult

    farm = Farm(feeds, 20, seed=1, latency_ms=0)
    urls = [f"http://127.0.0.1:9/feed/{f.n}.xml" for f in farm.feeds]
    rt = _runtime(urls, redis_url)
    ids = {s.url: s.feed_id for s in rt.settings.feed_specs()}

    def docs(of: Sequence[Any]) -> list[list[FetchResult]]:
        results = [
            FetchResult(feed_id=ids[urls[f.n]], url=urls[f.n], status="ok",
                        http_status=200, body=farm.render(f))
            for f in of
        ]
        return [results[i : i + 20] for i in range(0, len(results), 20)]

    def step(batch: list[FetchResult]) -> object:
        return pipeline.process(rt, batch)

    first = docs(farm.feeds)
    if kind == "cold":
        _counted(step, first)
        return feeds * 20
    for batch in first:
        step(batch)
    for batch in docs(farm.change(0.5, time.time())):  # one-time costs outside the count
        step(batch)
    changed = docs(farm.change(0.5, time.time()))
    _counted(step, changed)
    return sum(map(len, changed))


def _fetch_stage(feeds: int, redis_url: str) -> int:
    from worker import pipeline
    from worker.core.models import FetchResult, PollRecord

    rt = _runtime([f"http://127.0.0.1:9/feed/{i}.xml" for i in range(feeds)], redis_url)
    now = time.time()
    ids = [s.feed_id for s in rt.settings.feed_specs()]
    rt.store.save_states([
        replace(
            s,
            etag='"e"',
            last_modified="Tue, 14 Nov 2023 22:13:20 GMT",
            tracked_since=now - 30 * 86400,
            last_polled_at=now - 3600,
            published=tuple(now - 86400 * i - 77 for i in range(30, 0, -1)),
            polls=tuple(
                PollRecord(now - 3600 * i, "not_modified", 304, 0, 12.5, None, 3600.0,
                           "adaptive(1.0/d)")
                for i in range(20, 0, -1)
            ),
        )
        for s in rt.store.load_states(ids).values()
    ])

    class NotModified:
        def fetch_many(self, requests: Sequence[Any], now: float) -> list[FetchResult]:
            return [
                FetchResult(feed_id=r.feed_id, url=r.url, status="not_modified",
                            http_status=304, elapsed_ms=3.0)
                for r in requests
            ]

    rt.fetcher = NotModified()
    batches = [ids[i : i + 200] for i in range(0, len(ids), 200)]

    def step(batch: list[str]) -> object:
        return pipeline.fetch_batch(rt, batch)

    step(batches[0])  # one-time costs outside the count
    _counted(step, batches[1:])
    return sum(map(len, batches[1:]))


def _inner(kind: str, feeds: int, redis_url: str, out: Path, tree: Path) -> None:
    import logging

    # this checkout's farm (another tree may have an older one), that tree's worker/
    import benchmarks.farm  # noqa: F401

    sys.path.insert(0, str(tree))
    from worker.logging import configure_logging

    assert Path(sys.modules["worker.logging"].__file__ or "").is_relative_to(tree)

    logging.disable(logging.CRITICAL)
    configure_logging("WARNING", "json")
    units = _fetch_stage(feeds, redis_url) if kind == "fetch" else _parse_stage(
        kind, feeds, redis_url)
    out.write_text(str(units))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("kind", choices=("cold", "changed", "fetch"))
    parser.add_argument("--feeds", type=int, default=None)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/11")
    parser.add_argument("--tree", type=Path, default=Path(__file__).resolve().parent.parent)
    parser.add_argument("--inner", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    feeds = args.feeds or DEFAULT_FEEDS[args.kind]
    if args.inner is not None:
        _inner(args.kind, feeds, args.redis, args.inner, args.tree.resolve())
        return
    tree = args.tree.resolve()
    here = Path(__file__).resolve().parent.parent
    with tempfile.TemporaryDirectory() as tmp:
        units_file = Path(tmp) / "units"
        env = {**os.environ, "PYTHONPATH": str(here), "PYTHONHASHSEED": "0"}
        proc = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/callgrind.out",
             "--toggle-collect=starmap_next", sys.executable, "-m", "benchmarks.instructions",
             args.kind, "--feeds", str(feeds), "--redis", args.redis, "--tree", str(tree),
             "--inner", str(units_file)],
            cwd=here, env=env, capture_output=True, text=True, check=False,
        )
        found = re.search(r"Collected : (\d+)", proc.stderr)
        if proc.returncode or not found or not units_file.exists():
            sys.exit(f"callgrind run failed:\n{proc.stderr[-3000:]}")
        units = int(units_file.read_text())
    total = int(found.group(1))
    what = {"cold": "new article", "changed": "changed document", "fetch": "feed (304)"}
    print(f"{args.kind} ({tree}): {total:,} instructions for {units} = "
          f"{total / units / 1e6:.2f} M per {what[args.kind]}")


if __name__ == "__main__":
    main()
