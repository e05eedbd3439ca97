"""Every name camstream gives a file or folder on disk, in one place (home-assistant's stream/const.py pattern).

Recordings live under paths.ssd_path; runtime state under the state directory. Chunk and snapshot names are the
UTC time they start, so they sort by time and say when they were taken.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone

# Under paths.ssd_path (the first seed's layout).
VIDEO_DIR = "video"
IMAGES_DIR = "images"
LATEST_DIR = "drone_temp"  # default of paths.latest_dir

# Chunks: FFmpeg's segment muxer names them with strftime; the one being written carries PART_SUFFIX and is
# renamed when FFmpeg lists it as closed, so a reader can always tell a finished chunk from a growing one.
CHUNK_SUFFIX = ".mp4"
CHUNK_PATTERN = "%Y%m%dT%H%M%SZ" + CHUNK_SUFFIX
PART_SUFFIX = ".part"
# What a .part left by a crash becomes: it plays up to its last fragment, and the name says it was cut short.
RECOVERED_SUFFIX = ".recovered" + CHUNK_SUFFIX

# Snapshots: FFmpeg's image2 muxer with -strftime (one per second at most, so seconds suffice).
IMAGE_SUFFIX = ".jpg"
SNAPSHOT_PATTERN = "%Y%m%dT%H%M%SZ" + IMAGE_SUFFIX

# In paths.latest_dir: symlinks to the newest finished chunk and snapshot.
LATEST_VIDEO = "latest_video" + CHUNK_SUFFIX
LATEST_IMAGE = "latest_image" + IMAGE_SUFFIX

# In the state directory.
SEGMENT_LIST = "segments.csv"  # FFmpeg appends "file,start,end" as each chunk closes
STATUS_FILE = "status.json"  # what `camstream status` reads
OVERRIDE_FILE = "retention.yaml"  # retention limits changed at run time (`camstream recordings limits`)
RTSP_STATUS_FILE = "rtsp_builtin.json"  # the builtin RTSP server's viewers and ingest state
MEDIAMTX_DIR = "mediamtx"
NGINX_DIR = "nginx"

STAMP = re.compile(r"^(\d{8}T\d{6})Z")


def stamp_time(name: str) -> datetime | None:
    """UTC time encoded in a chunk/snapshot name like 20261123T185333Z.mp4."""
    match = STAMP.match(name)
    if not match:
        return None
    try:
        return datetime.strptime(match.group(1), "%Y%m%dT%H%M%S").replace(tzinfo=timezone.utc)
    except ValueError:  # digits in the right places, but not a date (20261399T...): not one of ours
        return None


def is_recording(name: str) -> bool:
    """A finished chunk (incl. .recovered.mp4) or snapshot camstream wrote: UTC-stamped name, final suffix
    (not a .part being written, not the temp file of an atomic write)."""
    return name.endswith((CHUNK_SUFFIX, IMAGE_SUFFIX)) and stamp_time(name) is not None
