"""Throughput side by side: our pipeline, `reader`, and a naive httpx+feedparser loop,
on the same farm feeds, in the same run, alternating.

    python -m benchmarks.throughput --feeds 500 --rounds 2

For each system and round: a fresh farm (same seed, same content), a cold pass (every
entry new) and a warm pass after 10 % of the feeds published one item (about 90 % of the
responses are 304); before the warm pass our feeds' states are dated as followed for
``--tracked-days`` (30), so the scheduler works on the history a running service has.
Prints entries/s cold, feeds/s warm, publication-to-sink latency
p50/p95 on the warm pass, peak RSS, Redis bytes per feed and per article, and every
figure's ratio to each peer (medians over rounds).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import psutil
import redis

from benchmarks.farm import digest
from benchmarks.ours import Ours
from benchmarks.peers import NaiveLoop, PassResult, ReaderLib


class FarmProcess:
    def __init__(self, feeds: int, items: int, seed: int, latency: float) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks.farm", "--feeds", str(feeds), "--items",
             str(items), "--seed", str(seed), "--latency", str(latency), "--port",
             str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                self.stats()
                break
            except OSError:
                time.sleep(0.1)
        self.urls = [f"http://127.0.0.1:{self.port}/feed/{n}.xml" for n in range(feeds)]

    def _get(self, path: str, method: str = "GET") -> dict:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", method=method)
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())

    def stats(self) -> dict:
        return self._get("/_stats")

    def requests(self) -> int:
        return int(self.stats()["requests"])

    def advance(self, fraction: float) -> int:
        return int(self._get(f"/_advance?fraction={fraction}", "POST")["changed"])

    def published(self) -> dict[str, float]:
        return self._get("/_published")

    def close(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


class CpuMeter:
    """CPU seconds (user + system) each part of the machine spent during a pass: process
    trees by pid, and the Redis server by its own counters. The 2 cores are shared by
    all of them, so where they go says which part to make cheaper."""

    def __init__(self, groups: dict[str, list[int]], redis_url: str | None) -> None:
        self.groups = groups
        self.redis = redis.Redis.from_url(redis_url) if redis_url else None
        self._start: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        out: dict[str, float] = {}
        roots = {pid for pids in self.groups.values() for pid in pids}
        for name, pids in self.groups.items():
            total = 0.0
            for pid in pids:
                try:
                    root = psutil.Process(pid)
                    # another group's tree is that group's (the farm is our child)
                    tree = [c for c in root.children(recursive=True) if c.pid not in roots]
                    for proc in [root, *tree]:
                        t = proc.cpu_times()
                        total += t.user + t.system
                except psutil.Error:
                    continue
            out[name] = total
        if self.redis is not None:
            info = self.redis.info("cpu")
            out["redis"] = float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
        return out

    def start(self) -> None:
        self._start = self._now()

    def stop(self) -> dict[str, float]:
        end = self._now()
        return {k: end[k] - self._start.get(k, 0.0) for k in end}


def own_cpu(pid: int) -> float:
    """CPU seconds of one process, without its children."""
    t = psutil.Process(pid).cpu_times()
    return t.user + t.system


def consumer_line(spent: float, workers: float) -> str:
    """The worker's main process runs no task: its CPU is Celery's consumer (the event
    loop, BRPOP, acks, dispatch to the pool), a lower bound of Celery's share measured
    without a sampler's own load on the machine."""
    share = 100 * spent / workers if workers else 0.0
    return f"Celery consumer (worker main process) {spent:.2f} s = {share:.1f} % of workers' CPU"


def cpu_line(cpu: dict[str, float], seconds: float, per: tuple[int, str] | None = None) -> str:
    """CPU-seconds per part of the machine; with ``per`` (a count and what it counts),
    the same in milliseconds per item as well: a figure that idle cores do not move."""
    total = sum(cpu.values())
    parts = ", ".join(f"{k} {v:.1f}" for k, v in cpu.items())
    line = (f"CPU s: {parts}; total {total:.1f} in {seconds:.1f} s "
            f"({total / seconds:.2f} cores busy)")
    if per and per[0]:
        each = ", ".join(f"{k} {1000 * v / per[0]:.3f}" for k, v in cpu.items())
        line += f"; ms per {per[1]}: {each}"
    return line


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def latencies(result: PassResult, published: dict[str, float]) -> list[float]:
    return [result.seen_at[g] - t for g, t in published.items() if g in result.seen_at]


@contextlib.contextmanager
def spying(out: Path | None, pid: int) -> Iterator[None]:
    """py-spy over a worker and its pool processes while the block runs (``--spy-cold``,
    ``--spy-warm``);
    summarise the file with ``python -m benchmarks.spy_summary``."""
    if out is None:
        yield
        return
    spy = subprocess.Popen(
        [str(Path(sys.executable).with_name("py-spy")), "record", "-p", str(pid),
         "--subprocesses", "-r", "200", "-f", "raw", "-o", str(out), "--nonblocking"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    time.sleep(1.0)  # attached before the pass starts
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=60)


def run_system(name: str, args: argparse.Namespace, workdir: Path) -> dict[str, float]:
    farm = FarmProcess(args.feeds, args.items, args.seed, args.latency)
    cold_expect = args.feeds * args.items
    system = None
    try:
        if name == "ours":
            workers = [w.split() for w in args.ours_workers]
            system = Ours(farm.urls, workdir, args.redis_url, workers)
            meter = CpuMeter({"workers": [p.pid for p in system.procs[1:]],
                              "beat": [system.procs[0].pid], "farm": [farm.proc.pid]},
                             args.redis_url)
            if farm.requests():
                raise RuntimeError("ours: feeds were polled before the cold pass began")
            main = system.procs[1].pid
            meter.start()
            before = own_cpu(main)
            with spying(args.spy_cold, main):
                cold = system.run_pass(cold_expect, farm.requests)
            spent = meter.stop()
            used = cpu_line(spent, cold.seconds, (cold.new_entries, "article"))
            print(f"  ours cold {used}", flush=True)
            print(f"  ours cold {consumer_line(own_cpu(main) - before, spent['workers'])}",
                  flush=True)
            system.age(args.tracked_days)
            changed = farm.advance(args.change)
            meter.start()
            before = own_cpu(main)
            with spying(args.spy_warm, main):
                warm = system.run_pass(changed, farm.requests)
            spent = meter.stop()
            used = cpu_line(spent, warm.seconds, (len(farm.urls), "feed"))
            print(f"  ours warm {used}", flush=True)
            print(f"  ours warm {consumer_line(own_cpu(main) - before, spent['workers'])}",
                  flush=True)
            per_feed, per_article = system.memory(cold.new_entries + warm.new_entries)
            rss = system.sampler.peak
            rss_proc = system.sampler.peak_per_process
            print(f"  ours: largest main process {system.sampler.peak_main / 2**20:.0f} MB, "
                  f"largest pool process {system.sampler.peak_child / 2**20:.0f} MB", flush=True)
        else:
            if name == "reader":
                system = ReaderLib(farm.urls, workdir / f"reader-{time.time()}.sqlite",
                                   workers=args.reader_workers)
            else:
                system = NaiveLoop(farm.urls)
            meter = CpuMeter({"peer": [os.getpid()], "farm": [farm.proc.pid]}, None)
            meter.start()
            cold = system.run_pass()
            used = cpu_line(meter.stop(), cold.seconds, (cold.new_entries, "article"))
            print(f"  {name} cold {used}", flush=True)
            changed = farm.advance(args.change)
            meter.start()
            warm = system.run_pass()
            used = cpu_line(meter.stop(), warm.seconds, (len(farm.urls), "feed"))
            print(f"  {name} warm {used}", flush=True)
            per_feed = per_article = float("nan")
            import resource

            rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
            rss_proc = rss
        lat = latencies(warm, farm.published())
    finally:
        # also when a pass times out: workers left running would take the next run's tasks
        if system is not None:
            system.close()
        farm.close()
    return {
        "cold_entries_per_s": cold.new_entries / cold.seconds,
        "cold_entries": cold.new_entries,
        "warm_feeds_per_s": warm.feeds / warm.seconds,
        "warm_new": warm.new_entries,
        "changed": changed,
        "latency_p50": percentile(lat, 0.5),
        "latency_p95": percentile(lat, 0.95),
        "peak_rss_mb": rss / 2**20,
        "peak_rss_per_process_mb": rss_proc / 2**20,
        "redis_bytes_per_feed": per_feed,
        "redis_bytes_per_article": per_article,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=500)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--latency", type=float, default=0.0, help="farm ms per response")
    parser.add_argument("--change", type=float, default=0.1, help="fraction changed for warm")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--tracked-days", type=float, default=30.0,
                        help="before the warm pass, date our feeds' states as followed "
                             "this long, as in a running service (0: as the cold pass left them)")
    parser.add_argument("--systems", default="ours,reader,naive")
    parser.add_argument("--reader-workers", type=int, default=16)
    parser.add_argument("--redis-url", default="redis://127.0.0.1:6379/10")
    parser.add_argument("--spy-warm", type=Path, default=None,
                        help="write a py-spy profile (raw) of our workers' warm pass here")
    parser.add_argument("--spy-cold", type=Path, default=None,
                        help="the same for the cold pass")
    parser.add_argument("--ours-workers", action="append",
                        default=None,
                        help='worker args, e.g. "-Q fetch,parse,publish -c 2" (default: all '
                        'queues, the worker\'s default concurrency: CPUs + 1)')
    args = parser.parse_args()
    args.ours_workers = args.ours_workers or ["-Q fetch,parse,publish"]
    systems = args.systems.split(",")
    print(f"farm: {args.feeds} feeds x {args.items} items, seed {args.seed} "
          f"(content digest {digest(min(args.feeds, 50), args.items, args.seed)}), "
          f"latency {args.latency} ms, warm change {args.change:.0%}")
    results: dict[str, list[dict[str, float]]] = {s: [] for s in systems}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for name in systems:
                r = run_system(name, args, Path(tmp))
                results[name].append(r)
                print(f"round {round_ + 1} {name:>7}: cold {r['cold_entries_per_s']:8.0f} "
                      f"entries/s ({r['cold_entries']:.0f}), warm {r['warm_feeds_per_s']:7.0f} "
                      f"feeds/s ({r['warm_new']:.0f}/{r['changed']:.0f} new), latency p50 "
                      f"{r['latency_p50']:.2f}s p95 {r['latency_p95']:.2f}s, peak RSS "
                      f"{r['peak_rss_mb']:.0f} MB", flush=True)
    med = {s: {k: statistics.median(r[k] for r in rs) for k in rs[0]}
           for s, rs in results.items()}
    print("\nmedians" + (f" over {args.rounds} rounds" if args.rounds > 1 else ""))
    header = f"{'system':>8} {'cold e/s':>9} {'warm f/s':>9} {'p50 s':>7} {'p95 s':>7} " \
             f"{'RSS MB':>7} {'max/proc':>8} {'B/feed':>7} {'B/art':>7}"
    print(header)
    for s, m in med.items():
        print(f"{s:>8} {m['cold_entries_per_s']:9.0f} {m['warm_feeds_per_s']:9.0f} "
              f"{m['latency_p50']:7.2f} {m['latency_p95']:7.2f} {m['peak_rss_mb']:7.0f} "
              f"{m['peak_rss_per_process_mb']:8.0f} {m['redis_bytes_per_feed']:7.0f} "
              f"{m['redis_bytes_per_article']:7.0f}")
    if "ours" in med:
        for peer in (s for s in med if s != "ours"):
            o, p = med["ours"], med[peer]
            print(f"ours / {peer}: cold x{o['cold_entries_per_s'] / p['cold_entries_per_s']:.1f}, "
                  f"warm x{o['warm_feeds_per_s'] / p['warm_feeds_per_s']:.1f}, "
                  f"latency p50 x{p['latency_p50'] / o['latency_p50']:.1f} lower")


if __name__ == "__main__":
    main()
