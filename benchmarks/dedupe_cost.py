"""What dedupe costs the parse stage, against a baseline tree, side by side.

    git archive 0ee5f78 | (mkdir -p /tmp/base && tar -x -C /tmp/base)
    python -m benchmarks.dedupe_cost --baseline /tmp/base [--rounds 3]

Each run is a fresh process importing ``worker`` from one tree (this one or the
baseline), with a fresh SQLite store: ``pipeline.process`` on an outlet feed of 100
synthetic articles of about 150-300 words, first cold (every entry new: identity,
fingerprints, the near-duplicate lookup, the commit), then warm ten times (the same
document parsed again, every entry known). Runs alternate between the trees; the medians
are printed with their ratio. Process start-up and imports are outside the timings.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

RUN = r"""
import importlib.util, json, sys, tempfile, time
from pathlib import Path
sys.path.insert(0, sys.argv[1])
spec = importlib.util.spec_from_file_location(
    "syndication", Path(sys.argv[2]) / "benchmarks" / "syndication.py")
syn = importlib.util.module_from_spec(spec)
sys.modules["syndication"] = syn
spec.loader.exec_module(syn)
generate, rss = syn.generate, syn.rss
import worker
from worker import pipeline
from worker.core.models import FetchResult
from worker.runtime import Runtime
from worker.settings import load_settings
import structlog, logging
logging.disable(logging.CRITICAL)
structlog.configure(logger_factory=structlog.ReturnLoggerFactory())
items = generate(11, stories_per_topic=40, max_copies=0)[:100]
outlet = items[0].outlet
body = rss(outlet, list(items))
with tempfile.TemporaryDirectory() as tmp:
    config = Path(tmp) / "s.toml"
    config.write_text('[[feeds]]\nurl = "https://bench.example/feed.xml"\n')
    rt = Runtime(load_settings(config, {"SYNDICATE_STORE__DATA_DIR": tmp}),
                 clock=lambda: 1_790_000_000.0, rand=lambda: 0.0)
    rt.store.sync_feeds(rt.settings.feed_specs(), 1_790_000_000.0)
    feed_id = rt.settings.feeds[0].feed_id
    fetched = FetchResult(feed_id=feed_id, url="https://bench.example/feed.xml",
                          status="ok", http_status=200, body=body)
    t = time.perf_counter()
    pipeline.process(rt, [fetched])
    cold = time.perf_counter() - t
    t = time.perf_counter()
    for _ in range(10):
        pipeline.process(rt, [fetched])
    warm = (time.perf_counter() - t) / 10
    rt.close()
print(json.dumps({"cold_ms_per_entry": cold * 1000 / len(items),
                  "warm_ms_per_entry": warm * 1000 / len(items), "tree": worker.__file__}))
"""


def run(tree: Path, here: Path) -> dict[str, float]:
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", RUN, str(tree), str(here)],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    if not result.pop("tree").startswith(str(tree)):
        sys.exit(f"dedupe_cost: worker was not imported from {tree}")
    return {k: float(v) for k, v in result.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", type=Path, required=True, help="a tree of the baseline")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    here = Path(__file__).resolve().parent.parent
    runs: dict[str, list[dict[str, float]]] = {"baseline": [], "this tree": []}
    for _ in range(args.rounds):
        runs["baseline"].append(run(args.baseline.resolve(), here))
        runs["this tree"].append(run(here, here))
    print(f"pipeline.process, 100 entries, {args.rounds} alternating rounds, medians")
    print(f"{'':>10} {'cold ms/entry':>14} {'warm ms/entry':>14}")
    med = {
        name: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for name, rs in runs.items()
    }
    for name, m in med.items():
        print(f"{name:>10} {m['cold_ms_per_entry']:>14.2f} {m['warm_ms_per_entry']:>14.2f}")
    ratio = {k: med["this tree"][k] / med["baseline"][k] for k in med["baseline"]}
    cold, warm = ratio["cold_ms_per_entry"], ratio["warm_ms_per_entry"]
    print(f"{'ratio':>10} {cold:>13.2f}x {warm:>13.2f}x")


if __name__ == "__main__":
    main()
