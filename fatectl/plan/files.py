"""Files a command would write, compared with the files on disk; secrets compared, never shown."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from fatectl.plan.model import Change, FileChange

# Content not known before the command runs (a secret it would create): always a change.
PENDING = b"\x00pending"
MAX_DIFF_LINES = 400


def _bytes(content: str | bytes) -> bytes:
    return content.encode("utf-8") if isinstance(content, str) else content


def compare(
    root: Path,
    wanted: Mapping[str, str | bytes],
    secret: Callable[[str], bool],
    stale: Iterable[str] = (),
    stale_note: str = "",
) -> list[FileChange]:
    """Every file of `wanted` (relative to root) that is new or differs, plus `stale` files on disk."""
    changes: list[FileChange] = []
    for rel in sorted(wanted):
        data = _bytes(wanted[rel])
        target = root / rel
        try:
            current = target.read_bytes() if target.is_file() else None
        except OSError:
            current = None
        if current is not None and current == data:
            continue
        is_secret = secret(rel)
        change: Change = "added" if current is None else "changed"
        diff = "" if is_secret or current is None or data == PENDING else unified(rel, current, data)
        changes.append(FileChange(rel, change, is_secret, diff))
    changes += [FileChange(rel, "removed", secret(rel), note=stale_note) for rel in sorted(stale)]
    return changes


def unified(rel: str, before: bytes, after: bytes) -> str:
    old = before.decode("utf-8", "replace").splitlines(keepends=True)
    new = after.decode("utf-8", "replace").splitlines(keepends=True)
    lines = list(difflib.unified_diff(old, new, f"a/{rel}", f"b/{rel}", n=2))
    if len(lines) > MAX_DIFF_LINES:
        lines = [*lines[:MAX_DIFF_LINES], f"... {len(lines) - MAX_DIFF_LINES} more diff lines\n"]
    return "".join(line if line.endswith("\n") else line + "\n" for line in lines)


def files_under(root: Path, prefix: str = "") -> set[str]:
    """Relative paths of the regular files under root/prefix (nothing when it does not exist)."""
    base = root / prefix if prefix else root
    if not base.is_dir():
        return set()
    return {p.relative_to(root).as_posix() for p in base.rglob("*") if p.is_file()}
