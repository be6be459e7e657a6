"""A small feed server on 127.0.0.1: fixed documents with ETag and Last-Modified,
answering conditional requests with 304. The demo and the tests both use it."""

from __future__ import annotations

import gzip
import hashlib
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Resource:
    body: bytes
    content_type: str = "application/rss+xml; charset=utf-8"
    status: int = 200
    headers: tuple[tuple[str, str], ...] = ()
    # Seconds since the epoch, for Last-Modified.
    modified: float = 0.0

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:16] + '"'


Route = Resource | Callable[[], Resource]


class FeedServer:
    """``server.routes[path] = Resource(...)``; ``server.url(path)`` to reach it."""

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: Counter[str] = Counter()
        self.conditional_hits: Counter[str] = Counter()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                server._serve(self)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer((host, port), Handler)
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self.httpd.server_address[1])

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def start(self) -> FeedServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> FeedServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _serve(self, req: BaseHTTPRequestHandler) -> None:
        path = req.path.split("?", 1)[0]
        self.hits[path] += 1
        route = self.routes.get(path)
        if route is None:
            self._send(req, 404, b"not found", [("Content-Type", "text/plain")])
            return
        res = route() if callable(route) else route
        headers = [("ETag", res.etag), *res.headers]
        if res.modified:
            headers.append(("Last-Modified", formatdate(res.modified, usegmt=True)))
        if res.status == 200 and (
            req.headers.get("If-None-Match") == res.etag
            or (
                res.modified
                and req.headers.get("If-Modified-Since") == dict(headers).get("Last-Modified")
            )
        ):
            self.conditional_hits[path] += 1
            self._send(req, 304, b"", headers)
            return
        body = res.body
        if "gzip" in (req.headers.get("Accept-Encoding") or "") and len(body) > 512:
            body = gzip.compress(body, compresslevel=5)
            headers.append(("Content-Encoding", "gzip"))
        self._send(req, res.status, body, [("Content-Type", res.content_type), *headers])

    @staticmethod
    def _send(
        req: BaseHTTPRequestHandler, status: int, body: bytes, headers: list[tuple[str, str]]
    ) -> None:
        req.send_response(status)
        for name, value in headers:
            req.send_header(name, value)
        req.send_header("Content-Length", str(len(body)))
        req.end_headers()
        if body and req.command != "HEAD":
            req.wfile.write(body)
