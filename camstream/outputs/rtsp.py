"""RTSP output: publish the live encode to the RTSP server (builtin ingest, mediamtx or external)."""

from __future__ import annotations

from camstream.config import Config
from camstream.outputs.base import Endpoints, EncodedSink, Sink


class RtspOutput:
    """Live stream for rtsp://<host>:8554/live viewers."""

    name = "rtsp"

    def enabled(self, cfg: Config) -> bool:
        """On with --rtsp / ENABLE_RTSP=1."""
        return cfg.rtsp.enabled

    def sinks(self, cfg: Config, endpoints: Endpoints) -> list[Sink]:
        """MPEG-TS over local TCP into the builtin server, or an RTSP publish (TCP interleaved) otherwise."""
        url = endpoints.rtsp_publish or cfg.rtsp.url
        if not url:
            return []
        if url.startswith("tcp://"):
            # The builtin server's ingest: a reliable local link (loopback UDP lost keyframe slices here).
            # omit_video_pes_length=0: write the PES length (frames up to 64 KiB), so the server's tsdemux
            # pushes each frame once it is complete instead of when the next one starts: one frame
            # interval less latency (ffmpeg-formats "mpegts": omit_video_pes_length; measured by bench/).
            options = (("flush_packets", "1"), ("omit_video_pes_length", "0"))
            return [EncodedSink("rtsp", "mpegts", url, options, inband_headers=True)]
        # Publishing over TCP: RTP over UDP would drop slices of large keyframes under load.
        return [EncodedSink("rtsp", "rtsp", url, (("rtsp_transport", "tcp"),))]
