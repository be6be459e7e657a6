"""docker-compose.yml cannot run here (no Docker engine), so it is checked statically."""

from __future__ import annotations

from pathlib import Path

import click
import yaml

from worker.cli import main
from worker.settings import load_settings

ROOT = Path(__file__).resolve().parents[1]


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_every_service_command_is_a_real_cli_command_with_valid_options():
    """Each syndicate service runs a command of ours whose options click accepts."""
    services = compose()["services"]
    ours = {n: s for n, s in services.items() if n != "redis"}
    assert {"beat", "worker-fetch", "worker-parse", "worker-publish"} <= set(ours)
    for name, service in ours.items():
        command = service["command"]
        sub = main.commands.get(command[0])
        assert sub is not None, f"{name}: {command[0]!r} is not a syndicate command"
        try:
            sub.make_context(command[0], list(command[1:]))
        except click.UsageError as exc:  # pragma: no cover - the assertion message
            raise AssertionError(f"{name}: {exc}") from exc


def test_one_worker_service_per_queue():
    """The fetch, parse and publish queues each have a worker service of their own."""
    queues = []
    for service in compose()["services"].values():
        cmd = service.get("command", [])
        if cmd and cmd[0] == "worker":
            queues.append(cmd[cmd.index("--queues") + 1])
    assert sorted(queues) == ["fetch", "parse", "publish"]


def test_redis_persists_with_aof_and_never_evicts():
    """Redis runs with appendonly on and maxmemory-policy noeviction, on a volume."""
    redis = compose()["services"]["redis"]
    args = redis["command"]
    assert args[args.index("--appendonly") + 1] == "yes"
    assert args[args.index("--maxmemory-policy") + 1] == "noeviction"
    assert any(v.endswith(":/data") for v in redis["volumes"])


def test_services_share_redis_and_mount_the_config():
    """Workers and beat get REDIS_URL, and config/ mounted where SYNDICATE_CONFIG points."""
    doc = compose()
    for name, service in doc["services"].items():
        if name == "redis":
            continue
        env = service["environment"]
        assert env["REDIS_URL"].startswith("redis://redis:")
        mount = next(v for v in service["volumes"] if v.startswith("./config:"))
        target = mount.split(":")[1]
        assert env["SYNDICATE_CONFIG"].startswith(target + "/")


def test_the_shipped_config_is_valid():
    """config/syndicate.toml, as shipped, passes validation with real public feeds."""
    settings = load_settings(ROOT / "config" / "syndicate.toml", {})
    assert len(settings.feeds) >= 3
    assert all(f.url.startswith("https://") for f in settings.feeds)


def test_every_service_has_a_healthcheck_that_runs_syndicate_health():
    """Each syndicate service is checked by `syndicate health` with options click accepts;
    beat checks beat liveness, each worker the queue it consumes, publish the sinks."""
    services = compose()["services"]
    assert services["redis"]["healthcheck"]["test"][:2] == ["CMD", "redis-cli"]
    health = main.commands["health"]
    for name, service in services.items():
        if name == "redis":
            continue
        test = service["healthcheck"]["test"]
        assert test[:3] == ["CMD", "syndicate", "health"], name
        ctx = health.make_context("health", list(test[3:]))
        checks = set(ctx.params["checks"])
        assert "store" in checks, name
        command = service["command"]
        if command[0] == "beat":
            assert "beat" in checks
        else:
            queue = command[command.index("--queues") + 1]
            assert "queues" in checks and ctx.params["queues"] == queue, name
            assert "broker" in checks
            assert ("sinks" in checks) == (queue == "publish"), name


def test_workers_serve_metrics():
    """Every worker service serves Prometheus metrics (--metrics-port)."""
    for name, service in compose()["services"].items():
        command = service.get("command", [])
        if command and command[0] == "worker":
            assert "--metrics-port" in command, name
