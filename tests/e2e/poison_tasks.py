"""A task that kills its own worker process every time it runs (loaded with -I)."""

from __future__ import annotations

import os
import signal
from pathlib import Path

from worker.tasks import stage_task


def _record_poison(marker: str) -> None:
    Path(marker).write_text("quarantined")


@stage_task(name="test.kills_its_worker", queue="parse", on_poison=_record_poison)
def kills_its_worker(marker: str) -> None:
    with Path(marker + ".starts").open("a") as fh:
        fh.write("x")
    os.kill(os.getpid(), signal.SIGKILL)
