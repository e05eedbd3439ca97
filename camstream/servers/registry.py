"""The table of servers camstream runs as its own children (one module each, sharing servers/base.py).

SERVERS is the registration table `app.make_plan` walks: each class says whether the run wants it
(`wanted`) and builds itself from the config (`from_config`). A new server is one module plus one line here.
"""

from __future__ import annotations

from camstream.servers.base import ManagedServer
from camstream.servers.mediamtx import MediamtxServer
from camstream.servers.nginx_rtmp import NginxRtmpServer
from camstream.servers.rtsp_builtin import BuiltinRtspServer

SERVERS: tuple[type[ManagedServer], ...] = (
    BuiltinRtspServer,
    MediamtxServer,
    NginxRtmpServer,
)
