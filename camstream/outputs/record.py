"""Record output: MP4 chunks of about segment_seconds in <SSD_PATH>/video, named by UTC start time."""

from __future__ import annotations

from camstream.config import Config
from camstream.outputs.base import Endpoints, EncodedSink, Sink
from camstream.storage.layout import CHUNK_PATTERN, PART_SUFFIX

# Chunks are written under a .part name; camstream renames each one when FFmpeg lists it as closed,
# so a reader can always tell a finished chunk from the one being written (names: storage/layout.py).


class RecordOutput:
    """Crash-safe MP4 chunks."""

    name = "record"

    def enabled(self, cfg: Config) -> bool:
        """On with --record / ENABLE_VIDEO=1."""
        return cfg.record.enabled

    def sinks(self, cfg: Config, endpoints: Endpoints) -> list[Sink]:
        """One segment-muxer tee slave writing fragmented MP4."""
        options = [
            ("segment_time", f"{cfg.record.segment_seconds:g}"),
            ("segment_format", "mp4"),
            # Fragmented MP4: a chunk cut short by a power loss still plays up to its last fragment
            # (FFmpeg formats manual, mov/mp4 "movflags"); default_base_moof helps browsers/MSE.
            # flush_packets=1: without it the inner muxer's I/O buffer held every fragment until the chunk
            # closed, so a SIGKILL left only the 28-byte ftyp on disk (measured here with FFmpeg 5.1).
            ("segment_format_options", "movflags=+frag_keyframe+empty_moov+default_base_moof:flush_packets=1"),
            ("reset_timestamps", "1"),
            ("strftime", "1"),  # names come from the wall clock; camstream runs FFmpeg with TZ=UTC
        ]
        if endpoints.segment_list is not None:
            # The segment muxer appends "file,start,end" after closing each chunk: our "chunk landed" signal.
            options += [("segment_list", str(endpoints.segment_list)), ("segment_list_type", "csv")]
        target = str(cfg.video_dir / (CHUNK_PATTERN + PART_SUFFIX))
        return [EncodedSink("record", "segment", target, tuple(options))]
