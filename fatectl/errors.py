"""The one error root. The CLI turns any FatectlError into a message and an exit code.

Exit codes (README "exit codes"): 0 success (for `diff`: nothing would change), 1 bad input
(spec, files, command-line usage), 2 changes pending (`diff` only: a script can tell "would
change" from any error), 3 environment, 4 remote service, 5 bundle verification, 6 timeout,
7 failed job, 8 render/write.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input, located as precisely as we can."""

    message: str
    file: str | None = None
    line: int | None = None  # 1-based
    column: int | None = None  # 1-based
    path: str | None = None  # dotted path, e.g. parties[1].router.port

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = self.file
            if self.line is not None:
                where += f":{self.line}"
                if self.column is not None:
                    where += f":{self.column}"
        head = " ".join(p for p in (where, self.path) if p)
        return f"{head}: {self.message}" if head else self.message


class FatectlError(Exception):
    """Root of every error a user can cause or meet; never shown as a traceback."""

    exit_code = 1

    def __init__(self, message: str, problems: tuple[Problem, ...] | list[Problem] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.problems = tuple(problems)

    def __str__(self) -> str:
        if not self.problems:
            return self.message
        return "\n".join([self.message, *(f"  {p}" for p in self.problems)])


class SpecError(FatectlError):
    """The federation spec (or a job file, CSV, ...) is invalid; carries every problem found."""

    exit_code = 1


# `fatectl diff`'s "something would change"; no error uses it, so scripts can branch on it.
CHANGES_PENDING = 2
# Click's usage errors (an unknown option, a bad --timeout) are bad input like any other.
USAGE_ERROR = 1


class RenderError(FatectlError):
    """Rendering or writing the output failed (exit 8; 2 is reserved for `diff`'s pending changes)."""

    exit_code = 8


class EnvironmentProblem(FatectlError):
    """Something outside our input is missing or broken: Docker, Helm, a port in use."""

    exit_code = 3


class RemoteError(FatectlError):
    """A party's service refused or failed a request."""

    exit_code = 4


class BundleError(FatectlError):
    """An offline bundle failed verification or could not be built/loaded."""

    exit_code = 5


class Timeout(FatectlError):
    exit_code = 6


class AuditError(FatectlError):
    """A party's audit log failed verification: a record was edited, dropped or rewritten."""

    exit_code = 9
