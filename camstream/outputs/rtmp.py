"""RTMP output: publish FLV to rtmp://<server>/live/<stream-key> (nginx-rtmp or any RTMP ingest)."""

from __future__ import annotations

from camstream.config import Config
from camstream.outputs.base import Endpoints, EncodedSink, Sink


class RtmpOutput:
    """Live stream for rtmp:// viewers and streaming platforms."""

    name = "rtmp"

    def enabled(self, cfg: Config) -> bool:
        """On with --rtmp, or when --server names an RTMP ingest."""
        return cfg.rtmp.enabled

    def sinks(self, cfg: Config, endpoints: Endpoints) -> list[Sink]:
        """One FLV tee slave."""
        url = endpoints.rtmp_publish or rtmp_publish_url(cfg)
        if not url:
            return []
        # no_duration_filesize: a live FLV has no end to seek back to (FFmpeg flv muxer docs).
        # inband_headers: SPS/PPS before every keyframe on every network output, whatever +global_header did to
        # the encoder: libx264 and the Pi's h264_v4l2m2m stop repeating them in-band once they go to extradata
        # (issue 15), and a relay that drops the FLV sequence header would leave a late viewer black.
        return [EncodedSink("rtmp", "flv", url, (("flvflags", "no_duration_filesize"),), inband_headers=True)]


def rtmp_publish_url(cfg: Config, host: str = "127.0.0.1") -> str:
    """The seed's `--server URL` + `--stream-key` as one URL; the managed server lives on this host."""
    if cfg.rtmp.server == "managed":
        return f"rtmp://{host}:{cfg.rtmp.port}/live/{cfg.rtmp.stream_key}"
    return f"{cfg.rtmp.server.rstrip('/')}/{cfg.rtmp.stream_key}"
