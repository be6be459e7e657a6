"""Time the parse stage over a folder of feed documents: fast path against feedparser.

    python benchmarks/parse.py PATH [--rounds N] [--diff]

For every file in PATH it runs, alternately and ``--rounds`` times, (1) the fast path
(``parse_feed``: lxml, falling back to feedparser only where it must), (2) our feedparser
path (``parse_feed(fast=False)``, the same pre-pass and mapping), and (3) bare
``feedparser.parse(body)`` with its default settings (its sanitizer and URL resolution
on). Each is timed for parsing alone and for parse + normalize (nh3 sanitizing and lxml
text extraction included). It prints totals, the median per feed, the ratios, how many
feeds each path failed on and why, which path the fast route took, and (``--diff``)
where the normalized articles of the two paths differ.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections import Counter
from pathlib import Path

import feedparser

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from worker.core.errors import ParseError
from worker.core.models import FeedSpec
from worker.core.normalize import normalize_feed
from worker.core.parse import parse_feed

URL = "https://feeds.bench.example/feed"
SPEC = FeedSpec(feed_id="bench", url=URL)


def run_ours(body: bytes, *, fast: bool, normalize: bool) -> object:
    parsed, _ = parse_feed(body, feed="bench", url=URL, fast=fast)
    if normalize:
        return normalize_feed(parsed, SPEC, URL)
    return parsed


def run_feedparser(body: bytes, *, normalize: bool) -> object:
    return feedparser.parse(body, response_headers={"content-location": URL})


def timed(fn, *args, **kwargs) -> tuple[float, object]:
    start = time.perf_counter()
    try:
        result = fn(*args, **kwargs)
    except ParseError as exc:
        result = exc
    return time.perf_counter() - start, result


def compare(a: list, b: list) -> list[str]:
    """Field names that differ between two lists of articles (matched by position)."""
    if len(a) != len(b):
        return [f"count {len(a)} != {len(b)}"]
    fields = Counter()
    for x, y in zip(a, b, strict=True):
        dx, dy = x.to_dict(), y.to_dict()
        for key in dx:
            if dx[key] != dy[key]:
                fields[key] += 1
    return [f"{k} x{n}" for k, n in sorted(fields.items())]


def main() -> None:  # noqa: PLR0912 - a report, top to bottom
    ap = argparse.ArgumentParser()
    ap.add_argument("path", type=Path)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--diff", action="store_true", help="list feeds whose articles differ")
    args = ap.parse_args()
    files = sorted(p for p in args.path.iterdir() if p.is_file())
    bodies = {p.name: p.read_bytes() for p in files}
    names = ["fast", "fast+norm", "fp-ours", "fp-ours+norm", "feedparser-default"]
    times: dict[str, dict[str, list[float]]] = {n: {f: [] for f in bodies} for n in names}
    failures: dict[str, dict[str, str]] = {n: {} for n in names}
    routes: Counter[str] = Counter()
    for _round in range(args.rounds):
        for fname, body in bodies.items():
            runs = [
                ("fast", run_ours, {"fast": True, "normalize": False}),
                ("fast+norm", run_ours, {"fast": True, "normalize": True}),
                ("fp-ours", run_ours, {"fast": False, "normalize": False}),
                ("fp-ours+norm", run_ours, {"fast": False, "normalize": True}),
                ("feedparser-default", run_feedparser, {"normalize": False}),
            ]
            if _round % 2:
                runs.reverse()  # alternate the order so neither side always runs warm
            for name, fn, kw in runs:
                seconds, result = timed(fn, body, **kw)
                times[name][fname].append(seconds)
                if isinstance(result, ParseError):
                    failures[name][fname] = result.reason
                elif name == "feedparser-default" and not result.get("version"):
                    bozo = str(result.get("bozo_exception")).splitlines()[0][:80]
                    failures[name][fname] = f"no version (bozo: {bozo})"
                elif name == "fast" and _round == 0:
                    routes[result.parser] += 1
    print(f"{len(bodies)} documents from {args.path}, {args.rounds} rounds, best of rounds\n")
    best = {n: {f: min(v) for f, v in times[n].items()} for n in names}
    total = {n: sum(best[n].values()) for n in names}
    print(f"{'path':<20}{'total ms':>10}{'median ms':>11}{'failed':>8}")
    for n in names:
        med = statistics.median(best[n].values()) * 1000
        print(f"{n:<20}{total[n] * 1000:>10.1f}{med:>11.3f}{len(failures[n]):>8}")
    print()
    both = [
        f for f in bodies if f not in failures["feedparser-default"] and f not in failures["fast"]
    ]
    fp_both = sum(best["feedparser-default"][f] for f in both)
    fast_both = sum(best["fast"][f] for f in both)
    per_feed = [best["feedparser-default"][f] / best["fast"][f] for f in both]
    print(f"on the {len(both)} documents both read (feedparser reads no JSON Feed):")
    print(
        f"parse only:        feedparser default / fast = {fp_both / fast_both:.1f}x in total, "
        f"median per document {statistics.median(per_feed):.1f}x"
    )
    big = [f for f in both if len(bodies[f]) >= 20_000]
    if big:
        ratio = sum(best["feedparser-default"][f] for f in big) / sum(best["fast"][f] for f in big)
        print(f"                   on the {len(big)} documents of 20 KB or more: {ratio:.1f}x")
    print(f"parse only:        feedparser (ours) / fast  = {total['fp-ours'] / total['fast']:.1f}x")
    normalize_cost = total["fp-ours+norm"] - total["fp-ours"]
    stage = (total["feedparser-default"] + normalize_cost) / total["fast+norm"]
    print(f"parse + normalize: feedparser default + our normalize / fast+norm = {stage:.1f}x")
    ours = total["fp-ours+norm"] / total["fast+norm"]
    print(f"parse + normalize: fp-ours+norm / fast+norm = {ours:.1f}x")
    print(f"\nroute taken by the fast path: {dict(routes)}")
    for n in ("fast", "fp-ours", "feedparser-default"):
        if failures[n]:
            print(f"\nfailed on the {n} path:")
            for fname, reason in sorted(failures[n].items()):
                print(f"  {fname}: {reason}")
    if args.diff:
        print("\nnormalized articles, fast path vs feedparser path:")
        same = 0
        for fname, body in bodies.items():
            try:
                a = run_ours(body, fast=True, normalize=True)
                b = run_ours(body, fast=False, normalize=True)
            except ParseError as exc:
                print(f"  {fname}: error on one path: {exc.reason}")
                continue
            diff = compare(a, b)  # type: ignore[arg-type]
            if diff:
                print(f"  {fname}: {', '.join(diff)}")
            else:
                same += 1
        print(f"  identical on {same} of {len(bodies)} documents")


if __name__ == "__main__":
    main()
