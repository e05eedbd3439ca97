"""Web output: the live encode into camstream's web server (WebRTC and the TCP fallback), over local TCP."""

from __future__ import annotations

from camstream.config import Config
from camstream.outputs.base import OPUS, Endpoints, EncodedSink, Sink

# The same ingest options as the builtin RTSP server's (camstream/outputs/rtsp.py): a reliable local TCP link,
# and PES lengths written so the receiver's demuxer pushes each frame as soon as it is complete
# (ffmpeg-formats "mpegts": flush_packets, omit_video_pes_length).
TS_INGEST_OPTIONS = (("flush_packets", "1"), ("omit_video_pes_length", "0"))
# With sound: one PES per Opus packet. The muxer otherwise gathers audio packets into PES of at least 2930
# bytes (ffmpeg-formats "mpegts": pes_payload_size), i.e. ~0.4 s of 48 kb/s Opus held back before the hub
# sees the first of them.
TS_AUDIO_OPTIONS = (("pes_payload_size", "0"),)


class WebOutput:
    """Live video for the browser page at http://<host>:8080/."""

    name = "web"

    def enabled(self, cfg: Config) -> bool:
        """On whenever a live output is on and web.enabled (--web/--no-web)."""
        return cfg.web_view

    def sinks(self, cfg: Config, endpoints: Endpoints) -> list[Sink]:
        """MPEG-TS over local TCP into the web server's media hub, exactly as the builtin RTSP ingest is fed."""
        url = endpoints.publish.get("web")
        if not url:
            return []
        options = TS_INGEST_OPTIONS + (TS_AUDIO_OPTIONS if cfg.audio.enabled else ())
        # The browser gets Opus (WebRTC has no AAC); every other sink keeps the AAC (graph.py: tee select).
        return [EncodedSink("web", "mpegts", url, options, inband_headers=True, audio=OPUS)]
