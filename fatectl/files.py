"""Every file fatectl writes: atomically, with its mode set before any byte, inside its directory.

Render, the labs, bundles, certificates and signing keys all write through here, so a
secret is never briefly readable by others and no generated path escapes its root.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import BinaryIO

from fatectl.errors import Problem, RenderError

SECRET_MODE = 0o600
FILE_MODE = 0o644


def safe_relative(path: str) -> PurePosixPath:
    rel = PurePosixPath(path)
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise RenderError(f"refusing to write outside the output directory: {path!r}")
    return rel


def write_file(target: Path, content: str | bytes, mode: int = FILE_MODE) -> bool:
    """Write `target` atomically (temp file + rename); return False when it already had `content`."""
    data = content.encode("utf-8") if isinstance(content, str) else content
    if target.is_file() and target.read_bytes() == data:
        if (target.stat().st_mode & 0o777) != mode:
            target.chmod(mode)
        return False
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        # Mode is set before any byte is written so a secret is never briefly world-readable.
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return True


def ensure_directory(out: Path) -> None:
    """Create the output directory, or say clearly why it cannot be one."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise RenderError(f"cannot create output directory {out}: {err.strerror}") from err
    if not out.is_dir():
        raise RenderError(f"output path {out} is not a directory")


def write_tree(
    out: Path, files: Mapping[str, str | bytes], secret_paths: frozenset[str] = frozenset()
) -> list[Path]:
    """Write `{relative path: content}` under `out`; paths in `secret_paths` get mode 0600.

    Returns the files whose content changed, in sorted order.
    """
    ensure_directory(out)
    changed: list[Path] = []
    problems: list[Problem] = []
    for rel in sorted(files):
        target = out / safe_relative(rel)
        mode = SECRET_MODE if rel in secret_paths else FILE_MODE
        try:
            if write_file(target, files[rel], mode):
                changed.append(target)
        except OSError as err:
            problems.append(Problem(err.strerror or str(err), file=str(target)))
    if problems:
        raise RenderError(f"could not write {len(problems)} file(s) under {out}", problems)
    return changed


def open_new(path: Path, mode: int) -> BinaryIO:
    """Open a file that must not exist yet (nor be a symlink) for writing, with `mode` from the start.

    The mode applies at creation and again after it, since the umask may have narrowed it.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, mode)
    try:
        os.fchmod(fd, mode)
    except BaseException:
        os.close(fd)
        raise
    return os.fdopen(fd, "wb")


def create_file(path: Path, data: bytes, mode: int) -> None:
    """Create `path` with `data`; never replace a file (a key someone made meanwhile stays theirs)."""
    with open_new(path, mode) as sink:
        sink.write(data)


def make_private_dir(path: Path) -> None:
    """A 0700 directory (parents as needed) for keys and tokens."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
