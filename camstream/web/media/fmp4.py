"""Fragmented MP4 for Media Source Extensions (pure): one init segment, then one moof+mdat per frame.

Box layouts from ISO/IEC 14496-12 (ftyp, moov/mvhd/trak/tkhd/mdia/mdhd/hdlr/minf/vmhd/dinf/stbl, mvex/trex,
moof/mfhd/traf/tfhd/tfdt/trun) and 14496-15 (avc1/avcC). One frame per fragment is what keeps the
fallback's delay at one frame: the browser can decode a picture as soon as its fragment arrives.
"""

from __future__ import annotations

import struct

TIMESCALE = 90_000
TRACK_ID = 1
_MATRIX = struct.pack(">9I", 0x10000, 0, 0, 0, 0x10000, 0, 0, 0, 0x40000000)
# sample_flags (14496-12 8.8.3.1): sample_depends_on=2 (an I picture), or =1 plus sample_is_non_sync_sample.
KEY_FLAGS = 0x02000000
DELTA_FLAGS = 0x01010000


def box(kind: bytes, *payload: bytes) -> bytes:
    """One box: 32-bit size, four-character type, payload."""
    body = b"".join(payload)
    return struct.pack(">I4s", 8 + len(body), kind) + body


def full_box(kind: bytes, version: int, flags: int, *payload: bytes) -> bytes:
    """A FullBox: version and 24-bit flags before the payload."""
    return box(kind, struct.pack(">I", (version << 24) | flags), *payload)


def init_segment(width: int, height: int, avcc: bytes) -> bytes:
    """ftyp + moov of a one-track H.264 stream of unknown length (the fragments carry the samples)."""
    ftyp = box(b"ftyp", b"isom", struct.pack(">I", 0x200), b"isom", b"iso6", b"avc1", b"mp41")
    mvhd = full_box(
        b"mvhd", 0, 0, struct.pack(">IIII", 0, 0, TIMESCALE, 0), struct.pack(">IH", 0x10000, 0x100), bytes(10),
        _MATRIX, bytes(24), struct.pack(">I", TRACK_ID + 1),
    )
    tkhd = full_box(
        b"tkhd", 0, 3, struct.pack(">IIII", 0, 0, TRACK_ID, 0), struct.pack(">I", 0), bytes(8),
        struct.pack(">hhhH", 0, 0, 0, 0), _MATRIX, struct.pack(">II", width << 16, height << 16),
    )
    mdhd = full_box(b"mdhd", 0, 0, struct.pack(">IIII", 0, 0, TIMESCALE, 0), struct.pack(">HH", 0x55C4, 0))
    hdlr = full_box(b"hdlr", 0, 0, struct.pack(">I", 0), b"vide", bytes(12), b"camstream\x00")
    avc1 = box(
        b"avc1", bytes(6), struct.pack(">H", 1), bytes(16), struct.pack(">HH", width, height),
        struct.pack(">II", 0x00480000, 0x00480000), bytes(4), struct.pack(">H", 1), bytes(32),
        struct.pack(">Hh", 0x18, -1), box(b"avcC", avcc),
    )
    stbl = box(
        b"stbl",
        full_box(b"stsd", 0, 0, struct.pack(">I", 1), avc1),
        full_box(b"stts", 0, 0, struct.pack(">I", 0)),
        full_box(b"stsc", 0, 0, struct.pack(">I", 0)),
        full_box(b"stsz", 0, 0, struct.pack(">II", 0, 0)),
        full_box(b"stco", 0, 0, struct.pack(">I", 0)),
    )
    dinf = box(b"dinf", full_box(b"dref", 0, 0, struct.pack(">I", 1), full_box(b"url ", 0, 1)))
    minf = box(b"minf", full_box(b"vmhd", 0, 1, bytes(8)), dinf, stbl)
    trak = box(b"trak", tkhd, box(b"mdia", mdhd, hdlr, minf))
    mvex = box(b"mvex", full_box(b"trex", 0, 0, struct.pack(">IIIII", TRACK_ID, 1, 0, 0, 0)))
    return ftyp + box(b"moov", mvhd, trak, mvex)


def fragment(sequence: int, decode_time: int, duration: int, cts_offset: int, sample: bytes, keyframe: bool) -> bytes:
    """moof + mdat holding one sample; times in TIMESCALE units (decode_time absolute, cts relative to it)."""
    tfhd = full_box(b"tfhd", 0, 0x020000, struct.pack(">I", TRACK_ID))  # default-base-is-moof
    tfdt = full_box(b"tfdt", 1, 0, struct.pack(">Q", decode_time))
    mfhd = full_box(b"mfhd", 0, 0, struct.pack(">I", sequence))

    def trun(data_offset: int) -> bytes:
        # flags: data-offset, sample duration, size, flags, composition time offset (version 1: signed offsets).
        entry = struct.pack(">IIIi", duration, len(sample), KEY_FLAGS if keyframe else DELTA_FLAGS, cts_offset)
        return full_box(b"trun", 1, 0x000F01, struct.pack(">Ii", 1, data_offset), entry)

    moof_len = len(box(b"moof", mfhd, box(b"traf", tfhd, tfdt, trun(0))))
    moof = box(b"moof", mfhd, box(b"traf", tfhd, tfdt, trun(moof_len + 8)))  # the sample follows mdat's header
    return moof + box(b"mdat", sample)
