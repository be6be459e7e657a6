"""The guarded client against a server that misbehaves on purpose.

Every test that talks to the server runs on both transports: httpx (``GuardedClient``,
single requests, pages, webhooks) and aiohttp (``AsyncFetcher``, batches of feeds)."""

from __future__ import annotations

import ipaddress
import resource
import time
from collections.abc import Iterator

import pytest

from tests import misbehaving as mb
from worker.adapters.aiofetch import AsyncFetcher
from worker.adapters.http import ClientPolicy, GuardedClient, address_problem, system_resolver
from worker.core.models import FetchRequest

NOW = 1_800_000_000.0
TRANSPORTS = {"httpx": GuardedClient, "aiohttp": AsyncFetcher}
# The transport under test; the `transport` fixture sets it for each test.
Client: type[GuardedClient] | type[AsyncFetcher] = GuardedClient


@pytest.fixture(params=sorted(TRANSPORTS))
def transport(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    made: list[GuardedClient | AsyncFetcher] = []
    cls = TRANSPORTS[request.param]

    def build(*args: object, **kwargs: object) -> GuardedClient | AsyncFetcher:
        made.append(cls(*args, **kwargs))  # type: ignore[arg-type]
        return made[-1]

    monkeypatch.setitem(globals(), "Client", build)
    yield request.param
    for c in made:
        c.close()


@pytest.fixture
def server(transport: str) -> Iterator[mb.MisbehavingServer]:
    with mb.MisbehavingServer() as s:
        yield s


def client(**policy: object) -> GuardedClient | AsyncFetcher:
    defaults: dict[str, object] = {
        "timeout": 2.0,
        "max_bytes": 1 << 20,
        "allow_private_networks": True,
        "concurrency": 4,
    }
    return Client(ClientPolicy(**{**defaults, **policy}))  # type: ignore[arg-type]


def fetch(c: GuardedClient | AsyncFetcher, url: str, **request: object):
    started = time.monotonic()
    result = c.fetch(FetchRequest(feed_id="feed-1", url=url, **request), NOW)  # type: ignore[arg-type]
    return result, time.monotonic() - started


def resolving(names: dict[str, list[str]]):
    """A resolver that answers ``names`` itself and leaves IP literals to the system."""

    def resolve(host: str, port: int) -> list[str]:
        if host in names:
            return names[host]
        return system_resolver(host, port)

    return resolve


def public(*addresses: str):
    """An address check that calls ``addresses`` public and judges the rest as usual."""

    def check(ip):
        return None if str(ip) in addresses else address_problem(ip)

    return check


@pytest.mark.parametrize("behaviour", ["slow_body", "slow_headers", "endless_body"])
def test_total_deadline_ends_slow_and_endless_responses(server, behaviour):
    """A drip-feeding or endless server is cut off at the total deadline, not per read."""
    server.routes["/x"] = {
        "slow_body": mb.slow_body(every=0.3),
        "slow_headers": mb.slow_headers(every=0.3),
        "endless_body": mb.endless_body(),
    }[behaviour]
    c = client(max_bytes=1 << 40 if behaviour == "endless_body" else 1 << 20)
    result, took = fetch(c, server.url("/x"))
    assert result.status == "error"
    assert result.error_kind == "timeout", result.error
    assert took < 2.0 + 1.0


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
def test_decompression_bomb_stops_at_the_cap_without_inflating(server, encoding):
    """A 1 GiB bomb is refused at the decoded-size cap; memory stays far below it."""
    server.routes["/bomb"] = mb.bomb(encoding)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result, _ = fetch(client(max_bytes=1 << 20, timeout=10), server.url("/bomb"))
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert result.status == "error" and result.error_kind == "refused"
    assert "exceeds the 1048576-byte cap" in (result.error or "")
    assert grown_mb < 64


def test_huge_content_length_is_refused_before_reading(server):
    """A declared 50 GiB body is refused at once, without waiting for it."""
    server.routes["/huge"] = mb.huge_content_length()
    result, took = fetch(client(), server.url("/huge"))
    assert result.error_kind == "refused" and "Content-Length" in (result.error or "")
    assert took < 1.0


def test_gzip_body_is_decoded(server):
    """A normal gzip response arrives decoded."""
    server.routes["/ok"] = mb.respond(b"<rss>" + b"a" * 5000 + b"</rss>", gzip_body=True)
    result, _ = fetch(client(), server.url("/ok"))
    assert result.status == "ok" and result.body.startswith(b"<rss>") and len(result.body) == 5011


def test_redirect_loop_ends_after_the_limit(server):
    """A redirect loop is refused after max_redirects hops."""
    server.routes["/loop"] = mb.redirect("/loop")
    result, _ = fetch(client(max_redirects=5), server.url("/loop"))
    assert result.error_kind == "refused" and "more than 5 redirects" in (result.error or "")


def test_redirect_to_another_scheme_is_refused(server):
    """A redirect to file:// (or any non-http scheme) is refused."""
    server.routes["/r"] = mb.redirect("file:///etc/passwd")
    result, _ = fetch(client(), server.url("/r"))
    assert result.error_kind == "refused" and "file" in (result.error or "")


def test_redirect_is_followed_and_final_url_recorded(server):
    """A relative redirect is followed and the final URL is reported."""
    server.routes["/old"] = mb.redirect("/new", "301 Moved Permanently")
    server.routes["/new"] = mb.respond(b"<rss/>")
    result, _ = fetch(client(), server.url("/old"))
    assert result.status == "ok" and result.final_url == server.url("/new")


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "2130706433", "0x7f000001", "127.1", "[::ffff:127.0.0.1]"]
)
def test_private_addresses_refused_by_default_in_any_spelling(server, host):
    """With the default policy, loopback in any spelling is refused before connecting."""
    server.routes["/x"] = mb.respond(b"<rss/>")
    url = f"http://{host}:{server.port}/x"
    result, _ = fetch(client(allow_private_networks=False), url)
    assert result.status == "error" and result.error_kind == "refused", result.error
    assert "refused address" in (result.error or "")


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.2/admin",
        "http://[::1]/",
        "http://10.0.0.1/",
        "http://100.64.0.1/",
    ],
)
def test_redirect_into_the_private_network_is_refused(server, target):
    """A public first hop cannot redirect to a private, link-local or loopback address."""
    server.routes["/r"] = mb.redirect(target)

    def only_the_test_server_is_public(ip):
        # 127.0.0.1 stands in for a public host here; everything else is judged as usual.
        return None if str(ip) == "127.0.0.1" else address_problem(ip)

    c = Client(
        ClientPolicy(timeout=2, allow_private_networks=False),
        address_check=only_the_test_server_is_public,
    )
    result, _ = fetch(c, server.url("/r"))
    assert result.status == "error" and result.error_kind == "refused", result.error
    assert "refused address" in (result.error or "")
    # and the same client does reach the "public" server itself
    server.routes["/ok"] = mb.respond(b"<rss/>")
    assert fetch(c, server.url("/ok"))[0].status == "ok"


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br"])
def test_every_offered_encoding_is_decoded(server, encoding):
    """gzip, deflate and brotli bodies arrive decoded, and all three are offered."""
    body = b"<rss>" + b"<item>story</item>" * 2000 + b"</rss>"
    server.routes["/enc"] = mb.respond(body, encoding=encoding)
    result, _ = fetch(client(), server.url("/enc"))
    assert result.status == "ok" and result.body == body
    sent = dict(server.requests)["/enc"]
    assert sent["accept-encoding"] == "gzip, deflate, br"
    assert "application/rss+xml" in sent["accept"] and "syndicate" in sent["user-agent"]


def test_a_corrupt_brotli_body_is_a_clear_refusal(server):
    """Bytes that are not brotli under Content-Encoding: br end as a named refusal."""
    server.routes["/bad"] = mb.respond(
        b"<rss>not compressed</rss>", headers=[("Content-Encoding", "br")]
    )
    result, _ = fetch(client(), server.url("/bad"))
    assert result.error_kind == "refused" and "corrupt compressed body" in (result.error or "")


def test_a_body_shorter_than_its_content_length_is_an_interrupted_body(server):
    """A server that promises 5000 bytes and closes after 20 gives a connection error."""
    server.routes["/short"] = mb.wrong_content_length(5000, b"<rss><channel></chan")
    result, took = fetch(client(), server.url("/short"))
    assert result.error_kind == "connect_error" and "body interrupted" in (result.error or "")
    assert took < 2.0


def test_a_body_longer_than_its_content_length_is_cut_and_the_client_recovers(server):
    """Extra bytes past Content-Length are never read as the body (httpx keeps the declared
    bytes; aiohttp refuses the garbled response with a named reason), nor break the next
    request."""
    server.routes["/long"] = mb.wrong_content_length(6, b"<rss/>GARBAGE HTTP/1.1 200 OK\r\n")
    server.routes["/ok"] = mb.respond(b"<rss>fine</rss>")
    c = client()
    result, _ = fetch(c, server.url("/long"))
    if result.status == "ok":
        assert result.body == b"<rss/>"
    else:
        assert result.error_kind == "connect_error" and "status line" in (result.error or "")
    assert fetch(c, server.url("/ok"))[0].body == b"<rss>fine</rss>"


def test_a_connection_reset_mid_body_is_a_connection_error(server):
    """An RST in the middle of the body ends the fetch at once with a named reason."""
    server.routes["/reset"] = mb.reset_mid_body()
    result, took = fetch(client(), server.url("/reset"))
    assert result.status == "error" and result.error_kind == "connect_error", result.error
    assert took < 2.0


@pytest.mark.parametrize(
    ("header", "expected"),
    [("120", 120.0), ("Tue, 14 Nov 2023 22:15:20 GMT", None)],
)
def test_429_is_throttling_with_retry_after_in_both_forms(server, header, expected):
    """429 with delta-seconds or an HTTP date: throttled, with the delay parsed and clamped."""
    server.routes["/slow"] = mb.throttled(header)
    result, _ = fetch(client(), server.url("/slow"))
    assert result.status == "error" and result.error_kind == "throttled"
    assert result.http_status == 429 and "429" in (result.error or "")
    # NOW is 2027; a 2023 date is in the past: the 1-second floor
    assert result.retry_after == (expected if expected is not None else 1.0)


def test_503_is_a_server_error_that_still_carries_retry_after(server):
    """503 counts as a server error but keeps the delay the server asked for."""
    server.routes["/busy"] = mb.throttled("3600", "503 Service Unavailable")
    result, _ = fetch(client(), server.url("/busy"))
    assert (result.error_kind, result.retry_after) == ("server_error", 3600.0)


def test_410_is_gone(server):
    """410 is reported as gone, the one status that retires a feed."""
    server.routes["/gone"] = mb.respond(b"", "410 Gone")
    result, _ = fetch(client(), server.url("/gone"))
    assert (result.status, result.error_kind, result.http_status) == ("error", "gone", 410)


def test_a_chain_of_permanent_redirects_names_its_target(server):
    """Four 301/308 hops: followed, and the final URL is the permanent target."""
    server.routes.update(mb.redirect_chain("/p", 4, "/final"))
    server.routes["/final"] = mb.respond(b"<rss/>")
    result, _ = fetch(client(), server.url("/p0"))
    assert result.status == "ok" and result.final_url == server.url("/final")
    assert result.permanent_redirect == server.url("/final")


def test_a_temporary_hop_anywhere_in_the_chain_means_no_permanent_target(server):
    """A 302 inside a chain of 301s: followed, but nothing to move the feed to."""
    server.routes["/a"] = mb.redirect("/b", "301 Moved Permanently")
    server.routes["/b"] = mb.redirect("/c", "302 Found")
    server.routes["/c"] = mb.respond(b"<rss/>")
    result, _ = fetch(client(), server.url("/a"))
    assert result.status == "ok" and result.permanent_redirect is None


def test_cache_lifetime_is_reported(server):
    """Cache-Control max-age on a 200 is passed on for the scheduler."""
    server.routes["/c"] = mb.respond(b"<rss/>", headers=[("Cache-Control", "max-age=900")])
    assert fetch(client(), server.url("/c"))[0].cache_lifetime == 900.0


def test_feed_headers_and_basic_auth_go_to_the_feed_origin_only(server, monkeypatch):
    """Per-feed headers and credentials from auth_env reach the feed's host, and are not
    sent to another host a redirect points at."""
    monkeypatch.setenv("FEED_ONE_AUTH", "reader:s3cret")
    server.routes["/private"] = mb.redirect(server.url("/elsewhere", host="localhost"))
    server.routes["/elsewhere"] = mb.respond(b"<rss/>")
    result, _ = fetch(
        client(),
        server.url("/private"),
        auth_env="FEED_ONE_AUTH",
        headers=(("X-Api-Key", "k1"), ("Accept-Encoding", "zstd")),
    )
    assert result.status == "ok", result.error
    sent = dict(server.requests)
    assert sent["/private"]["authorization"] == "Basic cmVhZGVyOnMzY3JldA=="
    assert sent["/private"]["x-api-key"] == "k1"
    assert sent["/private"]["accept-encoding"] == "gzip, deflate, br"  # not overridable
    assert "authorization" not in sent["/elsewhere"] and "x-api-key" not in sent["/elsewhere"]


def test_feed_headers_follow_a_redirect_within_the_feed_origin(server, monkeypatch):
    """A redirect to another path of the feed's own origin keeps its headers and
    credentials (the first hop is recognised without parsing its URL; later ones are
    compared by origin)."""
    monkeypatch.setenv("FEED_ONE_AUTH", "reader:s3cret")
    server.routes["/old"] = mb.redirect(server.url("/new"))
    server.routes["/new"] = mb.respond(b"<rss/>")
    result, _ = fetch(
        client(), server.url("/old"), auth_env="FEED_ONE_AUTH", headers=(("X-Api-Key", "k1"),)
    )
    assert result.status == "ok", result.error
    sent = dict(server.requests)
    for path in ("/old", "/new"):
        assert sent[path]["authorization"] == "Basic cmVhZGVyOnMzY3JldA==", path
        assert sent[path]["x-api-key"] == "k1", path


def test_a_missing_auth_variable_is_a_refusal_naming_the_variable(server, monkeypatch):
    """auth_env naming an unset variable: nothing is sent, and the reason says which."""
    monkeypatch.delenv("NO_SUCH_FEED_AUTH", raising=False)
    server.routes["/x"] = mb.respond(b"<rss/>")
    result, _ = fetch(client(), server.url("/x"), auth_env="NO_SUCH_FEED_AUTH")
    assert result.error_kind == "refused" and "NO_SUCH_FEED_AUTH" in (result.error or "")
    assert server.requests == []


@pytest.mark.parametrize(
    "host",
    [
        "0177.0.0.1",
        "0x7f.0.0.1",
        "127.0.1",
        "0",
        "0.0.0.0",
        "localhost.",
        "[::1]",
        "[::ffff:7f00:1]",
        "[0:0:0:0:0:ffff:127.0.0.1]",
        "[::127.0.0.1]",
        "[64:ff9b::7f00:1]",
    ],
)
def test_more_loopback_spellings_are_refused_before_any_request(server, host):
    """Octal, hex, short, zero, trailing-dot, IPv6, IPv4-mapped, IPv4-compatible and NAT64
    spellings of a local address never reach the server."""
    server.routes["/x"] = mb.respond(b"<rss/>")
    result, _ = fetch(client(allow_private_networks=False), f"http://{host}:{server.port}/x")
    assert result.status == "error" and result.error_kind in ("refused", "connect_error")
    if result.error_kind == "connect_error":  # a spelling the resolver itself rejects
        assert "resolve" in (result.error or "")
    else:  # refused by the address policy, or not even a valid URL (octal, to httpx)
        assert any(w in (result.error or "") for w in ("refused address", "invalid URL"))
    assert server.requests == []


METADATA = [
    "169.254.169.254",
    "2852039166",
    "0xa9fea9fe",
    "0251.0376.0251.0376",
    "169.254.43518",
    "[::ffff:169.254.169.254]",
    "[::ffff:a9fe:a9fe]",
    "[64:ff9b::a9fe:a9fe]",
    "metadata.google.internal",
    "[fd00:ec2::254]",
    "127.0.0.2",
    "2130706434",
    "[::1]",
    "0.0.0.0",
    "100.100.100.200",
]


@pytest.mark.parametrize("target", METADATA)
def test_a_redirect_to_metadata_or_loopback_in_any_spelling_is_refused(server, target):
    """A "public" feed cannot redirect to the cloud metadata service or a loopback
    address, however the address is written or named."""
    server.routes["/r"] = mb.redirect(f"http://{target}/latest/meta-data/")
    c = Client(
        ClientPolicy(timeout=2, allow_private_networks=False),
        resolver=resolving(
            {"feeds.example": ["127.0.0.1"], "metadata.google.internal": ["169.254.169.254"]}
        ),
        address_check=public("127.0.0.1"),
    )
    result, _ = fetch(c, f"http://feeds.example:{server.port}/r")
    assert result.status == "error" and result.error_kind == "refused", result.error
    assert any(w in (result.error or "") for w in ("refused address", "invalid URL"))
    assert [path for path, _ in server.requests] == ["/r"]


def test_dns_rebinding_is_caught_at_connect_time(server):
    """A name that resolved to a public address and then to a private one is refused on
    the second connection: the check runs on every resolution, at connect time."""
    answers = iter([["127.0.0.1"], ["169.254.169.254"], ["10.0.0.7"]])
    server.routes["/f"] = mb.respond(b"<rss/>", headers=[("Connection", "close")])
    c = Client(
        ClientPolicy(timeout=2, allow_private_networks=False),
        resolver=lambda host, port: next(answers),
        address_check=public("127.0.0.1"),
    )
    url = f"http://rebind.example:{server.port}/f"
    first, _ = fetch(c, url)
    second, _ = fetch(c, url)
    assert first.status == "ok"
    assert second.error_kind == "refused" and "169.254.169.254" in (second.error or "")
    assert len(server.requests) == 1


def test_the_socket_goes_to_exactly_the_address_that_was_checked(server):
    """A name the system cannot resolve is reached through our resolver's answer: the
    connection uses the checked address, never a second lookup."""
    server.routes["/f"] = mb.respond(b"<rss/>")
    c = Client(
        ClientPolicy(timeout=2, allow_private_networks=False),
        resolver=resolving({"only-we-know.invalid": ["127.0.0.1"]}),
        address_check=public("127.0.0.1"),
    )
    result, _ = fetch(c, f"http://only-we-know.invalid:{server.port}/f")
    assert result.status == "ok", result.error
    assert dict(server.requests)["/f"]["host"] == f"only-we-know.invalid:{server.port}"


def test_one_bad_address_among_the_answers_refuses_the_host(server):
    """A name answering both a public and a private address is refused, not tried in turn."""
    server.routes["/f"] = mb.respond(b"<rss/>")
    c = Client(
        ClientPolicy(timeout=2, allow_private_networks=False),
        resolver=resolving({"mixed.example": ["127.0.0.1", "10.1.2.3"]}),
        address_check=public("127.0.0.1"),
    )
    result, _ = fetch(c, f"http://mixed.example:{server.port}/f")
    assert result.error_kind == "refused" and "10.1.2.3" in (result.error or "")
    assert server.requests == []


@pytest.mark.parametrize(
    ("address", "why"),
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("100.64.0.1", "CGNAT"),
        ("100.127.255.254", "CGNAT"),
        ("0.0.0.0", "unspecified"),
        ("0.1.2.3", "this network"),
        ("224.0.0.1", "multicast"),
        ("239.1.2.3", "multicast"),
        ("255.255.255.255", "broadcast|reserved|private"),
        ("240.0.0.1", "reserved|private"),
        ("198.18.0.1", "private"),
        ("192.0.2.1", "private"),
        ("::1", "loopback"),
        ("::", "unspecified"),
        ("fe80::1", "link-local"),
        ("fc00::1", "private"),
        ("ff02::1", "multicast"),
        ("::ffff:10.0.0.1", "embeds 10.0.0.1"),
        ("64:ff9b::a00:1", "embeds 10.0.0.1"),
        ("64:ff9b:1::a9fe:a9fe", "embeds 169.254"),
        ("::127.0.0.1", "embeds 127.0.0.1"),
        ("2002:a00:1::", "embeds 10.0.0.1"),
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", "Teredo"),
        ("fe80::1%eth0", "scoped"),
    ],
)
def test_address_policy_names_every_non_public_range(address, why):
    """Each non-public range is refused with its name."""
    problem = address_problem(ipaddress.ip_address(address))
    assert problem is not None and any(w in problem for w in why.split("|")), problem


@pytest.mark.parametrize(
    "address", ["93.184.215.14", "8.8.8.8", "2606:4700::1111", "64:ff9b::808:808", "::ffff:8.8.8.8"]
)
def test_public_addresses_pass_the_policy(address):
    """Public unicast addresses, also when mapped or translated, are allowed."""
    assert address_problem(ipaddress.ip_address(address)) is None
