"""The documented example YAML (config/camstream.example.yaml), rendered from the model's own declarations."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from camstream.config.parsers import MinFree
from camstream.config.schema import SECTIONS, SETTINGS


def _yaml_scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, Path):
        return str(value).replace(str(Path.home()), "~", 1) if str(value).startswith(str(Path.home())) else str(value)
    if isinstance(value, MinFree):
        return "0" if not value.bytes and not value.percent else str(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return "[" + ", ".join(value) + "]"
    if isinstance(value, str) and (value == "" or re.search(r"[:#\s]", value)):
        return f'"{value}"'
    return str(value)


def render_example() -> str:
    """The documented example YAML: every setting with its default and help (config/camstream.example.yaml)."""
    lines = [
        "# camstream configuration. Every key is optional; the value shown is the default.",
        "# Precedence: command-line flags > environment > this file > defaults.",
        "# Every key also reads CAMSTREAM_<SECTION>_<KEY> from the environment (e.g. CAMSTREAM_VIDEO_FPS);",
        "# older names noted below keep working.",
        "",
    ]
    section = None
    for s in SETTINGS.values():
        parent = s.key.split(".")[0] if "." in s.key else None
        if parent != section:
            section = parent
            if parent:
                lines.append("")
                lines.append(f"{parent}:  # {SECTIONS[parent]}")
        indent = "  " if parent else ""
        name = s.key.split(".")[-1]
        legacy = f" (env {', '.join(s.env)})" if s.env else ""
        lines.append(f"{indent}# {s.help}{legacy}")
        value = _yaml_scalar(s.default)
        lines.append(f"{indent}{name}: {value}".rstrip())
    return "\n".join(lines) + "\n"
