"""Value parsers: each takes the raw value (str from env/flags, any from YAML) and returns the typed value
or raises ValueError saying what is allowed. One parser per value type, shared by YAML, env and flags."""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


Parser = Callable[[Any], Any]

_SIZE_UNITS = {"": 1, "B": 1, "K": 10**3, "KB": 10**3, "M": 10**6, "MB": 10**6, "G": 10**9, "GB": 10**9,
               "T": 10**12, "TB": 10**12, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30, "TIB": 2**40}
_DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def whole(lo: int, hi: int) -> Parser:
    """A whole number in [lo, hi]."""

    def parse(raw: Any) -> int:
        if isinstance(raw, bool):
            raise ValueError(f"expected a whole number {lo}-{hi}")
        text = str(raw).strip()
        if not re.fullmatch(r"[+-]?\d+", text) or not lo <= int(text) <= hi:
            raise ValueError(f"expected a whole number {lo}-{hi}")
        return int(text)

    return parse


def number(lo: float, hi: float, what: str = "a number") -> Parser:
    """A decimal number in [lo, hi]."""

    def parse(raw: Any) -> float:
        try:
            if isinstance(raw, bool):
                raise ValueError
            value = float(str(raw).strip())
        except ValueError:
            raise ValueError(f"expected {what} {lo:g}-{hi:g}") from None
        if not lo <= value <= hi or value != value:
            raise ValueError(f"expected {what} {lo:g}-{hi:g}")
        return value

    return parse


def boolean(raw: Any) -> bool:
    """1/0, true/false, yes/no, on/off."""
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in _TRUE:
        return True
    if text in _FALSE:
        return False
    raise ValueError("expected 1/0, true/false, yes/no or on/off")


def choice(*options: str) -> Parser:
    """One of a fixed set of words."""

    def parse(raw: Any) -> str:
        text = str(raw).strip()
        if text not in options:
            raise ValueError(f"expected one of {', '.join(options)}")
        return text

    return parse


def text(raw: Any) -> str:
    """Any string."""
    return "" if raw is None else str(raw)


def path(raw: Any) -> Path:
    """A filesystem path; `~` expands to the home directory."""
    value = str(raw).strip()
    if not value:
        raise ValueError("expected a directory path")
    return Path(os.path.expanduser(value))


def optional_path(raw: Any) -> Path | None:
    """A path, or empty for the default."""
    if raw is None or str(raw).strip() == "":
        return None
    return path(raw)


def size_bytes(raw: Any) -> int:
    """A size like 20GB, 500MB, 1.5G or a plain byte count."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", str(raw))
    unit = match.group(2).upper() if match else ""
    if not match or unit not in _SIZE_UNITS:
        raise ValueError("expected a size like 500MB, 20GB or 1TB")
    return int(float(match.group(1)) * _SIZE_UNITS[unit])


def optional_size(raw: Any) -> int | None:
    """A size, or empty/none/0 for no limit."""
    if raw is None or str(raw).strip().lower() in {"", "none", "0", "off"}:
        return None
    return size_bytes(raw)


def optional_duration(raw: Any) -> float | None:
    """A duration like 7d, 12h, 30m, 90s or plain seconds; empty/none for no limit."""
    if raw is None or str(raw).strip().lower() in {"", "none", "0", "off"}:
        return None
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*", str(raw))
    if not match:
        raise ValueError("expected a duration like 90s, 30m, 12h or 7d")
    return float(match.group(1)) * _DURATION_UNITS[match.group(2) or "s"]


@dataclass(frozen=True)
class MinFree:
    """Free space to always leave on the recording disk: an absolute size or a percentage of the disk."""

    bytes: int = 0
    percent: float = 0.0

    def required(self, disk_total: int) -> int:
        """Bytes that must stay free on a disk of `disk_total` bytes."""
        return max(self.bytes, int(disk_total * self.percent / 100))

    def __str__(self) -> str:
        return f"{self.percent:g}%" if self.percent else str(self.bytes)


def min_free(raw: Any) -> MinFree:
    """A size (1GB) or a percentage (5%)."""
    if isinstance(raw, MinFree):
        return raw
    value = str(raw).strip()
    if value.lower() in {"", "none", "0", "off"}:
        return MinFree()
    if value.endswith("%"):
        pct = number(0, 99, "a percentage")(value[:-1])
        return MinFree(percent=pct)
    try:
        return MinFree(bytes=size_bytes(value))
    except ValueError:
        raise ValueError("expected a size like 1GB or a percentage like 5%") from None


def bitrate(raw: Any) -> int:
    """Bits per second: 2000000, 2M or 2000k; 16 kbit/s to 100 Mbit/s."""
    match = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*", str(raw))
    if isinstance(raw, bool) or not match:
        raise ValueError("expected bits per second 16000-100000000 (e.g. 2000000, 2M or 2000k)")
    value = int(float(match.group(1)) * {"": 1, "k": 1000, "m": 1_000_000}[match.group(2).lower()])
    if not 16_000 <= value <= 100_000_000:
        raise ValueError("expected bits per second 16000-100000000 (e.g. 2000000, 2M or 2000k)")
    return value


def port_number(raw: Any) -> int:
    """A TCP/UDP port 1-65535."""
    return whole(1, 65535)(raw)


def url_path(raw: Any) -> str:
    """An RTSP path segment such as `live` (no leading slash needed)."""
    value = str(raw).strip().strip("/")
    if not re.fullmatch(r"[A-Za-z0-9._~/-]+", value):
        raise ValueError("expected a path like live or cams/front (letters, digits, . _ ~ - /)")
    return value


def stream_key(raw: Any) -> str:
    """An RTMP stream key (letters, digits, . _ -)."""
    value = str(raw).strip()
    if not re.fullmatch(r"[A-Za-z0-9._-]+", value):
        raise ValueError("expected letters, digits, '.', '_' or '-' (e.g. cam)")
    return value


def rtmp_server(raw: Any) -> str:
    """`managed` (camstream runs nginx-rtmp) or an rtmp:// / rtmps:// application URL."""
    value = str(raw).strip().rstrip("/")
    if value == "managed" or re.fullmatch(r"rtmps?://[^\s/]+(/[^\s]*)?", value):
        return value
    raise ValueError("expected managed or a URL like rtmp://192.168.1.10:1935/live")


def resolution(raw: Any) -> tuple[int, int]:
    """WIDTHxHEIGHT, each 16-7680 and even (H.264 with 4:2:0 needs even sizes)."""
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", str(raw))
    allowed = "expected WIDTHxHEIGHT with even numbers 16-7680, e.g. 1280x720"
    if not match:
        raise ValueError(allowed)
    width, height = int(match.group(1)), int(match.group(2))
    for v in (width, height):
        if not 16 <= v <= 7680 or v % 2:
            raise ValueError(allowed)
    return width, height


def even_size(raw: Any) -> int:
    """A frame width or height: an even number 16-7680."""
    value = whole(16, 7680)(raw)
    if value % 2:
        raise ValueError("expected an even number 16-7680 (H.264 4:2:0 needs even sizes)")
    return value


def name_list(raw: Any) -> list[str]:
    """Plug-in names, as a YAML list or a comma/space separated string."""
    items = raw if isinstance(raw, list) else [s for s in re.split(r"[,\s]+", str(raw)) if s]
    for item in items:
        if not re.fullmatch(r"[A-Za-z0-9_.-]+", str(item)):
            raise ValueError("expected plug-in names (letters, digits, _ . -), comma separated")
    return [str(i) for i in items]


def optional_number(lo: float, hi: float, what: str) -> Parser:
    """A number in [lo, hi], or empty for "not set"."""

    def parse(raw: Any) -> float | None:
        if raw is None or str(raw).strip() == "":
            return None
        return float(number(lo, hi, what)(raw))

    return parse


def audio_input(raw: Any) -> str:
    """none, source, pulse:NAME, or an ALSA device (default, hw:1,0, plughw:CARD=Device,DEV=0, ...)."""
    value = str(raw).strip()
    if value in ("", "none", "off", "0", "false"):
        return "none"
    if value == "source":
        return value
    if re.fullmatch(r"pulse:[A-Za-z0-9_.:@-]+", value):
        return value
    # ALSA PCM names: a plugin name, optionally with :ARGS (alsa-lib "PCM naming conventions").
    if re.fullmatch(r"(default|sysdefault|hw|plughw|dsnoop|front)(:[A-Za-z0-9_=,.-]+)?", value):
        return value
    raise ValueError("expected none, source, pulse:NAME, or an ALSA device like default, hw:1,0 or "
                     "plughw:CARD=Device (list them with `camstream devices`)")


def audio_channels(raw: Any) -> int:
    """auto (0: mono for microphones, stereo for a source's own track) or 1-8."""
    if str(raw).strip().lower() in ("auto", "0"):
        return 0
    try:
        return int(whole(1, 8)(raw))
    except ValueError:
        raise ValueError("expected auto or a whole number 1-8") from None
