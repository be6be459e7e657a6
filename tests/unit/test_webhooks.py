"""webhooks: Standard Webhooks signing, checked against an independent implementation,
and the README's verification recipe for receivers."""

from __future__ import annotations

import base64
import re
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook, WebhookVerificationError

from worker.core.webhooks import interpret_reply, signature, signed_headers

README = Path(__file__).resolve().parents[2] / "README.md"


def _secret(key: bytes) -> str:
    return "whsec_" + base64.b64encode(key).decode()


@given(
    key=st.binary(min_size=16, max_size=64),
    msg_id=st.from_regex(r"[0-9a-f]{24}\.[1-9][0-9]{0,3}", fullmatch=True),
    body=st.binary(max_size=2000).map(base64.b64encode),
)
def test_signature_matches_the_reference_library(key, msg_id, body):
    """Our v1 signature equals the standardwebhooks package's for any key, id and body."""
    ts = 1_800_000_000
    ours = signature([key], msg_id, ts, body)
    theirs = Webhook(_secret(key)).sign(msg_id, datetime.fromtimestamp(ts, UTC), body.decode())
    assert ours == theirs


def test_signed_headers_verify_and_tampering_fails():
    """The reference verifier accepts our headers and refuses a changed body or id."""
    key = b"k" * 32
    body = b'{"specversion":"1.0","id":"abc.1"}'
    headers = signed_headers([key], "abc.1", int(time.time()), body)
    Webhook(_secret(key)).verify(body, headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(_secret(key)).verify(body.replace(b"abc", b"abd"), headers)
    with pytest.raises(WebhookVerificationError):
        Webhook(_secret(key)).verify(body, {**headers, "webhook-id": "abc.2"})


def test_two_keys_give_two_space_separated_signatures():
    """While rotating, both keys sign: one v1 entry per key."""
    sig = signature([b"a" * 16, b"b" * 16], "x.1", 1, b"{}")
    assert re.fullmatch(r"v1,[A-Za-z0-9+/=]{44} v1,[A-Za-z0-9+/=]{44}", sig)


@pytest.mark.parametrize(
    ("status", "header", "outcome", "after"),
    [
        (200, None, "delivered", None),
        (299, None, "delivered", None),
        (408, None, "retry", None),
        (429, "7", "retry", 7.0),
        (500, None, "retry", None),
        (503, "Wed, 21 Oct 2015 07:28:00 GMT", "retry", 1.0),
        (400, None, "rejected", None),
        (401, None, "rejected", None),
        (302, None, "rejected", None),
    ],
)
def test_interpret_reply(status, header, outcome, after):
    """Status codes map to delivered / retry (with Retry-After) / rejected."""
    reply = interpret_reply(status, header, now=1_800_000_000.0)
    assert (reply.outcome, reply.retry_after) == (outcome, after)


def _readme_recipe() -> dict[str, object]:
    text = README.read_text()
    match = re.search(r"<!-- verify-recipe -->\s*```python\n(.*?)```", text, re.S)
    assert match, "README.md lost its webhook verification recipe"
    namespace: dict[str, object] = {}
    exec(compile(match.group(1), "README.md", "exec"), namespace)
    return namespace


def test_the_readme_verification_recipe_accepts_our_requests_and_refuses_forgeries():
    """The receiver code shown in the README verifies what the worker signs, with either
    rotating secret, and refuses a forged body, a wrong secret and an old timestamp."""
    recipe = _readme_recipe()
    verify = recipe["verify"]
    new, old = b"n" * 32, b"o" * 32
    body = b'{"specversion":"1.0","id":"abc.1","type":"article.created"}'
    headers = signed_headers([new, old], "abc.1", int(time.time()), body)
    for key in (new, old):
        assert verify(body, headers, _secret(key)) == "abc.1"  # type: ignore[operator]
    failures = [
        (body + b" ", headers, _secret(new)),
        (body, headers, _secret(b"x" * 32)),
        (body, signed_headers([new], "abc.1", int(time.time()) - 3600, body), _secret(new)),
    ]
    for args in failures:
        with pytest.raises(ValueError):
            verify(*args)  # type: ignore[operator]
