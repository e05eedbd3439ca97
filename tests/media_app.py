"""A minimal web process around MediaHub for the media tests: the hub's routes, player.js and a bare page.

Run as `python tests/media_app.py --port P --ingest-port I [--udp-port U]`; prints "listening http://..."
once it serves and runs until SIGTERM. The full web server (camstream.web) adds auth, the API and the page.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from pathlib import Path

from aiohttp import web

from camstream.web.media import IceSettings, MediaHub

STATIC = Path(__file__).resolve().parents[1] / "camstream" / "web" / "static"
PAGE = """<!doctype html><html><head><meta name=viewport content="width=device-width">
<title>camstream media test</title></head><body style="margin:0;background:#000">
<video id=v muted autoplay playsinline style="width:100%"></video>
<script src="/static/player.js"></script>
<script>window.player = CamstreamPlayer.attach(document.getElementById("v"), {path: "%(path)s"});</script>
</body></html>"""


def drop_sent_packets(every: int) -> None:
    """Make every WebRTC viewer lose each `every`-th video RTP packet it sends, on its way to the network.

    Fault injection for the NACK/RTX test: the packets are dropped where webrtcbin hands them to SRTP, i.e.
    after rtprtxsend stored them, as a lossy Wi-Fi link would lose them. Retransmissions are never dropped.
    """
    from camstream.web.media import gst

    Gst = gst.Gst
    negotiate = gst.WebRtcPeer.negotiate

    def lossy(self: gst.WebRtcPeer, offer_sdp: str, gather_timeout: float) -> str:
        answer = negotiate(self, offer_sdp, gather_timeout)
        sent = [0]

        def drop(_pad: Gst.Pad, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
            buf = info.get_buffer()
            if buf.get_size() > 12 and buf.extract_dup(1, 1)[0] & 0x7F == self.pt:  # media, not RTX
                sent[0] += 1
                if sent[0] % every == 0:
                    return Gst.PadProbeReturn.DROP
            return Gst.PadProbeReturn.OK

        it = self.rtc.iterate_recurse()
        while True:
            res, element = it.next()
            if res != Gst.IteratorResult.OK:
                break
            factory = element.get_factory()
            if factory is not None and factory.get_name() == "srtpenc":
                for pad in element.sinkpads:
                    if pad.get_name().startswith("rtp_sink"):
                        pad.add_probe(Gst.PadProbeType.BUFFER, drop)
        return answer

    gst.WebRtcPeer.negotiate = lossy  # type: ignore[method-assign]


async def serve(ns: argparse.Namespace) -> int:
    """Start the hub and the app; run until a stop signal."""
    if ns.drop_every:
        drop_sent_packets(ns.drop_every)
    hub = MediaHub(ns.ingest_port, ns.path, IceSettings(udp_port=ns.udp_port))
    await hub.start()
    app = web.Application()
    app.add_routes(hub.routes())

    async def index(_request: web.Request) -> web.Response:
        return web.Response(text=PAGE.replace("%(path)s", ns.path), content_type="text/html")

    async def stats(_request: web.Request) -> web.Response:
        return web.json_response(hub.stats())

    app.router.add_get("/", index)
    app.router.add_get("/stats", stats)
    app.router.add_static("/static/", STATIC)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    await web.TCPSite(runner, ns.address, ns.port).start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    print(f"listening http://{ns.address}:{ns.port}/", flush=True)
    await stop.wait()
    await hub.stop()
    await runner.cleanup()
    return 0


def main() -> int:
    """Entry point."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--address", default="0.0.0.0")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ingest-port", type=int, required=True)
    parser.add_argument("--udp-port", type=int)
    parser.add_argument("--path", default="live")
    parser.add_argument("--drop-every", type=int, default=0, help="lose every Nth video RTP packet (NACK/RTX test)")
    ns = parser.parse_args()
    logging.basicConfig(level=logging.DEBUG if os.environ.get("CAMSTREAM_MEDIA_DEBUG") else logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    return asyncio.run(serve(ns))


if __name__ == "__main__":
    sys.exit(main())
