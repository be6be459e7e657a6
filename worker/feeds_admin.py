"""``syndicate feeds``: the feeds of the config file plus the feeds kept in the store.

Where each feed lives:

* **config** feeds are defined by the config file. It is their source of truth: the
  scheduler (``syndicate beat``, or ``syndicate run``) copies them into the store when it
  starts, adding, updating and removing. To change one, edit the file and restart beat.
* **store** feeds are added and removed with ``syndicate feeds add/remove/import-opml``,
  at any time, without a restart: the store is their only home, and the next tick polls
  a new one. A config sync never touches them.

A URL is one feed whichever way it came: its id is derived from the URL.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from worker.adapters.store import Store
from worker.core.models import FeedSpec, FeedState
from worker.core.opml import OpmlDocument, OpmlProblem
from worker.settings import Settings, feed_id_for

IMPORT_CHUNK = 500


@dataclass(frozen=True, slots=True)
class Listed:
    spec: FeedSpec
    state: FeedState | None  # None: a config feed the scheduler has not synced yet
    origin: str

    def as_dict(self) -> dict[str, object]:
        st = self.state
        return {
            "feed_id": self.spec.feed_id,
            "origin": self.origin,
            "synced": st is not None,
            "name": self.spec.name,
            "url": self.spec.url,
            "current_url": st.url if st else None,
            "tags": list(self.spec.tags),
            "state": st.lifecycle if st else None,
            "error_streak": st.error_streak if st else None,
            "last_status": st.last_status if st else None,
        }


def list_feeds(settings: Settings, store: Store) -> list[Listed]:
    """Config feeds (synced or not yet) and store feeds, config first, each once."""
    stored = store.feed_specs()
    states = store.load_states(list(stored))
    out: list[Listed] = []
    configured = settings.feed_specs()
    for spec in configured:
        out.append(Listed(spec, states.get(spec.feed_id), "config"))
    ids = {s.feed_id for s in configured}
    for fid, spec in sorted(stored.items(), key=lambda kv: (kv[1].name or "", kv[1].url)):
        if fid in ids:
            continue
        # A config-origin feed left in the store by a removal not yet synced.
        origin = spec.origin if spec.origin == "store" else "config (removed from file)"
        out.append(Listed(spec, states.get(fid), origin))
    return out


def new_spec(url: str, name: str | None, tags: Sequence[str]) -> FeedSpec:
    return FeedSpec(feed_id=feed_id_for(url), url=url, name=name, tags=tuple(tags), origin="store")


def where_known(settings: Settings, store: Store, feed_ids: Sequence[str]) -> dict[str, str]:
    """For each id already known: "config" or "store"."""
    known = {s.feed_id: "config" for s in settings.feed_specs() if s.feed_id in feed_ids}
    for fid, spec in store.feed_specs([f for f in feed_ids if f not in known]).items():
        known[fid] = spec.origin
    return known


@dataclass(slots=True)
class ImportReport:
    added: list[FeedSpec] = field(default_factory=list)
    duplicates: list[OpmlProblem] = field(default_factory=list)
    invalid: list[OpmlProblem] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        return {
            "added": len(self.added),
            "duplicates": [vars_(p) for p in self.duplicates],
            "invalid": [vars_(p) for p in self.invalid],
        }


def vars_(p: OpmlProblem) -> dict[str, object]:
    return {"line": p.line, "url": p.url, "reason": p.reason}


def import_feeds(
    settings: Settings,
    store: Store,
    doc: OpmlDocument,
    now: float,
    *,
    progress: Callable[[int], None] | None = None,
) -> ImportReport:
    """Add every valid feed of the document not already known, in chunks; report the
    rest. Never stops at a bad outline."""
    report = ImportReport(duplicates=list(doc.duplicates), invalid=list(doc.invalid))
    for start in range(0, len(doc.feeds), IMPORT_CHUNK):
        chunk = doc.feeds[start : start + IMPORT_CHUNK]
        specs = [new_spec(f.url, f.name, f.tags) for f in chunk]
        known = where_known(settings, store, [s.feed_id for s in specs])
        fresh = [s for s in specs if s.feed_id not in known]
        added = set(store.add_feeds(fresh, now))
        for f, s in zip(chunk, specs, strict=True):
            if s.feed_id in added:
                report.added.append(s)
            else:
                where = known.get(s.feed_id, "store")
                report.duplicates.append(OpmlProblem(f.line, f.url, f"already a {where} feed"))
        if progress is not None:
            progress(len(chunk))
    return report
