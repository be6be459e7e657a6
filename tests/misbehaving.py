"""A raw-socket HTTP server on 127.0.0.1 that misbehaves on purpose, path by path.

Behaviours: slow-drip body, slow headers, endless body, gzip/deflate/brotli bombs, a huge
Content-Length, redirects (loops, chains, to any address), 429 and 503 with Retry-After,
a 503 that flaps, 410, a wrong Content-Length, a connection reset mid-body. Each request's
headers are recorded in ``server.requests`` (path, headers) for the tests to inspect.
"""

from __future__ import annotations

import gzip
import itertools
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable

import brotli

Behaviour = Callable[[socket.socket], None]


def _headers(status: str, headers: list[tuple[str, str]]) -> bytes:
    lines = [f"HTTP/1.1 {status}", *(f"{k}: {v}" for k, v in headers), "", ""]
    return "\r\n".join(lines).encode()


def slow_body(total: int = 200, every: float = 0.5) -> Behaviour:
    def run(conn: socket.socket) -> None:
        conn.sendall(
            _headers(
                "200 OK", [("Content-Length", str(total)), ("Content-Type", "application/rss+xml")]
            )
        )
        for _ in range(total):
            conn.sendall(b"x")
            time.sleep(every)

    return run


def slow_headers(every: float = 0.5) -> Behaviour:
    def run(conn: socket.socket) -> None:
        for byte in _headers("200 OK", [("Content-Length", "0")]):
            conn.sendall(bytes([byte]))
            time.sleep(every)

    return run


def endless_body() -> Behaviour:
    def run(conn: socket.socket) -> None:
        conn.sendall(
            _headers(
                "200 OK",
                [("Content-Type", "application/rss+xml"), ("Transfer-Encoding", "chunked")],
            )
        )
        chunk = b"<item>" * 1000
        while True:
            conn.sendall(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")

    return run


_BOMBS: dict[tuple[str, int], bytes] = {}


def bomb(encoding: str = "gzip", inflated: int = 1 << 30) -> Behaviour:
    """A body of ``inflated`` zero bytes compressed (1 GiB is ~1 MB gzip, ~1 KB brotli)."""

    def payload() -> bytes:
        key = (encoding, inflated)
        if key not in _BOMBS:
            block = b"\0" * (1 << 20)
            if encoding == "br":
                b = brotli.Compressor(quality=5)
                parts = [b.process(block) for _ in range(inflated >> 20)]
                _BOMBS[key] = b"".join(parts) + b.finish()
            else:
                c = zlib.compressobj(9, zlib.DEFLATED, 31 if encoding == "gzip" else 15)
                parts = [c.compress(block) for _ in range(inflated >> 20)]
                _BOMBS[key] = b"".join(parts) + c.flush()
        return _BOMBS[key]

    # Compressed here, before the client's clock starts: deflating 1 GiB takes seconds,
    # over ten on a loaded machine, and inside the request the client timed out first.
    body = payload()

    def run(conn: socket.socket) -> None:
        conn.sendall(
            _headers("200 OK", [("Content-Encoding", encoding), ("Content-Length", str(len(body)))])
            + body
        )

    return run


def huge_content_length() -> Behaviour:
    def run(conn: socket.socket) -> None:
        conn.sendall(_headers("200 OK", [("Content-Length", str(50 << 30))]))
        time.sleep(2)

    return run


def redirect(location: str, status: str = "302 Found") -> Behaviour:
    def run(conn: socket.socket) -> None:
        conn.sendall(_headers(status, [("Location", location), ("Content-Length", "0")]))

    return run


def respond(
    body: bytes,
    status: str = "200 OK",
    headers: list[tuple[str, str]] | None = None,
    gzip_body: bool = False,
    encoding: str | None = None,
) -> Behaviour:
    def run(conn: socket.socket) -> None:
        chosen = "gzip" if gzip_body else encoding
        data = {"gzip": gzip.compress, "br": brotli.compress, "deflate": zlib.compress}.get(
            chosen or "", lambda b: b
        )(body)
        extra = [("Content-Encoding", chosen)] if chosen else []
        conn.sendall(
            _headers(status, [("Content-Length", str(len(data))), *extra, *(headers or [])]) + data
        )

    return run


def throttled(retry_after: str, status: str = "429 Too Many Requests") -> Behaviour:
    """429 (or 503) with a Retry-After in either form."""
    return respond(b"slow down", status, [("Retry-After", retry_after)])


def flapping(good: Behaviour, bad: Behaviour | None = None) -> Behaviour:
    """Alternates: a 503 first, then ``good``, then 503 again..."""
    bad = bad or respond(b"busy", "503 Service Unavailable")
    turns = itertools.cycle([bad, good])
    lock = threading.Lock()

    def run(conn: socket.socket) -> None:
        with lock:
            behaviour = next(turns)
        behaviour(conn)

    return run


def wrong_content_length(declared: int, sent: bytes) -> Behaviour:
    """Declares ``declared`` bytes, sends ``sent``, then closes the connection."""

    def run(conn: socket.socket) -> None:
        conn.sendall(
            _headers(
                "200 OK",
                [("Content-Length", str(declared)), ("Content-Type", "application/rss+xml")],
            )
            + sent
        )

    return run


def reset_mid_body(sent: bytes = b"<rss><channel><title>half", declared: int = 5000) -> Behaviour:
    """Sends part of the body, then resets the connection (RST, not FIN)."""

    def run(conn: socket.socket) -> None:
        conn.sendall(_headers("200 OK", [("Content-Length", str(declared))]) + sent)
        time.sleep(0.05)
        conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    return run


def redirect_chain(
    prefix: str, hops: int, final: str, status: str = "301 Moved Permanently"
) -> dict[str, Behaviour]:
    """Routes ``prefix0 -> prefix1 -> ... -> final``, each hop a redirect of ``status``."""
    routes = {f"{prefix}{n}": redirect(f"{prefix}{n + 1}", status) for n in range(hops)}
    routes[f"{prefix}{hops - 1}"] = redirect(final, status)
    return routes


class MisbehavingServer:
    def __init__(self) -> None:
        self.routes: dict[str, Behaviour] = {}
        self.requests: list[tuple[str, dict[str, str]]] = []
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def __enter__(self) -> MisbehavingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.sock.close()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            try:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(4096)
                    if not chunk:
                        return
                    data += chunk
                head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
                path = head[0].split(" ", 2)[1]
                fields = dict(line.split(":", 1) for line in head[1:] if ":" in line)
                self.requests.append(
                    (path, {k.strip().lower(): v.strip() for k, v in fields.items()})
                )
                behaviour = self.routes.get(path, respond(b"not found", "404 Not Found"))
                behaviour(conn)
            except OSError:
                pass
