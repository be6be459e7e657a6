"""The broker guard in worker/celery_app.py, against the real Redis."""

from __future__ import annotations

import pytest
import redis
from kombu import Connection

import worker.celery_app  # noqa: F401  (applies the guard)


def test_a_released_connections_channel_raises_a_connection_error(redis_url):
    """Touching the channel of a broker connection kombu already released (closing it,
    acknowledging through it) raises a connection error, which Celery handles, instead
    of the AttributeError that stopped workers after a Redis restart."""
    conn = Connection(redis_url)
    channel = conn.channel()
    channel.qos.append(_FakeMessage(), 1)
    # What kombu 5.7.0 does on a lost connection: the transport is released, and the
    # channel's pools are dropped when it is closed afterwards.
    conn.release()
    channel._disconnect_pools()
    with pytest.raises(redis.ConnectionError):
        channel.qos.restore_unacked()
    with pytest.raises(redis.ConnectionError):
        channel.qos.ack(1)
    assert issubclass(redis.ConnectionError, conn.connection_errors)


class _FakeMessage:
    _raw = b'{"headers": {}, "properties": {}}'
    delivery_info = {"exchange": "", "routing_key": "x"}  # noqa: RUF012
