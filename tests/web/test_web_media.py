"""camstream.web.media's pure parts: H.264 facts, WHEP offer/answer shaping, fragmented MP4 (checked by ffprobe)."""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path

import pytest

from camstream.web.media import IceSettings, MediaHub
from camstream.web.media import fmp4, h264
from camstream.web.media.rtpext import PLAYOUT_DELAY_URI, add_extension, playout_delay_data
from camstream.web.media.sdp import (
    SdpError,
    add_candidates,
    add_extmap,
    choose_format,
    extmap_id,
    h264_formats,
    opus_payload,
    rewrite_offer,
    trickle_candidates,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

# The video section of a Debian Chromium 156 offer (recvonly, H.264 and RTX only), trimmed.
OFFER = "\r\n".join([
    "v=0", "o=- 1 2 IN IP4 127.0.0.1", "s=-", "t=0 0", "a=group:BUNDLE 0",
    "m=video 9 UDP/TLS/RTP/SAVPF 102 103 104 105 106 107 108 109 112 113",
    "c=IN IP4 0.0.0.0", "a=ice-ufrag:abcd", "a=ice-pwd:0123456789012345678901", "a=mid:0", "a=recvonly",
    "a=rtpmap:102 H264/90000", "a=rtcp-fb:102 nack", "a=rtcp-fb:102 nack pli",
    "a=fmtp:102 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42001f",
    "a=rtpmap:103 rtx/90000", "a=fmtp:103 apt=102",
    "a=rtpmap:104 H264/90000", "a=fmtp:104 level-asymmetry-allowed=1;packetization-mode=0;profile-level-id=42001f",
    "a=rtpmap:105 rtx/90000", "a=fmtp:105 apt=104",
    "a=rtpmap:106 H264/90000", "a=rtcp-fb:106 nack",
    "a=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
    "a=rtpmap:107 rtx/90000", "a=fmtp:107 apt=106",
    "a=rtpmap:108 H264/90000", "a=fmtp:108 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=4d001f",
    "a=rtpmap:109 rtx/90000", "a=fmtp:109 apt=108",
    "a=rtpmap:112 H264/90000", "a=fmtp:112 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=64001f",
    "a=rtpmap:113 rtx/90000", "a=fmtp:113 apt=112",
]) + "\r\n"


@pytest.mark.parametrize(
    "plid,name",
    [
        pytest.param("42e01f", "constrained-baseline", id="webrtc-default"),
        pytest.param("42c00d", "constrained-baseline", id="x264-baseline"),
        pytest.param("42001f", "baseline", id="baseline"),
        pytest.param("4d401f", "main", id="x264-main"),
        pytest.param("64001f", "high", id="high"),
        pytest.param("640c1f", "constrained-high", id="constrained-high"),
        pytest.param("6e001f", None, id="high10-unknown"),
        pytest.param("zz", None, id="garbage"),
    ],
)
def test_profile_name(plid: str, name: str | None) -> None:
    assert h264.profile_name(plid) == name


def test_split_access_unit() -> None:
    sps, pps, idr = b"\x67\x42\xc0\x0d\xda", b"\x68\xce\x3c\x80", b"\x65\x88\x84\x00\x21"
    au = h264.access_unit(b"\x00\x00\x00\x01\x09\xf0" + b"\x00\x00\x00\x01" + sps + b"\x00\x00\x01" + pps
                          + b"\x00\x00\x01" + idr)
    assert au.keyframe and au.sps == sps and au.pps == pps
    assert au.sample == len(idr).to_bytes(4, "big") + idr  # no AUD, no parameter sets
    assert h264.profile_level_id(sps) == "42c00d"
    assert h264.avc_decoder_config(sps, pps)[:6] == bytes([1, 0x42, 0xC0, 0x0D, 0xFF, 0xE1])
    assert not h264.access_unit(b"\x00\x00\x01\x41\x9a\x00").keyframe


def test_formats_in_offer_order() -> None:
    assert [(f.pt, f.profile_level_id, f.packetization_mode) for f in h264_formats(OFFER)][:3] == [
        (102, "42001f", "1"), (104, "42001f", "0"), (106, "42e01f", "1"),
    ]


@pytest.mark.parametrize(
    "stream,pt",
    [
        pytest.param("42c00d", 106, id="constrained-baseline-to-42e01f"),
        pytest.param("4d401e", 108, id="main"),
        pytest.param("64001f", 112, id="high"),
    ],
)
def test_choose_format_by_profile(stream: str, pt: int) -> None:
    assert choose_format(OFFER, stream).pt == pt


def test_constrained_baseline_falls_back_to_a_baseline_decoder() -> None:
    offer = OFFER.replace("profile-level-id=42e01f", "profile-level-id=4d001f")
    assert choose_format(offer, "42c01f").pt == 102


def test_no_decoder_for_the_profile_says_what_to_do() -> None:
    with pytest.raises(SdpError, match="42e01f"):
        choose_format(OFFER, "f4001f")
    with pytest.raises(SdpError, match="no video"):
        choose_format("v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n", "42e01f")
    with pytest.raises(SdpError, match="no H.264"):
        choose_format("v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\na=rtpmap:96 VP8/90000\r\n", "42e01f")


def test_rewrite_offer_keeps_the_chosen_format_with_the_stream_profile() -> None:
    out = rewrite_offer(OFFER, 106, "42c00d")
    assert "m=video 9 UDP/TLS/RTP/SAVPF 106 107\r\n" in out
    assert "a=fmtp:106 level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42c00d\r\n" in out
    assert "a=fmtp:107 apt=106\r\n" in out and "a=rtcp-fb:106 nack\r\n" in out
    assert "a=rtpmap:102" not in out and "a=rtcp-fb:102" not in out
    assert "a=ice-ufrag:abcd\r\n" in out and out.startswith("v=0\r\n")


def test_candidates_added_once_with_end_marker() -> None:
    answer = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 106\r\na=candidate:1 1 udp 1 10.0.0.1 5000 typ host\r\n"
    out = add_candidates(answer, [(0, "candidate:1 1 udp 1 10.0.0.1 5000 typ host"),
                                  (0, "candidate:2 1 udp 1 10.0.0.2 5002 typ host")])
    assert out.count("a=candidate:1 ") == 1 and "a=candidate:2 1 udp 1 10.0.0.2 5002 typ host\r\n" in out
    assert out.endswith("a=end-of-candidates\r\n")


def test_trickle_fragment() -> None:
    frag = "a=ice-ufrag:abcd\r\na=ice-pwd:x\r\nm=video 9 RTP/AVP 0\r\na=mid:0\r\na=candidate:1 1 udp 9 1.2.3.4 9 typ host\r\n"
    assert trickle_candidates(frag) == [("0", "candidate:1 1 udp 9 1.2.3.4 9 typ host")]


def test_playout_delay_data() -> None:
    # 12-bit MIN then 12-bit MAX in 10 ms units (webrtc.org playout-delay extension).
    assert playout_delay_data(0, 0) == bytes(3)
    assert playout_delay_data(100, 500) == bytes([0x00, 0xA0, 0x32])
    assert playout_delay_data(-5, 10**6) == bytes([0x00, 0x0F, 0xFF])


# An RTP packet as rtph264pay makes it: V=2, no extension, marker, PT 108, seq 0x1234, ts, SSRC, 4 payload bytes.
RTP = bytes([0x80, 0xEC, 0x12, 0x34, 0, 0, 0x10, 0, 0xDE, 0xAD, 0xBE, 0xEF]) + b"\x7c\x85\x88\x84"


def test_extension_added_to_a_packet_without_one() -> None:
    out = add_extension(RTP, 5, bytes(3))
    assert out == (bytes([0x90]) + RTP[1:12] + bytes([0xBE, 0xDE, 0x00, 0x01, 0x52, 0, 0, 0]) + RTP[12:])


def test_extension_appended_to_an_existing_block() -> None:
    # One-byte form holding a 1-byte MID (id 9, "0") and its padding: the new element goes after the MID.
    with_mid = bytes([0x90]) + RTP[1:12] + bytes([0xBE, 0xDE, 0x00, 0x01, 0x90, 0x30, 0, 0]) + RTP[12:]
    assert add_extension(with_mid, 5, bytes(3)) == (
        bytes([0x90]) + RTP[1:12] + bytes([0xBE, 0xDE, 0x00, 0x02, 0x90, 0x30, 0x52, 0, 0, 0, 0, 0]) + RTP[12:]
    )
    # Two-byte form (0x1000): id and length bytes, then the data.
    two = bytes([0x90]) + RTP[1:12] + bytes([0x10, 0x00, 0x00, 0x01, 0x09, 0x01, 0x30, 0]) + RTP[12:]
    assert add_extension(two, 5, bytes(3)) == (
        bytes([0x90]) + RTP[1:12] + bytes([0x10, 0x00, 0x00, 0x02, 0x09, 0x01, 0x30, 0x05, 0x03, 0, 0, 0]) + RTP[12:]
    )


def test_extension_leaves_non_rtp_alone_and_refuses_bad_ids() -> None:
    assert add_extension(b"\x00" * 20, 5, bytes(3)) == b"\x00" * 20  # version 0: not RTP
    assert add_extension(RTP[:8], 5, bytes(3)) == RTP[:8]
    with pytest.raises(ValueError):
        add_extension(RTP, 15, bytes(3))


def test_playout_delay_extmap_from_offer_into_answer() -> None:
    offer = (FIXTURES / "chromium156_whep_offer.sdp").read_text()
    assert extmap_id(offer, PLAYOUT_DELAY_URI) == 5
    assert extmap_id(OFFER, PLAYOUT_DELAY_URI) is None  # not offered (e.g. Firefox): nothing is sent
    assert extmap_id(OFFER.replace("a=mid:0", f"a=mid:0\r\na=extmap:15 {PLAYOUT_DELAY_URI}"), PLAYOUT_DELAY_URI) is None
    answer = "\r\n".join(["v=0", "s=-", "m=video 9 UDP/TLS/RTP/SAVPF 106", "a=mid:0", "a=sendonly", "a=rtcp-mux",
                           "a=rtpmap:106 H264/90000"]) + "\r\n"
    once = add_extmap(answer, 5, PLAYOUT_DELAY_URI)
    assert once == answer.replace("a=rtcp-mux\r\n", f"a=rtcp-mux\r\na=extmap:5 {PLAYOUT_DELAY_URI}\r\n")
    assert add_extmap(once, 5, PLAYOUT_DELAY_URI) == once


def test_hub_contract() -> None:
    hub = MediaHub(5000, "/cam1/", IceSettings(udp_port=40000, stun_server="stun://10.0.0.1:3478"))
    assert [(r.method, r.path) for r in hub.routes()] == [  # type: ignore[attr-defined]
        ("POST", "/cam1/whep"), ("PATCH", "/cam1/whep/{session}"), ("DELETE", "/cam1/whep/{session}"),
        ("GET", "/cam1/ws"),
    ]
    stats = hub.stats()
    assert stats["viewers"] == {"webrtc": 0, "mse": 0} and stats["frames_in"] == 0 and stats["bytes_out"] == 0
    with pytest.raises(ValueError, match="one segment"):
        MediaHub(5000, "a/b")


@pytest.mark.slow
def test_fmp4_fragments_play_in_ffprobe(tmp_path: Path) -> None:
    # Real x264 output cut into access units, packaged the way the fallback sends it, read back by ffprobe.
    raw = subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25",
         "-frames:v", "50", "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", "25",
         "-bsf:v", "h264_metadata=aud=insert", "-f", "h264", "-"],
        check=True, capture_output=True,
    ).stdout
    units = [b"\x00\x00\x00\x01\x09" + part for part in raw.split(b"\x00\x00\x00\x01\x09")[1:]]
    assert len(units) == 50
    first = h264.access_unit(units[0])
    assert first.keyframe and first.sps and first.pps
    out = [fmp4.init_segment(320, 240, h264.avc_decoder_config(first.sps, first.pps))]
    for i, unit in enumerate(units):
        au = h264.access_unit(unit)
        out.append(fmp4.fragment(i + 1, 900_000 + i * 3600, 3600, 0, au.sample, au.keyframe))
    path = tmp_path / "live.mp4"
    path.write_bytes(b"".join(out))
    probe = json.loads(subprocess.run(
        ["ffprobe", "-v", "error", "-count_frames", "-show_streams", "-of", "json", str(path)],
        check=True, capture_output=True, text=True,
    ).stdout)["streams"][0]
    assert (probe["codec_name"], probe["width"], probe["height"]) == ("h264", 320, 240)
    assert int(probe["nb_read_frames"]) == 50
    errors = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-f", "null", "-"], capture_output=True, text=True)
    assert errors.returncode == 0 and errors.stderr == ""


@pytest.mark.slow
def test_webrtcbin_answer_fmtp_ssrc_port_range_and_no_upnp() -> None:
    # The real webrtcbin answers the (rewritten) browser offer: the stream's profile in the fmtp, the payloader's
    # SSRC announced, host candidates only from the fixed port range.
    # And no UPnP: libnice asks a UPnP router to forward its ports unless told not to; for every viewer it joined
    # SSDP (udp 1900) on each interface and served HTTP beside it (seen with `ss` here). A camera on a hotspot has
    # no router to ask, and must not open ports to the internet on a router that does answer.
    import psutil

    from camstream.web.media import gst

    offer = (FIXTURES / "chromium156_whep_offer.sdp").read_text()
    gst.init()
    caps = gst.Gst.Caps.from_string("video/x-h264,stream-format=byte-stream,alignment=au,width=320,height=240,"
                                    "framerate=25/1")
    fmt = choose_format(offer, "42c00d")
    assert (fmt.pt, fmt.profile_level_id) == (108, "42e01f")  # Chromium's constrained-baseline format
    peer = gst.WebRtcPeer(fmt.pt, "42c00d", caps, udp_port=41000, udp_ports=4, stun_server=None, turn_server=None)
    try:
        answer = peer.negotiate(rewrite_offer(offer, fmt.pt, "42c00d"), 2.0)
        time.sleep(0.5)  # UPnP discovery would start with gathering, which is complete by now
        bound = {c.laddr.port for c in psutil.Process().net_connections("udp")}
    finally:
        peer.close()
    assert 1900 not in bound, sorted(bound)
    assert "a=sendonly" in answer and f"a=rtpmap:{fmt.pt} H264/90000" in answer
    assert "packetization-mode=1" in answer and "profile-level-id=42c00d" in answer
    assert f"a=ssrc:{peer.ssrc} " in answer
    # The offer's playout-delay id (5), answered so the browser reads the extension the hub writes.
    assert f"a=extmap:5 http://www.webrtc.org/experiments/rtp-hdrext/playout-delay\r\n" in answer
    assert peer.playout_delay_id == 5
    cands = [line.split() for line in answer.split("\r\n") if line.startswith("a=candidate:")]
    udp = [c for c in cands if c[2].lower() == "udp"]
    assert udp and all(41000 <= int(c[5]) < 41004 for c in udp), cands


@pytest.mark.slow
def test_each_webrtc_viewer_stamps_its_own_copy_of_a_frame() -> None:
    # Issue 13: the first WebRTC viewers of several got 2-80% of the frames. Every viewer is pushed the same
    # frame; a Python buf.copy() is only a new reference, so the last viewer's timestamps (its running time)
    # were the ones every viewer's pipeline sent, seconds off for the others. Both frames wait in their appsrc
    # until the pipelines play, as they do when a streaming thread is a moment late.
    from camstream.web.media import gst

    gst.init()
    Gst = gst.Gst
    caps = Gst.Caps.from_string("video/x-h264,stream-format=byte-stream,alignment=au,width=320,height=240,"
                                "framerate=25/1")
    now = gst.clock_ns()
    buf = Gst.Buffer.new_wrapped(bytes.fromhex("00000001") + bytes([0x65, 0x88]) + bytes(30))
    buf.pts = buf.dts = now - 3 * Gst.SECOND
    frame = gst.Frame(buf, True, caps, now)
    seen: dict[int, list[tuple[int, int]]] = {}
    peers = []
    try:
        for age in (10, 5):  # an early viewer (pipeline started 10 s ago) and a later one
            peer = gst.WebRtcPeer(96, "42c00d", caps, udp_port=None, udp_ports=1, stun_server=None, turn_server=None)
            peer.pipeline.set_start_time(Gst.CLOCK_TIME_NONE)  # keep this base time when it plays
            peer.pipeline.set_base_time(now - age * Gst.SECOND)
            peer.pipeline.set_state(Gst.State.PAUSED)
            peer._live = True  # as after DTLS
            got = seen.setdefault(age, [])

            def catch(_pad: object, info: Gst.PadProbeInfo, got: list[tuple[int, int]] = got) -> Gst.PadProbeReturn:
                # What the viewer's appsrc sends, taken away before the unnegotiated webrtcbin refuses it.
                if info.type & Gst.PadProbeType.BUFFER:
                    got.append((info.get_buffer().dts, info.get_buffer().pts))
                return Gst.PadProbeReturn.DROP

            peer.appsrc.get_static_pad("src").add_probe(Gst.PadProbeType.DATA_DOWNSTREAM, catch)
            peers.append(peer)
        for peer in peers:
            peer.push(frame)
        for peer in peers:
            peer.pipeline.set_state(Gst.State.PLAYING)
        deadline = time.monotonic() + 5
        while any(not got for got in seen.values()) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        for peer in peers:
            peer.close()
    assert seen == {10: [(10 * Gst.SECOND, 10 * Gst.SECOND)], 5: [(5 * Gst.SECOND, 5 * Gst.SECOND)]}
    assert (buf.dts, buf.pts) == (now - 3 * Gst.SECOND, now - 3 * Gst.SECOND)  # the ingest's frame is untouched
    assert [p.frames_out for p in peers] == [1, 1]


@pytest.mark.slow
def test_webrtc_packets_carry_playout_delay_zero() -> None:
    # The first RTP packet of every frame a viewer's webrtcbin gets carries the playout-delay extension
    # (min = max = 0) under the offer's id, the payloader's packet otherwise unchanged, and still fits RTP_MTU;
    # the frame's other packets pass as they are. Two 3000-byte frames, each cut into FU-A fragments.
    from camstream.web.media import gst

    gst.init()
    Gst = gst.Gst
    caps = Gst.Caps.from_string("video/x-h264,stream-format=byte-stream,alignment=au,width=320,height=240,"
                                "framerate=25/1")
    now = gst.clock_ns()
    buf = Gst.Buffer.new_wrapped(bytes.fromhex("00000001") + bytes([0x65, 0x88]) + bytes(range(256)) * 12)
    buf.pts = buf.dts = now
    paid: list[bytes] = []
    sent: list[tuple[bytes, int]] = []
    peer = gst.WebRtcPeer(96, "42c00d", caps, udp_port=None, udp_ports=1, stun_server=None, turn_server=None)
    try:
        peer.playout_delay_id = 5  # as negotiate() finds it in a Chromium offer
        peer._live = True  # as after DTLS

        def on_paid(_pad: object, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
            if info.type & Gst.PadProbeType.BUFFER_LIST:
                lst = info.get_buffer_list()
                paid.extend(lst.get(i).extract_dup(0, lst.get(i).get_size()) for i in range(lst.length()))
            elif info.type & Gst.PadProbeType.BUFFER:
                paid.append(info.get_buffer().extract_dup(0, info.get_buffer().get_size()))
            return Gst.PadProbeReturn.OK

        def on_sent(_pad: object, info: Gst.PadProbeInfo) -> Gst.PadProbeReturn:
            # What reaches webrtcbin, taken away before the unnegotiated webrtcbin refuses it.
            bufs = []
            if info.type & Gst.PadProbeType.BUFFER_LIST:
                lst = info.get_buffer_list()
                bufs = [lst.get(i) for i in range(lst.length())]
            elif info.type & Gst.PadProbeType.BUFFER:
                bufs = [info.get_buffer()]
            sent.extend((b.extract_dup(0, b.get_size()), b.pts) for b in bufs)
            return Gst.PadProbeReturn.DROP

        data = Gst.PadProbeType.BUFFER | Gst.PadProbeType.BUFFER_LIST
        peer.pipeline.get_by_name("pay").get_static_pad("src").add_probe(data, on_paid)
        peer.rtpin.get_static_pad("src").add_probe(data, on_sent)
        second = Gst.Buffer.new_wrapped(bytes.fromhex("00000001") + bytes([0x41, 0x9A]) + bytes(range(256)) * 12)
        second.pts = second.dts = now + 40 * Gst.MSECOND
        peer.push(gst.Frame(buf, True, caps, now))
        peer.push(gst.Frame(second, False, caps, now + 40 * Gst.MSECOND))
        peer.pipeline.set_state(Gst.State.PLAYING)
        deadline = time.monotonic() + 5
        while (len(sent) < 6 or len(sent) < len(paid)) and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        peer.close()
    assert len(paid) >= 6 and len(sent) == len(paid)
    times = [original[4:8] for original in paid]
    assert len(set(times)) == 2
    for index, (original, (packet, pts)) in enumerate(zip(paid, sent)):
        assert original[0] & 0x10 == 0  # the payloader wrote no extension of its own
        assert len(packet) <= gst.RTP_MTU
        assert pts != Gst.CLOCK_TIME_NONE  # the payloader's timestamps are kept (RTCP sender reports use them)
        if index and times[index] == times[index - 1]:
            assert packet == original
            continue
        assert packet[0] == original[0] | 0x10 and packet[1:12] == original[1:12]
        assert packet[12:20] == bytes([0xBE, 0xDE, 0x00, 0x01, 0x52, 0x00, 0x00, 0x00])  # id 5, 3 bytes, 0 and 0
        assert packet[20:] == original[12:]
    assert sum(packet[0] & 0x10 == 0x10 for packet, _ in sent) == 2


# -- sound for WebRTC viewers (issue 14) ------------------------------------------------------------------------

AUDIO_OFFER = (FIXTURES / "chromium156_whep_offer_audio.sdp").read_text()
VIDEO_OFFER = (FIXTURES / "chromium156_whep_offer.sdp").read_text()


def test_opus_payload_of_the_offer() -> None:
    assert opus_payload(AUDIO_OFFER) == 111  # the player's offer: audio recvonly, Opus only
    assert opus_payload(VIDEO_OFFER) is None  # a WHEP client that asks for video only gets video only
    assert opus_payload(AUDIO_OFFER.replace("m=audio 9 ", "m=audio 0 ")) is None  # a rejected section


def _sections_of(answer: str) -> dict[str, str]:
    parts = answer.split("\r\nm=")
    return {p.split(" ", 1)[0]: p for p in parts[1:]}


@pytest.mark.slow
@pytest.mark.parametrize("with_audio", [True, False], ids=["stream-with-sound", "stream-without-sound"])
def test_webrtcbin_answers_opus_when_the_stream_has_sound(with_audio: bool) -> None:
    """Opus as a second send-only track in the same stream (one msid), with the payloader's SSRC; a stream
    without sound answers the browser's audio section without sending anything."""
    from camstream.web.media import gst

    gst.init()
    caps = gst.Gst.Caps.from_string("video/x-h264,stream-format=byte-stream,alignment=au,width=320,height=240,"
                                    "framerate=25/1")
    acaps = gst.Gst.Caps.from_string("audio/x-opus,rate=48000,channels=1,channel-mapping-family=0,stream-count=1,"
                                     "coupled-count=0") if with_audio else None
    fmt = choose_format(AUDIO_OFFER, "42c00d")
    peer = gst.WebRtcPeer(fmt.pt, "42c00d", caps, udp_port=None, udp_ports=1, stun_server=None, turn_server=None,
                          audio_pt=opus_payload(AUDIO_OFFER), audio_caps=acaps)
    try:
        answer = peer.negotiate(rewrite_offer(AUDIO_OFFER, fmt.pt, "42c00d"), 2.0)
    finally:
        peer.close()
    sections = _sections_of(answer)
    assert set(sections) == {"video", "audio"}  # one answer section per offered one (RFC 3264)
    assert "a=sendonly" in sections["video"] and f"a=ssrc:{peer.ssrc} " in sections["video"]
    if with_audio:
        audio = sections["audio"]
        assert "a=sendonly" in audio and "a=rtpmap:111 OPUS/48000/2" in audio, audio
        assert f"a=ssrc:{peer.audio_ssrc} " in audio
        # Both tracks in one stream (webrtcbin 1.22 writes the ssrc-level msid: "a=ssrc:N msid:STREAM TRACK") and
        # one CNAME: the browser lip-syncs them.
        msids = set(re.findall(r"^a=ssrc:\d+ msid:(\S+) ", answer, re.MULTILINE))
        cnames = set(re.findall(r"^a=ssrc:\d+ cname:(\S+)", answer, re.MULTILINE))
        assert msids == {"camstream"} and len(cnames) == 1, answer
    else:
        assert peer.audio_pt is None and "a=sendonly" not in sections["audio"], sections["audio"]
    # Playout delay 0 only for a stream without sound: with sound, Chromium must be free to lip-sync the picture.
    assert ("playout-delay" in answer) is (not with_audio) and (peer.playout_delay_id is None) is with_audio
