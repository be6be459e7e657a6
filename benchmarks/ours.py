"""Our pipeline under the benchmark: real `syndicate worker` and `beat` processes on Redis,
with a Redis Stream sink, driven through the store so passes start on a signal."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import redis

from benchmarks.peers import PassResult

PREFIX = "bench"
STREAM = "bench:articles"


class RssSampler(threading.Thread):
    """Peak of the summed RSS of some process trees, sampled every 100 ms."""

    def __init__(self, pids: list[int]) -> None:
        super().__init__(daemon=True)
        self.pids = pids
        self.peak = 0
        self.peak_per_process = 0
        # the largest worker main process (consumer) and pool child, apart
        self.peak_main = 0
        self.peak_child = 0
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.is_set():
            total, biggest = 0, 0
            for pid in self.pids:
                try:
                    root = psutil.Process(pid)
                    for proc in [root, *root.children(recursive=True)]:
                        rss = proc.memory_info().rss
                        total += rss
                        biggest = max(biggest, rss)
                        if proc is root:
                            self.peak_main = max(self.peak_main, rss)
                        else:
                            self.peak_child = max(self.peak_child, rss)
                except psutil.Error:
                    continue
            self.peak = max(self.peak, total)
            self.peak_per_process = max(self.peak_per_process, biggest)
            time.sleep(0.1)

    def stop(self) -> None:
        self._stop_event.set()


class Ours:
    name = "syndicate (celery+redis)"

    def __init__(self, urls: list[str], workdir: Path, redis_url: str,
                 worker_args: list[list[str]]) -> None:
        self.urls = urls
        self.redis_url = redis_url
        self.r = redis.Redis.from_url(redis_url)
        self.r.flushdb()
        self.baseline_memory = self._used_memory()
        config = workdir / "bench.toml"
        feeds = "".join(f'[[feeds]]\nurl = "{u}"\n' for u in urls)
        config.write_text(
            # The farm is one host serving every feed (like a feed proxy): lift the
            # per-host politeness budget, as an operator of such a source would.
            f"{feeds}\n[fetch]\nallow_private_networks = true\n"
            "host_rate = 100000\nhost_burst = 10000\nhost_concurrency = 1000\n"
            "[schedule]\nmin_interval = 86400\nmax_interval = 86400\ntick_interval = 0.25\n"
            f'[store]\nprefix = "{PREFIX}"\n'
            f'[sinks.stream]\ntype = "redis_stream"\nstream = "{STREAM}"\n'
            '[log]\nlevel = "WARNING"\n'
        )
        env = {**os.environ, "REDIS_URL": redis_url, "SYNDICATE_CONFIG": str(config),
               "SYNDICATE_LOG__FORMAT": "json"}
        self.procs: list[subprocess.Popen[bytes]] = []
        self.log_path = workdir / "ours.log"
        log = self.log_path.open("ab")
        cli = [sys.executable, "-m", "worker.cli"]
        self.procs.append(subprocess.Popen([*cli, "beat"], env=env, stdout=log, stderr=log,
                                           start_new_session=True))
        # beat registers the feeds (due now); wait until they exist, then hold them back.
        # The workers start only then: started with beat, they took the first ticks'
        # claims between the sync and the hold, so a few feeds were polled before the
        # cold pass began (and again, as 304s, in it), and the pass never saw its count.
        # Ticks sent before the hold expire unread (two tick intervals).
        self._wait(lambda: self.r.zcard(f"{PREFIX}:due") == len(urls), 60, "feeds synced")
        self._hold_all()
        for args in worker_args:
            self.procs.append(subprocess.Popen([*cli, "worker", *args], env=env, stdout=log,
                                               stderr=log, start_new_session=True))
        self.sampler = RssSampler([p.pid for p in self.procs[1:]])
        self.sampler.start()
        time.sleep(3)  # workers ready
        self.feed_memory = self._used_memory() - self.baseline_memory

    def _used_memory(self) -> int:
        return int(self.r.info("memory")["used_memory"])

    def _hold_all(self) -> None:
        self.r.zadd(f"{PREFIX}:due", {f.decode(): 1e12 for f in
                                       self.r.zrange(f"{PREFIX}:due", 0, -1)})

    def _release_all(self) -> None:
        self.r.zadd(f"{PREFIX}:due", {f.decode(): 0 for f in
                                       self.r.zrange(f"{PREFIX}:due", 0, -1)})

    def _wait(self, check, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if check():
                return
            if any(p.poll() is not None for p in self.procs):
                tail = self.log_path.read_text()[-3000:]
                raise RuntimeError(f"ours: a process exited while waiting for {what}:\n{tail}")
            time.sleep(0.05)
        tail = self.log_path.read_text(errors="replace")[-3000:]
        raise TimeoutError(f"ours: timed out waiting for {what}; the workers' log ends:\n{tail}")

    def run_pass(self, expect_new: int, farm_requests, timeout: float = 600) -> PassResult:
        before = self.r.xlen(STREAM)
        last = self.r.xrevrange(STREAM, count=1)
        since = "(" + last[0][0].decode() if last else "-"
        requests_before = farm_requests()
        started = time.perf_counter()
        self._release_all()
        self._wait(lambda: self.r.xlen(STREAM) >= before + expect_new
                   and farm_requests() >= requests_before + len(self.urls), timeout, "the pass")
        seconds = time.perf_counter() - started
        seen_at: dict[str, float] = {}
        for entry_id, fields in self.r.xrange(STREAM, min=since):
            guid = json.loads(fields[b"event"])["data"]["guid"]
            seen_at[guid] = int(entry_id.split(b"-")[0]) / 1000
        return PassResult(seconds, self.r.xlen(STREAM) - before, len(self.urls), seen_at)

    def age(self, days: float) -> None:
        """Date every feed's state as followed for ``days``, as a running service's feeds
        are: the scheduler then reads a full window of history, as it does in steady
        state, not the few seconds the cold pass gave it."""
        since = time.time() - days * 86400
        keys = [k for k in self.r.scan_iter(f"{PREFIX}:feed:*", count=1000)]
        states = self.r.pipeline(transaction=False)
        for key in keys:
            states.hget(key, "state")
        pipe = self.r.pipeline(transaction=False)
        for key, raw in zip(keys, states.execute(), strict=True):
            if raw is not None:
                pipe.hset(key, "state", json.dumps({**json.loads(raw), "tracked_since": since}))
        pipe.execute()

    def memory(self, articles: int) -> tuple[float, float]:
        """Bytes per feed and per remembered article of store state (the stream excluded)."""
        stream = int(self.r.memory_usage(STREAM) or 0)
        total = self._used_memory() - self.baseline_memory - stream
        per_feed = self.feed_memory / len(self.urls)
        per_article = max(0, total - self.feed_memory) / max(1, articles)
        return per_feed, per_article

    def close(self) -> None:
        self.sampler.stop()
        for proc in self.procs:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                continue
        for proc in self.procs:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
