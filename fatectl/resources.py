"""Where the packaged data files live (the repo's templates/ ships as fatectl._templates)."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def templates_root() -> Path:
    """Root of the shipped templates tree (a real directory for source, editable and wheel installs)."""
    return Path(str(files("fatectl._templates")))
