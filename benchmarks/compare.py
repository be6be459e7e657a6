"""Two trees of this project benchmarked in alternating runs, so that a machine whose
speed drifts by 20 % within minutes moves both alike.

    python -m benchmarks.compare BASE [--head REV] [--rounds 3] -- MODULE [ARGS...]
    python -m benchmarks.compare 940fd3b -- throughput --feeds 2000 --systems ours
    python -m benchmarks.compare 940fd3b -- profile_parse --feeds 400 --no-profile

BASE (and ``--head``, the working tree when left out) are checked out as detached git
worktrees in a temporary directory; each run is ``python -m benchmarks.<module> ARGS``
from one tree, so it imports that tree's ``worker/`` (the benchmark scripts are each
tree's own too). The runs go base, head, base, head...; every run's summary lines are
printed as they finish (for ``throughput`` its rounds and CPU lines, otherwise the whole
output). The worktrees are removed at the end.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# the lines kept of a run's output: throughput's rounds and CPU, profile_parse's passes
SUMMARY = ("round ", "CPU s:", "Celery consumer", "cold:", "warm:", "changed:")


def worktree(rev: str, where: Path) -> Path:
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", "--force", str(where), rev],
        check=True,
        capture_output=True,
    )
    return where


def run(tree: Path, module: str, args: list[str]) -> tuple[int, list[str]]:
    proc = subprocess.run(
        [sys.executable, "-m", f"benchmarks.{module}", *args],
        cwd=tree,
        capture_output=True,
        text=True,
        check=False,
    )
    lines = proc.stdout.splitlines() + proc.stderr.splitlines()
    picked = [line.strip() for line in lines if any(mark in line for mark in SUMMARY)]
    return proc.returncode, picked or lines[-20:]


def main() -> None:
    argv = sys.argv[1:]
    if "--" not in argv or argv.index("--") == len(argv) - 1:
        sys.exit(
            "usage: python -m benchmarks.compare BASE [--head REV] [--rounds N] -- MODULE [ARGS...]"
        )
    split = argv.index("--")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("base", help="the commit to compare against")
    parser.add_argument("--head", default=None, help="a commit; the working tree if absent")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv[:split])
    module, bench_args = argv[split + 1], argv[split + 2 :]
    with tempfile.TemporaryDirectory(prefix="compare-") as tmp:
        trees = {"base " + args.base: worktree(args.base, Path(tmp) / "base")}
        if args.head:
            trees["head " + args.head] = worktree(args.head, Path(tmp) / "head")
        else:
            trees["working tree"] = ROOT
        try:
            for n in range(1, args.rounds + 1):
                for name, tree in trees.items():
                    code, lines = run(tree, module, bench_args)
                    status = "" if code == 0 else f" (exit {code})"
                    print(f"== run {n}, {name}{status}", flush=True)
                    for line in lines:
                        print("   " + line, flush=True)
        finally:
            for tree in trees.values():
                if tree != ROOT:
                    subprocess.run(
                        ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                        capture_output=True,
                        check=False,
                    )


if __name__ == "__main__":
    main()
