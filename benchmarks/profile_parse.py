"""Where the parse stage spends its time, per new article, in one process.

    python -m benchmarks.profile_parse [--feeds 200] [--batch 50] [--top 30] [--redis URL]
                                       [--profile cold|warm|changed] [--no-profile]

Renders farm feeds (benchmarks/farm.py: 20 items of about 130 words each, gzip off) in
memory, then runs ``pipeline.process`` over them in batches, as a parse task does, with
the distributed store on Redis (database 10 by default, flushed) and a Redis Stream sink.
Prints the milliseconds per new article of the whole stage (imports excluded), the CPU
this process and Redis spent on it (Redis by the server's own counters), a second
(warm) pass where every entry is known, a third (changed) where a tenth of the feeds each
publish one item (the documents the throughput benchmark's warm pass parses: 19 known
entries and one new), and the cProfile table of one pass (``--profile``, the cold one by
default) sorted by own time and by cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import logging
import pstats
import tempfile
import time
from pathlib import Path

import redis
import structlog

from benchmarks.farm import Farm
from worker import pipeline
from worker.core import neardup
from worker.core.models import FetchResult
from worker.runtime import Runtime, tune_collector
from worker.settings import load_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/10")
    parser.add_argument(
        "--profile", choices=("cold", "warm", "changed"), default="cold", help="the pass to profile"
    )
    parser.add_argument("--no-profile", action="store_true", help="timings only")
    args = parser.parse_args()

    logging.disable(logging.CRITICAL)
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())
    redis.Redis.from_url(args.redis).flushdb()
    farm = Farm(args.feeds, 20, seed=1, latency_ms=0)
    urls = [f"http://127.0.0.1:9/feed/{f.n}.xml" for f in farm.feeds]
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "bench.toml"
        config.write_text(
            "".join(f'[[feeds]]\nurl = "{u}"\n' for u in urls)
            + '[store]\nprefix = "prof"\n'
            + '[sinks.stream]\ntype = "redis_stream"\nstream = "prof:stream"\n'
        )
        rt = Runtime(load_settings(config, {"REDIS_URL": args.redis}))
        rt.store.sync_feeds(rt.settings.feed_specs(), time.time())
        ids = {s.url: s.feed_id for s in rt.settings.feed_specs()}
        docs = [
            FetchResult(feed_id=ids[u], url=u, status="ok", http_status=200, body=farm.render(f))
            for u, f in zip(urls, farm.feeds, strict=True)
        ]
        batches = [docs[i : i + args.batch] for i in range(0, len(docs), args.batch)]
        articles = 20 * len(docs)
        # Lazy imports (datasketch on the first fingerprint) stay outside the timings.
        neardup.fingerprint("warm-up", "one two three four")
        tune_collector()  # as a worker's pool process does when it starts
        profiler = cProfile.Profile()

        server = redis.Redis.from_url(args.redis)

        def redis_cpu() -> float:
            info = server.info("cpu")
            return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

        spent: list[float] = []
        own: list[float] = []

        def run(profiled: bool, batches: list[list[FetchResult]]) -> float:
            before = redis_cpu()
            cpu = time.process_time()
            started = time.perf_counter()
            if profiled:
                profiler.enable()
            for batch in batches:
                pipeline.process(rt, batch)
            profiler.disable()
            elapsed = time.perf_counter() - started
            own.append(time.process_time() - cpu)
            spent.append(redis_cpu() - before)
            return elapsed

        cold = run(not args.no_profile and args.profile == "cold", batches)
        # warm: the same documents again (as after a changed body), every entry known
        warm = run(not args.no_profile and args.profile == "warm", batches)
        # changed: a tenth of the feeds with one new item each, as on the throughput
        # benchmark's warm pass (the other nine tenths answer 304 and are never parsed)
        changed = [
            FetchResult(
                feed_id=ids[urls[f.n]],
                url=urls[f.n],
                status="ok",
                http_status=200,
                body=farm.render(f),
            )
            for f in farm.change(0.1, time.time())
        ]
        fresh = run(
            not args.no_profile and args.profile == "changed",
            [changed[i : i + args.batch] for i in range(0, len(changed), args.batch)],
        )
        note = " (under cProfile)"
        print(
            f"cold: {articles} new articles in {cold:.2f} s = "
            f"{1000 * cold / articles:.3f} ms/article ({articles / cold:,.0f}/s)"
            + (note if not args.no_profile and args.profile == "cold" else "")
            + f"; CPU: ours {1000 * own[0] / articles:.3f}, Redis "
            f"{1000 * spent[0] / articles:.3f} ms/article"
        )
        print(
            f"warm: {articles} known entries in {warm:.2f} s = "
            f"{1000 * warm / articles:.3f} ms/entry"
            + (note if not args.no_profile and args.profile == "warm" else "")
            + f"; CPU: ours {1000 * own[1] / articles:.3f}, Redis "
            f"{1000 * spent[1] / articles:.3f} ms/entry"
        )
        print(
            f"changed: {len(changed)} documents with one new item each in {fresh:.2f} s = "
            f"{1000 * fresh / len(changed):.3f} ms/document"
            + (note if not args.no_profile and args.profile == "changed" else "")
            + f"; CPU: ours {1000 * own[2] / len(changed):.3f}, Redis "
            f"{1000 * spent[2] / len(changed):.3f} ms/document"
        )
        if not args.no_profile:
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("tottime").print_stats(args.top)
            print(out.getvalue())
            out = io.StringIO()
            pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(args.top)
            print(out.getvalue())


if __name__ == "__main__":
    main()
