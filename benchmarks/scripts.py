"""Redis's own time in the parse stage's two largest scripts, this tree against another.

    python -m benchmarks.scripts [--tree OTHER_CHECKOUT] [--feeds 200] [--rounds 9]
                                 [--redis redis://127.0.0.1:6379/9]

Runs ``benchmarks.profile_parse`` once (its cold pass: farm documents through
``pipeline.process`` on the Redis store) and records the arguments of every call of the
commit script (``_COMMIT``) and the near-duplicate lookup (``_NEAR_CANDIDATES``). Then
replays those calls, in their order, against a flushed database, with this tree's
scripts and with ``--tree``'s, alternating, and prints the median over ``--rounds`` of
the time Redis spent running each script (its slow log, which times every call over
500 us with microsecond resolution; the scripts' calls take milliseconds). Only Redis
runs during a replay, so the figure does not move with the client; it still moves with
the machine's load, hence the alternation. The database is flushed: never point it at
one the test suite or a service uses.
"""

from __future__ import annotations

import argparse
import importlib.util
import runpy
import statistics
import sys
from pathlib import Path
from typing import Any

import redis

from worker.adapters.store import redis as store_redis

Calls = dict[str, list[list[Any]]]


def capture(feeds: int, url: str) -> Calls:
    """The arguments of each commit and lookup call of a profile_parse run."""
    calls: Calls = {"commit": [], "near": []}
    originals = {
        "commit": store_redis.RedisStore.commit_articles,
        "near": store_redis.RedisStore.near_duplicate_candidates,
    }
    attrs = {"commit": "_commit", "near": "_near_candidates"}

    def recording(kind: str) -> Any:
        def method(self: Any, *args: Any) -> Any:
            script = getattr(self, attrs[kind])

            def record(args: list[Any]) -> Any:
                calls[kind].append([bytes(a) if isinstance(a, memoryview) else a for a in args])
                return script(args=args)

            setattr(self, attrs[kind], record)
            try:
                return originals[kind](self, *args)
            finally:
                setattr(self, attrs[kind], script)

        return method

    store_redis.RedisStore.commit_articles = recording("commit")  # type: ignore[method-assign]
    store_redis.RedisStore.near_duplicate_candidates = recording("near")  # type: ignore[method-assign]
    argv = sys.argv
    sys.argv = ["profile_parse", "--feeds", str(feeds), "--no-profile", "--redis", url]
    try:
        runpy.run_module("benchmarks.profile_parse", run_name="__main__")
    finally:
        sys.argv = argv
        store_redis.RedisStore.commit_articles = originals["commit"]  # type: ignore[method-assign]
        store_redis.RedisStore.near_duplicate_candidates = originals["near"]  # type: ignore[method-assign]
    return calls


def scripts_of(tree: Path | None) -> tuple[str, str]:
    if tree is None:
        return store_redis._COMMIT, store_redis._NEAR_CANDIDATES
    path = tree / "worker" / "adapters" / "store" / "redis.py"
    spec = importlib.util.spec_from_file_location("other_store_redis", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._COMMIT, module._NEAR_CANDIDATES


def replay(r: redis.Redis, calls: Calls, commit_src: str, near_src: str) -> dict[str, float]:
    """Milliseconds Redis spent in each script over one replay of ``calls``."""
    r.flushdb()
    commit, near = r.register_script(commit_src), r.register_script(near_src)
    r.config_set("slowlog-log-slower-than", 500)
    r.slowlog_reset()
    try:
        # A round looks its bands up, then commits; the captured calls pair up in order.
        for looked_up, committed in zip(calls["near"], calls["commit"], strict=False):
            near(args=looked_up)
            commit(args=committed)
        log = r.slowlog_get(10_000)
    finally:
        r.config_set("slowlog-log-slower-than", 10_000)
    spent = {"commit": 0.0, "near": 0.0}
    for entry in log:
        words = entry["command"].split(b" ")
        if words[0].upper() == b"EVALSHA":
            sha = words[1].decode()
            if sha == commit.sha:
                spent["commit"] += entry["duration"] / 1000
            elif sha == near.sha:
                spent["near"] += entry["duration"] / 1000
    return spent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tree", type=Path, default=None, help="the checkout to compare with")
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/9")
    args = parser.parse_args()

    calls = capture(args.feeds, args.redis)
    r = redis.Redis.from_url(args.redis)
    old_len = r.config_get("slowlog-max-len")["slowlog-max-len"]
    r.config_set("slowlog-max-len", 10_000)
    trees = {"this tree": scripts_of(None)}
    if args.tree is not None:
        trees[str(args.tree)] = scripts_of(args.tree)
    spent: dict[str, dict[str, list[float]]] = {t: {"commit": [], "near": []} for t in trees}
    try:
        for _ in range(args.rounds):
            for name, (commit_src, near_src) in trees.items():
                for kind, ms in replay(r, calls, commit_src, near_src).items():
                    spent[name][kind].append(ms)
    finally:
        r.config_set("slowlog-max-len", old_len)
        r.slowlog_reset()
        r.flushdb()
    print(
        f"{len(calls['commit'])} commit and {len(calls['near'])} lookup calls of "
        f"{args.feeds} feeds' cold pass, replayed {args.rounds} times each (median ms of Redis):"
    )
    base = None
    for name, kinds in spent.items():
        commit_ms = statistics.median(kinds["commit"])
        near_ms = statistics.median(kinds["near"])
        line = f"  {name:>30}: commit {commit_ms:7.1f}  lookup {near_ms:7.1f}"
        if base is not None:
            line += f"  ({commit_ms / base[0]:.2f}x and {near_ms / base[1]:.2f}x this tree's)"
        else:
            base = (commit_ms, near_ms)
        print(line)


if __name__ == "__main__":
    main()
