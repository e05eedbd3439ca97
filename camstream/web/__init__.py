"""The browser view: the page (static files, no build step), the JSON API, /metrics and the live media routes.

The server runs in its own process (`python -m camstream.web`, see camstream/web/server.py), started and
watched by camstream's supervisor through camstream/servers/web.py.
"""

from __future__ import annotations
