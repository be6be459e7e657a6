"""Every stage once per round for a config, logging JSON lines at DEBUG on stderr, as a
service would: `python -m tests.log_probe CONFIG ROUNDS` (tests/integration/test_logs.py)."""

from __future__ import annotations

import sys
import time

from worker import pipeline
from worker.celery_app import sync_config_feeds
from worker.logging import configure_logging, get_logger
from worker.runtime import Runtime
from worker.settings import load_settings


def main(config: str, rounds: int) -> None:
    configure_logging("DEBUG", "json")
    settings = load_settings(config)
    now = [time.time()]
    rt = Runtime(settings, clock=lambda: now[0], rand=lambda: 0.0)
    sync_config_feeds(rt)
    sinks = {n: s.model_dump(mode="json") for n, s in settings.effective_sinks().items()}
    get_logger("probe").info("syndicate.started", sinks=sinks)
    for _ in range(rounds):
        plan = pipeline.tick(rt)
        for batch in plan.fetch_batches:
            for sink, ids in pipeline.process(rt, pipeline.fetch_batch(rt, batch)).items():
                pipeline.deliver(rt, sink, ids)
        now[0] += 2 * 86400  # every feed is due again, errors backed off or not
    rt.close()


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
