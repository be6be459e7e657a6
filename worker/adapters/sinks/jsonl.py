"""Append events as JSON lines to a file: whole lines, each event id at most once.

Several processes may append to one file. Each write happens under an exclusive
``flock``; before writing, a process reads what others appended since it last looked,
so its set of known ids is complete and a redelivered event is skipped. The batch goes
out as one ``write`` of whole lines followed by ``fsync``, and only then is it reported
delivered. A torn last line (a crash mid-write) is cut off when the file is opened; its
event was never acknowledged, so it is written again by the redelivery.

**Rotation** (``rotate_bytes``, ``rotate_daily``): before a write, a file that reached
its size, or that was last written on an earlier UTC day, is renamed to
``<stem>-<YYYYmmddTHHMMSS>Z<suffix>`` (its last write time) and a new one started. With
rotation on, writers lock a separate ``<name>.lock`` file, since the data file changes
under them; a writer that finds the file rotated by another process finishes reading
the old one and moves on. The ids of the newest ``dedupe_files`` rotated files are still
checked, so a redelivery just after a rotation is not written again.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time
from collections import deque
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from worker.adapters.sinks.base import DeliveryReport
from worker.logging import get_logger

log = get_logger(__name__)

# Our own serializer writes "specversion" then "id" first: read the id without parsing.
_ID = re.compile(rb'^\{"specversion":"[^"]*","id":"((?:[^"\\]|\\.)*)"')


class JsonlSink:
    def __init__(
        self,
        name: str,
        path: Path,
        *,
        rotate_bytes: int = 0,
        rotate_daily: bool = False,
        dedupe_files: int = 2,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.path = Path(path)
        self.rotate_bytes = rotate_bytes
        self.rotate_daily = rotate_daily
        self.clock = clock
        self._rotating = bool(rotate_bytes or rotate_daily)
        self._fd: int | None = None
        self._lock_fd: int | None = None
        self._pid = 0
        self._offset = 0
        self._ids: set[str] = set()
        # (inode, ids) of the newest rotated files, newest last
        self._recent: deque[tuple[int, set[str]]] = deque(maxlen=dedupe_files)

    def _open(self) -> int:
        if self._fd is None or self._pid != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._pid = os.getpid()
            if self._rotating:
                self._lock_fd = os.open(self._lock_path(), os.O_RDWR | os.O_CREAT, 0o644)
                fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
                try:
                    self._load_recent({})
                    self._open_current()
                finally:
                    fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
            else:
                fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
                self._fd, self._offset, self._ids = fd, 0, set()
                fcntl.flock(fd, fcntl.LOCK_EX)
                try:
                    self._repair_torn_tail()
                finally:
                    fcntl.flock(fd, fcntl.LOCK_UN)
        assert self._fd is not None
        return self._fd

    def _open_current(self) -> None:
        """Open the file at ``path`` afresh; the caller holds the lock file."""
        self._fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
        self._offset, self._ids = 0, set()
        self._repair_torn_tail()

    def _lock_path(self) -> Path:
        return self.path.with_name(self.path.name + ".lock")

    def _lock(self) -> None:
        fd = self._lock_fd if self._rotating else self._fd
        assert fd is not None
        fcntl.flock(fd, fcntl.LOCK_EX)

    def _unlock(self) -> None:
        fd = self._lock_fd if self._rotating else self._fd
        if fd is not None:
            fcntl.flock(fd, fcntl.LOCK_UN)

    def _archives(self) -> list[Path]:
        """Rotated files of this sink, oldest first."""
        found = self.path.parent.glob(f"{self.path.stem}-*Z*{self.path.suffix}")
        paths = [p for p in found if _ARCHIVE.fullmatch(p.name[len(self.path.stem) :])]
        return sorted(paths, key=lambda p: (p.stat().st_mtime, p.name))

    def _load_recent(self, known: dict[int, set[str]]) -> None:
        """The ids of the newest ``dedupe_files`` rotated files: from ``known`` (by inode)
        where this process has them, else read from the file."""
        self._recent.clear()
        if not self._recent.maxlen:
            return
        for archived in self._archives()[-self._recent.maxlen :]:
            try:
                inode = archived.stat().st_ino
            except FileNotFoundError:
                continue
            ids = known.get(inode)
            self._recent.append((inode, ids if ids is not None else _ids_in(archived)))

    def _follow_rotation(self) -> None:
        """If other processes rotated the file, finish the old one and open the new. They
        may have rotated more than once since this one last wrote: the ids of every file
        rotated meanwhile are read, not only those of the file this one had open."""
        assert self._fd is not None
        try:
            current = os.stat(self.path).st_ino
        except FileNotFoundError:
            current = -1
        old = os.fstat(self._fd).st_ino
        if current == old:
            return
        self._catch_up()
        known = dict(self._recent)
        known[old] = self._ids
        os.close(self._fd)
        self._load_recent(known)
        self._open_current()

    def _rotate_if_due(self) -> None:
        assert self._fd is not None
        st = os.fstat(self._fd)
        if st.st_size == 0:
            return
        by_size = bool(self.rotate_bytes) and st.st_size >= self.rotate_bytes
        by_day = self.rotate_daily and _day(st.st_mtime) != _day(self.clock())
        if not (by_size or by_day):
            return
        stamp = datetime.fromtimestamp(st.st_mtime, UTC).strftime("%Y%m%dT%H%M%SZ")
        target = self.path.with_name(f"{self.path.stem}-{stamp}{self.path.suffix}")
        n = 0
        while target.exists():
            n += 1
            target = self.path.with_name(f"{self.path.stem}-{stamp}-{n}{self.path.suffix}")
        os.rename(self.path, target)
        log.info(
            "sink.jsonl_rotated",
            sink=self.name,
            path=str(target),
            bytes=st.st_size,
            reason="size" if by_size else "day",
        )
        self._recent.append((st.st_ino, self._ids))
        os.close(self._fd)
        self._open_current()

    def _known(self, event_id: str) -> bool:
        return event_id in self._ids or any(event_id in ids for _, ids in self._recent)

    def _repair_torn_tail(self) -> None:
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        if size == 0 or os.pread(self._fd, 1, size - 1) == b"\n":
            return
        # Find the last newline; everything after it is a partial write.
        pos = size
        while pos > 0:
            start = max(0, pos - 65536)
            chunk = os.pread(self._fd, pos - start, start)
            nl = chunk.rfind(b"\n")
            if nl >= 0:
                pos = start + nl + 1
                break
            pos = start
        os.ftruncate(self._fd, pos)
        log.warning(
            "sink.jsonl_torn_line_removed", sink=self.name, path=str(self.path), bytes=size - pos
        )

    def _catch_up(self) -> None:
        """Learn the ids appended since we last looked (by us or another process)."""
        assert self._fd is not None
        size = os.fstat(self._fd).st_size
        if size < self._offset:  # truncated or replaced under us: start over
            self._offset, self._ids = 0, set()
        if size == self._offset:
            return
        data = os.pread(self._fd, size - self._offset, self._offset)
        end = data.rfind(b"\n") + 1
        for line in data[:end].splitlines():
            event_id = _line_id(line)
            if event_id is not None:
                self._ids.add(event_id)
        self._offset += end

    def deliver(self, events: Sequence[tuple[str, bytes]]) -> DeliveryReport:
        report = DeliveryReport()
        fresh: list[str] = []
        try:
            self._open()
            self._lock()
        except OSError as exc:
            for event_id, _ in events:
                report.retry[event_id] = (f"cannot open {self.path}: {exc.strerror}", None)
            return report
        try:
            if self._rotating:
                self._follow_rotation()
                self._catch_up()
                self._rotate_if_due()
            else:
                self._catch_up()
            fd = self._fd
            assert fd is not None
            lines: list[bytes] = []
            for event_id, body in events:
                if self._known(event_id) or event_id in fresh:
                    report.duplicates += 1
                    report.delivered.append(event_id)
                    continue
                lines.append(body.rstrip(b"\n").replace(b"\n", b" ") + b"\n")
                fresh.append(event_id)
            if lines:
                data = b"".join(lines)
                written = os.write(fd, data)
                if written != len(data):
                    raise OSError(f"short write: {written} of {len(data)} bytes")
                os.fsync(fd)
                self._offset += written
                self._ids.update(fresh)
                report.delivered += fresh
        except OSError as exc:
            done = set(report.delivered)
            for event_id, _ in events:
                if event_id not in done:
                    report.retry[event_id] = (f"write failed: {exc}", None)
        finally:
            self._unlock()
        return report

    def close(self) -> None:
        if self._pid == os.getpid():
            for fd in (self._fd, self._lock_fd):
                if fd is not None:
                    os.close(fd)
        self._fd = self._lock_fd = None


_ARCHIVE = re.compile(r"-\d{8}T\d{6}Z(-\d+)?\.[^.]+|-\d{8}T\d{6}Z(-\d+)?")


def _day(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d")


def _ids_in(path: Path) -> set[str]:
    ids: set[str] = set()
    try:
        with path.open("rb") as fh:
            for line in fh:
                event_id = _line_id(line.rstrip(b"\n"))
                if event_id is not None:
                    ids.add(event_id)
    except OSError:
        pass
    return ids


def _line_id(line: bytes) -> str | None:
    match = _ID.match(line)
    if match:
        raw = match.group(1)
        return raw.decode() if b"\\" not in raw else str(json.loads(b'"' + raw + b'"'))
    try:
        doc = json.loads(line)
    except ValueError:
        return None
    value = doc.get("id") if isinstance(doc, dict) else None
    return value if isinstance(value, str) else None
