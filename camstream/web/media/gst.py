"""GStreamer side of the media hub: the MPEG-TS ingest and one webrtcbin pipeline per WebRTC viewer.

Threads: GStreamer streams in its own threads and webrtcbin's ICE agent (libnice) runs its own context, so the
only thing that needs a GLib main loop is bus watching; it runs in one daemon thread (`GLibThread`). asyncio
never waits on GStreamer: blocking calls (state changes, promise waits) run in executor threads. We chose this
over running GLib and asyncio on one loop because PyGObject's asyncio integration (gi.events, 3.50+) replaces the
process-wide event loop policy under aiohttp, and the older bridges (gbulb, asyncio-glib) are unmaintained.

Imported only by camstream.web.media (needs PyGObject with the GstWebRTC and GstSdp typelibs:
gir1.2-gst-plugins-bad-1.0) so the rest of camstream never needs gi.
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstApp", "1.0")
gi.require_version("GstSdp", "1.0")
gi.require_version("GstWebRTC", "1.0")
from gi.repository import GLib, Gst, GstApp, GstSdp, GstWebRTC  # noqa: E402

from camstream.gstbuffer import shallow_copy  # noqa: E402
from camstream.web.media.rtpext import (  # noqa: E402
    PLAYOUT_DELAY_OVERHEAD,
    PLAYOUT_DELAY_URI,
    add_extension,
    playout_delay_data,
)
from camstream.web.media.sdp import add_candidates, add_extmap, extmap_id  # noqa: E402

log = logging.getLogger("camstream.web.media")

# Encoder timestamps are mapped onto the system clock; re-anchored when they drift further than this
# (encoder restart, clock jump), as the builtin RTSP server does.
MAX_DRIFT_NS = 1 * Gst.SECOND
# Frames queued in a viewer's appsrc before that viewer skips to the next keyframe: a viewer that cannot keep
# up loses frames, never gains delay (0.5 s at 30 fps). Dropping single frames instead (a leaky queue) would
# leave the decoder referencing pictures it never got until the next keyframe anyway.
MAX_QUEUED_FRAMES = 15
INGEST_RETRY_S = 1
# Payload size: below the smallest path MTU a hotspot or VPN leaves once SRTP, UDP and IP headers are added.
RTP_MTU = 1200
# What every WebRTC viewer's packets tell the browser (rtpext.py): playout delay min = max = 0, i.e. show each
# frame as soon as it is decoded. A live view loses smoothness on a jittery link, never gains delay (issue 13).
PLAYOUT_DELAY_ASAP = playout_delay_data(0, 0)
# What a rewritten packet keeps of the payloader's buffer besides its bytes.
_RTP_METADATA = Gst.BufferCopyFlags.FLAGS | Gst.BufferCopyFlags.TIMESTAMPS | Gst.BufferCopyFlags.META
# Opus packets (20 ms each) queued in a viewer's audio appsrc before it drops them: 0.5 s, like the video.
MAX_QUEUED_AUDIO = 25
# How many video frames the ingest averages the frames' transit delay over (see Ingest._lag): ~10 s at 25 fps,
# slow enough that the sound's timestamps never jump, fast enough to follow a drifting encoder clock.
LAG_FRAMES = 256
# The sound's timestamps follow that delay in steps, only when it moved by more than this: an Opus packet's RTP
# timestamp must follow the previous one's end exactly. Chromium's NetEq conceals every gap (10 ms of made-up
# sound each), and following the average packet by packet (+-0.3 ms) had it conceal 25% of the samples.
AUDIO_RESYNC_NS = 20 * Gst.MSECOND


def init() -> None:
    """Initialise GStreamer (idempotent)."""
    Gst.init(None)


def missing_elements() -> list[str]:
    """GStreamer elements the hub needs that are not installed."""
    init()
    need = ("tcpserversrc", "tsdemux", "capssetter", "h264parse", "appsink", "appsrc", "rtph264pay", "webrtcbin",
            "opusparse", "rtpopuspay")
    return [name for name in need if Gst.ElementFactory.find(name) is None]


def warm_up() -> None:
    """Load the WebRTC plugins and make the DTLS certificate now, not while the first viewer waits (blocking)."""
    # The first dtlsdec of a process generates the certificate every later one shares (gst-plugins-bad
    # ext/dtls: one generated agent per process): ~1 s of RSA key generation on a small board.
    Gst.ElementFactory.make("webrtcbin")
    Gst.ElementFactory.make("dtlsdec")


def clock_ns() -> int:
    """Now on the clock every pipeline of the hub uses (GStreamer's system clock, monotonic)."""
    return int(Gst.SystemClock.obtain().get_time())


class GLibThread:
    """A GLib main loop in a daemon thread, for bus watches and timeouts."""

    def __init__(self) -> None:
        self.loop = GLib.MainLoop()
        self.thread = threading.Thread(target=self.loop.run, name="camstream-glib", daemon=True)

    def start(self) -> None:
        """Run the loop."""
        self.thread.start()

    def stop(self) -> None:
        """Quit the loop and wait for the thread."""
        self.loop.quit()
        self.thread.join(5)


@dataclass
class Frame:
    """One H.264 access unit from the ingest, timed on the hub's clock (ns)."""

    buffer: Gst.Buffer  # Annex-B, AU aligned, SPS/PPS before every IDR; encoder timestamps moved onto clock_ns()
    keyframe: bool
    caps: Gst.Caps
    arrival: int  # clock_ns() when the frame arrived


@dataclass
class AudioPacket:
    """One Opus packet from the ingest (the web view's sound), timed on the same clock as the frames (ns)."""

    buffer: Gst.Buffer  # its pts: the encoder's, moved onto clock_ns() exactly as the video's arrival times
    caps: Gst.Caps


def ingest_description(port: int) -> str:
    """gst-launch description of the ingest: MPEG-TS over TCP from FFmpeg, parsed to H.264 access units."""
    # Same reasoning as camstream/servers/rtsp_gst.py: each PES holds one AU, capssetter declares that so
    # h264parse does not hold each frame for one frame interval; config-interval=-1 puts SPS/PPS before
    # every IDR so a viewer can start at any keyframe (h264parse docs).
    # With --audio, the stream also carries Opus (camstream/outputs/web.py): a second branch, linked when tsdemux
    # adds its pad. Both appsinks are async=false: tsdemux feeds them from one thread, and a sink waiting in
    # preroll would block the other's first buffer for ever.
    return (
        f"tcpserversrc name=src host=127.0.0.1 port={port} ! tsdemux name=demux "
        "demux. ! video/x-h264 ! capssetter caps=video/x-h264,alignment=au ! "
        "h264parse config-interval=-1 ! video/x-h264,stream-format=byte-stream,alignment=au ! "
        "appsink name=sink sync=false async=false max-buffers=100 drop=true emit-signals=true "
        "demux. ! audio/x-opus ! opusparse ! "
        "appsink name=audio sync=false async=false max-buffers=100 drop=true emit-signals=true"
    )


class Ingest:
    """The ingest pipeline; rebuilt whenever the encoder disconnects, so the next FFmpeg can connect."""

    def __init__(self, port: int, on_frame: Callable[[Frame], None], on_disconnect: Callable[[], None],
                 on_audio: Callable[[AudioPacket], None] | None = None) -> None:
        self.port = port
        self.on_frame = on_frame
        self.on_disconnect = on_disconnect
        self.on_audio = on_audio
        self.connected = False
        self.has_audio = False  # the encoder's stream has an Opus track (known from tsdemux's pads)
        self._lag: float | None = None
        self._lag_frames = 0
        self._audio_offset: int | None = None
        self._pipeline: Gst.Pipeline | None = None
        self._watch = 0
        self._offset: int | None = None
        self._closed = False
        self._lock = threading.Lock()

    def open(self) -> bool:
        """Build and start a fresh pipeline; False when it cannot listen."""
        pipeline = Gst.parse_launch(ingest_description(self.port))
        pipeline.use_clock(Gst.SystemClock.obtain())
        pipeline.get_by_name("sink").connect("new-sample", self._on_sample)
        pipeline.get_by_name("audio").connect("new-sample", self._on_audio_sample)
        pipeline.get_by_name("demux").connect("pad-added", self._on_pad)
        # The encoder hanging up is the source's EOS. Waiting for the pipeline's EOS message instead would wait for
        # ever when the stream has no sound: a bin posts EOS only once every sink has it, and the audio appsink,
        # never linked, never gets it (the page then never recovered from an encoder restart).
        pipeline.get_by_name("src").get_static_pad("src").add_probe(
            Gst.PadProbeType.EVENT_DOWNSTREAM, self._on_source_event, pipeline)
        bus = pipeline.get_bus()
        bus.add_signal_watch()
        watch = bus.connect("message", self._on_message)
        if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            bus.disconnect(watch)
            bus.remove_signal_watch()
            pipeline.set_state(Gst.State.NULL)
            return False
        with self._lock:
            self._pipeline, self._watch = pipeline, watch
        return True

    def close(self) -> None:
        """Stop the pipeline for good."""
        self._closed = True
        self._teardown()

    def _teardown(self) -> None:
        with self._lock:
            pipeline, watch, self._pipeline = self._pipeline, self._watch, None
        if pipeline is None:
            return
        bus = pipeline.get_bus()
        bus.disconnect(watch)
        bus.remove_signal_watch()
        pipeline.set_state(Gst.State.NULL)
        self.connected = False
        self.has_audio = False
        self._offset = None  # the next encoder starts its own clock
        self._lag, self._lag_frames, self._audio_offset = None, 0, None

    def _reopen(self) -> bool:
        self._teardown()
        self.on_disconnect()
        if self._closed:
            return False
        if not self.open():
            log.warning("web media ingest cannot listen on port %d, retrying", self.port)
            GLib.timeout_add_seconds(INGEST_RETRY_S, self._reopen)
        return False

    def _restart(self, pipeline: Gst.Pipeline, why: str) -> bool:
        """GLib idle callback: reopen, unless `pipeline` was already replaced (EOS and an error may both ask)."""
        if self._pipeline is pipeline:
            log.info("web media ingest %s; waiting for a new connection", why)
            self._reopen()
        return False

    def _on_source_event(self, _pad: Gst.Pad, info: Gst.PadProbeInfo, pipeline: Gst.Pipeline) -> Gst.PadProbeReturn:
        event = info.get_event()
        if event is not None and event.type == Gst.EventType.EOS:
            GLib.idle_add(self._restart, pipeline, "closed by the encoder")
        return Gst.PadProbeReturn.OK

    def _on_message(self, _bus: Gst.Bus, message: Gst.Message) -> None:
        if message.type == Gst.MessageType.ERROR:
            err, _debug = message.parse_error()
            GLib.idle_add(self._restart, self._pipeline, f"error: {err.message}")

    def _on_sample(self, sink: GstApp.AppSink) -> Gst.FlowReturn:
        sample = sink.emit("pull-sample")
        if sample is None:
            return Gst.FlowReturn.OK
        buf = sample.get_buffer()
        self.connected = True
        out = shallow_copy(buf)  # shares the memory; only the timestamps change
        ref = buf.dts if buf.dts != Gst.CLOCK_TIME_NONE else buf.pts
        now = clock_ns()
        if ref == Gst.CLOCK_TIME_NONE:
            out.pts = out.dts = now
        else:
            if self._offset is None or abs(ref + self._offset - now) > MAX_DRIFT_NS:
                self._offset = now - ref
                self._lag, self._lag_frames = None, 0
            # How much later than its timestamp says a frame arrives, on average (a plain mean over the first
            # LAG_FRAMES): the sound gets the same delay, so a sample and the frame captured with it carry the same
            # time on the viewers' clock (WebRtcPeer.push times frames by arrival).
            lag = now - (ref + self._offset)
            self._lag_frames = min(self._lag_frames + 1, LAG_FRAMES)
            self._lag = float(lag) if self._lag is None else self._lag + (lag - self._lag) / self._lag_frames
            out.dts = buf.dts + self._offset if buf.dts != Gst.CLOCK_TIME_NONE else Gst.CLOCK_TIME_NONE
            out.pts = buf.pts + self._offset if buf.pts != Gst.CLOCK_TIME_NONE else out.dts
        keyframe = not buf.has_flags(Gst.BufferFlags.DELTA_UNIT)
        self.on_frame(Frame(out, keyframe, sample.get_caps(), now))
        return Gst.FlowReturn.OK

    def _on_pad(self, _demux: Gst.Element, pad: Gst.Pad) -> None:
        if pad.get_name().startswith("audio"):
            self.has_audio = True

    def _on_audio_sample(self, sink: GstApp.AppSink) -> Gst.FlowReturn:
        # Same streaming thread as _on_sample (tsdemux pushes every pad from one), so _offset/_lag need no lock.
        sample = sink.emit("pull-sample")
        if sample is None or self.on_audio is None:
            return Gst.FlowReturn.OK
        buf = sample.get_buffer()
        if buf.pts == Gst.CLOCK_TIME_NONE or self._offset is None or self._lag is None:
            return Gst.FlowReturn.OK  # before the first frame: nothing to time it against yet
        out = shallow_copy(buf)
        # Timed by the encoder (RTP timestamps of audio must advance by exactly one packet each), on the video's
        # arrival clock: the encoder-to-hub offset plus the frames' average transit delay, updated in steps.
        target = self._offset + int(self._lag)
        if self._audio_offset is None or abs(target - self._audio_offset) > AUDIO_RESYNC_NS:
            self._audio_offset = target
        out.pts = max(0, buf.pts + self._audio_offset)
        out.dts = Gst.CLOCK_TIME_NONE
        self.on_audio(AudioPacket(out, sample.get_caps()))
        return Gst.FlowReturn.OK


def peer_description(pt: int, audio_pt: int | None = None) -> str:
    """gst-launch description of one WebRTC viewer: frames pushed into `src`, payloaded, sent by webrtcbin.

    With `audio_pt`, Opus packets pushed into `asrc` go out as a second (audio) track (rtpopuspay, RFC 7587).
    """
    # rtph264pay: aggregate-mode=zero-latency sends SPS+PPS+IDR as one STAP-A without waiting for more NALs
    # (rtph264pay docs). config-interval=0: the ingest's h264parse already puts SPS/PPS in every IDR access
    # unit; rtph264pay 1.22 with -1 would also insert them before every IDR *slice*, splitting sliced
    # pictures (x264 -tune zerolatency) in a way decoders drop (see camstream/servers/rtsp_gst.py).
    # The packets then pass through Python (appsink `rtpout` -> appsrc `rtpin`) to gain the playout-delay
    # header extension (rtpext.py: GStreamer 1.22 has no element for it); the MTU leaves room for it.
    return (
        "appsrc name=src is-live=true format=time do-timestamp=false block=false ! "
        f"rtph264pay name=pay pt={pt} mtu={RTP_MTU - PLAYOUT_DELAY_OVERHEAD} config-interval=0 "
        "aggregate-mode=zero-latency ! "
        "appsink name=rtpout sync=false emit-signals=true buffer-list=true "
        "appsrc name=rtpin is-live=true format=time do-timestamp=false block=false ! "
        "webrtcbin name=rtc bundle-policy=max-bundle latency=0"
    ) + (
        "" if audio_pt is None else
        " appsrc name=asrc is-live=true format=time do-timestamp=false block=false ! "
        f"rtpopuspay name=apay pt={audio_pt} mtu={RTP_MTU} ! rtc."
    )


class WebRtcPeer:
    """One WebRTC viewer: its own pipeline and state, fed frames from the ingest thread."""

    def __init__(
        self,
        pt: int,
        stream_plid: str,
        caps: Gst.Caps,
        *,
        udp_port: int | None,
        udp_ports: int,
        stun_server: str | None,
        turn_server: str | None,
        audio_pt: int | None = None,
        audio_caps: Gst.Caps | None = None,
    ) -> None:
        self.pt = pt
        self.audio_pt = audio_pt if audio_caps is not None else None
        self.audio_out = 0
        self.audio_dropped = 0
        self.remote_ufrag: str | None = None  # the browser's ICE username fragment (a PATCH with another = restart)
        self.created = time.monotonic()
        self.state = "new"
        self.state_since = self.created
        self.last_rtcp: float | None = None
        self.frames_out = 0
        self.frames_dropped = 0
        self.bytes_out = 0
        self._need_keyframe = True
        self._live = False  # DTLS done: packets reach the browser from now on
        self._candidates: list[tuple[int, str]] = []
        self._gathered = threading.Event()
        clean = caps.copy()
        clean.set_value("stream-format", "byte-stream")
        self.pipeline = Gst.parse_launch(peer_description(pt, self.audio_pt))
        self.pipeline.use_clock(Gst.SystemClock.obtain())
        self.appsrc: GstApp.AppSrc = self.pipeline.get_by_name("src")
        self.appsrc.set_property("caps", clean)
        # The playout-delay extension's id in this viewer's offer; None: the browser did not offer it (Firefox).
        self.playout_delay_id: int | None = None
        self._rtp_caps: Gst.Caps | None = None
        self._marked_time = b""  # RTP timestamp of the last packet given the extension
        self.rtpin: GstApp.AppSrc = self.pipeline.get_by_name("rtpin")
        self.pipeline.get_by_name("rtpout").connect("new-sample", self._on_rtp)
        self.rtc: Gst.Element = self.pipeline.get_by_name("rtc")
        # The SSRC the answer announces must be the one the payloader sends: Chromium ties the video track to the
        # signalled SSRC, and frames under any other SSRC are decoded but never reach the <video> element.
        # webrtcbin 1.22 announces the ssrc of the codec preferences when the pad has no caps yet.
        self.ssrc = secrets.randbelow(2**32 - 1) + 1
        self.pipeline.get_by_name("pay").set_property("ssrc", self.ssrc)
        if stun_server:
            self.rtc.set_property("stun-server", stun_server)
        if turn_server:
            self.rtc.set_property("turn-server", turn_server)
        # webrtcbin 1.22 hands out its ICE agent only once it is READY: read in NULL state, the property is
        # not a valid object and setting on it crashes the process (reproduced here).
        self.pipeline.set_state(Gst.State.READY)
        ice = self.rtc.get_property("ice-agent")
        if udp_port:
            ice.set_property("min-rtp-port", udp_port)
            ice.set_property("max-rtp-port", udp_port + max(1, udp_ports) - 1)
        # libnice's UPnP is on by default: each viewer would join SSDP (udp 1900) on every interface, serve HTTP
        # beside it and ask any UPnP router to forward its ports from the internet (NiceAgent "upnp"). Host
        # candidates on the hotspot and LAN, and STUN/TURN when configured, are how viewers reach us.
        nice = ice.get_property("agent")
        nice.set_property("upnp", False)
        # The getters give no reference of their own: the wrappers must not drop one early.
        self._ice, self._nice = ice, nice
        trans = self.rtc.emit("get-transceiver", 0)
        trans.set_property("direction", GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY)
        trans.set_property("do-nack", True)  # retransmit lost packets when the browser NACKs (RTX, RFC 4588)
        trans.set_property(
            "codec-preferences",
            Gst.Caps.from_string(
                f"application/x-rtp,media=video,encoding-name=H264,clock-rate=90000,payload={pt},"
                f"packetization-mode=(string)1,profile-level-id=(string){stream_plid},"
                f"level-asymmetry-allowed=(string)1,ssrc=(uint){self.ssrc}"
            ),
        )
        self.asrc: GstApp.AppSrc | None = None
        if self.audio_pt is not None:
            self._add_audio(self.audio_pt, audio_caps)
        self.rtc.connect("on-ice-candidate", self._on_candidate)
        self.rtc.connect("notify::ice-gathering-state", self._on_gathering)
        self.rtc.connect("notify::connection-state", self._on_connection_state)
        rtpbin = _find_rtpbin(self.rtc)
        if rtpbin is not None:
            # RTCP from the browser (receiver reports, NACK, PLI) proves it is still there.
            rtpbin.connect("on-ssrc-active", self._on_rtcp)
            if self.audio_pt is not None:
                # Sender reports map each track's RTP clock to NTP by the buffers' own times, not by when they
                # left: the Opus packets leave after their frames (the encoder's muxer interleaves them), and the
                # browser would play the sound that much late (rtpbin "rtcp-sync-send-time").
                rtpbin.set_property("rtcp-sync-send-time", False)

    def _add_audio(self, apt: int, caps: Gst.Caps) -> None:
        """The Opus track: its own appsrc and payloader, a second send-only transceiver, one stream with the video."""
        self.asrc = self.pipeline.get_by_name("asrc")
        self.asrc.set_property("caps", caps)
        self.audio_ssrc = secrets.randbelow(2**32 - 1) + 1  # announced = sent, as for the video
        self.pipeline.get_by_name("apay").set_property("ssrc", self.audio_ssrc)
        # Both tracks in one MediaStream (a=msid, RFC 8830): Chromium lip-syncs only tracks of one stream, from
        # the RTCP sender reports that map both RTP clocks onto this pipeline's clock.
        for pad in self.rtc.sinkpads:
            pad.set_property("msid", "camstream")
        trans = self.rtc.emit("get-transceiver", 1)
        trans.set_property("direction", GstWebRTC.WebRTCRTPTransceiverDirection.SENDONLY)
        trans.set_property(
            "codec-preferences",
            Gst.Caps.from_string(
                f"application/x-rtp,media=audio,encoding-name=OPUS,clock-rate=48000,payload={apt},"
                f"encoding-params=(string)2,ssrc=(uint){self.audio_ssrc}"
            ),
        )

    # -- negotiation (blocking: called from an executor thread) --------------------------------------------------

    def negotiate(self, offer_sdp: str, gather_timeout: float) -> str:
        """Start the pipeline, answer the offer; the answer SDP with this side's ICE candidates."""
        t0 = time.monotonic()
        if self.pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            raise RuntimeError("the WebRTC pipeline did not start")
        t1 = time.monotonic()
        # Not with sound: Chromium lip-syncs the picture to the sound by delaying it, and a maximum playout delay of 0
        # forbids that. Measured with a tone: the picture then showed at 24 ms but the sound came ~110 ms after it
        # (its jitter buffer grew from 72 to 137 ms); without the extension both stay in sync (picture at ~60 ms).
        self.playout_delay_id = extmap_id(offer_sdp, PLAYOUT_DELAY_URI) if self.audio_pt is None else None
        ok, msg = GstSdp.SDPMessage.new_from_text(offer_sdp)
        if ok != GstSdp.SDPResult.OK:
            raise ValueError("the offer is not valid SDP")
        offer = GstWebRTC.WebRTCSessionDescription.new(GstWebRTC.WebRTCSDPType.OFFER, msg)
        self._wait(lambda p: self.rtc.emit("set-remote-description", offer, p))
        reply = self._wait(lambda p: self.rtc.emit("create-answer", None, p))
        answer = reply.get_value("answer") if reply is not None and reply.has_field("answer") else None
        if answer is None:
            raise ValueError("webrtcbin made no answer")
        t2 = time.monotonic()
        self._wait(lambda p: self.rtc.emit("set-local-description", answer, p))
        t3 = time.monotonic()
        self._gathered.wait(gather_timeout)
        log.debug("negotiation: start %.3f s, remote+answer %.3f s, local %.3f s, gathering %.3f s",
                  t1 - t0, t2 - t1, t3 - t2, time.monotonic() - t3)
        local = self.rtc.get_property("local-description")
        text: str = (local or answer).sdp.as_text()
        if self.playout_delay_id is not None:
            # webrtcbin answers no extension it has no element for; this one the hub writes itself (_on_rtp).
            text = add_extmap(text, self.playout_delay_id, PLAYOUT_DELAY_URI)
        return add_candidates(text, list(self._candidates))

    @staticmethod
    def _wait(emit: Callable[[Gst.Promise], None]) -> Gst.Structure | None:
        promise = Gst.Promise.new()
        emit(promise)
        if promise.wait() != Gst.PromiseResult.REPLIED:
            raise RuntimeError("webrtcbin did not answer")
        reply = promise.get_reply()
        if reply is not None and reply.has_field("error"):
            # Never reply.get_value("error"): converting the GError field crashes PyGObject 3.50 (segfault,
            # reproduced here); the structure's text carries the message.
            raise ValueError(reply.to_string())
        return reply

    def add_candidate(self, candidate: str) -> None:
        """A trickled remote ICE candidate (one m-line: we bundle)."""
        self.rtc.emit("add-ice-candidate", 0, candidate)

    def close(self) -> None:
        """Stop the pipeline (blocking: call from an executor thread)."""
        self._live = False
        self.pipeline.set_state(Gst.State.NULL)

    # -- callbacks (GStreamer threads) ---------------------------------------------------------------------------

    def _on_candidate(self, _rtc: Gst.Element, mline: int, candidate: str) -> None:
        self._candidates.append((mline, candidate))

    def _on_gathering(self, rtc: Gst.Element, _pspec: object) -> None:
        if rtc.get_property("ice-gathering-state") == GstWebRTC.WebRTCICEGatheringState.COMPLETE:
            self._gathered.set()

    def _on_connection_state(self, rtc: Gst.Element, _pspec: object) -> None:
        state = rtc.get_property("connection-state")
        name = state.value_nick
        if name != self.state:
            self.state, self.state_since = name, time.monotonic()
        if state == GstWebRTC.WebRTCPeerConnectionState.CONNECTED:
            if not self._live:
                self._need_keyframe = True
            self._live = True
            self.last_rtcp = time.monotonic()

    def _on_rtcp(self, *_args: object) -> None:
        self.last_rtcp = time.monotonic()

    def _on_rtp(self, sink: GstApp.AppSink) -> Gst.FlowReturn:
        """The payloader's packets (its streaming thread): add the playout-delay extension, hand to webrtcbin."""
        sample = sink.emit("pull-sample")
        if sample is None:
            return Gst.FlowReturn.OK
        caps = sample.get_caps()
        if caps is not None and (self._rtp_caps is None or not caps.is_equal(self._rtp_caps)):
            self._rtp_caps = caps
            self.rtpin.set_caps(caps)
        packets = sample.get_buffer_list()
        bufs = [packets.get(i) for i in range(packets.length())] if packets is not None else [sample.get_buffer()]
        ext_id = self.playout_delay_id
        out = Gst.BufferList.new_sized(len(bufs))
        for buf in bufs:
            # Only a frame's first packet: libwebrtc takes a frame's playout delay from its first packet and keeps
            # the last one it got for frames without (RtpFrameObject, VideoReceiveStream2::OnCompleteFrame), and
            # every packet through Python doubled the hub's CPU per viewer (bench/web_media.py).
            rtp_time = buf.extract_dup(4, 4)
            if ext_id is not None and rtp_time != self._marked_time:
                self._marked_time = rtp_time
                size = buf.get_size()
                new = Gst.Buffer.new_wrapped(add_extension(buf.extract_dup(0, size), ext_id, PLAYOUT_DELAY_ASAP))
                new.copy_into(buf, _RTP_METADATA, 0, size)
                buf = new
            out.insert(-1, buf)
        return self.rtpin.push_buffer_list(out)

    def push(self, frame: Frame) -> None:
        """Hand one frame to this viewer (ingest thread); skips to the next keyframe when it falls behind."""
        if not self._live:
            return
        if self.appsrc.get_current_level_buffers() > MAX_QUEUED_FRAMES:
            self._need_keyframe = True
            self.frames_dropped += 1
            return
        if self._need_keyframe and not frame.keyframe:
            self.frames_dropped += 1
            return
        self._need_keyframe = False
        out = shallow_copy(frame.buffer)  # every viewer gets its own timestamps on the shared memory
        # RTP timestamps from the arrival time, on this viewer's running time (every pipeline of the hub runs on
        # the same system clock). A browser sizes its jitter buffer from how arrival times stray from RTP
        # timestamps; with the encoder's own timestamps the encoder's uneven pace on a busy board counted as
        # network jitter and Chromium held every frame ~45 ms longer (measured by bench/web_media.py).
        dts = max(0, frame.arrival - self.pipeline.get_base_time())
        buf = frame.buffer
        cts = buf.pts - buf.dts if buf.pts != Gst.CLOCK_TIME_NONE and buf.dts != Gst.CLOCK_TIME_NONE else 0
        out.dts = dts
        out.pts = dts + max(0, cts)
        self.frames_out += 1
        self.bytes_out += out.get_size()
        self.appsrc.push_buffer(out)


    def push_audio(self, packet: AudioPacket) -> None:
        """Hand one Opus packet to this viewer (ingest thread); dropped when the viewer is behind."""
        if not self._live or self.asrc is None:
            return
        if self.asrc.get_current_level_buffers() > MAX_QUEUED_AUDIO:
            self.audio_dropped += 1
            return
        out = shallow_copy(packet.buffer)
        # On this viewer's running time, as the frames' arrival times are (push): the same instant, the same time.
        out.pts = max(0, packet.buffer.pts - self.pipeline.get_base_time())
        self.audio_out += 1
        self.bytes_out += out.get_size()
        self.asrc.push_buffer(out)


def _find_rtpbin(rtc: Gst.Element) -> Gst.Element | None:
    it = rtc.iterate_recurse()
    while True:
        res, element = it.next()
        if res != Gst.IteratorResult.OK:
            return None
        factory = element.get_factory()
        if factory is not None and factory.get_name() == "rtpbin":
            return element


def caps_info(caps: Gst.Caps) -> tuple[int, int, float]:
    """(width, height, frames per second; 0 when unknown) from h264parse's caps."""
    s = caps.get_structure(0)
    ok_w, width = s.get_int("width")
    ok_h, height = s.get_int("height")
    ok_f, num, den = s.get_fraction("framerate")
    fps = num / den if ok_f and den else 0.0
    return (width if ok_w else 0, height if ok_h else 0, fps)
