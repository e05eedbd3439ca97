"""H.264 bitstream helpers for the browser media (pure): Annex-B access units, SPS facts, avcC, profile matching.

Profiles are compared the way browsers compare them for WebRTC: libwebrtc's
`api/video_codecs/h264_profile_level_id.cc` maps (profile_idc, constraint flags) onto a profile name with
bit patterns, and two `profile-level-id`s are the same codec when their profiles are equal (the level is not
part of the match; `level-asymmetry-allowed=1` lets each side send at its own level, RFC 6184 8.1).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NAL_SLICE = 1
NAL_IDR = 5
NAL_SEI = 6
NAL_SPS = 7
NAL_PPS = 8
NAL_AUD = 9

_START = re.compile(b"\x00\x00\x01")

# (profile_idc, constraint-flags pattern MSB first, 'x' = any bit, profile name): libwebrtc's kProfilePatterns.
_PATTERNS: tuple[tuple[int, str, str], ...] = (
    (0x42, "x1xx0000", "constrained-baseline"),
    (0x4D, "1xxx0000", "constrained-baseline"),
    (0x58, "11xx0000", "constrained-baseline"),
    (0x42, "x0xx0000", "baseline"),
    (0x58, "10xx0000", "baseline"),
    (0x4D, "0x0x0000", "main"),
    (0x64, "00000000", "high"),
    (0x64, "00001100", "constrained-high"),
    (0xF4, "00000000", "high-444"),
)


def split_nals(data: bytes) -> list[bytes]:
    """The NAL units of an Annex-B byte stream (3- or 4-byte start codes), without their start codes."""
    starts = [m.end() for m in _START.finditer(data)]
    nals = []
    for i, begin in enumerate(starts):
        end = starts[i + 1] - 3 if i + 1 < len(starts) else len(data)
        nal = data[begin:end]
        # A 4-byte start code leaves its leading zero at the end of the previous NAL (trailing_zero_8bits).
        nal = nal.rstrip(b"\x00") if i + 1 < len(starts) else nal
        if nal:
            nals.append(nal)
    return nals


def nal_type(nal: bytes) -> int:
    """nal_unit_type of one NAL unit."""
    return nal[0] & 0x1F


def profile_level_id(sps: bytes) -> str:
    """The six hex digits of `profile-level-id` (RFC 6184) carried by an SPS NAL unit: profile, flags, level."""
    if len(sps) < 4 or nal_type(sps) != NAL_SPS:
        raise ValueError("not an SPS NAL unit")
    return sps[1:4].hex()


def profile_name(plid: str) -> str | None:
    """The WebRTC profile of a `profile-level-id` (e.g. '42e01f' -> 'constrained-baseline'), None if unknown."""
    try:
        raw = bytes.fromhex(plid)
    except ValueError:
        return None
    if len(raw) != 3:
        return None
    idc, flags = raw[0], f"{raw[1]:08b}"
    for p_idc, pattern, name in _PATTERNS:
        if p_idc == idc and all(want in ("x", got) for want, got in zip(pattern, flags, strict=True)):
            return name
    return None


def mse_codec(plid: str) -> str:
    """The RFC 6381 codec string MediaSource wants for this stream, e.g. 'avc1.42c01f'."""
    return f"avc1.{plid.lower()}"


def avc_decoder_config(sps: bytes, pps: bytes) -> bytes:
    """An AVCDecoderConfigurationRecord (ISO/IEC 14496-15 5.3.3.1, the body of an avcC box) for one SPS and PPS."""
    return (
        bytes([1, sps[1], sps[2], sps[3], 0xFF, 0xE1])  # version, profile, compat, level, 4-byte lengths, 1 SPS
        + len(sps).to_bytes(2, "big")
        + sps
        + bytes([1])
        + len(pps).to_bytes(2, "big")
        + pps
    )


@dataclass(frozen=True)
class AccessUnit:
    """One coded picture split for the MP4 side: its picture NAL units and the parameter sets it carried."""

    keyframe: bool
    sps: bytes | None
    pps: bytes | None
    sample: bytes  # length-prefixed (4 bytes) NAL units without SPS/PPS/AUD: an MP4 'avc1' sample


def access_unit(data: bytes) -> AccessUnit:
    """Split one Annex-B access unit into what an MP4 sample needs and the parameter sets it carried."""
    sps = pps = None
    keyframe = False
    parts = []
    for nal in split_nals(data):
        kind = nal_type(nal)
        if kind == NAL_SPS:
            sps = nal
        elif kind == NAL_PPS:
            pps = nal
        elif kind == NAL_AUD:
            continue
        else:
            keyframe = keyframe or kind == NAL_IDR
            parts.append(len(nal).to_bytes(4, "big") + nal)
    return AccessUnit(keyframe, sps, pps, b"".join(parts))
