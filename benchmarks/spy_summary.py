"""Where a py-spy profile of the worker processes went: task bodies, Celery, our functions.

    py-spy record -p WORKER_PID --subprocesses -r 200 -d 25 -f raw -o spy.txt --nonblocking
    python -m benchmarks.spy_summary spy.txt [--top 40]

``WORKER_PID`` is the main process of ``syndicate worker`` (benchmarks/ours.py starts
it; ``pgrep -f "worker.cli worker"``). Samples are sorted into: our task bodies (below
``stage_task``'s wrapper), Celery/kombu/billiard frames inside those bodies (publishing
the next stage's messages), Celery/kombu/billiard outside them (consumer loop, pool
plumbing), the fetcher's event-loop thread, and our code elsewhere. "Celery overhead"
in docs/benchmarks.md is the sum of the two Celery rows. Then the functions of
``worker/`` by inclusive share of all samples.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

BODY = "stage_task.<locals>.wrap.<locals>.body"
_LINE = re.compile(r":\d+\)")
_CELERY = re.compile(r"\((?:celery|kombu|billiard)/")


def classify(stack: str) -> str:
    if BODY in stack:
        below = stack.split(BODY, 1)[1]
        return "celery inside task bodies" if _CELERY.search(below) else "task bodies"
    if "Thread.run" in stack or "aiohttp" in stack or "worker/adapters/aiofetch" in stack:
        return "fetcher event-loop thread"
    if re.search(r"\(worker/(?!cli\.py)", stack):
        return "our code outside task bodies"
    return "celery outside task bodies"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("raw", type=Path, help="py-spy's -f raw output")
    parser.add_argument("--top", type=int, default=40)
    args = parser.parse_args()
    total = 0
    kinds: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    for line in args.raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        kinds[classify(stack)] += n
        for frame in {_LINE.sub(")", f) for f in stack.split(";")}:
            if "(worker/" in frame and "(worker/cli.py" not in frame:
                inclusive[frame] += n
    print(f"{total} samples")
    for kind, n in kinds.most_common():
        print(f"  {100 * n / total:5.1f}%  {kind}")
    celery = kinds["celery inside task bodies"] + kinds["celery outside task bodies"]
    print(f"  Celery overhead: {100 * celery / total:.1f}% of samples")
    print("our functions, inclusive:")
    for frame, n in inclusive.most_common(args.top):
        print(f"  {100 * n / total:5.1f}%  {frame}")


if __name__ == "__main__":
    main()
