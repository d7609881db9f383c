"""Who may call the flow API: the flow token reads and writes, the read-only credential reads.

Kept apart from the HTTP service so the rule is one small function its tests (and mutation
tests) can hold to.
"""

from __future__ import annotations

import hmac

from fate.flow.errors import Forbidden, Unauthorized

READ_METHODS = ("GET", "HEAD")


def authorize(header: str, method: str, token: bytes, reader_token: bytes | None) -> None:
    """Raise Unauthorized (no valid credential) or Forbidden (a reader asking to write)."""
    scheme, _, given = header.partition(" ")
    presented = given.strip().encode("utf-8", "surrogateescape")  # raw header bytes too
    bearer = scheme.lower() == "bearer"
    # Both compared, always: the answer time must not tell which credential was close.
    full = bearer & hmac.compare_digest(presented, token)
    reader = reader_token is not None and bearer & hmac.compare_digest(presented, reader_token)
    if not (full or reader):
        raise Unauthorized("missing or wrong bearer token (see the party's flow_token secret)")
    if not full and method not in READ_METHODS:
        raise Forbidden("the read-only credential (the board's) may only read; use the flow token")
