"""Replacing a file so a reader (or a power cut) never sees half of it: write a temp file next to it, rename it over.

Every place in camstream that replaces a file goes through this module; `replace` is the one `os.replace`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

StrPath = str | os.PathLike[str]


def fsync(path: StrPath) -> None:
    """Flush a file's data (or a directory's entries) to the disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temp_name(path: StrPath) -> Path:
    """The hidden temp file next to `path` that this process writes before renaming (same filesystem)."""
    p = Path(path)
    return p.with_name(f".{p.name}.{os.getpid()}.tmp")


def replace(src: StrPath, dst: StrPath, *, durable: bool = False) -> None:
    """Rename `src` over `dst` in one step (POSIX rename). `durable`: the data is on disk before the new name
    is, and the rename itself is flushed (so after a power cut the name never points at missing data)."""
    if durable:
        fsync(src)
    os.replace(src, dst)
    if durable:
        fsync(Path(dst).parent)


def write_atomic(path: StrPath, data: str | bytes, *, mode: int | None = None, durable: bool = False) -> Path:
    """Write `data` to `path` through a temp file and a rename; `mode` applies before the file appears (a file
    holding a password is never readable by others, not even briefly). Raises OSError; leaves no temp file."""
    target = Path(path)
    tmp = temp_name(target)
    payload = data.encode() if isinstance(data, str) else data
    # Without a mode the file gets the usual 0666 minus the umask; with one it starts private and then gets
    # exactly that mode (O_CREAT's mode is masked by the umask).
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666 if mode is None else 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(payload)
        if mode is not None:
            os.chmod(tmp, mode)
        replace(tmp, target, durable=durable)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def copy_atomic(src: StrPath, dst: StrPath, *, mode: int | None = None) -> Path:
    """Copy a file into place the same way (e.g. an installed binary: never a half-copied executable)."""
    target = Path(dst)
    tmp = temp_name(target)
    try:
        shutil.copyfile(src, tmp)
        if mode is not None:
            os.chmod(tmp, mode)
        replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return target


def swap_link(link: StrPath, target: StrPath) -> None:
    """Point the symlink `link` at `target` atomically (new link under a temp name, renamed over the old one)."""
    link = Path(link)
    link.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_name(link)
    tmp.unlink(missing_ok=True)
    os.symlink(os.path.abspath(target), tmp)
    replace(tmp, link)

