"""Redaction of secrets (signing keys, tokens) from any text the harness writes or prints."""

from __future__ import annotations

import re
from collections.abc import Iterable

#: A JWT-looking string: base64url header starting with '{"' ("eyJ"), dot-separated parts.
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*(?:\.[A-Za-z0-9_-]*)?")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s'\",;]+")
_QUERY_TOKEN = re.compile(r"(?i)([?&](?:token|access_token|jwt|auth)=)[^&\s'\"#]*")

REDACTED = "<redacted>"


def redact(text: str, secrets: Iterable[str] = ()) -> str:
    """Return ``text`` with JWTs, bearer values, token query values and ``secrets`` replaced.

    Args:
        text: any message, URL or error text.
        secrets: exact strings to remove as well (signing secrets, minted tokens);
            strings shorter than 4 characters are ignored to avoid mangling text.
    """
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, REDACTED)
    text = _JWT.sub(REDACTED, text)
    text = _BEARER.sub(lambda m: m.group(1) + REDACTED, text)
    return _QUERY_TOKEN.sub(lambda m: m.group(1) + REDACTED, text)
