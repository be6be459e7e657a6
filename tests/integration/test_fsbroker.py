"""The embedded broker's transport: whole messages only, however producers and consumers race."""

from __future__ import annotations

import json
import multiprocessing
import os
from pathlib import Path

import pytest
import structlog
from kombu import Connection

from worker.adapters import fsbroker
from worker.celery_app import celery_config
from worker.settings import Settings

PRODUCERS = 2
PER_PRODUCER = 400
# large enough that writing a message takes a while: the window kombu leaves open
PAD = "x" * 256 * 1024


@pytest.fixture(autouse=True)
def _fresh_bindings() -> None:
    """kombu's filesystem transport keeps declared bindings per process, and writes a
    binding to the control folder only when it first declares it: each test has its own
    folders, so each starts with no bindings."""
    fsbroker.Transport.global_state.clear()


def _folders(tmp_path: Path) -> dict[str, str]:
    queue, processed = tmp_path / "broker" / "queue", tmp_path / "broker" / "processed"
    queue.mkdir(parents=True)
    processed.mkdir()
    return {
        "data_folder_in": str(queue),
        "data_folder_out": str(queue),
        "processed_folder": str(processed),
        "control_folder": str(tmp_path / "broker" / "control"),
        "store_processed": False,
        # consumers poll an empty folder without pausing: the widest race window
        "polling_interval": 0,
    }


def _connection(options: dict[str, str], transport: str = fsbroker.TRANSPORT) -> Connection:
    return Connection(transport=transport, transport_options=options)


def _produce(options: dict[str, str], producer: int, transport: str) -> None:
    with _connection(options, transport) as conn:
        queue = conn.SimpleQueue("parse")
        for n in range(PER_PRODUCER):
            queue.put({"producer": producer, "n": n, "pad": PAD})
        queue.close()


def test_racing_producers_and_consumer_see_only_whole_messages(
    tmp_path: Path, transport: str = fsbroker.TRANSPORT
) -> None:
    options = _folders(tmp_path)
    ctx = multiprocessing.get_context("spawn")
    producers = [
        ctx.Process(target=_produce, args=(options, p, transport)) for p in range(PRODUCERS)
    ]
    for p in producers:
        p.start()
    seen: set[tuple[int, int]] = set()
    with _connection(options, transport) as conn:
        queue = conn.SimpleQueue("parse")
        # Consume while the producers are still writing: this is the window in which
        # kombu's own transport hands out a message file that is still empty.
        while len(seen) < PRODUCERS * PER_PRODUCER:
            message = queue.get(timeout=30)
            body = message.payload
            seen.add((body["producer"], body["n"]))
            assert body["pad"] == PAD
            message.ack()
        queue.close()
    for p in producers:
        p.join(timeout=30)
        assert p.exitcode == 0
    assert len(seen) == PRODUCERS * PER_PRODUCER
    assert not (tmp_path / "broker" / "corrupt").exists()
    leftovers = os.listdir(options["data_folder_in"]) + os.listdir(options["processed_folder"])
    assert leftovers == []


def test_a_torn_message_file_is_set_aside_and_the_next_one_delivered(tmp_path: Path) -> None:
    options = _folders(tmp_path)
    queue_dir = Path(options["data_folder_in"])
    # What a crash mid-write (or an older kombu) leaves behind: an empty and a cut-off file,
    # named so that they sort before the good message.
    (queue_dir / "00_aaaa.parse.msg").write_bytes(b"")
    (queue_dir / "01_bbbb.parse.msg").write_bytes(b'{"body": "eyJ')
    with _connection(options) as conn, structlog.testing.capture_logs() as logs:
        queue = conn.SimpleQueue("parse")
        queue.put({"ok": True})
        message = queue.get(timeout=5)
        assert message.payload == {"ok": True}
        message.ack()
        queue.close()
    corrupt = tmp_path / "broker" / "corrupt"
    assert sorted(os.listdir(corrupt)) == ["00_aaaa.parse.msg", "01_bbbb.parse.msg"]
    events = [e for e in logs if e["event"] == "broker.message_corrupt"]
    assert [(e["file"], e["queue"], e["bytes"]) for e in events] == [
        ("00_aaaa.parse.msg", "parse", 0),
        ("01_bbbb.parse.msg", "parse", 13),
    ]
    assert all(e["log_level"] == "error" for e in events)


def test_put_never_leaves_a_partial_file_under_a_message_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    options = _folders(tmp_path)
    queue_dir = Path(options["data_folder_in"])
    observed: list[list[str]] = []
    real_replace = os.replace

    def watching_replace(src: str, dst: str) -> None:
        # the moment before the message becomes visible: its bytes are all written
        observed.append(sorted(os.listdir(queue_dir)))
        assert json.loads(Path(src).read_bytes())["body"]
        real_replace(src, dst)

    monkeypatch.setattr(fsbroker.os, "replace", watching_replace)
    with _connection(options) as conn:
        conn.SimpleQueue("parse").put({"n": 1})
    assert len(observed) == 1
    (hidden,) = observed[0]
    assert hidden.startswith(".") and hidden.endswith(".parse.msg.part")
    (visible,) = os.listdir(queue_dir)
    assert visible.endswith(".parse.msg") and not visible.startswith(".")


def test_embedded_celery_config_uses_the_atomic_transport(tmp_path: Path) -> None:
    settings = Settings.model_validate({"store": {"data_dir": str(tmp_path / "var")}})
    conf = celery_config(settings)
    assert conf["broker_transport"] == "worker.adapters.fsbroker:Transport"
    from celery import Celery

    app = Celery("probe")
    app.conf.update(conf)
    with app.connection_for_write() as conn:
        assert isinstance(conn.transport, fsbroker.Transport)
    # nothing of the broker lands in the working directory
    assert conf["broker_transport_options"]["control_folder"] == str(
        (tmp_path / "var" / "broker" / "control").resolve()
    )
