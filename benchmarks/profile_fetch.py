"""Where the fetch stage spends its time on a warm pass, per feed, in one process.

    python -m benchmarks.profile_fetch [--feeds 2000] [--batch 200] [--change 0.1]
                                       [--tracked-days 30] [--top 30] [--redis URL]
                                       [--no-profile]

Starts the farm (benchmarks/farm.py) on 127.0.0.1 and runs the pipeline's fetch stage as a
fetch task does (``pipeline.fetch_batch`` over batches of ``--batch`` feeds, the bench
config of benchmarks/ours.py, the distributed store on Redis database 10 by default,
flushed). A first pass fetches and processes every feed, so the store holds their ETags.
Then every feed's state is dated as followed for ``--tracked-days`` days, as a running
service's feeds are (the scheduler reads up to 30 days of history; 0 leaves them as new
as the first pass made them). Then ``--change`` of the feeds publish an item, and a
second pass fetches them all again: about 90 % answer 304. Prints the second pass's
milliseconds and CPU (this process and Redis) per feed, and its cProfile table sorted by
own and by cumulative time.
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import redis

from benchmarks.throughput import FarmProcess
from worker import pipeline
from worker.logging import configure_logging
from worker.runtime import Runtime, tune_collector
from worker.settings import load_settings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--tracked-days", type=float, default=30.0)
    parser.add_argument("--change", type=float, default=0.1)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/10")
    parser.add_argument("--no-profile", action="store_true", help="timings only")
    args = parser.parse_args()

    # as the benchmark's workers log: JSON, warnings and up
    configure_logging("WARNING", "json")
    server = redis.Redis.from_url(args.redis)
    server.flushdb()
    farm = FarmProcess(args.feeds, 20, seed=1, latency=0.0)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "bench.toml"
            config.write_text(
                "".join(f'[[feeds]]\nurl = "{u}"\n' for u in farm.urls)
                + "[fetch]\nallow_private_networks = true\n"
                "host_rate = 100000\nhost_burst = 10000\nhost_concurrency = 1000\n"
                + '[store]\nprefix = "prof"\n'
                + '[sinks.stream]\ntype = "redis_stream"\nstream = "prof:stream"\n'
            )
            rt = Runtime(load_settings(config, {"REDIS_URL": args.redis}))
            rt.store.sync_feeds(rt.settings.feed_specs(), time.time())
            ids = [s.feed_id for s in rt.settings.feed_specs()]
            batches = [ids[i : i + args.batch] for i in range(0, len(ids), args.batch)]
            for batch in batches:  # cold: the store learns every feed's validators
                pipeline.process(rt, pipeline.fetch_batch(rt, batch))
            if args.tracked_days:
                since = time.time() - args.tracked_days * 86400
                states = rt.store.load_states(ids)
                rt.store.save_states(
                    [replace(s, tracked_since=since) for s in states.values()]
                )
            changed = farm.advance(args.change)

            def redis_cpu() -> float:
                info = server.info("cpu")
                return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])

            tune_collector()  # as a worker's pool process does when it starts
            profiler = cProfile.Profile()
            before, cpu, started = redis_cpu(), time.process_time(), time.perf_counter()
            if not args.no_profile:
                profiler.enable()
            docs = 0
            for batch in batches:
                docs += len(pipeline.fetch_batch(rt, batch))
            profiler.disable()
            elapsed = time.perf_counter() - started
            own, spent = time.process_time() - cpu, redis_cpu() - before
            n = len(ids)
            print(f"warm fetch: {n} feeds ({docs} changed of {changed} published) in "
                  f"{elapsed:.2f} s = {1000 * elapsed / n:.3f} ms/feed "
                  f"({n / elapsed:,.0f} feeds/s); CPU: ours {1000 * own / n:.3f}, Redis "
                  f"{1000 * spent / n:.3f} ms/feed"
                  + ("" if args.no_profile else " (under cProfile)"))
            if not args.no_profile:
                for order in ("tottime", "cumulative"):
                    out = io.StringIO()
                    pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(args.top)
                    print(out.getvalue())
            rt.close()
    finally:
        farm.close()


if __name__ == "__main__":
    main()
