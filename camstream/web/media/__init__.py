"""Live video for the browser from camstream's single H.264 encode: WebRTC (WHEP) and a TCP-only fMP4 fallback.

The web server (camstream/web/server.py) builds `MediaHub(ingest_port, path, ice)`, awaits `start()`, adds
`routes()` to its aiohttp application and reads `stats()` for status and /metrics. The browser side is
camstream/web/static/player.js. GStreamer (PyGObject) is imported only when the hub starts.
"""

from __future__ import annotations

from camstream.web.media.hub import IceSettings, MediaHub

__all__ = ["IceSettings", "MediaHub"]
