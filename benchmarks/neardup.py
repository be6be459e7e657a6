"""Precision and recall of the duplicate decision.

    python -m benchmarks.neardup PATH [--seed 5]

PATH is a folder holding ``uci-news-aggregator__labeled-pairs.jsonl`` (or that file):
labelled headline pairs (same story / different story). Each pair is decided by the rule
the worker applies to bodies (estimated Jaccard similarity of word 3-gram MinHash
signatures >= dedupe.duplicate_similarity), with each headline as the text; the
``min_words`` gate is off, since a headline has eight words.

The synthetic set (benchmarks/syndication.py) goes through the real pipeline instead:
every outlet's feed is processed by ``pipeline.process`` into a SQLite store in a temporary
folder, in publication order, and each published article's ``duplicate_of`` is compared
with the truth (a copy should point at its story's first article).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

from benchmarks.syndication import Item, generate, rss
from worker import pipeline
from worker.core.models import FetchResult
from worker.core.neardup import body_words, fingerprint, similarity
from worker.runtime import Runtime
from worker.settings import Settings, load_settings

PAIRS = "uci-news-aggregator__labeled-pairs.jsonl"


def prf(tp: int, fp: int, fn: int) -> tuple[float, float, float]:
    p = tp / (tp + fp) if tp + fp else 1.0
    r = tp / (tp + fn) if tp + fn else 1.0
    f = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f


def headline_pairs(path: Path, threshold: float) -> None:
    file = path / PAIRS if path.is_dir() else path
    rows = [json.loads(line) for line in file.read_text().splitlines() if line.strip()]
    sims = []
    for row in rows:
        a = fingerprint(None, row["a_title"]).signature
        b = fingerprint(None, row["b_title"]).signature
        sims.append((similarity(a, b) or 0.0, row["label"] == "same_story", row["sampling"]))
    print(f"headline pairs: {len(rows)} from {file}")
    print(f"{'threshold':>9} {'precision':>9} {'recall':>7} {'F1':>6}")
    for t in sorted({0.2, 0.3, 0.4, 0.5, threshold, 0.6, 0.7}):
        tp = sum(1 for s, y, _ in sims if y and s >= t)
        fp = sum(1 for s, y, _ in sims if not y and s >= t)
        fn = sum(1 for s, y, _ in sims if y and s < t)
        p, r, f = prf(tp, fp, fn)
        mark = "  <- dedupe.duplicate_similarity" if t == threshold else ""
        print(f"{t:>9.2f} {p:>9.3f} {r:>7.3f} {f:>6.3f}{mark}")
    # For scale: a title-only rule (exact Jaccard of the headlines' word sets), the kind of
    # comparison readers that look at titles make.
    tp = fp = fn = 0
    for row in rows:
        a, b = set(body_words(row["a_title"])), set(body_words(row["b_title"]))
        called = len(a & b) / len(a | b) >= threshold if a | b else False
        same = row["label"] == "same_story"
        tp, fp, fn = tp + (same and called), fp + (called and not same), fn + (same and not called)
    p, r, f = prf(tp, fp, fn)
    print(
        f"{'words':>9} {p:>9.3f} {r:>7.3f} {f:>6.3f}  <- title word-set Jaccard >= {threshold}, "
        "for comparison"
    )
    print(f"by sampling stratum at {threshold}:")
    strata: dict[str, list[bool]] = defaultdict(list)
    labels: dict[str, bool] = {}
    for s, y, stratum in sims:
        strata[stratum].append(s >= threshold)
        labels[stratum] = y
    for stratum, calls in strata.items():
        said = sum(calls)
        what = "called duplicate" if labels[stratum] else "wrongly called duplicate"
        print(f"  {said:>3}/{len(calls)} {what}: {stratum}")


def synthetic(seed: int, settings: Settings) -> None:
    items = generate(seed)
    stories = len({i.story for i in items})
    copies = sum(i.copy for i in items)
    outlets = {i.outlet.slug: i.outlet for i in items}
    print(
        f"synthetic set (seed {seed}): {len(items)} articles, {stories} stories, "
        f"{copies} copies, {len(outlets)} outlets, {len(items) - copies} originals"
    )
    with tempfile.TemporaryDirectory() as tmp:
        env = {
            "SYNDICATE_STORE__DATA_DIR": tmp,
            "SYNDICATE_SINKS__OUT__TYPE": "jsonl",
            "SYNDICATE_SINKS__OUT__PATH": f"{tmp}/out.jsonl",
            "SYNDICATE_DEDUPE__DUPLICATE_SIMILARITY": str(settings.dedupe.duplicate_similarity),
        }
        config = Path(tmp) / "syndicate.toml"
        config.write_text(
            "".join(f'[[feeds]]\nurl = "{o.site}/feed.xml"\n' for o in outlets.values())
        )
        clock = [1_790_000_000.0]
        rt = Runtime(load_settings(config, env), clock=lambda: clock[0], rand=lambda: 0.0)
        rt.store.sync_feeds(rt.settings.feed_specs(), clock[0])
        feed_of = {f.url: f.feed_id for f in rt.settings.feeds}
        shown: dict[str, list[Item]] = defaultdict(list)
        started = time.perf_counter()
        for item in items:  # one poll per publication: the outlet's feed as it is then
            clock[0] = item.published + 1
            shown[item.outlet.slug].insert(0, item)
            url = f"{item.outlet.site}/feed.xml"
            body = rss(item.outlet, shown[item.outlet.slug][:20])
            fetched = FetchResult(
                feed_id=feed_of[url], url=url, status="ok", http_status=200, body=body
            )
            for sink, ids in pipeline.process(rt, [fetched]).items():
                pipeline.deliver(rt, sink, ids)
        elapsed = time.perf_counter() - started
        lines = Path(f"{tmp}/out.jsonl").read_text().splitlines()
        events = [json.loads(line)["data"] for line in lines]
        rt.close()
    by_url = {e["url"]: e for e in events}
    first_id = {}
    for item in items:
        if not item.copy:
            first_id[item.story] = by_url[item.url]["article_id"]
    tp = fp = fn = right_target = 0
    for item in items:
        event = by_url[item.url]
        called = event["duplicate_of"] is not None
        tp += item.copy and called
        fp += (not item.copy) and called
        fn += item.copy and not called
        right_target += called and event["duplicate_of"] == first_id[item.story]
    p, r, f = prf(tp, fp, fn)
    per_story = Counter(by_url[i.url]["cluster_id"] for i in items)
    print(
        f"  published {len(events)} events for {len(items)} articles "
        f"({elapsed:.1f} s through pipeline.process, SQLite)"
    )
    print(
        f"  duplicate decision: precision {p:.3f}  recall {r:.3f}  F1 {f:.3f} "
        f"(tp {tp}, fp {fp}, fn {fn})"
    )
    print(f"  copies pointing at their story's first article: {right_target}/{tp}")
    print(f"  clusters: {len(per_story)} for {stories} stories")
    pair_sweep(items)


def pair_sweep(items: list[Item]) -> None:
    """Every pair of the set, by similarity alone: where the threshold sits."""
    prints = [fingerprint(i.title, "\n\n".join(i.paragraphs)).signature for i in items]
    same, other = [], []
    for x in range(len(items)):
        for y in range(x + 1, len(items)):
            s = similarity(prints[x], prints[y]) or 0.0
            (same if items[x].story == items[y].story else other).append(s)
    same.sort()
    other.sort()
    print(
        f"  pairs: {len(same)} same-story, lowest similarity {same[0]:.3f}, "
        f"median {same[len(same) // 2]:.3f}; {len(other)} other pairs, highest "
        f"{other[-1]:.3f}, 99.9th percentile {other[int(len(other) * 0.999)]:.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("path", type=Path, help="neardup folder or labelled-pairs file")
    parser.add_argument("--seed", type=int, default=5)
    args = parser.parse_args()
    settings = Settings()
    threshold = settings.dedupe.duplicate_similarity
    if not args.path.exists():
        sys.exit(f"neardup: {args.path}: no such file or folder")
    headline_pairs(args.path, threshold)
    print()
    synthetic(args.seed, settings)


if __name__ == "__main__":
    main()
