"""Pure tests of the embedded target's token checks (harness/target/auth.py): no sockets."""

from __future__ import annotations

import base64
import time
from typing import Any

import jwt
import pytest

from harness.target.auth import (
    CAUSES,
    REJECTIONS,
    AuthResult,
    ValidityCache,
    extract_token,
    rejected,
    validate_token,
)

# 64 bytes: long enough for HS512 (RFC 7518 section 3.2), so pyjwt does not warn.
SECRET = "target-auth-secret-" + "0123456789abcdef" * 3
OTHER = "not-the-secret-----" + "fedcba9876543210" * 3


def sign(claims: dict[str, Any], *, key: str | None = SECRET, alg: str = "HS256", **kw: Any) -> str:
    return jwt.encode(claims, key, algorithm=alg, **kw)


def future(seconds: float = 86400) -> int:  # a day: parametrize runs it at collection
    return int(time.time() + seconds)


# --- The table ------------------------------------------------------------------------


def test_table_names_every_cause_with_status_code_and_reason() -> None:
    assert set(CAUSES) == {
        "missing",
        "empty",
        "malformed",
        "alg_none",
        "algorithm_not_allowed",
        "bad_signature",
        "expired",
        "not_yet_valid",
        "claims_invalid",
    }
    for cause, row in REJECTIONS.items():
        assert (row.status, row.close_code) == (
            (403, 4403) if cause == "claims_invalid" else (401, 4401)
        )
        assert row.reason.startswith("token ")
        assert len(row.reason.encode()) <= 123  # fits a close frame (RFC 6455 section 5.5)
    assert len({row.reason for row in REJECTIONS.values()}) == len(REJECTIONS)


def test_rejected_refuses_unknown_causes() -> None:
    with pytest.raises(ValueError, match="unknown rejection cause"):
        rejected("nope")


# --- Finding the token ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "authorization", "expected"),
    [
        ("token=abc", None, "abc"),
        ("a=1&token=abc&token=def", None, "abc"),
        ("token=", None, ""),
        ("token", None, ""),
        ("", None, None),
        ("other=1", None, None),
        ("", "Bearer abc", "abc"),
        ("", "bearer   abc  ", "abc"),
        ("", "Bearer", ""),
        ("", "Bearer   ", ""),
        ("", "Basic dXNlcjpwdw==", None),
        ("token=q", "Bearer h", "q"),  # the query wins
        ("token=", "Bearer h", ""),  # present but empty is still the query's answer
    ],
)
def test_extract_token(query: str, authorization: str | None, expected: str | None) -> None:
    assert extract_token(query, authorization) == expected


def test_extract_token_custom_param() -> None:
    assert extract_token("jwt=x&token=y", None, query_param="jwt") == "x"


# --- Validation -----------------------------------------------------------------------


def test_valid_token_is_accepted_with_claims() -> None:
    result = validate_token(sign({"sub": "u1", "exp": future()}), SECRET)
    assert result.ok and result.cause is None and result.rejection is None
    assert result.claims is not None and result.claims["sub"] == "u1"


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_configured_algorithm_is_the_only_one(alg: str) -> None:
    token = sign({"exp": future()}, alg=alg)
    assert validate_token(token, SECRET, algorithm=alg).ok
    assert validate_token(token, SECRET, algorithm="HS256").cause == "algorithm_not_allowed"


def _header_only(header: str) -> str:
    enc = base64.urlsafe_b64encode(header.encode()).rstrip(b"=").decode()
    body = base64.urlsafe_b64encode(b'{"exp": 9999999999}').rstrip(b"=").decode()
    return f"{enc}.{body}.c2ln"


@pytest.mark.parametrize(
    ("token", "cause"),
    [
        (None, "missing"),
        ("", "empty"),
        ("not-a-jwt", "malformed"),
        ("a.b.c", "malformed"),
        ("%%%.%%%.%%%", "malformed"),
        (_header_only('{"typ": "JWT"}'), "alg_none"),  # no alg at all
        (_header_only('{"alg": null}'), "alg_none"),
        (_header_only('{"alg": "NONE"}'), "alg_none"),
        (_header_only('{"alg": "RS256"}'), "algorithm_not_allowed"),
    ],
)
def test_unusable_tokens(token: str | None, cause: str) -> None:
    result = validate_token(token, SECRET)
    assert not result.ok
    assert result.cause == cause
    assert result.rejection is REJECTIONS[cause]


def test_alg_none_token_from_pyjwt() -> None:
    token = sign({"exp": future()}, key=None, alg="none")
    assert validate_token(token, SECRET).cause == "alg_none"


def test_bad_signature_beats_expiry() -> None:
    # The signature is checked before the claims: a forged expired token is a forgery.
    assert validate_token(sign({"exp": future()}, key=OTHER), SECRET).cause == "bad_signature"
    assert validate_token(sign({"exp": future(-60)}, key=OTHER), SECRET).cause == "bad_signature"


def test_time_claims() -> None:
    assert validate_token(sign({"exp": future(-1)}), SECRET).cause == "expired"
    nbf = sign({"exp": future(600), "nbf": future(300)})
    assert validate_token(nbf, SECRET).cause == "not_yet_valid"


@pytest.mark.parametrize(
    "claims",
    [
        {"sub": "no-exp"},  # exp is required
        {"exp": future(), "iat": "yesterday"},
        {"exp": future(), "aud": "someone-else"},  # the target expects no audience
    ],
)
def test_claims_invalid(claims: dict[str, Any]) -> None:
    result = validate_token(sign(claims), SECRET)
    assert result.cause == "claims_invalid"
    assert result.rejection is not None and result.rejection.status == 403


def test_payload_that_is_not_an_object_is_malformed() -> None:
    token = jwt.api_jws.encode(b"[1, 2]", SECRET, algorithm="HS256")
    assert validate_token(token, SECRET).cause == "malformed"


def test_result_never_carries_the_token() -> None:
    token = sign({"exp": future(-5)})
    result = validate_token(token, SECRET)
    assert token not in repr(result)
    assert isinstance(result, AuthResult)


# --- The validity cache (cache-past-expiry defect) ------------------------------------


def test_cache_lives_ttl_seconds_regardless_of_exp() -> None:
    cache = ValidityCache(ttl=10.0)
    cache.put("tok", {"sub": "u"}, now=100.0)
    assert cache.get("tok", now=109.9) == {"sub": "u"}
    assert cache.get("tok", now=110.0) is None
    assert len(cache) == 0
    assert cache.get("other", now=100.0) is None


def test_cache_is_bounded_and_drops_the_oldest() -> None:
    cache = ValidityCache(ttl=60.0, max_entries=2)
    cache.put("a", {}, now=0.0)
    cache.put("b", {}, now=1.0)
    cache.put("c", {}, now=2.0)
    assert len(cache) == 2
    assert cache.get("a", now=3.0) is None
    assert cache.get("b", now=3.0) == {}
    assert cache.get("c", now=3.0) == {}
