"""The per-host politeness limiter port and its implementations."""

from worker.adapters.limiter.base import Grant, HostBudget, HostLimiter, host_key, open_limiter

__all__ = ["Grant", "HostBudget", "HostLimiter", "host_key", "open_limiter"]
