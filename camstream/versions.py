"""Versions of camstream, Python, FFmpeg, GStreamer and the Python packages in use: what a bug report needs.

Lean on purpose (`camstream --version` runs it before any heavy import): installed packages are read from the
`*.dist-info` folders on sys.path instead of importlib.metadata, and the versions of external tools are cached per
binary (path, size, mtime), so only the first call after an upgrade pays for running `ffmpeg -version`.
"""

from __future__ import annotations

import importlib
import json
import os
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from camstream import __version__

# The Python packages a run can use (runtime deps and the rtsp/web extras), by their distribution names.
RUNTIME_EXTRAS = ("rtsp", "web")
_TOOLS: dict[str, tuple[list[str], str]] = {
    # name: (argv, regex for the version in its output)
    "FFmpeg": (["ffmpeg", "-version"], r"ffmpeg version (\S+)"),
    "GStreamer": (["gst-launch-1.0", "--version"], r"GStreamer (\S+)"),
}


def normalize(name: str) -> str:
    """PEP 503 normalised distribution name (PyYAML -> pyyaml, typing_extensions -> typing-extensions)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_distributions() -> dict[str, tuple[str, Path]]:
    """{normalised name: (version, dist-info folder)} for every distribution on sys.path; first one wins."""
    found: dict[str, tuple[str, Path]] = {}
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for folder in names:
            if not folder.endswith(".dist-info"):
                continue
            name, _, version = folder[: -len(".dist-info")].partition("-")
            found.setdefault(normalize(name), (version, Path(entry or ".", folder)))
    return found


def _metadata_dirs() -> list[tuple[str, Path]]:
    """(normalised distribution name, folder) of every *.dist-info / *.egg-info on sys.path, first one wins."""
    seen: set[str] = set()
    out: list[tuple[str, Path]] = []
    for entry in sys.path:
        try:
            names = sorted(os.listdir(entry or "."))
        except OSError:
            continue
        for folder in names:
            if not folder.endswith((".dist-info", ".egg-info")):
                continue
            name = normalize(folder.rsplit(".", 1)[0].split("-")[0])
            if name not in seen:
                seen.add(name)
                out.append((name, Path(entry or ".", folder)))
    return out


@dataclass(frozen=True)
class EntryPoint:
    """One `name = module:attr` line of a distribution's entry_points.txt."""

    name: str
    value: str
    group: str

    def load(self) -> Any:
        """Import the module and return the attribute (as importlib.metadata.EntryPoint.load does)."""
        module_name, _, attrs = self.value.partition(":")
        target: Any = importlib.import_module(module_name.strip())
        for attr in filter(None, attrs.strip().split(".")):
            target = getattr(target, attr)
        return target


def entry_points(group: str) -> list[EntryPoint]:
    """Installed entry points of `group`, read from entry_points.txt without importlib.metadata.

    importlib.metadata pulls in email, zipfile and csv (~3 MB of RSS for the life of the supervisor, issue 17);
    the file format is the packaging spec's INI subset ("Entry points specification"), so a few lines read it.
    """
    found: list[EntryPoint] = []
    for _name, folder in _metadata_dirs():
        try:
            text = (folder / "entry_points.txt").read_text(errors="replace")
        except OSError:
            continue
        section = None
        for raw in text.splitlines():
            line = raw.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("[") and line.endswith("]"):
                section = line[1:-1].strip()
            elif section == group and "=" in line:
                name, _, value = line.partition("=")
                found.append(EntryPoint(name.strip(), value.strip(), group))
    return found


_REQ = re.compile(r"^Requires-Dist:\s*([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?[^;]*(?:;\s*(.*))?$")


def requirements(dist_info: Path, extras: tuple[str, ...] = ()) -> list[str]:
    """Normalised names a distribution requires (base, plus the given extras); platform markers are ignored."""
    try:
        text = (dist_info / "METADATA").read_text(errors="replace")
    except OSError:
        return []
    names: list[str] = []
    for line in text.splitlines():
        if not line:
            break  # the headers end at the first blank line
        match = _REQ.match(line)
        if not match:
            continue
        name, marker = match.group(1), match.group(2) or ""
        extra = re.search(r"""extra\s*==\s*["']([^"']+)["']""", marker)
        if extra and extra.group(1) not in extras:
            continue
        names.append(normalize(name))
    return names


def python_packages() -> tuple[dict[str, str], dict[str, str]]:
    """({direct dependency: version}, {their dependencies: version}) of what a run can import, as installed."""
    dists = installed_distributions()
    own = dists.get("camstream")
    if own is None:
        return {}, {}
    direct = requirements(own[1], RUNTIME_EXTRAS)
    out: dict[str, str] = {}
    todo = list(direct)
    while todo:
        name = todo.pop(0)
        if name in out or name not in dists:
            continue
        version, folder = dists[name]
        out[name] = version
        todo += requirements(folder)
    first = {name: out[name] for name in direct if name in out}
    rest = {name: version for name, version in sorted(out.items()) if name not in first}
    return first, rest


def _cache_file() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache")
    return Path(base) / "camstream" / "tool-versions.json"


def tool_versions() -> dict[str, str]:
    """{"FFmpeg": "5.1.6-0+deb12u1", "GStreamer": "1.22.0"}; "not installed" for a missing tool."""
    cache_path = _cache_file()
    try:
        cache = json.loads(cache_path.read_text())
        if not isinstance(cache, dict):
            cache = {}
    except (OSError, ValueError):
        cache = {}
    out: dict[str, str] = {}
    changed = False
    for name, (argv, pattern) in _TOOLS.items():
        binary = shutil.which(argv[0])
        if binary is None:
            out[name] = "not installed"
            continue
        st = os.stat(binary)
        key = f"{binary}:{st.st_size}:{st.st_mtime_ns}"
        entry = cache.get(name)
        if isinstance(entry, dict) and entry.get("key") == key and isinstance(entry.get("version"), str):
            out[name] = entry["version"]
            continue
        from camstream import proc  # only on a cache miss: it pulls in subprocess and threading

        result = proc.run([binary, *argv[1:]], timeout=10)
        match = re.search(pattern, result.stdout + result.stderr)
        out[name] = match.group(1) if match else "unknown"
        cache[name] = {"key": key, "version": out[name]}
        changed = True
    if changed:
        try:
            cache_path.parent.mkdir(parents=True, exist_ok=True)
            from camstream.storage.atomic import write_atomic

            write_atomic(cache_path, json.dumps(cache))
        except OSError:
            pass  # a read-only home only costs the next call the same tool runs
    return out


def version_report() -> str:
    """The multi-line text `camstream --version` prints."""
    lines = [f"camstream {__version__}", f"Python {sys.version.split()[0]} ({sys.executable})"]
    lines += [f"{name} {version}" for name, version in tool_versions().items()]
    direct, indirect = python_packages()
    for title, packages in (("packages", direct), ("their dependencies", indirect)):
        if packages:
            lines.append(f"{title}: " + ", ".join(f"{name} {version}" for name, version in packages.items()))
    return "\n".join(lines)
