"""Pure decision code: bytes and dataclasses in, dataclasses out.

Nothing in this package opens a socket, reads a clock or imports celery, redis or httpx;
``now`` is always passed in.
"""
