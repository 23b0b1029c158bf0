"""Token kinds minted with pyjwt, checked by decoding them the way a service would."""

from __future__ import annotations

import base64
import json
import math
import time

import jwt
import pytest

from harness.config.scenario import Auth
from harness.protocol.tokens import mint, render_claims
from harness.redact import redact

SECRET = "s3cr3t-for-tests-only-0123456789abcdef"
AUTH = Auth(claims={"sub": "user-{user}", "n": "{attempt}", "aud": "chat"}, lifetime=120)


def decode(token: str, **kw: object) -> dict[str, object]:
    return jwt.decode(token, SECRET, algorithms=["HS256"], audience="chat", **kw)  # type: ignore[arg-type]


def test_valid_token_verifies_and_carries_user() -> None:
    now = time.time()
    tok = mint("valid", AUTH, SECRET, user=7, attempt=3, now=now)
    assert tok
    claims = decode(tok)
    assert claims["sub"] == "user-7"
    assert claims["n"] == "3"
    assert claims["exp"] == math.ceil(now + 120)  # a token never lives shorter than asked


def test_missing_and_empty() -> None:
    assert mint("missing", AUTH, SECRET) is None
    assert mint("empty", AUTH, SECRET) == ""


def test_expired_fails_as_expired() -> None:
    tok = mint("expired", AUTH, SECRET)
    assert tok
    with pytest.raises(jwt.ExpiredSignatureError):
        decode(tok)


def test_not_yet_valid_fails_as_immature() -> None:
    tok = mint("not_yet_valid", AUTH, SECRET)
    assert tok
    with pytest.raises(jwt.ImmatureSignatureError):
        decode(tok)


def test_bad_signature_fails_signature_check_only() -> None:
    tok = mint("bad_signature", AUTH, SECRET)
    assert tok
    with pytest.raises(jwt.InvalidSignatureError):
        decode(tok)
    # the claims themselves are fine
    assert decode(tok, options={"verify_signature": False})["sub"] == "user-0"


def test_alg_none_is_unsigned() -> None:
    tok = mint("alg_none", AUTH, SECRET)
    assert tok and tok.endswith(".")
    header = json.loads(base64.urlsafe_b64decode(tok.split(".")[0] + "=="))
    assert header["alg"] == "none"
    with pytest.raises(jwt.InvalidAlgorithmError):
        decode(tok)


def test_malformed_is_not_a_jwt() -> None:
    tok = mint("malformed", AUTH, SECRET)
    assert tok
    with pytest.raises(jwt.DecodeError):
        decode(tok)


def test_unknown_kind() -> None:
    with pytest.raises(ValueError, match="unknown token kind 'nope'"):
        mint("nope", AUTH, SECRET)


def test_render_claims_nested() -> None:
    out = render_claims({"a": {"b": ["u{user}"]}, "c": 1}, user=4, attempt=1)
    assert out == {"a": {"b": ["u4"]}, "c": 1}


def test_redact_removes_tokens_and_secrets() -> None:
    tok = mint("valid", AUTH, SECRET)
    assert tok
    text = f"GET /ws?token={tok}&x=1 Authorization: Bearer {tok} key={SECRET}"
    out = redact(text, [SECRET])
    assert tok not in out
    assert SECRET not in out
    assert "x=1" in out
    assert redact("?token=abc&y=2") == "?token=<redacted>&y=2"
    assert redact("Bearer abc.def") == "Bearer <redacted>"
