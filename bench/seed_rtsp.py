"""The first seed's RTSP design, for the latency anchor: gst-rtsp-server with x264enc inside, fed raw Y4M.

Run as `python -m bench.seed_rtsp --port P --fifo F --launch '<pipeline>'`: one shared media (the seed's
`set_shared(True)`) whose pipeline reads raw frames from the FIFO, encodes with x264enc at camstream's settings
and payloads with rtph264pay (bench.cases.seed_rtsp_launch). Prints "listening rtsp://..." when it accepts
connections; stops on SIGTERM/SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence

READY_PREFIX = "listening rtsp://"


def main(args: Sequence[str] | None = None) -> int:
    """Serve the seed's media until told to stop."""
    parser = argparse.ArgumentParser(prog="python -m bench.seed_rtsp", description=__doc__)
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mount", default="/live")
    parser.add_argument("--launch", required=True, help="the media pipeline (gst-launch syntax, pay0 inside)")
    ns = parser.parse_args(args)

    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(ns.address)
    server.set_service(str(ns.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(f"( {ns.launch} )")
    factory.set_shared(True)  # the seed: one encoder for every viewer
    server.get_mount_points().add_factory(ns.mount, factory)
    if server.attach(None) == 0:
        print(f"error: cannot listen on {ns.address}:{ns.port}", file=sys.stderr)
        return 1
    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    print(f"{READY_PREFIX}{ns.address}:{ns.port}{ns.mount}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
