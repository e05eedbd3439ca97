"""camstream: one camera in, a clean live stream and a safe local recording out, unattended."""

from __future__ import annotations

__version__ = "0.1.0"
