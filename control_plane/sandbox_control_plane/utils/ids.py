"""Identifiers: a prefix, then 26 characters that sort by creation time (ULID layout)."""

from __future__ import annotations

import os
import re
import time

_ALPHABET = "0123456789abcdefghjkmnpqrstvwxyz"  # Crockford base32, lower case


def _encode(value: int, length: int) -> str:
    chars = []
    for _ in range(length):
        value, index = divmod(value, 32)
        chars.append(_ALPHABET[index])
    return "".join(reversed(chars))


def new_id(prefix: str) -> str:
    """``tpl_``, ``ses_``, ``exe_`` + 48 bits of milliseconds + 80 random bits."""
    millis = time.time_ns() // 1_000_000
    randomness = int.from_bytes(os.urandom(10), "big")
    return f"{prefix}_{_encode(millis, 10)}{_encode(randomness, 16)}"


def new_request_id() -> str:
    return new_id("req")


ID_PATTERN = r"^[a-z]{3}_[0-9a-hjkmnp-tv-z]{26}$"
_REQUEST_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")


def is_acceptable_request_id(value: str) -> bool:
    """A caller's X-Request-ID is kept when it is short and plain (it lands in logs)."""
    return bool(_REQUEST_ID.match(value))
