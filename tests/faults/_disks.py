"""Disks that really fill or stall: a tmpfs or an ext4 loop disk mounted for one test (needs root), another program
filling it, and fsfreeze holding every write to it."""

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


@contextlib.contextmanager
def ext4(path: Path, size: str) -> Iterator[Path]:
    """An ext4 filesystem in a sparse file, loop-mounted at the new directory `path`; always unmounted (and thawed)
    afterwards. Unlike tmpfs it can be frozen (fsfreeze(8)), which is how a stalling SD card is made here."""
    image = path.with_suffix(".img")
    subprocess.run(["truncate", "-s", size, str(image)], check=True)
    subprocess.run(["mkfs.ext4", "-q", str(image)], check=True)
    path.mkdir()
    subprocess.run(["mount", "-o", "loop", str(image), str(path)], check=True)
    try:
        yield path
    finally:
        subprocess.run(["fsfreeze", "-u", str(path)], check=False, capture_output=True)
        unmount_all(path)
        image.unlink()


@contextlib.contextmanager
def frozen(path: Path) -> Iterator[None]:
    """Every write to the filesystem at `path` blocks in the kernel (state D) until the block ends (fsfreeze(8))."""
    subprocess.run(["fsfreeze", "-f", str(path)], check=True)
    try:
        yield
    finally:
        subprocess.run(["fsfreeze", "-u", str(path)], check=True)
