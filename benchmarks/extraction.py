"""Score main-text extraction against human-annotated article bodies.

    python benchmarks/extraction.py PATH [--limit N] [--worst K] [--halves]

PATH holds ``html/<id>.html`` pages and ``truth/<id>.json`` files whose ``articleBody`` is
the annotated text (the layout of the scrapinghub article-extraction-benchmark). Scoring
follows that benchmark's definition: texts become word tokens (``\\w+``), tokens become
overlapping 4-token shingles, and each page's shingle counts give true positives, false
positives and false negatives, normalized per page so that long pages weigh no more than
short ones. Precision and recall are the means over pages (precision over pages where
something was predicted); F1 is computed from those two means.

Systems side by side, alternating per page:

* ``trafilatura-raw``: ``trafilatura.extract`` with comments off, plain text, as a user
  of the library would call it;
* ``pipeline``: what the worker stores as ``content_text`` for a fetched page:
  ``worker.core.extract`` + sanitizing + the built-in boilerplate rules + text.

``--halves`` also scores the two halves of the pages split by a hash of the file name
(CRC-32 of the page id, even or odd): a rule tuned on one half should hold on the other.

It also counts comment leakage: shingles of the page's reader comments (as trafilatura
finds them with comments on) that end up in the output.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import time
import zlib
from collections import Counter
from pathlib import Path

import trafilatura

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from worker.core.boilerplate import DEFAULT_RULES, remove
from worker.core.extract import extract
from worker.core.sanitize import sanitize_html
from worker.core.text import html_to_text

_TOKEN = re.compile(r"\w+")


def shingles(text: str, n: int = 4) -> Counter[tuple[str, ...]]:
    tokens = _TOKEN.findall(text or "")
    return Counter(tuple(tokens[i : i + n]) for i in range(max(1, len(tokens) - n + 1)) if tokens)


def page_score(truth: str, predicted: str) -> tuple[float, float, float]:
    """(tp, fp, fn) over shingles, normalized to sum to 1."""
    t, p = shingles(truth), shingles(predicted)
    tp = sum((t & p).values())
    fp = sum((p - t).values())
    fn = sum((t - p).values())
    total = tp + fp + fn
    return (tp / total, fp / total, fn / total) if total else (0.0, 0.0, 0.0)


def summarize(scores: list[tuple[float, float, float]]) -> tuple[float, float, float]:
    def precision(tp: float, fp: float, fn: float) -> float:
        if fp == fn == 0:
            return 1.0
        return 0.0 if tp == fp == 0 else tp / (tp + fp)

    def recall(tp: float, fp: float, fn: float) -> float:
        if fp == fn == 0:
            return 1.0
        return 0.0 if tp == fn == 0 else tp / (tp + fn)

    p = statistics.mean(precision(*s) for s in scores if s[0] + s[1] > 0)
    r = statistics.mean(recall(*s) for s in scores if s[0] + s[2] > 0)
    return p, r, 2 * p * r / (p + r)


def trafilatura_raw(page: str, url: str | None) -> str:
    return trafilatura.extract(page, url=url, include_comments=False) or ""


def pipeline(page: str, url: str | None) -> str:
    extracted = extract(page, url)
    if extracted is None:
        return ""
    cleaned = sanitize_html(extracted.content_html, url)
    body, _ = remove(cleaned, DEFAULT_RULES)
    return html_to_text(body) if body else ""


def comments(page: str, url: str | None) -> str:
    result = trafilatura.bare_extraction(page, url=url, include_comments=True)
    if result is None:
        return ""
    doc = result.as_dict() if hasattr(result, "as_dict") else dict(result)
    return str(doc.get("comments") or "")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("path", type=Path)
    ap.add_argument("--limit", type=int, default=0)
    ap.add_argument("--worst", type=int, default=0, help="list the K worst pages per system")
    ap.add_argument("--halves", action="store_true", help="score each half of the pages too")
    args = ap.parse_args()
    pages = sorted((args.path / "html").glob("*.html"))
    if args.limit:
        pages = pages[: args.limit]
    systems = {"trafilatura-raw": trafilatura_raw, "pipeline": pipeline}
    scores: dict[str, list[tuple[float, float, float]]] = {name: [] for name in systems}
    seconds: dict[str, float] = dict.fromkeys(systems, 0.0)
    leaked: Counter[str] = Counter()
    leaked_pages: Counter[str] = Counter()
    per_page: dict[str, list[tuple[float, str]]] = {name: [] for name in systems}
    for index, html_path in enumerate(pages):
        truth_doc = json.loads((args.path / "truth" / f"{html_path.stem}.json").read_text())
        truth = truth_doc.get("articleBody") or ""
        url = truth_doc.get("url")
        page = html_path.read_bytes().decode("utf-8", errors="replace")
        order = list(systems.items())
        if index % 2:
            order.reverse()  # alternate which system runs first
        comment_shingles = shingles(comments(page, url))
        for name, fn in order:
            start = time.perf_counter()
            predicted = fn(page, url)
            seconds[name] += time.perf_counter() - start
            score = page_score(truth, predicted)
            scores[name].append(score)
            f1 = 2 * score[0] / (2 * score[0] + score[1] + score[2]) if any(score) else 0.0
            per_page[name].append((f1, html_path.stem))
            if comment_shingles:
                hits = sum((comment_shingles & shingles(predicted) - shingles(truth)).values())
                leaked[name] += hits
                leaked_pages[name] += hits > 0
    print(f"{len(pages)} pages from {args.path}\n")
    print(
        f"{'system':<18}{'precision':>10}{'recall':>8}{'F1':>8}{'ms/page':>9}"
        f"{'comment shingles (pages)':>27}"
    )
    for name in systems:
        p, r, f = summarize(scores[name])
        ms = seconds[name] / len(pages) * 1000
        leak = f"{leaked[name]} ({leaked_pages[name]})"
        print(f"{name:<18}{p:>10.3f}{r:>8.3f}{f:>8.3f}{ms:>9.1f}{leak:>27}")
    if args.halves:
        stems = [p.stem for p in pages]
        for half in (0, 1):
            picked = [i for i, stem in enumerate(stems) if zlib.crc32(stem.encode()) % 2 == half]
            print(f"\nhalf {half} ({len(picked)} pages, CRC-32 of the page id % 2 == {half}):")
            for name in systems:
                p, r, f = summarize([scores[name][i] for i in picked])
                print(f"{name:<18}{p:>10.3f}{r:>8.3f}{f:>8.3f}")
    if args.worst:
        for name in systems:
            print(f"\nworst pages, {name}:")
            for f1, stem in sorted(per_page[name])[: args.worst]:
                print(f"  {f1:.3f} {stem}")


if __name__ == "__main__":
    main()
