"""The batch feed fetcher on aiohttp: the guarded client's policy on an event loop.

Polling a batch of feeds is most of the fetch stage's CPU. Measured here against the
feed farm, aiohttp spends 0.10-0.17 ms of CPU per request where httpx on threads spends
about 0.8 ms (docs/decisions/0008-aiohttp-batch-fetcher.md), so ``fetch_many`` runs on
aiohttp. Everything else (single fetches, article pages, webhooks) stays on httpx
(``GuardedClient``). Both transports keep the same promises and pass the same tests:

* a total deadline per request, redirects included (``asyncio.timeout``);
* decoded bytes capped, decompressed by the same bounded decoders (aiohttp's own
  decompression is off);
* redirects followed by hand, http(s) only, the feed's headers to its origin only;
* every address a host resolves to is vetted before connecting, and aiohttp connects to
  exactly the vetted addresses; IP literals (which aiohttp does not resolve) are vetted
  directly. No cookie jar: one feed's cookies never reach another.

The event loop runs in one daemon thread per fetcher, so the synchronous pipeline can
call ``fetch_many`` from a Celery task.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
import time
from collections.abc import Coroutine, Sequence
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult

from worker.adapters.http import (
    DECODE_STEP,
    AddressCheck,
    AddressRefused,
    CappedBody,
    ClientPolicy,
    RequestPlan,
    Resolver,
    _check_url,
    _error,
    _reason,
    address_problem,
    redirect_target,
    response_result,
    system_resolver,
    vet_addresses,
)
from worker.core.errors import FeedError, FetchConnectError, FetchRefused, FetchTimeout
from worker.core.http_policy import REDIRECTS, interpret
from worker.core.models import FetchRequest, FetchResult

T = TypeVar("T")


class _VettingResolver(AbstractResolver):
    """Resolves with the given resolver (in a thread: getaddrinfo blocks) and refuses
    hosts with any non-public address unless private networks are allowed."""

    def __init__(self, resolver: Resolver, check: AddressCheck, allow_private: bool) -> None:
        self._resolver = resolver
        self._check = check
        self._allow_private = allow_private

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        loop = asyncio.get_running_loop()
        try:
            addresses = await loop.run_in_executor(None, self._resolver, host, port)
        except OSError as exc:
            raise OSError(f"cannot resolve {host}: {exc}") from exc
        if not addresses:
            raise OSError(f"cannot resolve {host}: no addresses")
        if not self._allow_private:
            vet_addresses(host, addresses, self._check)
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
            for address in addresses
        ]

    async def close(self) -> None:
        return None


class AsyncFetcher:
    def __init__(
        self,
        policy: ClientPolicy,
        resolver: Resolver = system_resolver,
        address_check: AddressCheck = address_problem,
    ) -> None:
        self.policy = policy
        self._resolver = resolver
        self._check = address_check
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="aiofetch", daemon=True)
        self._thread.start()
        self._session: aiohttp.ClientSession | None = self._run(self._open())

    async def _open(self) -> aiohttp.ClientSession:
        connector = aiohttp.TCPConnector(
            limit=self.policy.concurrency * 2,
            limit_per_host=0,  # per-host politeness is the HostLimiter's job
            resolver=_VettingResolver(
                self._resolver, self._check, self.policy.allow_private_networks
            ),
            # Resolve (and vet) for every new connection, as the httpx transport does.
            use_dns_cache=False,
            enable_cleanup_closed=True,
        )
        return aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            cookie_jar=aiohttp.DummyCookieJar(),
            headers={"User-Agent": self.policy.user_agent},
            timeout=aiohttp.ClientTimeout(total=None),
        )

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result()

    def close(self) -> None:
        if self._session is not None:
            self._run(self._session.close())
            self._session = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)

    def fetch_many(self, requests: Sequence[FetchRequest], now: float) -> list[FetchResult]:
        """Every request ends as a ``FetchResult`` (never an exception), in input order."""
        return self._run(self._many(requests, now))

    def fetch(self, request: FetchRequest, now: float) -> FetchResult:
        return self.fetch_many([request], now)[0]

    async def _many(self, requests: Sequence[FetchRequest], now: float) -> list[FetchResult]:
        gate = asyncio.Semaphore(self.policy.concurrency)

        async def one(request: FetchRequest) -> FetchResult:
            async with gate:
                return await self._guarded(request, now)

        return list(await asyncio.gather(*(one(r) for r in requests)))

    async def _guarded(self, request: FetchRequest, now: float) -> FetchResult:
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.policy.timeout):
                return await self._fetch(request, now, started)
        except TimeoutError:
            exc: FeedError = FetchTimeout(
                request.feed_id, f"no complete answer within {self.policy.timeout:g}s"
            )
        except FeedError as error:
            exc = error
        return _error(request, exc, started)

    async def _fetch(self, request: FetchRequest, now: float, started: float) -> FetchResult:
        feed = request.feed_id
        plan = RequestPlan.of(request)
        url = request.url
        hops: list[tuple[int, str]] = []
        for _hop in range(self.policy.max_redirects + 1):
            _check_url(feed, url)
            self._vet_literal(feed, url)
            response = await self._send(feed, url, plan.headers_for(url))
            try:
                status = response.status
                if status in REDIRECTS:
                    url = redirect_target(feed, url, status, response.headers.get("Location"))
                    hops.append((status, url))
                    continue
                body = b""
                if interpret(status, None, now).meaning == "ok":
                    body = await self._read_body(feed, response)
                return response_result(
                    request,
                    url=url,
                    status=status,
                    header=response.headers.get,
                    body=body,
                    hops=hops,
                    now=now,
                    started=started,
                )
            finally:
                response.release()
        raise FetchRefused(feed, f"more than {self.policy.max_redirects} redirects (last to {url})")

    def _vet_literal(self, feed: str, url: str) -> None:
        """aiohttp connects to an IP literal without asking the resolver, and yarl refuses
        the other numeric spellings C resolvers accept (2130706433, 0x7f000001, 127.1):
        vet every numeric host here, so both transports refuse them for the same reason."""
        if self.policy.allow_private_networks:
            return
        host = (urlsplit(url).hostname or "").split("%")[0]
        try:
            address = str(ipaddress.ip_address(host))
        except ValueError:
            try:
                address = socket.inet_ntoa(socket.inet_aton(host))
            except OSError:
                return  # a name: the resolver vets what it resolves to
        try:
            vet_addresses(host, [address], self._check)
        except AddressRefused as exc:
            raise FetchRefused(feed, f"refused address: {exc}") from exc

    async def _send(self, feed: str, url: str, headers: dict[str, str]) -> aiohttp.ClientResponse:
        assert self._session is not None
        for attempt in (1, 2):
            try:
                return await self._session.get(url, headers=headers, allow_redirects=False)
            except AddressRefused as exc:
                raise FetchRefused(feed, f"refused address: {exc}") from exc
            except (aiohttp.InvalidURL, ValueError) as exc:
                raise FetchRefused(feed, f"invalid URL {url[:200]}: {_reason(exc)}") from exc
            except aiohttp.ClientConnectorError as exc:
                # aiohttp's own message loses the resolver's words; the OSError keeps them.
                reason = str(exc.os_error) or _reason(exc)
                raise FetchConnectError(feed, f"cannot connect to {exc.host}: {reason}") from exc
            except aiohttp.ServerDisconnectedError as exc:
                # A kept-alive connection the server had closed: a GET is safe to send
                # once more, on a fresh connection, within the same total deadline.
                if attempt == 2:
                    raise FetchConnectError(feed, _reason(exc)) from exc
            except (aiohttp.ClientError, OSError) as exc:
                raise FetchConnectError(feed, _reason(exc)) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def _read_body(self, feed: str, response: aiohttp.ClientResponse) -> bytes:
        # aiohttp's headers are case-insensitive: the lowercase lookups CappedBody makes work.
        body = CappedBody(feed, response.headers.get, self.policy.max_bytes)
        try:
            async for chunk in response.content.iter_chunked(DECODE_STEP):
                body.add(chunk)
        except (aiohttp.ClientError, OSError) as exc:
            raise FetchConnectError(feed, f"body interrupted: {_reason(exc)}") from exc
        return body.finish()
