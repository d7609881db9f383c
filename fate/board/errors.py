"""Board errors: one root; each subclass knows the HTTP status its page is served with."""

from __future__ import annotations

from collections.abc import Sequence


class BoardError(Exception):
    """Root of every error the board reports (as a page, or as a message when it cannot start)."""

    status = 500

    def __init__(self, message: str, problems: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.problems = tuple(problems)

    def __str__(self) -> str:
        return "\n".join([self.message, *(f"  {p}" for p in self.problems)])


class ConfigError(BoardError):
    """board.yaml or the token file is missing or wrong; the board cannot start."""


class NotFound(BoardError):
    status = 404


class FlowUnavailable(BoardError):
    """The party's flow did not answer, or answered something the board cannot read."""

    status = 502
