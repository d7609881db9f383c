"""Router errors: each knows its HTTP status and whether the sender should retry.

All derive from TransportError, the root of fate.federation, so a worker sees
one kind of failure whether its message died in its own router or three hops away.
"""

from __future__ import annotations

from fate.federation.transport import TransportError


class RouterError(TransportError):
    status = 500
    retryable = False

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def body(self) -> dict[str, object]:
        return {"error": self.message, "retryable": self.retryable}


class ConfigError(RouterError):
    """router.yaml (or the TLS files it names) is missing or wrong; the router cannot start."""


class BadRequest(RouterError):
    status = 400


class Forbidden(RouterError):
    """The caller's certificate does not allow this message."""

    status = 403


class NoRoute(RouterError):
    """No route (and no default route) leads to the destination party."""

    status = 404


class LengthRequired(RouterError):
    """A message must declare its size (Content-Length) so quotas can refuse it before reading."""

    status = 411


class TooLarge(RouterError):
    """One message exceeds a size limit; sending it again cannot help."""

    status = 413


class QuotaExceeded(RouterError):
    """One sending party holds as much as it may at this router; it may retry once the receiver reads."""

    status = 429
    retryable = True


class StorageFull(RouterError):
    """The router holds as much as it may in total (all peers together); retry later."""

    status = 507
    retryable = True


class Busy(RouterError):
    """A mailbox is full or a hop is not ready; the sender should back off and retry."""

    status = 503
    retryable = True


class Unreachable(RouterError):
    """The next hop did not accept the message before the deadline."""

    status = 502
