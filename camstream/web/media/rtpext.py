"""RTP header extensions camstream writes itself (pure): the playout-delay extension for WebRTC viewers.

GStreamer 1.22 has no header-extension element for `http://www.webrtc.org/experiments/rtp-hdrext/playout-delay`
(its rtphdrext* elements cover TWCC, MID, RID, audio level, NTP-64 and colour space), so the hub adds it to each
RTP packet the payloader makes, before webrtcbin stores (RTX) and encrypts it.

Why it matters: a receiver's own setting (RTCRtpReceiver.jitterBufferTarget / playoutDelayHint) only lowers the
*minimum* playout delay; libwebrtc renders a frame as soon as it is decoded (no render-time smoothing, no
10 ms render delay, Chromium's low-latency video path) only when the minimum is 0 and the maximum is small, and
only the sender can lower the maximum (default 10 s), with this extension. Format
(https://webrtc.googlesource.com/src/+/refs/heads/main/docs/native-code/rtp-hdrext/playout-delay/): 3 bytes,
12-bit MIN then 12-bit MAX, in units of 10 ms; min = max = 0 means "render as soon as possible", as game
streaming does. Header extension framing: RFC 8285 (one-byte 0xBEDE and two-byte 0x100X forms).
"""

from __future__ import annotations

import struct

PLAYOUT_DELAY_URI = "http://www.webrtc.org/experiments/rtp-hdrext/playout-delay"
# Bytes the extension adds to a packet that had none: the 4-byte 0xBEDE header plus one 4-byte word holding
# the 1-byte element header and the 3 data bytes. The payloader's MTU leaves room for it.
PLAYOUT_DELAY_OVERHEAD = 8
_ONE_BYTE = 0xBEDE
_TWO_BYTE_MASK = 0xFFF0
_TWO_BYTE = 0x1000


def playout_delay_data(min_ms: int, max_ms: int) -> bytes:
    """The extension's 3 data bytes for a delay range in ms (rounded down to 10 ms units, at most 40950 ms)."""
    lo, hi = (max(0, min(4095, ms // 10)) for ms in (min_ms, max_ms))
    return bytes(((lo >> 4) & 0xFF, ((lo & 0x0F) << 4) | (hi >> 8), hi & 0xFF))


def add_extension(packet: bytes, ext_id: int, data: bytes) -> bytes:
    """The RTP packet with one more header-extension element (id `ext_id`) carrying `data`.

    A packet without extensions gets a one-byte-header block; an existing block (one- or two-byte form) is
    extended. Packets too short to be RTP, or not version 2, are returned unchanged.
    """
    if not 1 <= ext_id <= 14 or not 1 <= len(data) <= 16:
        raise ValueError(f"RTP header extension id {ext_id} / {len(data)} bytes: one-byte form needs id 1-14, 1-16 bytes")
    if len(packet) < 12 or packet[0] >> 6 != 2:
        return packet
    header_len = 12 + 4 * (packet[0] & 0x0F)
    if len(packet) < header_len:
        return packet
    if not packet[0] & 0x10:
        element = bytes(((ext_id << 4) | (len(data) - 1),)) + data
        block = _pad(element)
        first = bytes((packet[0] | 0x10,))
        return (first + packet[1:header_len] + struct.pack("!HH", _ONE_BYTE, len(block) // 4) + block
                + packet[header_len:])
    if len(packet) < header_len + 4:
        return packet
    profile, words = struct.unpack_from("!HH", packet, header_len)
    start = header_len + 4
    end = start + 4 * words
    if len(packet) < end:
        return packet
    body = _strip_padding(packet[start:end], profile)
    if profile == _ONE_BYTE:
        body += bytes(((ext_id << 4) | (len(data) - 1),)) + data
    elif profile & _TWO_BYTE_MASK == _TWO_BYTE:
        body += bytes((ext_id, len(data))) + data
    else:
        return packet  # an extension profile of some other kind: leave it alone
    block = _pad(body)
    return packet[:header_len] + struct.pack("!HH", profile, len(block) // 4) + block + packet[end:]


def _pad(body: bytes) -> bytes:
    return body + bytes(-len(body) % 4)


def _strip_padding(body: bytes, profile: int) -> bytes:
    """The extension elements of a block without its trailing zero padding (RFC 8285 4.2/4.3)."""
    pos = 0
    while pos < len(body):
        if body[pos] == 0:  # padding between or after elements
            if all(b == 0 for b in body[pos:]):
                return body[:pos]
            pos += 1
            continue
        if profile == _ONE_BYTE:
            if body[pos] >> 4 == 15:  # id 15: stop parsing (RFC 8285 4.2)
                return body
            pos += 1 + (body[pos] & 0x0F) + 1
        else:
            if pos + 1 >= len(body):
                return body
            pos += 2 + body[pos + 1]
    return body[:pos] if pos <= len(body) else body
