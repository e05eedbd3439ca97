"""`camstream install-server mediamtx`: download the pinned release for this machine, verify it, install it."""

from __future__ import annotations

import hashlib
import os
import platform
import shutil
import tarfile
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from camstream import proc
from camstream.errors import CamstreamError, ConfigError
from camstream.install.plan import Host, require_root
from camstream.servers.mediamtx import INSTALL_PATH, MEDIAMTX_VERSION
from camstream.storage.atomic import copy_atomic

DEFAULT_BASE_URL = "https://github.com/bluenviron/mediamtx/releases/download"
# Points the download somewhere else: a mirror, or a file:// directory in tests (no network needed).
BASE_URL_ENV = "CAMSTREAM_MEDIAMTX_BASE_URL"
CHECKSUMS_NAME = "checksums.sha256"
# `uname -m` -> mediamtx release arch (release assets: linux_amd64, linux_arm64, linux_armv7, linux_armv6).
ARCH_BY_MACHINE: dict[str, str] = {
    "x86_64": "amd64",
    "amd64": "amd64",
    "aarch64": "arm64",
    "arm64": "arm64",
    "armv8l": "armv7",  # a 32-bit ARMv8 userland (32-bit personality on a 64-bit CPU)
    "armv7l": "armv7",
    "armv7": "armv7",
    "armv6l": "armv6",  # Raspberry Pi 1 / Zero
    "armv6": "armv6",
}
# `dpkg --print-architecture` -> release arch, for kernels whose `uname -m` is not in the table above.
ARCH_BY_DPKG: dict[str, str] = {"amd64": "amd64", "arm64": "arm64", "armhf": "armv7", "armel": "armv6"}


class ChecksumError(CamstreamError):
    """A downloaded file does not match the checksum its release publishes."""


class DownloadError(CamstreamError):
    """A release file could not be downloaded."""


def detect_arch(machine: str, dpkg_arch: str | None = None) -> str:
    """The mediamtx release arch for `uname -m` (falling back to the dpkg architecture)."""
    arch = ARCH_BY_MACHINE.get(machine.strip().lower())
    if arch is None and dpkg_arch:
        arch = ARCH_BY_DPKG.get(dpkg_arch.strip().lower())
    if arch is None:
        raise ConfigError(
            f"no mediamtx release for machine {machine!r}: releases exist for amd64, arm64, armv7, armv6; "
            "install mediamtx by hand and set rtsp.mediamtx_path"
        )
    return arch


def machine_arch() -> str:
    """This machine's release arch, from uname -m and, when needed, dpkg."""
    machine = platform.machine()
    if machine.lower() in ARCH_BY_MACHINE:
        return detect_arch(machine)
    dpkg = shutil.which("dpkg")
    dpkg_arch = proc.run([dpkg, "--print-architecture"], timeout=10).stdout.strip() if dpkg else None
    return detect_arch(machine, dpkg_arch)


def asset_name(version: str, arch: str) -> str:
    """Release tarball name, e.g. mediamtx_v1.15.6_linux_arm64.tar.gz."""
    return f"mediamtx_{version}_linux_{arch}.tar.gz"


def release_url(base_url: str, version: str, name: str) -> str:
    """URL of one release file."""
    return f"{base_url.rstrip('/')}/{version}/{name}"


def base_url_from_env(environ: dict[str, str] | None = None) -> str:
    """The download base: $CAMSTREAM_MEDIAMTX_BASE_URL or GitHub releases."""
    env = os.environ if environ is None else environ
    return env.get(BASE_URL_ENV) or DEFAULT_BASE_URL


def parse_checksums(text: str) -> dict[str, str]:
    """`sha256sum` output (text or binary `*name` mode) as {file name: lowercase hex digest}."""
    sums: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.strip().split(None, 1)
        if len(parts) != 2:
            continue
        digest, name = parts
        sums[name.lstrip("*").strip()] = digest.lower()
    return sums


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verify_checksum(path: Path, name: str, checksums_text: str) -> None:
    """Raise ChecksumError unless `path` has the digest the checksums file lists for `name`."""
    expected = parse_checksums(checksums_text).get(name)
    if expected is None:
        raise ChecksumError(f"{name} is not listed in {CHECKSUMS_NAME}: refusing to install an unverified download")
    actual = sha256_file(path)
    if actual != expected:
        raise ChecksumError(
            f"{name} has sha256 {actual}, {CHECKSUMS_NAME} says {expected}: the download is corrupt or tampered"
        )


@dataclass(frozen=True)
class MediamtxInstall:
    """One install: which release, from where, to which path."""

    arch: str
    version: str = MEDIAMTX_VERSION
    base_url: str = DEFAULT_BASE_URL
    dest: str = INSTALL_PATH

    @property
    def asset(self) -> str:
        """The tarball name."""
        return asset_name(self.version, self.arch)

    @property
    def asset_url(self) -> str:
        """Where the tarball is downloaded from."""
        return release_url(self.base_url, self.version, self.asset)

    @property
    def checksums_url(self) -> str:
        """Where the release's checksums file is downloaded from."""
        return release_url(self.base_url, self.version, CHECKSUMS_NAME)

    def describe(self) -> str:
        """What the install does, for --dry-run."""
        return (
            f"# mediamtx {self.version} for linux/{self.arch}\n"
            f"# download {self.asset_url}\n"
            f"# download {self.checksums_url}\n"
            f"# verify sha256 of {self.asset} against {CHECKSUMS_NAME}\n"
            f"# extract mediamtx from {self.asset}\n"
            f"# install it to {self.dest} (mode 0755)\n"
        )

    def apply(self, host: Host, on_step: Callable[[str], None] = lambda _line: None) -> Path:
        """Download, verify, extract and install; returns the installed path. Nothing is installed on failure."""
        require_root(host, "camstream install-server mediamtx")
        target = host.path(self.dest)
        with tempfile.TemporaryDirectory(prefix="camstream-mediamtx-") as tmp_name:
            tmp = Path(tmp_name)
            on_step(f"downloading {self.asset_url}")
            tarball = _download(self.asset_url, tmp / self.asset)
            checksums = _download(self.checksums_url, tmp / CHECKSUMS_NAME).read_text()
            on_step(f"verifying {self.asset}")
            verify_checksum(tarball, self.asset, checksums)
            binary = _extract_binary(tarball, tmp / "x")
            target.parent.mkdir(parents=True, exist_ok=True)
            copy_atomic(binary, target, mode=0o755)
        on_step(f"installed {target}")
        return target


def _download(url: str, dest: Path) -> Path:
    try:
        with urllib.request.urlopen(url, timeout=60) as response, dest.open("wb") as out:  # noqa: S310 - http(s)/file
            shutil.copyfileobj(response, out)
    except (urllib.error.URLError, OSError) as exc:
        raise DownloadError(f"download of {url} failed ({exc}): check the network, or set {BASE_URL_ENV} to a mirror") from None
    return dest


def _extract_binary(tarball: Path, into: Path) -> Path:
    into.mkdir()
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            member = archive.getmember("mediamtx")
            if not member.isfile():
                raise ChecksumError(f"{tarball.name}: 'mediamtx' is not a regular file")
            # The 'data' filter refuses absolute paths, links out of the directory and device files.
            archive.extract(member, into, filter="data")
    except (KeyError, tarfile.TarError) as exc:
        raise ChecksumError(f"{tarball.name} does not contain the mediamtx binary: {exc}") from None
    return into / "mediamtx"
