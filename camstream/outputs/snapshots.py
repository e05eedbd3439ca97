"""Snapshots output: one JPEG per interval in <SSD_PATH>/images, named by UTC time."""

from __future__ import annotations

from camstream.config import Config
from camstream.outputs.base import Endpoints, FrameSink, Sink
from camstream.storage.layout import SNAPSHOT_PATTERN


class SnapshotsOutput:
    """Still images for anything that watches latest_image.jpg."""

    name = "snapshots"

    def enabled(self, cfg: Config) -> bool:
        """On with --snapshots / ENABLE_IMAGES=1."""
        return cfg.snapshots.enabled

    def sinks(self, cfg: Config, endpoints: Endpoints) -> list[Sink]:
        """Decoded frames thinned to one per interval, JPEG-encoded, written atomically (temp file + rename)
        through tee's fifo, so a failed write (disk full) is retried and never ends FFmpeg."""
        return [
            FrameSink(
                "snapshots",
                # MJPEG wants full-range 4:2:0; fps= keeps one frame per interval.
                f"fps=1/{cfg.snapshots.interval:g},format=yuvj420p",
                ("-c:v", "mjpeg", "-q:v", str(cfg.snapshots.quality)),
                str(cfg.images_dir / SNAPSHOT_PATTERN),
                muxer="image2",
                options=(("strftime", "1"), ("atomic_writing", "1")),
            )
        ]
