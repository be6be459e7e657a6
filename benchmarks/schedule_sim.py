"""Replay synthetic publication histories against the scheduler and a fixed-interval
poller given the same number of requests; print the median publication-to-detection
delay of each. Deterministic: the same seed prints the same figures.

    .venv/bin/python benchmarks/schedule_sim.py [--seed 7] [--days 28] [--warmup 14]

Feeds (UTC):
  bursty   ~1.5 bursts a day at random times, 3-8 items a few minutes apart
  office   weekdays 9-18, about 3 items an hour, nothing at night or at weekends
  daily    one item a day around 06:00
  steady   about one item an hour around the clock (a control: no rhythm to learn)
  dead     nothing

The scheduler is the real one (worker.core.schedule.next_poll over the history
worker.core.rhythm keeps); every feed starts knowing nothing and learns during the
warm-up, which is not measured. The fixed poller gets, per feed, exactly as many requests
in the measured window as the scheduler used there, at a random phase ("per feed"); and,
for the whole set, the same total spread evenly over every feed ("same total").
"""

from __future__ import annotations

import argparse
import bisect
import random
import statistics
from collections.abc import Callable
from dataclasses import replace

from worker.core.models import FeedState
from worker.core.rhythm import record_publications
from worker.core.schedule import Bounds, Outcome, next_poll

DAY = 86400.0
# A Monday, 00:00 UTC.
EPOCH = 1_798_761_600.0


def bursty(rng: random.Random, start: float, end: float) -> list[float]:
    out, t = [], start
    while True:
        t += rng.expovariate(1.5 / DAY)
        if t >= end:
            return out
        s = t
        for _ in range(rng.randint(3, 8)):
            out.append(s)
            s += rng.expovariate(1 / 360.0)


def office(rng: random.Random, start: float, end: float) -> list[float]:
    out = []
    day = start
    while day < end:
        if int((day - EPOCH) // DAY) % 7 < 5:
            t = day + 9 * 3600
            while True:
                t += rng.expovariate(3 / 3600.0)
                if t >= day + 18 * 3600:
                    break
                out.append(t)
        day += DAY
    return out


def daily(rng: random.Random, start: float, end: float) -> list[float]:
    return [d + 6 * 3600 + rng.gauss(0, 300) for d in _days(start, end)]


def steady(rng: random.Random, start: float, end: float) -> list[float]:
    out, t = [], start
    while (t := t + rng.expovariate(1 / 3600.0)) < end:
        out.append(t)
    return out


def dead(rng: random.Random, start: float, end: float) -> list[float]:
    return []


def _days(start: float, end: float) -> list[float]:
    return [start + k * DAY for k in range(int((end - start) // DAY))]


FEEDS: dict[str, Callable[[random.Random, float, float], list[float]]] = {
    "bursty": bursty, "office": office, "daily": daily, "steady": steady, "dead": dead,
}


def ours(items: list[float], start: float, end: float, bounds: Bounds, rng: random.Random
         ) -> list[float]:
    """Poll times of the real scheduler from ``start`` to ``end``."""
    state = FeedState(feed_id="sim", url="https://sim.example/feed", tracked_since=start)
    polls, t, seen = [], start, 0
    while t < end:
        polls.append(t)
        upto = bisect.bisect_right(items, t)
        state = replace(state, published=record_publications(state.published,
                                                              items[seen:upto], t))
        seen = upto
        nxt = next_poll(state, Outcome(), now=t, bounds=bounds, rand=rng.uniform(-1, 1))
        t = nxt.at
    return polls


def fixed(count: int, start: float, end: float, rng: random.Random) -> list[float]:
    if count <= 0:
        return []
    interval = (end - start) / count
    phase = rng.uniform(0, interval)
    return [start + phase + k * interval for k in range(count)]


def delays(items: list[float], polls: list[float]) -> list[float]:
    out = []
    for pub in items:
        k = bisect.bisect_left(polls, pub)
        if k < len(polls):
            out.append(polls[k] - pub)
    return out


def minutes(values: list[float]) -> str:
    return f"{statistics.median(values) / 60:7.1f}" if values else "    n/a"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--days", type=float, default=28)
    ap.add_argument("--warmup", type=float, default=14)
    ap.add_argument("--min-interval", type=float, default=300)
    ap.add_argument("--max-interval", type=float, default=3600)
    args = ap.parse_args()
    bounds = Bounds(args.min_interval, args.max_interval, 86400.0)
    start, measure = EPOCH, EPOCH + args.warmup * DAY
    end = measure + args.days * DAY
    print(f"seed {args.seed}, {args.days:g} days measured after {args.warmup:g} of warm-up, "
          f"bounds {args.min_interval:g}-{args.max_interval:g} s")
    print(f"{'feed':8} {'items':>6} {'requests':>9} {'ours p50 min':>13} "
          f"{'fixed p50 min':>14} {'ratio':>6}")
    all_items: dict[str, list[float]] = {}
    total_requests = 0
    our_delays: list[float] = []
    for name, make in FEEDS.items():
        rng = random.Random(f"{args.seed}:{name}")
        items = sorted(make(rng, start, end + DAY))
        polls = ours(items, start, end + DAY, bounds, rng)
        window = [t for t in items if measure <= t < end]
        used = sum(1 for p in polls if measure <= p < end)
        baseline = fixed(used, measure, end + DAY, rng)
        mine, theirs = delays(window, polls), delays(window, baseline)
        our_delays += mine
        all_items[name] = window
        total_requests += used
        ratio = (f"{statistics.median(theirs) / statistics.median(mine):6.2f}"
                 if mine and theirs and statistics.median(mine) else "   n/a")
        print(f"{name:8} {len(window):6d} {used:9d} {minutes(mine):>13} "
              f"{minutes(theirs):>14} {ratio}")
    rng = random.Random(f"{args.seed}:total")
    per_feed = total_requests // len(FEEDS)
    theirs_all = [d for items in all_items.values()
                  for d in delays(items, fixed(per_feed, measure, end + DAY, rng))]
    print(f"{'all':8} {sum(map(len, all_items.values())):6d} {total_requests:9d} "
          f"{minutes(our_delays):>13} {minutes(theirs_all):>14} "
          f"{statistics.median(theirs_all) / statistics.median(our_delays):6.2f}"
          "   (fixed: same total, evenly over the feeds)")


if __name__ == "__main__":
    main()
