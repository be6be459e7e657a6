"""The Sink contract: every built-in sink writes each event id at most once."""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from worker.adapters.sinks.jsonl import JsonlSink
from worker.adapters.sinks.redis_stream import RedisStreamSink


def event(n: int, kind: str = "article.created") -> tuple[str, bytes]:
    event_id = f"art{n}.1"
    body = {"specversion": "1.0", "id": event_id, "type": kind, "data": {"n": n, "t": "a\nb"}}
    return event_id, json.dumps(body, separators=(",", ":")).encode()


class JsonlHarness:
    def __init__(self, path: Path) -> None:
        self.path = path

    def make(self) -> JsonlSink:
        return JsonlSink("file", self.path)

    def written_ids(self) -> list[str]:
        if not self.path.exists():
            return []
        return [json.loads(line)["id"] for line in self.path.read_text().splitlines()]


class StreamHarness:
    def __init__(self, client: redis.Redis, stream: str) -> None:
        self.client, self.stream = client, stream

    def make(self) -> RedisStreamSink:
        return RedisStreamSink("stream", self.client, stream=self.stream, maxlen=10_000)

    def written_ids(self) -> list[str]:
        return [f[b"id"].decode() for _, f in self.client.xrange(self.stream)]


@pytest.fixture(params=["jsonl", "redis_stream"])
def harness(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[object]:
    if request.param == "jsonl":
        yield JsonlHarness(tmp_path / "out" / "events.jsonl")
    else:
        client = request.getfixturevalue("redis_client")
        prefix = request.getfixturevalue("prefix")
        yield StreamHarness(client, f"{prefix}:stream")


def test_delivers_every_event_in_order(harness):
    """A batch is written whole, in order, and reported delivered."""
    sink = harness.make()
    report = sink.deliver([event(1), event(2), event(3)])
    assert report.delivered == ["art1.1", "art2.1", "art3.1"]
    assert report.duplicates == 0 and not report.retry
    assert harness.written_ids() == ["art1.1", "art2.1", "art3.1"]


def test_redelivery_is_acknowledged_without_writing_twice(harness):
    """Retrying a batch (or part of it) never writes an event id a second time."""
    sink = harness.make()
    sink.deliver([event(1), event(2)])
    report = sink.deliver([event(2), event(3), event(3)])
    assert sorted(report.delivered) == ["art2.1", "art3.1", "art3.1"]
    assert report.duplicates == 2
    assert harness.written_ids() == ["art1.1", "art2.1", "art3.1"]


def test_a_new_sink_instance_knows_what_an_earlier_one_wrote(harness):
    """Idempotence survives a restart: the state is in the sink, not in the process."""
    harness.make().deliver([event(1)])
    fresh = harness.make()
    fresh.deliver([event(1), event(2)])
    assert harness.written_ids() == ["art1.1", "art2.1"]


def test_jsonl_lines_are_single_lines_even_with_newlines_in_the_body(tmp_path):
    """Each event is exactly one line, whatever its content."""
    h = JsonlHarness(tmp_path / "e.jsonl")
    h.make().deliver([(event(1)[0], event(1)[1].replace(b",", b",\n"))])
    lines = h.path.read_bytes().split(b"\n")
    assert lines[-1] == b"" and len(lines) == 2
    assert json.loads(lines[0])["id"] == "art1.1"


def test_jsonl_repairs_a_torn_last_line_on_open(tmp_path):
    """A partial line left by a crash is cut off and its event written again whole."""
    h = JsonlHarness(tmp_path / "e.jsonl")
    h.make().deliver([event(1)])
    with h.path.open("ab") as fh:
        fh.write(event(2)[1][:25])  # the crash happened mid-write
    sink = h.make()
    sink.deliver([event(2)])
    assert h.written_ids() == ["art1.1", "art2.1"]


def _append_from_process(path: str, start: int) -> None:
    sink = JsonlSink("file", Path(path))
    for n in range(start, start + 60):
        # overlapping ranges: both processes try to write 30 of the same events
        sink.deliver([event(n), event(n + 1)])


def test_jsonl_concurrent_processes_never_duplicate(tmp_path):
    """Two processes appending overlapping events to one file write each id once."""
    path = tmp_path / "shared.jsonl"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_append_from_process, args=(str(path), s)) for s in (0, 30)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    ids = JsonlHarness(path).written_ids()
    assert len(ids) == len(set(ids)) == 91


def test_redis_stream_entries_carry_id_type_and_event(redis_client, prefix):
    """Stream entries have the fields consumers read: id, type and the event JSON."""
    sink = RedisStreamSink("s", redis_client, stream=f"{prefix}:s", maxlen=100)
    sink.deliver([event(7, kind="article.updated")])
    ((_, fields),) = redis_client.xrange(f"{prefix}:s")
    assert fields[b"id"] == b"art7.1"
    assert fields[b"type"] == b"article.updated"
    assert json.loads(fields[b"event"])["data"]["n"] == 7


def test_redis_stream_is_trimmed_approximately(redis_client, prefix):
    """MAXLEN ~ keeps the stream near its cap instead of growing without bound."""
    sink = RedisStreamSink("s", redis_client, stream=f"{prefix}:s", maxlen=100)
    for start in range(0, 1000, 100):
        sink.deliver([event(n) for n in range(start, start + 100)])
    assert 100 <= redis_client.xlen(f"{prefix}:s") < 300


def test_redis_stream_reports_retry_when_redis_is_unreachable():
    """A sink that cannot reach Redis asks for a retry instead of raising."""
    client = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    sink = RedisStreamSink("s", client, stream="x", maxlen=10)
    report = sink.deliver([event(1)])
    assert report.delivered == [] and "art1.1" in report.retry


# -- the payloads match the published schema -------------------------------------------


def test_jsonl_and_stream_payloads_are_schema_valid_events(tmp_path, redis_client, prefix):
    """What the JSONL and Redis Stream sinks write is the event, valid against the schema."""
    from tests.schemas import assert_valid_event, real_events

    events = real_events()
    JsonlSink("file", tmp_path / "e.jsonl").deliver(events)
    RedisStreamSink("s", redis_client, stream=f"{prefix}:s", maxlen=100).deliver(events)
    lines = (tmp_path / "e.jsonl").read_bytes().splitlines()
    entries = redis_client.xrange(f"{prefix}:s")
    assert len(lines) == len(entries) == len(events)
    for line, (_, fields) in zip(lines, entries, strict=True):
        assert assert_valid_event(line)["id"] == assert_valid_event(fields[b"event"])["id"]
        assert fields[b"type"] == b"article.created"


def test_stdout_sink_prints_one_valid_event_per_line():
    """The debugging sink prints each event as one schema-valid JSON line."""
    import io

    from tests.schemas import assert_valid_event, real_events
    from worker.adapters.sinks.stdout import StdoutSink

    out = io.BytesIO()
    events = real_events()
    report = StdoutSink("debug", out).deliver(events)
    assert report.delivered == [e for e, _ in events]
    lines = out.getvalue().splitlines()
    assert [assert_valid_event(line)["id"] for line in lines] == [e for e, _ in events]


# -- JSONL rotation --------------------------------------------------------------------


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _all_ids(folder: Path) -> list[str]:
    return [
        json.loads(line)["id"]
        for p in sorted(folder.glob("e*.jsonl"))
        for line in p.read_text().splitlines()
    ]


def test_jsonl_rotates_by_size_and_remembers_recent_ids(tmp_path):
    """Past rotate_bytes the file is renamed aside; an event in one of the newest
    ``dedupe_files`` rotated files is still recognised, by this process and a new one."""
    path = tmp_path / "e.jsonl"
    sink = JsonlSink("file", path, rotate_bytes=150)
    for n in range(6):
        sink.deliver([event(n)])
    archives = sorted(tmp_path.glob("e-*Z*.jsonl"))
    assert len(archives) >= 2
    assert sorted(_all_ids(tmp_path)) == sorted(f"art{n}.1" for n in range(6))
    assert sink.deliver([event(2), event(5)]).duplicates == 2  # the two newest archives
    fresh = JsonlSink("file", path, rotate_bytes=150, dedupe_files=10)
    assert fresh.deliver([event(1), event(6)]).duplicates == 1
    ids = _all_ids(tmp_path)
    assert len(ids) == len(set(ids)) == 7


def test_jsonl_rotates_at_the_first_write_of_a_new_day(tmp_path):
    """With rotate_daily, yesterday's file is renamed after its last write time and
    today's events go to a new file; a redelivery of yesterday's event is a duplicate."""
    import os

    path = tmp_path / "e.jsonl"
    day1 = 1_790_000_000.0
    clock = FakeClock(day1)
    sink = JsonlSink("file", path, rotate_daily=True, clock=clock)
    sink.deliver([event(1)])
    os.utime(path, (day1, day1))
    clock.now = day1 + 86400
    report = sink.deliver([event(1), event(2)])
    assert report.duplicates == 1
    (archive,) = tmp_path.glob("e-*.jsonl")
    assert archive.name == "e-20260921T141320Z.jsonl"
    assert [json.loads(x)["id"] for x in archive.read_text().splitlines()] == ["art1.1"]
    assert [json.loads(x)["id"] for x in path.read_text().splitlines()] == ["art2.1"]


def _rotating_writer(path: str, start: int) -> None:
    sink = JsonlSink("file", Path(path), rotate_bytes=2000, dedupe_files=50)
    for n in range(start, start + 60):
        sink.deliver([event(n), event(n + 1)])


def test_jsonl_rotation_with_two_processes_never_duplicates(tmp_path):
    """Two processes appending overlapping events while the file rotates under them
    still write each id once across all files."""
    path = tmp_path / "e.jsonl"
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_rotating_writer, args=(str(path), s)) for s in (0, 30)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    assert len(list(tmp_path.glob("e-*.jsonl"))) >= 3
    ids = _all_ids(tmp_path)
    assert len(ids) == len(set(ids)) == 91
