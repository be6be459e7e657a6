"""A parse task decides its documents together (``pipeline._Round``): the same events as
one task per document, with one store call per step for all of them. Real stores."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from tests.captures import CAPTURES
from tests.integration.test_pipeline import Clock
from worker import pipeline
from worker.core import boilerplate
from worker.core.models import FetchResult
from worker.runtime import Runtime
from worker.settings import load_settings

FEEDS = Path(__file__).resolve().parent.parent / "fixtures" / "feeds"
LEDGER = "https://ledger.example"
LINE = "Get the Ledger in your inbox every morning: sign up at the front desk."


def ledger_feed(slugs: list[str]) -> bytes:
    """A site whose every story ends with the same sign-up line."""
    items = "".join(
        f"<item><title>Story {s}</title><link>{LEDGER}/news/{s}/</link><guid>{s}</guid>"
        f"<content:encoded><![CDATA[<p>Story {s} begins with its own news, told in enough "
        f"words to stand apart from the others on this page.</p><p>{LINE}</p>]]>"
        "</content:encoded></item>"
        for s in slugs
    )
    return (
        '<rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/">'
        f"<channel><title>Ledger</title><link>{LEDGER}/</link>{items}</channel></rss>"
    ).encode()


# (path, body): syndicated copies of one wire story in three outlets' feeds, one article
# in two section feeds of one site, and two feeds of a site that repeats a line.
DOCUMENTS = [
    ("/northern.xml", (CAPTURES / "syndicated_northern.xml").read_bytes()),
    ("/world.xml", (FEEDS / "rss20_section_world.xml").read_bytes()),
    ("/ledger-a.xml", ledger_feed(["a", "b", "c"])),
    ("/valley.xml", (CAPTURES / "syndicated_valley.xml").read_bytes()),
    ("/business.xml", (FEEDS / "rss20_section_business.xml").read_bytes()),
    ("/ledger-d.xml", ledger_feed(["d", "e"])),
    ("/coastal.xml", (CAPTURES / "syndicated_coastal.xml").read_bytes()),
]


def runtime(where: Path, store_env: dict[str, str]) -> Runtime:
    where.mkdir()
    config = where / "syndicate.toml"
    config.write_text(
        "".join(f'[[feeds]]\nurl = "https://feeds.example{p}"\n' for p, _ in DOCUMENTS)
        + '[sinks.all]\ntype = "jsonl"\npath = "all.jsonl"\n'
        + '[sinks.originals]\ntype = "jsonl"\npath = "originals.jsonl"\n'
        + 'duplicates = "suppress"\n'
    )
    prefix = store_env.get("SYNDICATE_STORE__PREFIX", "") + where.name
    settings = load_settings(
        config,
        {**store_env, "SYNDICATE_STORE__DATA_DIR": str(where), "SYNDICATE_STORE__PREFIX": prefix},
    )
    rt = Runtime(settings, clock=Clock(), rand=lambda: 0.0)
    rt.store.sync_feeds(rt.settings.feed_specs(), rt.clock())
    return rt


def fetched(rt: Runtime) -> list[FetchResult]:
    ids = {s.url: s.feed_id for s in rt.settings.feed_specs()}
    return [
        FetchResult(
            feed_id=ids[f"https://feeds.example{p}"],
            url=f"https://feeds.example{p}",
            status="ok",
            http_status=200,
            body=body,
        )
        for p, body in DOCUMENTS
    ]


def published(rt: Runtime, outbox: dict[str, list[str]]) -> dict[str, list[dict[str, Any]]]:
    """Each sink's queued events, as what matters of them, in a stable order."""
    out = {}
    for sink, ids in outbox.items():
        bodies = rt.store.pending_events(sink, ids)
        data = [json.loads(bodies[i])["data"] for i in ids]
        out[sink] = sorted(
            (
                {
                    k: d[k]
                    for k in (
                        "article_id",
                        "revision",
                        "title",
                        "cluster_id",
                        "duplicate_of",
                        "content_text",
                        "content_html",
                        "removed_boilerplate",
                    )
                }
                for d in data
            ),
            key=lambda d: (d["article_id"], d["revision"]),
        )
    return out


class Counting:
    """The store, counting the calls made to it."""

    def __init__(self, store: Any) -> None:
        self.store = store
        self.calls: Counter[str] = Counter()

    def __getattr__(self, name: str) -> Any:
        found = getattr(self.store, name)
        if not callable(found):
            return found

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls[name] += 1
            return found(*args, **kwargs)

        return call


def test_one_task_publishes_what_a_task_per_document_would(tmp_path, store_env):
    """Copies of a story in one task point at the first outlet's article, an article in
    two of its feeds is published once, a line the site's earlier document repeated
    three times is learned for the later one: as when each document has a task."""
    together = runtime(tmp_path / "together", store_env)
    together_out = pipeline.process(together, fetched(together))
    apart = runtime(tmp_path / "apart", store_env)
    apart_out: dict[str, list[str]] = {}
    for one in fetched(apart):
        for sink, ids in pipeline.process(apart, [one]).items():
            apart_out.setdefault(sink, []).extend(ids)

    got = published(together, together_out)
    assert got == published(apart, apart_out)
    everything = {d["title"]: d for d in got["all"]}
    wire = everything["Rail line reopens five days after Quill viaduct landslide"]
    assert wire["duplicate_of"] is None
    for title in ("Trains run again after landslide clean-up", "Harrowgate-Fenwick line back open"):
        assert everything[title]["duplicate_of"] == wire["article_id"]
    assert len(got["originals"]) == len(got["all"]) - 2
    for slug in "abc":
        assert LINE in everything[f"Story {slug}"]["content_text"]
    for slug in "de":
        assert everything[f"Story {slug}"]["removed_boilerplate"] == [LINE]
    titles = Counter(d["title"] for d in got["all"])
    assert max(titles.values()) == 1  # the section feeds' shared article included
    # The history holds each article's lines, read once with its document, as its final
    # body and removed lines give them (learning moved the line of d and e).
    bodies = {d["article_id"]: d for d in got["all"]}
    (history,) = together.store.paragraph_histories(["ledger.example"], 10).values()
    assert len(history) == 5
    for article_id, prints in history:
        final = bodies[article_id]
        assert set(prints) == set(
            boilerplate.fingerprints(final["content_html"], final["removed_boilerplate"])
        )


def test_a_task_makes_one_call_per_step_for_its_documents(tmp_path, store_env):
    """Documents that share no article are decided in one round: the identity lookup,
    the near-duplicate candidates, the history and the commit are one call each. The two
    section feeds share an article: the later one waits for a second round."""
    rt = runtime(tmp_path / "counted", store_env)
    counting = Counting(rt.store)
    rt.store = counting  # type: ignore[assignment]
    pipeline.process(rt, [f for f in fetched(rt) if not f.url.endswith("/business.xml")])
    steps = (
        "lookup_articles",
        "near_duplicate_candidates",
        "paragraph_histories",
        "commit_articles",
        "save_feed_identities",
        "remember_paragraphs",
    )
    assert {s: counting.calls[s] for s in steps} == dict.fromkeys(steps, 1)

    counting.calls.clear()
    rt.clock.now += 60  # type: ignore[attr-defined]
    pipeline.process(rt, [f for f in fetched(rt) if f.url.endswith(("world.xml", "business.xml"))])
    # world's articles are known now (one round); business shares one with world (two)
    assert counting.calls["lookup_articles"] == 2


def test_a_task_reads_and_decides_its_documents_a_slice_at_a_time(tmp_path, store_env, monkeypatch):
    """A task holds ``ROUND_BYTES`` of documents at a time: with room for two documents,
    six make three slices, each read and decided whole before the next is read, and the
    events are those of one slice for all."""
    sliced = runtime(tmp_path / "sliced", store_env)
    counting = Counting(sliced.store)
    sliced.store = counting  # type: ignore[assignment]
    results = [f for f in fetched(sliced) if not f.url.endswith("/business.xml")]
    sizes = sorted(len(f.body) for f in results)
    monkeypatch.setattr(pipeline, "ROUND_BYTES", sizes[-1] + sizes[-2])
    parts = pipeline.by_size(results, pipeline.ROUND_BYTES)
    assert len(parts) >= 3
    sliced_out = pipeline.process(sliced, results)
    assert counting.calls["lookup_articles"] == len(parts)

    whole = runtime(tmp_path / "whole", store_env)
    whole_out = pipeline.process(
        whole, [f for f in fetched(whole) if not f.url.endswith("/business.xml")]
    )
    assert published(sliced, sliced_out) == published(whole, whole_out)
