"""URL rules: http(s) only, resolved against a base, and a canonical form for identity."""

from __future__ import annotations

import contextlib
import re
from urllib.parse import parse_qsl, unquote, urlencode, urljoin, urlsplit, urlunsplit

ALLOWED_SCHEMES = frozenset({"http", "https"})

# Query parameters that only track the reader; dropping them never changes the page.
TRACKING_PARAMS = frozenset(
    {
        "fbclid",
        "gclid",
        "gclsrc",
        "dclid",
        "msclkid",
        "yclid",
        "twclid",
        "igshid",
        "mc_cid",
        "mc_eid",
        "mkt_tok",
        "_hsenc",
        "_hsmi",
        "hsctatracking",
        "oly_anon_id",
        "oly_enc_id",
        "vero_id",
        "wickedid",
        "rb_clickid",
        "s_cid",
        "ncid",
        "cmpid",
        "ocid",
        "icid",
        "guccounter",
        "guce_referrer",
        "guce_referrer_sig",
        "sr_share",
        "at_medium",
        "at_campaign",
        "ref_src",
        "ref_url",
        "spm",
        "__twitter_impression",
    }
)
TRACKING_PREFIXES = ("utm_", "mc_", "pk_", "mtm_", "piwik_", "matomo_", "hmb_", "__s")

# Redirect wrappers whose real target sits in a query parameter.
_WRAPPERS: dict[str, tuple[str, ...]] = {
    "www.google.com": ("url", "q"),
    "google.com": ("url", "q"),
    "news.google.com": ("url",),
    "l.facebook.com": ("u",),
    "lm.facebook.com": ("u",),
    "t.umblr.com": ("z",),
    "out.reddit.com": ("url",),
    "www.bing.com": ("url",),
}
_DEFAULT_PORTS = {"http": 80, "https": 443}
_SPACE = re.compile(r"\s")
# An absolute http(s) URL with nothing for urllib to rewrite: lowercase scheme, an ASCII
# host, at most a port, a path without parameters, and a query and a fragment that are not
# empty. Resolving it against any base gives it back unchanged, and urlsplit finds its
# scheme and host; only the port's range is left to check. Most links in feeds look like
# this, and the full route (urljoin, urlsplit, the host and port properties) was a third
# of the parse cost of an entry met before (benchmarks/profile_parse.py --profile warm).
_PLAIN = re.compile(
    r"https?://[A-Za-z0-9.-]+(?::([0-9]{1,5}))?(?:/[^\s?#;]*)?(?:\?[^\s#]+)?(?:#\S+)?"
)
# One ``name=value`` pair that parse_qsl and urlencode give back as written.
_PAIR = r"[A-Za-z0-9_.~-]+=[A-Za-z0-9_.~-]*"
# Almost the canonical form already: lowercase dotted host without an empty label or a
# trailing dot, a port not written with leading zeros, a path, and a query of such pairs.
# Only tracking parameters and the fragment are left to drop.
_CANONICAL = re.compile(
    r"(https?)://([a-z0-9-]+(?:\.[a-z0-9-]+)*)(?::([1-9][0-9]{0,4}))?(/[^\s?#;]*)"
    rf"(?:\?({_PAIR}(?:&{_PAIR})*))?(?:#\S*)?"
)


def http_url(value: str | None, base: str | None = None) -> str | None:
    """``value`` as an absolute http(s) URL, resolved against ``base``; None if not one."""
    if not value:
        return None
    value = value.strip()
    plain = _PLAIN.fullmatch(value)
    if plain is not None and (plain[1] is None or int(plain[1]) <= 65535):
        return value
    return _resolved(value, base)


def _resolved(value: str, base: str | None) -> str | None:
    """``http_url`` by way of urllib, for every URL the fast path does not vouch for."""
    value = _SPACE.sub(lambda m: "" if m.group() in "\t\n\r" else "%20", value)
    if base:
        try:
            value = urljoin(base, value)
        except ValueError:
            return None
    try:
        parts = urlsplit(value)
        _ = parts.port  # raises on a port that is not a number in 0-65535
    except ValueError:
        return None
    if parts.scheme.lower() not in ALLOWED_SCHEMES or not parts.hostname:
        return None
    return value


def unwrap(url: str) -> str:
    """The target of a known redirect wrapper (Google Alerts, Facebook...), else ``url``."""
    for _ in range(3):
        parts = urlsplit(url)
        keys = _WRAPPERS.get((parts.hostname or "").lower())
        if not keys or parts.path not in ("/url", "/l.php", "/redirect", "/", "/ck/a"):
            return url
        params = dict(parse_qsl(parts.query))
        target = next((params[k] for k in keys if params.get(k)), None)
        if not target or http_url(target) is None:
            return url
        url = unquote(target) if "%" in target and "://" not in target else target
    return url


def is_tracking_param(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def _simple_canonical(url: str) -> str | None:
    """The canonical form of a URL that needs no unwrapping, lowercasing or re-encoding;
    None for any other."""
    plain = _CANONICAL.fullmatch(url)
    if plain is None or plain[2] in _WRAPPERS:
        return None
    scheme, host, port, path, query = plain.groups()
    if port is not None and (int(port) > 65535 or int(port) == _DEFAULT_PORTS[scheme]):
        return None
    netloc = f"{host}:{port}" if port else host
    kept = (
        [p for p in query.split("&") if not is_tracking_param(p.partition("=")[0])] if query else []
    )
    return f"{scheme}://{netloc}{path}?{'&'.join(kept)}" if kept else f"{scheme}://{netloc}{path}"


def canonical_url(url: str | None) -> str | None:
    """The identity form of a URL: unwrapped, no tracking parameters, no fragment,
    lowercase scheme and host, no default port, ``/`` for an empty path."""
    url = http_url(url)
    if url is None:
        return None
    simple = _simple_canonical(url)
    return simple if simple is not None else _canonical(url)


def _canonical(url: str) -> str | None:
    """``canonical_url`` by way of urllib, for an http(s) URL."""
    url = unwrap(url)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:  # "http://./a" names no host
        return None
    if host.startswith("xn--") is False and any(ord(c) > 127 for c in host):
        with contextlib.suppress(UnicodeError):
            host = host.encode("idna").decode("ascii")
    port = parts.port if parts.port and parts.port != _DEFAULT_PORTS.get(scheme) else None
    netloc = f"[{host}]" if ":" in host else host
    if port:
        netloc += f":{port}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)]
    kept = [(k, v) for k, v in query if not is_tracking_param(k)]
    canonical = urlunsplit((scheme, netloc, parts.path or "/", urlencode(kept, doseq=True), ""))
    # A host urlsplit half-read ("http://[::1]@[[") must not become a URL of its own.
    return canonical if http_url(canonical) else None
