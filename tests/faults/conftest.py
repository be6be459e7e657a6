"""Fault tests reuse the end-to-end process fixtures."""

from tests.e2e.conftest import e2e_redis, procs, pytest_runtest_makereport

__all__ = ["e2e_redis", "procs", "pytest_runtest_makereport"]
