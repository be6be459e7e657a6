"""The guarded HTTP client: every outgoing request goes through it.

What it guarantees, whatever the server does:

* **A total deadline** per request (connect, TLS, headers, body and every redirect hop).
  httpx's own timeouts apply per socket operation, so a server dripping one byte a second
  never trips them; here every socket read and write is clamped to the time left.
* **A cap on decoded bytes.** A too-large Content-Length is refused before reading; the
  body is decompressed by us (gzip, deflate, and brotli with its output-limited
  decoder), in bounded steps, and reading stops at the cap, so a bomb never inflates
  beyond it.
* **Redirects by hand**, at most ``max_redirects``, http(s) only, every hop's address
  checked. Credentials and per-feed headers go to the feed's own origin only, never to
  another host a redirect points at.
* **Public addresses only** unless allowed: the host is resolved by us, every address is
  checked (:func:`address_problem`), and the socket connects to exactly the address that
  was checked, so a second DNS answer (rebinding) cannot slip a private address in.
* **Basic auth from the environment**: a feed's ``auth_env`` names a variable holding
  ``user:password``; it is read at request time and never logged or stored.
"""

from __future__ import annotations

import base64
import contextvars
import ipaddress
import os
import socket
import ssl
import time
import zlib
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from urllib.parse import urljoin, urlsplit

import brotli
import httpcore
import httpx
from httpcore._backends.sync import SyncStream

from worker.core.errors import (
    FeedError,
    FetchConnectError,
    FetchRefused,
    FetchTimeout,
)
from worker.core.http_policy import (
    REDIRECTS,
    RESERVED_HEADERS,
    cache_lifetime,
    interpret,
    permanent_target,
)
from worker.core.models import FetchRequest, FetchResult

ACCEPT_FEEDS = (
    "application/rss+xml, application/atom+xml, application/feed+json, "
    "application/xml;q=0.9, text/xml;q=0.9, application/json;q=0.8, */*;q=0.5"
)
# Only encodings we decode with a bounded decoder are offered. brotli's Decompressor
# takes an output limit (``output_buffer_limit``) since brotli 1.2.
ACCEPT_ENCODING = "gzip, deflate, br"
# Each decoder call returns at most about this much, so the cap is checked often.
DECODE_STEP = 64 * 1024
T = TypeVar("T")
R = TypeVar("R")
_deadline: contextvars.ContextVar[float] = contextvars.ContextVar("deadline", default=0.0)

Resolver = Callable[[str, int], Sequence[str]]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Why an address may not be connected to (None: it may). Tests substitute their own.
AddressCheck = Callable[[IPAddress], str | None]


class AddressRefused(Exception):
    """The destination resolves to an address the policy does not allow."""

    def __init__(self, host: str, address: str, why: str) -> None:
        super().__init__(f"{host} resolves to {address} ({why})")
        self.host, self.address, self.why = host, address, why


class DeadlineExceeded(Exception):
    pass


def _remaining() -> float:
    deadline = _deadline.get()
    if not deadline:
        return 3600.0
    left = deadline - time.monotonic()
    if left <= 0:
        raise DeadlineExceeded
    return left


# Networks that carry an IPv4 address in their last 32 bits: NAT64 (RFC 6052, and the
# local-use prefix of RFC 8215) and the deprecated IPv4-compatible form (::a.b.c.d).
_EMBEDDING_V4 = (
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("64:ff9b:1::/48"),
    ipaddress.IPv6Network("::/96"),
)
_CGNAT = ipaddress.IPv4Network("100.64.0.0/10")
_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")


def address_problem(ip: IPAddress) -> str | None:
    """Why ``ip`` is not a public unicast address, or None if it is.

    IPv6 forms that embed an IPv4 address (IPv4-mapped ``::ffff:a.b.c.d``, NAT64
    ``64:ff9b::a.b.c.d``, IPv4-compatible ``::a.b.c.d``, 6to4 ``2002:aabb:ccdd::``) are
    judged by the address they embed; Teredo tunnels are refused outright.
    """
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.scope_id:
            return "scoped (link-local) address"
        if ip.teredo is not None:
            return "Teredo tunnel address"
        embedded = ip.ipv4_mapped or ip.sixtofour
        if embedded is None and int(ip) > 1:
            for net in _EMBEDDING_V4:
                if ip in net:
                    embedded = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
                    break
        if embedded is not None:
            inner = address_problem(embedded)
            return f"embeds {embedded}: {inner}" if inner else None
    checks = (
        ("unspecified", ip.is_unspecified),
        ("loopback", ip.is_loopback),
        ("link-local", ip.is_link_local),
        ("multicast", ip.is_multicast),
        ("shared address space (CGNAT)", isinstance(ip, ipaddress.IPv4Address) and ip in _CGNAT),
        ("this network", isinstance(ip, ipaddress.IPv4Address) and ip in _THIS_NETWORK),
        ("private", ip.is_private),
        ("reserved", ip.is_reserved),
        ("not globally routable", not ip.is_global),
    )
    return next((name for name, hit in checks if hit), None)


def vet_addresses(host: str, addresses: Iterable[str], check: AddressCheck) -> None:
    """Raise ``AddressRefused`` if any address ``host`` resolved to may not be reached.

    All of them are checked, not just the first: the connection may fall back to any."""
    for address in addresses:
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            raise AddressRefused(host, address, "not an IP address") from None
        why = check(ip)
        if why:
            raise AddressRefused(host, address, why)


def system_resolver(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class _DeadlineStream(httpcore.NetworkStream):
    """A socket stream whose every operation ends by the request's deadline."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clamp(timeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamp(timeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        inner = self._inner.start_tls(ssl_context, server_hostname, _clamp(timeout))
        return _DeadlineStream(inner)

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


def _clamp(timeout: float | None) -> float:
    try:
        left = _remaining()
    except DeadlineExceeded:
        raise httpcore.ReadTimeout("total deadline exceeded") from None
    return left if timeout is None else min(timeout, left)


class GuardedBackend(httpcore.NetworkBackend):
    """Resolves, checks and connects to exactly the checked address."""

    def __init__(
        self,
        *,
        allow_private: bool,
        resolver: Resolver = system_resolver,
        address_check: AddressCheck = address_problem,
    ) -> None:
        self.allow_private = allow_private
        self.resolver = resolver
        self.address_check = address_check

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        try:
            addresses = self.resolver(host, port)
        except OSError as exc:
            raise httpcore.ConnectError(f"cannot resolve {host}: {exc}") from exc
        if not addresses:
            raise httpcore.ConnectError(f"cannot resolve {host}: no addresses")
        if not self.allow_private:
            vet_addresses(host, addresses, self.address_check)
        last: Exception | None = None
        for address in addresses:
            try:
                sock = socket.create_connection((address, port), timeout=_clamp(timeout))
            except TimeoutError as exc:
                raise httpcore.ConnectTimeout(f"connect to {host} timed out") from exc
            except OSError as exc:
                last = exc
                continue
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            for option in socket_options or ():
                sock.setsockopt(*option)
            return _DeadlineStream(SyncStream(sock))
        raise httpcore.ConnectError(f"cannot connect to {host}: {last}")

    def sleep(self, seconds: float) -> None:  # pragma: no cover - used by httpcore retries only
        time.sleep(seconds)


@dataclass(frozen=True, slots=True)
class ClientPolicy:
    timeout: float = 30.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 5
    allow_private_networks: bool = False
    user_agent: str = "syndicate-worker"
    concurrency: int = 32


class BodyTooLarge(Exception):
    pass


class GuardedClient:
    """One shared connection pool; ``fetch_many`` polls feeds concurrently on threads."""

    def __init__(
        self,
        policy: ClientPolicy,
        resolver: Resolver = system_resolver,
        address_check: AddressCheck = address_problem,
    ) -> None:
        self.policy = policy
        transport = httpx.HTTPTransport(retries=0)
        # Swap in a pool whose sockets come from the guarded backend.
        transport._pool = httpcore.ConnectionPool(
            ssl_context=httpx.create_ssl_context(),
            max_connections=policy.concurrency * 2,
            max_keepalive_connections=policy.concurrency * 2,
            keepalive_expiry=30.0,
            network_backend=GuardedBackend(
                allow_private=policy.allow_private_networks,
                resolver=resolver,
                address_check=address_check,
            ),
        )
        self._client = httpx.Client(
            transport=transport,
            follow_redirects=False,
            timeout=httpx.Timeout(policy.timeout),
            headers={"User-Agent": policy.user_agent},
        )
        self._pool = ThreadPoolExecutor(max_workers=policy.concurrency, thread_name_prefix="fetch")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._client.close()

    def fetch_many(self, requests: Sequence[FetchRequest], now: float) -> list[FetchResult]:
        """Every request ends as a ``FetchResult`` (never an exception), in input order."""
        return self.map(lambda r: self.fetch(r, now), requests)

    def map(self, fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
        """``fn`` over ``items`` on the client's threads, results in input order."""
        return list(self._pool.map(fn, items))

    def fetch(self, request: FetchRequest, now: float) -> FetchResult:
        started = time.monotonic()
        token = _deadline.set(started + self.policy.timeout)
        try:
            return self._fetch(request, now, started)
        except FeedError as exc:
            return _error(request, exc, started)
        finally:
            _deadline.reset(token)

    def _fetch(self, request: FetchRequest, now: float, started: float) -> FetchResult:
        feed = request.feed_id
        plan = RequestPlan.of(request)
        url = request.url
        hops: list[tuple[int, str]] = []
        for _hop in range(self.policy.max_redirects + 1):
            _check_url(feed, url)
            with self._send(feed, url, plan.headers_for(url)) as response:
                status = response.status_code
                if status in REDIRECTS:
                    url = redirect_target(feed, url, status, response.headers.get("location"))
                    hops.append((status, url))
                    continue
                body = b""
                if interpret(status, None, now).meaning == "ok":
                    body = self._read_body(feed, response)
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
        raise FetchRefused(feed, f"more than {self.policy.max_redirects} redirects (last to {url})")

    def _send(self, feed: str, url: str, headers: dict[str, str]) -> Any:
        try:
            request = self._client.build_request("GET", url, headers=headers)
            try:
                response = self._client.send(request, stream=True)
            except (httpx.ReadError, httpx.WriteError, httpx.RemoteProtocolError) as exc:
                if "location header" in str(exc).lower():
                    raise
                # A kept-alive connection the server had closed (or left garbage on):
                # a GET is safe to send once more, on a fresh connection, within the
                # same total deadline.
                response = self._client.send(request, stream=True)
        except AddressRefused as exc:
            raise FetchRefused(feed, f"refused address: {exc}") from exc
        except (httpx.InvalidURL, httpx.UnsupportedProtocol) as exc:
            raise FetchRefused(feed, f"invalid URL {url[:200]}: {_reason(exc)}") from exc
        except httpx.TimeoutException as exc:
            raise FetchTimeout(feed, f"no answer within {self.policy.timeout:g}s") from exc
        except httpx.RemoteProtocolError as exc:
            if "location header" in str(exc).lower():  # httpx parses Location itself
                raise FetchRefused(feed, f"redirect to an invalid URL: {_reason(exc)}") from exc
            raise FetchConnectError(feed, _reason(exc)) from exc
        except (httpx.TransportError, DeadlineExceeded) as exc:
            if isinstance(exc, DeadlineExceeded):
                raise FetchTimeout(feed, f"no answer within {self.policy.timeout:g}s") from exc
            raise FetchConnectError(feed, _reason(exc)) from exc
        return _Closing(response)

    def _read_body(self, feed: str, response: httpx.Response) -> bytes:
        body = CappedBody(feed, response.headers.get, self.policy.max_bytes)
        try:
            for chunk in response.iter_raw(DECODE_STEP):
                body.add(chunk)
        except httpx.TimeoutException as exc:
            raise FetchTimeout(feed, f"body not complete within {self.policy.timeout:g}s") from exc
        except httpx.TransportError as exc:
            raise FetchConnectError(feed, f"body interrupted: {_reason(exc)}") from exc
        return body.finish()

    def post(
        self, url: str, body: bytes, headers: dict[str, str], *, timeout: float, label: str
    ) -> tuple[int, dict[str, str]]:
        """One POST under the same guard (address policy, total deadline ``timeout``);
        redirects are not followed. Returns the status and the response headers
        (lowercase names); at most 64 KB of the reply body is read, then dropped.
        Raises ``FetchRefused``, ``FetchTimeout`` or ``FetchConnectError`` naming ``label``.
        """
        _check_url(label, url)
        token = _deadline.set(time.monotonic() + timeout)
        try:
            try:
                request = self._client.build_request(
                    "POST", url, content=body, headers=headers, timeout=timeout
                )
                response = self._client.send(request, stream=True)
            except AddressRefused as exc:
                raise FetchRefused(label, f"refused address: {exc}") from exc
            except (httpx.TimeoutException, DeadlineExceeded) as exc:
                raise FetchTimeout(label, f"no answer within {timeout:g}s") from exc
            except httpx.TransportError as exc:
                raise FetchConnectError(label, _reason(exc)) from exc
            try:
                read = 0
                for chunk in response.iter_raw(16384):  # lets the connection be reused
                    read += len(chunk)
                    if read > 65536:
                        break
            except (httpx.HTTPError, DeadlineExceeded):
                pass  # the status is what counts
            finally:
                response.close()
            return response.status_code, dict(response.headers)
        finally:
            _deadline.reset(token)


@dataclass(frozen=True, slots=True)
class RequestPlan:
    """The headers of one feed request: ours for every hop, the feed's own (extra
    headers, basic auth) only for hops to the feed's own origin."""

    base: dict[str, str]
    own: dict[str, str]
    url: str  # the feed's own URL: its origin is read only when a redirect leaves it

    @classmethod
    def of(cls, request: FetchRequest) -> RequestPlan:
        base = {"Accept": ACCEPT_FEEDS, "Accept-Encoding": ACCEPT_ENCODING}
        if request.etag:
            base["If-None-Match"] = request.etag
        if request.last_modified:
            base["If-Modified-Since"] = request.last_modified
        own = {k: v for k, v in request.headers if k.lower() not in RESERVED_HEADERS}
        if request.auth_env:
            own["Authorization"] = _basic_auth(request.feed_id, request.auth_env)
        return cls(base, own, request.url)

    def headers_for(self, url: str) -> dict[str, str]:
        # The first hop (every poll) asks for the request's own URL: no URL parsed (two
        # urlsplits were 5 % of the fetcher thread's warm samples).
        same = url == self.url or _origin(url) == _origin(self.url)
        if not same or not self.own:
            return self.base
        return {**self.base, **self.own}


def redirect_target(feed: str, url: str, status: int, location: str | None) -> str:
    """Where a redirect leads, resolved against the URL that answered it."""
    if not location:
        raise FetchRefused(feed, f"HTTP {status} redirect without Location")
    return urljoin(url, location.strip())


def response_result(
    request: FetchRequest,
    *,
    url: str,
    status: int,
    header: Callable[[str], str | None],
    body: bytes,
    hops: list[tuple[int, str]],
    now: float,
    started: float,
) -> FetchResult:
    """The final (non-redirect) response of a fetch as a ``FetchResult``; ``header``
    looks a response header up by lowercase name."""
    meaning = interpret(status, header("retry-after"), now)
    fine = meaning.meaning in ("ok", "not_modified")
    return FetchResult(
        feed_id=request.feed_id,
        url=request.url,
        status="ok" if meaning.meaning == "ok" else "not_modified" if fine else "error",
        http_status=status,
        final_url=url,
        body=body,
        content_type=header("content-type"),
        etag=header("etag"),
        last_modified=header("last-modified"),
        retry_after=meaning.retry_after,
        error_kind=None if fine else meaning.meaning,
        error=None if fine else _status_error(status, meaning.meaning),
        elapsed_ms=(time.monotonic() - started) * 1000,
        permanent_redirect=permanent_target(hops),
        cache_lifetime=cache_lifetime(
            header("cache-control"), header("expires"), header("date"), now
        )
        if fine
        else None,
    )


class CappedBody:
    """A response body decoded in bounded pieces and refused past ``cap`` decoded bytes;
    both transports read bodies through it. A too-large Content-Length is refused before
    any byte is read; ``header`` looks a response header up by lowercase name."""

    def __init__(self, feed: str, header: Callable[[str], str | None], cap: int) -> None:
        declared = (header("content-length") or "").strip()
        if declared.isascii() and declared.isdigit() and int(declared) > cap:
            raise FetchRefused(feed, f"Content-Length {declared} exceeds the {cap}-byte cap")
        self._feed = feed
        self._cap = cap
        self._decoder = _decoder(feed, header("content-encoding") or "")
        self._out = bytearray()

    def add(self, chunk: bytes) -> None:
        self._take(self._decoder.decode, chunk)

    def finish(self) -> bytes:
        self._take(lambda _: self._decoder.flush(), b"")
        return bytes(self._out)

    def _take(self, pieces: Callable[[bytes], Iterable[bytes]], chunk: bytes) -> None:
        try:
            for piece in pieces(chunk):
                self._out += piece
                if len(self._out) > self._cap:
                    raise FetchRefused(self._feed, f"body exceeds the {self._cap}-byte cap")
        except (zlib.error, brotli.error) as exc:
            raise FetchRefused(self._feed, f"corrupt compressed body: {_reason(exc)}") from exc


class _Closing:
    def __init__(self, response: httpx.Response) -> None:
        self.response = response

    def __enter__(self) -> httpx.Response:
        return self.response

    def __exit__(self, *exc: object) -> None:
        self.response.close()


class _Decoder(Protocol):
    """Turns raw body bytes into decoded pieces of at most about ``DECODE_STEP`` each."""

    def decode(self, data: bytes) -> Iterator[bytes]: ...

    def flush(self) -> Iterator[bytes]: ...


class _Identity:
    def decode(self, data: bytes) -> Iterator[bytes]:
        yield data

    def flush(self) -> Iterator[bytes]:
        return iter(())


class _Inflater:
    """gzip/zlib/raw-deflate decoding in pieces of at most ``DECODE_STEP`` bytes.

    Input the decompressor could not consume within the step waits in
    ``unconsumed_tail``; the caller checks its cap after every piece, so a bomb is never
    inflated beyond it.
    """

    def __init__(self, encoding: str) -> None:
        self._deflate = encoding == "deflate"
        # 47 = 32 + 15: accept a gzip or a zlib header
        self._d = zlib.decompressobj(15 if self._deflate else 47)
        self._first = True

    def decode(self, data: bytes) -> Iterator[bytes]:
        if self._first and data:
            self._first = False
            if self._deflate and data[0] & 0x0F != 8:
                # "deflate" is meant to be zlib-wrapped; some servers send it raw
                self._d = zlib.decompressobj(-15)
        pending = data
        while True:
            piece = self._d.decompress(pending, DECODE_STEP)
            pending = self._d.unconsumed_tail
            if piece:
                yield piece
            if not pending and len(piece) < DECODE_STEP:
                return

    def flush(self) -> Iterator[bytes]:
        yield from self.decode(b"")
        rest = self._d.flush(DECODE_STEP)
        if rest:
            yield rest


class _Unbrotli:
    """brotli decoding in bounded pieces: ``output_buffer_limit`` stops each call near
    ``DECODE_STEP`` and the decoder keeps the rest until asked again with no input."""

    def __init__(self) -> None:
        self._d = brotli.Decompressor()

    def decode(self, data: bytes) -> Iterator[bytes]:
        piece: bytes = self._d.process(data, output_buffer_limit=DECODE_STEP)
        if piece:
            yield piece
        while not self._d.can_accept_more_data():
            piece = self._d.process(b"", output_buffer_limit=DECODE_STEP)
            if piece:
                yield piece

    def flush(self) -> Iterator[bytes]:
        return iter(())


def _decoder(feed: str, encoding: str) -> _Decoder:
    """A bounded decoder for the Content-Encoding."""
    encoding = encoding.strip().lower()
    if encoding in ("", "identity"):
        return _Identity()
    if encoding in ("gzip", "x-gzip", "deflate"):
        return _Inflater("deflate" if encoding == "deflate" else "gzip")
    if encoding == "br":
        return _Unbrotli()
    raise FetchRefused(feed, f"unsupported Content-Encoding {encoding!r}")


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = None
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or ""), port or default


def _basic_auth(feed: str, variable: str) -> str:
    """``Basic ...`` from the environment variable holding ``user:password``."""
    value = os.environ.get(variable)
    if not value or ":" not in value:
        raise FetchRefused(
            feed, f"auth_env {variable} is not set to user:password in the environment"
        )
    return "Basic " + base64.b64encode(value.encode("utf-8")).decode("ascii")


def _status_error(status: int, meaning: str) -> str:
    names = {
        "throttled": "throttled",
        "server_error": "server error",
        "gone": "gone: the feed was removed for good",
        "client_error": "refused by the server",
    }
    return f"HTTP {status} ({names.get(meaning, meaning)})"


def _check_url(feed: str, url: str) -> None:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise FetchRefused(feed, f"refused scheme {parts.scheme!r} in {url}")
    if not parts.hostname:
        raise FetchRefused(feed, f"no host in {url}")


def _reason(exc: Exception) -> str:
    text = str(exc) or type(exc).__name__
    return text.splitlines()[0][:300]


def _error(request: FetchRequest, exc: FeedError, started: float) -> FetchResult:
    return FetchResult(
        feed_id=request.feed_id,
        url=request.url,
        status="error",
        error_kind=exc.kind,
        error=exc.reason,
        retry_after=getattr(exc, "retry_after", None),
        elapsed_ms=(time.monotonic() - started) * 1000,
    )
