"""`camstream --version` text (kept free of Typer so the fast path can print it)."""

from __future__ import annotations

from camstream.versions import version_report


def version_text() -> str:
    """camstream, Python, FFmpeg, GStreamer and Python package versions, one per line."""
    return version_report()
