"""Real processes: `syndicate worker`, `beat` and `run` started as a user would."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import redis

# The e2e tests flush this database (broker queues live there): keep it their own.
E2E_REDIS_DB = int(os.environ.get("TEST_E2E_REDIS_DB", "14"))
SYNDICATE = [sys.executable, "-m", "worker.cli"]


class Procs:
    """Starts processes in their own process group and kills every one at teardown."""

    def __init__(self, workdir: Path, env: dict[str, str]) -> None:
        self.workdir = workdir
        self.env = env
        self.running: list[subprocess.Popen[bytes]] = []
        self.logs: list[Path] = []

    def start(self, *args: str, log: str) -> subprocess.Popen[bytes]:
        """Start `syndicate <args>`."""
        return self.start_raw(*SYNDICATE, *args, log=log)

    def start_raw(self, *argv: str, log: str) -> subprocess.Popen[bytes]:
        """Start any command (``celery`` resolves to this interpreter's script)."""
        if argv[0] == "celery":
            argv = (str(Path(sys.executable).with_name("celery")), *argv[1:])
        path = self.workdir / f"{log}.log"
        self.logs.append(path)
        fh = path.open("ab")
        proc = subprocess.Popen(
            list(argv),
            cwd=self.workdir,
            env=self.env,
            stdout=fh,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.running.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        proc.wait(30)

    def stop_all(self) -> None:
        for proc in self.running:
            if proc.poll() is None:
                self.kill(proc)

    def dump_logs(self) -> str:
        return "\n".join(f"--- {p.name}\n{p.read_text()[-4000:]}" for p in self.logs)


@pytest.fixture
def e2e_redis(redis_url: str) -> Iterator[str]:
    """A Redis database of the e2e tests' own, empty at the start (broker and store)."""
    url = redis_url.rsplit("/", 1)[0] + f"/{E2E_REDIS_DB}"
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield url
    client.flushdb()
    client.close()


@pytest.fixture
def procs(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Procs]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SYNDICATE_", "REDIS_URL"))}
    env["PYTHONPATH"] = str(Path(__file__).resolve().parents[2])
    env["SYNDICATE_LOG__FORMAT"] = "json"
    p = Procs(tmp_path, env)
    yield p
    p.stop_all()
    if getattr(request.node, "rep_failed", False):
        print(p.dump_logs())


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call" and report.failed:
        item.rep_failed = True  # type: ignore[attr-defined]


def wait_for(
    check: Callable[[], bool], timeout: float, what: str, procs: Procs | None = None
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    logs = procs.dump_logs() if procs else ""
    raise AssertionError(f"timed out after {timeout}s waiting for {what}\n{logs}")


def jsonl_ids(path: Path) -> list[str]:
    if not path.exists():
        return []
    lines = path.read_text().splitlines()
    return [json.loads(line)["id"] for line in lines if line.endswith("}")]
