"""Flow errors: one root, each subclass knows its HTTP status, so handlers stay thin."""

from __future__ import annotations

from collections.abc import Sequence


class FlowError(Exception):
    """Root of every error the flow service reports to a client as a JSON body."""

    status = 500

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.problems = tuple(problems)

    def body(self) -> dict[str, object]:
        return {"error": self.message, "problems": list(self.problems)}

    def __str__(self) -> str:
        return "\n".join([self.message, *(f"  {p}" for p in self.problems)])


class BadRequest(FlowError):
    status = 400


class Unauthorized(FlowError):
    status = 401


class Forbidden(FlowError):
    status = 403


class NotFound(FlowError):
    status = 404


class Conflict(FlowError):
    status = 409


class TooLarge(FlowError):
    status = 413


class ConfigError(FlowError):
    """flow.yaml is missing or wrong; the service cannot start."""
