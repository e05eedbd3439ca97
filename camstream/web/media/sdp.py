"""SDP text for WHEP (pure): pick the browser's H.264 payload type that fits the stream, and shape offer/answer.

The WHEP client (RFC 9725) offers; camstream answers with what the stream really is. A browser lists several
H.264 payload types, one per profile it decodes (Chromium: 42001f, 42e01f, 4d001f, ...). We choose the one whose
profile equals the stream's (same rule as libwebrtc, see h264.py) and rewrite that payload type's
`profile-level-id` to the stream's own before webrtcbin sees the offer, so the answer's fmtp states the real
profile and level (`level-asymmetry-allowed=1`: RFC 6184 8.2.2, the sender may use its own level).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from camstream.web.media.h264 import profile_name


class SdpError(ValueError):
    """An offer WHEP cannot answer; the message says why (sent back to the client)."""


@dataclass
class H264Format:
    """One H.264 payload type of an offer's video section."""

    pt: int
    fmtp: dict[str, str] = field(default_factory=dict)

    @property
    def profile_level_id(self) -> str:
        """The format's profile-level-id (RFC 6184 default 420010: baseline level 1)."""
        return self.fmtp.get("profile-level-id", "420010").lower()

    @property
    def packetization_mode(self) -> str:
        """0 (single NAL) when absent (RFC 6184 8.1)."""
        return self.fmtp.get("packetization-mode", "0")


def _sections(sdp: str) -> tuple[list[str], list[list[str]]]:
    lines = [line for line in sdp.replace("\r\n", "\n").split("\n") if line]
    session: list[str] = []
    media: list[list[str]] = []
    for line in lines:
        if line.startswith("m="):
            media.append([line])
        elif media:
            media[-1].append(line)
        else:
            session.append(line)
    return session, media


def _join(session: list[str], media: list[list[str]]) -> str:
    return "\r\n".join(session + [line for section in media for line in section]) + "\r\n"


def h264_formats(offer: str) -> list[H264Format]:
    """The H.264 payload types of the offer's first video section, in the offer's order of preference."""
    _session, media = _sections(offer)
    video = next((s for s in media if s[0].startswith("m=video")), None)
    if video is None:
        raise SdpError("the offer has no video section: add a recvonly video transceiver")
    order = [int(p) for p in video[0].split()[3:] if p.isdigit()]
    h264: dict[int, H264Format] = {}
    for line in video:
        m = re.match(r"a=rtpmap:(\d+) H264/90000", line, re.IGNORECASE)
        if m:
            h264[int(m.group(1))] = H264Format(int(m.group(1)))
    for line in video:
        m = re.match(r"a=fmtp:(\d+) (.*)", line)
        if m and int(m.group(1)) in h264:
            params = (p.strip().split("=", 1) for p in m.group(2).split(";") if "=" in p)
            h264[int(m.group(1))].fmtp = {k.lower(): v for k, v in params}
    return [h264[pt] for pt in order if pt in h264]


def choose_format(offer: str, stream_plid: str) -> H264Format:
    """The offered H.264 format that decodes the stream: same profile, packetization-mode 1 (FU-A needed)."""
    want = profile_name(stream_plid)
    formats = h264_formats(offer)
    if not formats:
        raise SdpError("the offer has no H.264: this browser cannot play camstream's WebRTC stream")
    usable = [f for f in formats if f.packetization_mode == "1"]
    for f in usable:
        if profile_name(f.profile_level_id) == want:
            return f
    # A constrained-baseline stream is also valid baseline (the constraints only remove tools).
    if want == "constrained-baseline":
        for f in usable:
            if profile_name(f.profile_level_id) == "baseline":
                return f
    offered = ", ".join(sorted({f.profile_level_id for f in usable})) or "none with packetization-mode=1"
    raise SdpError(
        f"the browser does not decode H.264 {want or stream_plid} (profile-level-id {stream_plid}; "
        f"it offers {offered}): encode constrained baseline (profile-level-id 42e01f) for the web view"
    )


def opus_payload(offer: str) -> int | None:
    """The payload type of Opus in the offer's first audio section (RFC 7587: opus/48000/2), or None."""
    _session, media = _sections(offer)
    audio = next((s for s in media if s[0].startswith("m=audio")), None)
    if audio is None or audio[0].split()[1] == "0":
        return None
    offered = [int(p) for p in audio[0].split()[3:] if p.isdigit()]
    for line in audio:
        m = re.match(r"a=rtpmap:(\d+) opus/48000/2$", line.strip(), re.IGNORECASE)
        if m and int(m.group(1)) in offered:
            return int(m.group(1))
    return None


def rewrite_offer(offer: str, pt: int, stream_plid: str) -> str:
    """The offer with only `pt` left as video format (plus its RTX), its profile-level-id set to the stream's."""
    session, media = _sections(offer)
    out: list[list[str]] = []
    for section in media:
        if not section[0].startswith("m=video"):
            out.append(section)
            continue
        rtx = set()
        for line in section:
            m = re.match(r"a=fmtp:(\d+) apt=(\d+)$", line)
            if m and int(m.group(2)) == pt:
                rtx.add(int(m.group(1)))
        keep = {pt} | rtx
        head = section[0].split()
        lines = [" ".join(head[:3] + [p for p in head[3:] if p.isdigit() and int(p) in keep])]
        for line in section[1:]:
            m = re.match(r"a=(?:rtpmap|fmtp|rtcp-fb):(\d+)", line)
            if m and int(m.group(1)) not in keep:
                continue
            if line.startswith(f"a=fmtp:{pt} "):
                params = [p for p in line.split(" ", 1)[1].split(";") if p and not p.startswith("profile-level-id=")]
                line = f"a=fmtp:{pt} " + ";".join(params + [f"profile-level-id={stream_plid}"])
            lines.append(line)
        out.append(lines)
    return _join(session, out)


def add_candidates(answer: str, candidates: list[tuple[int, str]]) -> str:
    """The answer with ICE candidates ((mline index, 'candidate:...')) it lacks, and end-of-candidates."""
    session, media = _sections(answer)
    for index, section in enumerate(media):
        have = {line[2:] for line in section if line.startswith("a=candidate:")}
        for mline, cand in candidates:
            cand = cand[2:] if cand.startswith("a=") else cand
            if mline == index and cand not in have:
                section.append(f"a={cand}")
                have.add(cand)
        if "a=end-of-candidates" not in section:
            section.append("a=end-of-candidates")
    return _join(session, media)


def extmap_id(offer: str, uri: str) -> int | None:
    """The id the offer's first video section gives header extension `uri`; None when absent or not 1-14.

    Only ids 1-14 fit the one-byte header form (RFC 8285 4.2) that every receiver must parse.
    """
    _session, media = _sections(offer)
    video = next((s for s in media if s[0].startswith("m=video")), None)
    for line in video or []:
        m = re.match(r"a=extmap:(\d+)(?:/\w+)? (\S+)", line)
        if m and m.group(2) == uri:
            ext_id = int(m.group(1))
            return ext_id if 1 <= ext_id <= 14 else None
    return None


def add_extmap(answer: str, ext_id: int, uri: str) -> str:
    """The answer with `a=extmap:<ext_id> <uri>` in its video section (after its rtcp-mux, if any), once."""
    session, media = _sections(answer)
    for section in media:
        if not section[0].startswith("m=video") or any(line.startswith(f"a=extmap:{ext_id} ") for line in section):
            continue
        at = next((i + 1 for i, line in enumerate(section) if line == "a=rtcp-mux"), len(section))
        section.insert(at, f"a=extmap:{ext_id} {uri}")
    return _join(session, media)


def trickle_candidates(fragment: str) -> list[tuple[str | None, str]]:
    """(mid, 'candidate:...') of an application/trickle-ice-sdpfrag body (RFC 8840), in order."""
    mid: str | None = None
    out = []
    for line in fragment.replace("\r\n", "\n").split("\n"):
        if line.startswith("a=mid:"):
            mid = line[6:].strip()
        elif line.startswith("a=candidate:"):
            out.append((mid, line[2:].strip()))
    return out


def ice_credentials(text: str) -> tuple[str | None, str | None]:
    """The first a=ice-ufrag and a=ice-pwd of an SDP or SDP fragment."""
    ufrag = re.search(r"^a=ice-ufrag:(\S+)", text, re.MULTILINE)
    pwd = re.search(r"^a=ice-pwd:(\S+)", text, re.MULTILINE)
    return (ufrag.group(1) if ufrag else None, pwd.group(1) if pwd else None)
