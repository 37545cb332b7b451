"""API bearer tokens: 256 random bits shown once; the store keeps only their SHA-256.

A fast hash is enough here: the token is random, not a password, so there is nothing to
guess from its hash. Comparison is constant-time.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets

PREFIX = "epbx_"
SCOPES = ("read", "write")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$")


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def same_hash(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


def allows(scope: str, needed: str) -> bool:
    """`write` tokens may also read."""
    return scope == "write" or scope == needed
