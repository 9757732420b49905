"""Per-session tokens of the internal API.

The internal API token never enters a container: code in a session runs as the same user as the
executor and could read anything the executor holds. Each executor gets an HMAC of its session id
under the internal token instead, which opens only that session's internal routes; any instance
verifies it without state.
"""

from __future__ import annotations

import hashlib
import hmac


def session_token(internal_token: str, session_id: str) -> str:
    return hmac.new(internal_token.encode(), b"session:" + session_id.encode(), hashlib.sha256).hexdigest()


def token_opens_session(presented: str, internal_token: str, session_id: str) -> bool:
    """The internal token opens every session; a session token only its own."""
    if not internal_token:
        return False
    if hmac.compare_digest(presented.encode(), internal_token.encode()):
        return True
    return hmac.compare_digest(presented.encode(), session_token(internal_token, session_id).encode())


def token_is_internal(presented: str, internal_token: str) -> bool:
    return bool(internal_token) and hmac.compare_digest(presented.encode(), internal_token.encode())
