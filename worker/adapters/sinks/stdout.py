"""Print each event as one JSON line on standard output: for debugging a pipeline.

Not idempotent: a redelivered event is printed again. Use it to watch what flows, not
as a record.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import BinaryIO

from worker.adapters.sinks.base import DeliveryReport


class StdoutSink:
    def __init__(self, name: str, stream: BinaryIO | None = None) -> None:
        self.name = name
        self._stream = stream

    def deliver(self, events: Sequence[tuple[str, bytes]]) -> DeliveryReport:
        out = self._stream or sys.stdout.buffer
        report = DeliveryReport()
        try:
            out.write(b"".join(b.rstrip(b"\n").replace(b"\n", b" ") + b"\n" for _, b in events))
            out.flush()
        except (OSError, ValueError) as exc:  # a closed or broken pipe
            for event_id, _ in events:
                report.retry[event_id] = (f"stdout: {exc}", None)
            return report
        report.delivered = [event_id for event_id, _ in events]
        return report

    def close(self) -> None:
        pass
