"""Fixtures shared by the integration tests."""

from __future__ import annotations

import pytest


@pytest.fixture(params=["sqlite", "redis"])
def store_env(request: pytest.FixtureRequest) -> dict[str, str]:
    """The environment that puts a runtime's store on SQLite (none) or on the test Redis
    under a prefix of its own."""
    if request.param == "redis":
        return {
            "REDIS_URL": request.getfixturevalue("redis_url"),
            "SYNDICATE_STORE__PREFIX": request.getfixturevalue("prefix"),
        }
    return {}
