"""Disks that really fill: a tmpfs mounted for one test (needs root), and another program filling it."""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path


def mounted(path: Path) -> bool:
    """Something is mounted on `path` (os.path.ismount misses a bind mount of a directory onto itself)."""
    with open("/proc/self/mountinfo") as fh:
        return any(line.split()[4] == str(path) for line in fh)


def unmount_all(path: Path) -> None:
    """Unmount `path` and anything stacked on it (a test binds it onto itself read-only, or remounts it)."""
    for _ in range(5):
        if not mounted(path):
            return
        subprocess.run(["umount", "-l", str(path)], check=False, capture_output=True)
    assert not mounted(path), f"{path} is still mounted"


@contextlib.contextmanager
def tmpfs(path: Path, size: str) -> Iterator[Path]:
    """A tmpfs of `size` (mount's syntax: 40m) at the new directory `path`, always unmounted afterwards."""
    path.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], check=True)
    try:
        yield path
    finally:
        unmount_all(path)


def fill(directory: Path, name: str = "filler", leave: int = 0) -> Path:
    """Another program writes until the disk is full (ENOSPC), or until only `leave` bytes are free."""
    path = directory / name
    block = b"\0" * (256 * 1024)
    with path.open("ab") as fh:
        while True:
            free = os.statvfs(directory).f_bavail * os.statvfs(directory).f_frsize
            if free <= leave:
                break
            try:
                fh.write(block[: max(4096, min(len(block), free - leave))])
                fh.flush()
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
                break
    return path
