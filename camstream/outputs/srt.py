"""SRT output: MPEG-TS over SRT to a caller/listener URL."""

from __future__ import annotations

from camstream.config import Config
from camstream.outputs.base import Endpoints, EncodedSink, Sink


class SrtOutput:
    """Live stream over SRT (e.g. to a ground station or a cloud ingest)."""

    name = "srt"

    def enabled(self, cfg: Config) -> bool:
        """On with --srt-url / srt.enabled."""
        return cfg.srt.enabled

    def sinks(self, cfg: Config, endpoints: Endpoints) -> list[Sink]:
        """One MPEG-TS tee slave with in-band SPS/PPS so a receiver can join at any keyframe."""
        return [EncodedSink("srt", "mpegts", cfg.srt.url, (("flush_packets", "1"),), inband_headers=True)]
