"""GStreamer side of the builtin RTSP server: MPEG-TS/H.264 in over local TCP, one shared RTSP media out.

Imported only inside the server's own process (`python -m camstream.servers.rtsp_builtin`),
so camstream itself never needs PyGObject unless this server is used.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import dataclass

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstApp", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstApp, GstRtsp, GstRtspServer  # noqa: E402

from camstream.gstbuffer import shallow_copy  # noqa: E402
from camstream.servers.viewer_guard import (  # noqa: E402
    SESSION_TIMEOUT_S,
    ViewerGuard,
    bound_send_buffer,
    observe,
)
from camstream.storage.atomic import write_atomic  # noqa: E402

log = logging.getLogger("camstream.rtsp")

# Frames waiting in the media's appsrc before we stop feeding it and resynchronise on the next
# keyframe: a stalled media pipeline must never make the ingest wait (2 s at 25 fps).
MAX_QUEUED_FRAMES = 50
# Output timestamps follow the encoder's clock, re-anchored to our running time when they
# drift further than this (encoder restart, clock jump).
MAX_DRIFT_NS = 1 * Gst.SECOND
# Threads serving RTSP connections; more connections than this share them.
CLIENT_THREADS = 64
# Seconds between status file writes and session-pool cleanups.
STATUS_INTERVAL_S = 1
SESSION_CLEANUP_INTERVAL_S = 1
VIEWER_CHECK_INTERVAL_S = 1
# Wait before re-opening the ingest listener after it failed (not after a normal disconnect).
INGEST_RETRY_S = 1


def ingest_description(port: int, audio: bool = False) -> str:
    """gst-launch description of the ingest pipeline: MPEG-TS over TCP from FFmpeg, parsed to H.264 access units."""
    # tcpserversrc accepts one client and ends the stream (EOS) when it disconnects; the caller
    # rebuilds the pipeline so the next FFmpeg can connect. config-interval=-1 makes h264parse
    # insert SPS/PPS before every IDR even if the encoder did not (h264parse docs).
    # Each PES that FFmpeg's mpegts muxer writes holds exactly one access unit, and tsdemux pushes
    # one buffer per PES; its caps say nothing about alignment, so h264parse would otherwise look
    # for the end of every AU in the start of the next one and hold each frame for one frame
    # interval (33 ms at 30 fps; measured). capssetter declares the AU alignment that is already
    # there, so h264parse hands each frame on as soon as it arrives.
    video = (
        "capssetter caps=video/x-h264,alignment=au ! "
        "h264parse config-interval=-1 ! video/x-h264,stream-format=byte-stream,alignment=au ! "
        "appsink name=sink sync=false max-buffers=100 drop=true emit-signals=true"
    )
    if not audio:
        return f"tcpserversrc name=src host=127.0.0.1 port={port} ! tsdemux ! {video}"
    # Two sinks on one demuxer need a queue each: a non-live pipeline only reaches PLAYING once every
    # sink has prerolled, and the demuxer's one streaming thread would block in the first sink's preroll
    # (GStreamer design docs, "preroll"; seen here as a DESCRIBE that never prepared).
    return (
        f"tcpserversrc name=src host=127.0.0.1 port={port} ! tsdemux name=demux "
        f"demux. ! video/x-h264 ! queue ! {video} "
        f"demux. ! audio/mpeg ! queue ! {AUDIO_INGEST}"
    )


# The AAC branch: ADTS from tsdemux becomes raw AAC with codec_data, which rtpmp4gpay needs (RFC 3640
# mpeg4-generic; gst-plugins-good rtpmp4gpay sink caps "stream-format=raw"); the appsink never blocks.
AUDIO_INGEST = (
    "aacparse ! audio/mpeg,mpegversion=4,stream-format=raw ! "
    "appsink name=asink sync=false max-buffers=100 drop=true emit-signals=true"
)
AUDIO_MEDIA = "appsrc name=asrc is-live=true format=time do-timestamp=true block=false ! rtpmp4gpay name=pay1 pt=97"


def media_description(audio: bool = False) -> str:
    """gst-launch description of the shared RTSP media, fed by pushing frames into `src`."""
    # do-timestamp only fills frames that arrive without a timestamp (before the media has a clock).
    # h264parse config-interval=-1 puts SPS/PPS in front of every IDR access unit, so late joiners
    # lock at the next keyframe. The payloader must NOT insert them too: rtph264pay 1.22 with
    # config-interval=-1 inserts SPS/PPS before every IDR *slice*, i.e. between the slices of one
    # picture when x264 uses sliced threads (-tune zerolatency), and decoders then drop the first
    # slices (top half of every keyframe lost; reproduced here with FFmpeg and avdec_h264 clients).
    video = (
        "appsrc name=src is-live=true format=time do-timestamp=true block=false ! "
        "h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 config-interval=0"
    )
    # Audio is a second stream of the same shared media, stamped with the video's offset (see _on_audio).
    return f"( {video} {AUDIO_MEDIA} )" if audio else f"( {video} )"


class _SharedFactory(GstRtspServer.RTSPMediaFactory):
    """A shared media factory whose one media serves every URL spelling of its mount."""

    def do_gen_key(self, _url: GstRtsp.RTSPUrl) -> str:
        # The default key is port + path + query of the request URL (rtsp-media-factory.c default_gen_key), so
        # a viewer that names the server differently (no port, a query string, SETUP without DESCRIBE on
        # .../stream=0) would get a media of its own, which the ingest cannot feed alongside the first one.
        return "camstream"


@dataclass
class Settings:
    """What the server listens on and who may watch."""

    address: str
    port: int
    mount: str
    ingest_port: int
    user: str | None = None
    password: str | None = None
    status_file: str | None = None
    audio: bool = False


class _Feed:
    """The media currently fed from the ingest, if any viewer made one exist."""

    def __init__(
        self, media: GstRtspServer.RTSPMedia, appsrc: GstApp.AppSrc, asrc: GstApp.AppSrc | None = None
    ) -> None:
        self.media = media
        self.appsrc = appsrc
        self.asrc = asrc
        self.need_keyframe = True
        self.offset: int | None = None  # output time minus encoder time, in ns


class RtspServer:
    """One ingest pipeline that survives encoder reconnects, one shared media, a status file."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.loop = GLib.MainLoop()
        self._lock = threading.Lock()
        self._feed: _Feed | None = None
        self._caps: Gst.Caps | None = None
        self._acaps: Gst.Caps | None = None
        self._audio_in = 0
        self._pipeline: Gst.Pipeline | None = None
        self._bus_watch = 0
        self._ingest_connected = False
        self._frames_in = 0
        self._bytes_in = 0  # H.264 and AAC bytes from the encoder: the encode's bitrate when nothing is recorded
        self._last_frame: float | None = None
        self._viewers: set[int] = set()
        self._client_ids = itertools.count()
        self._guard = ViewerGuard()
        self._dropped = 0
        self._status_failing = False
        self._sessions: dict[int, list[GstRtspServer.RTSPSession]] = {}
        self._clients: dict[int, tuple[GstRtspServer.RTSPClient, int]] = {}
        self._server = self._make_server()

    # -- RTSP side --------------------------------------------------------------------------

    def _make_server(self) -> GstRtspServer.RTSPServer:
        s = self.settings
        server = GstRtspServer.RTSPServer()
        server.set_address(s.address)
        server.set_service(str(s.port))
        # Serve each RTSP connection from its own thread (up to this many): a DESCRIBE waits for the
        # media to prepare, i.e. for the encoder's next keyframe (up to 20 s while no encoder is
        # connected, rtsp-media.c), and must not hold up other viewers or the main loop meanwhile.
        server.get_thread_pool().set_max_threads(CLIENT_THREADS)
        factory = _SharedFactory()
        factory.set_launch(media_description(s.audio))
        factory.set_shared(True)  # one media (one appsrc) for every viewer
        # UDP by default, interleaved TCP for clients that ask; no multicast.
        factory.set_protocols(GstRtsp.RTSPLowerTrans.UDP | GstRtsp.RTSPLowerTrans.TCP)
        factory.connect("media-configure", self._on_media_configure)
        if s.user is not None:
            self._add_auth(server, factory, s.user, s.password or "")
        server.get_mount_points().add_factory(s.mount, factory)
        server.connect("client-connected", self._on_client_connected)
        return server

    @staticmethod
    def _add_auth(
        server: GstRtspServer.RTSPServer, factory: GstRtspServer.RTSPMediaFactory, user: str, password: str
    ) -> None:
        # Basic auth with one role allowed to see and build the media; anonymous clients have no
        # token and get 401 (gst-rtsp-server examples/test-auth.c).
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "viewer")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(user, password), token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_permission_for_role("viewer", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
        permissions.add_permission_for_role("viewer", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True)
        factory.set_permissions(permissions)

    def _on_media_configure(self, _factory: object, media: GstRtspServer.RTSPMedia) -> None:
        element = media.get_element()
        appsrc = element.get_by_name_recurse_up("src")
        asrc = element.get_by_name_recurse_up("asrc") if self.settings.audio else None
        with self._lock:
            if self._caps is not None:
                appsrc.set_caps(self._caps)
            if asrc is not None and self._acaps is not None:
                asrc.set_caps(self._acaps)
            self._feed = _Feed(media, appsrc, asrc)
        media.connect("unprepared", self._on_media_unprepared)
        log.info("media created")

    def _on_media_unprepared(self, media: GstRtspServer.RTSPMedia) -> None:
        with self._lock:
            if self._feed is not None and self._feed.media is media:
                self._feed = None
        log.info("media released (no viewers left)")

    def _on_client_connected(self, _server: object, client: GstRtspServer.RTSPClient) -> None:
        # A number of our own: id() of the Python wrapper is reused once the wrapper is freed.
        key = next(self._client_ids)
        client.connect("play-request", lambda *_: self._viewers.add(key))
        client.connect("teardown-request", lambda *_: self._viewers.discard(key))
        client.connect("closed", lambda *_: self._viewers.discard(key))
        self._guard_client(key, client)

    # -- viewer guard: a viewer that stops reading is dropped, nobody else notices (viewer_guard.py) --------

    def _guard_client(self, key: int, client: GstRtspServer.RTSPClient) -> None:
        conn = client.get_connection()
        fd = conn.get_read_socket().get_fd() if conn is not None else -1
        name = conn.get_ip() if conn is not None else "?"
        if fd >= 0:
            try:
                peer = socket.socket(fileno=fd)
                try:
                    name = "%s:%d" % peer.getpeername()[:2]
                finally:
                    peer.detach()
            except OSError:
                pass
            bound_send_buffer(fd)
        with self._lock:
            self._clients[key] = (client, fd)
            self._guard.connected(key, name, time.monotonic())
        for signal_name in ("options-request", "describe-request", "setup-request", "play-request",
                            "pause-request", "teardown-request", "get-parameter-request", "set-parameter-request"):
            client.connect(signal_name, lambda *_: self._guard_request(key))
        client.connect("new-session", lambda _c, session: self._guard_session(key, session))
        client.connect("closed", lambda *_: self._guard_closed(key))

    def _guard_request(self, key: int) -> None:
        with self._lock:
            self._guard.request(key, time.monotonic())

    def _guard_session(self, key: int, session: GstRtspServer.RTSPSession) -> None:
        # Viewers that vanish without TEARDOWN (UDP) stop costing bandwidth after this (see viewer_guard.py).
        session.set_timeout(SESSION_TIMEOUT_S)
        with self._lock:
            self._guard.session(key)
            self._sessions.setdefault(key, []).append(session)

    def _guard_closed(self, key: int) -> None:
        with self._lock:
            self._guard.closed(key)
            self._clients.pop(key, None)
            sessions = self._sessions.pop(key, [])
        # A viewer that is gone (killed, crashed) takes its sessions with it at once: UDP would otherwise keep
        # flowing to a dead port until the session timed out. Every common player keeps its RTSP connection
        # open while it plays (mediamtx likewise ends a session with its connection).
        pool = self._server.get_session_pool()
        for session in sessions:
            pool.remove(session)

    def _check_viewers(self) -> bool:
        now = time.monotonic()
        drop: dict[int, str] = {}
        with self._lock:
            for key, (_client, fd) in list(self._clients.items()):
                why = self._guard.check(key, observe(fd) if fd >= 0 else None, now)
                if why:
                    drop[key] = why
        if drop:
            doomed = {id(self._clients[k][0]) for k in drop if k in self._clients}

            def remove(_server: object, client: GstRtspServer.RTSPClient) -> GstRtspServer.RTSPFilterResult:
                if id(client) in doomed:
                    return GstRtspServer.RTSPFilterResult.REMOVE
                return GstRtspServer.RTSPFilterResult.KEEP

            for why in drop.values():
                log.warning("%s", why)
            self._dropped += len(drop)
            self._server.client_filter(remove)
            with self._lock:
                for key in drop:
                    self._viewers.discard(key)
            for key in drop:
                self._guard_closed(key)
        return True

    # -- ingest side ------------------------------------------------------------------------

    def _open_ingest(self) -> bool:
        """Build and start a fresh ingest pipeline; False when it cannot listen."""
        pipeline = Gst.parse_launch(ingest_description(self.settings.ingest_port, self.settings.audio))
        pipeline.get_by_name("sink").connect("new-sample", self._on_sample)
        if self.settings.audio:
            pipeline.get_by_name("asink").connect("new-sample", self._on_audio)
        bus = pipeline.get_bus()
        bus.add_signal_watch()
        self._bus_watch = bus.connect("message", self._on_ingest_message)
        if pipeline.set_state(Gst.State.PLAYING) == Gst.StateChangeReturn.FAILURE:
            bus.disconnect(self._bus_watch)
            bus.remove_signal_watch()
            pipeline.set_state(Gst.State.NULL)
            return False
        self._pipeline = pipeline
        return True

    def _close_ingest(self) -> None:
        if self._pipeline is None:
            return
        bus = self._pipeline.get_bus()
        bus.disconnect(self._bus_watch)
        bus.remove_signal_watch()
        self._pipeline.set_state(Gst.State.NULL)
        self._pipeline = None
        with self._lock:
            self._ingest_connected = False
            if self._feed is not None:
                # The next encoder starts its own clock; wait for its first keyframe.
                self._feed.need_keyframe = True
                self._feed.offset = None

    def _reopen_ingest(self) -> bool:
        self._close_ingest()
        if self._open_ingest():
            log.info("ingest listening on tcp://127.0.0.1:%d", self.settings.ingest_port)
            return False
        log.warning("ingest cannot listen on port %d, retrying", self.settings.ingest_port)
        GLib.timeout_add_seconds(INGEST_RETRY_S, self._reopen_ingest)
        return False

    def _on_ingest_message(self, _bus: Gst.Bus, message: Gst.Message) -> None:
        if message.type == Gst.MessageType.EOS:
            log.info("ingest closed by the encoder; waiting for a new connection")
        elif message.type == Gst.MessageType.ERROR:
            err, _debug = message.parse_error()
            log.warning("ingest error: %s; waiting for a new connection", err.message)
        else:
            return
        GLib.idle_add(self._reopen_ingest)

    def _on_sample(self, sink: GstApp.AppSink) -> Gst.FlowReturn:
        """Called in the ingest's streaming thread: count the frame, hand it to the media if one exists."""
        sample = sink.emit("pull-sample")
        if sample is None:
            return Gst.FlowReturn.OK
        buf = sample.get_buffer()
        caps = sample.get_caps()
        with self._lock:
            if not self._ingest_connected:
                log.info("ingest connected: %s", caps.to_string() if caps else "?")
            self._ingest_connected = True
            self._frames_in += 1
            self._bytes_in += buf.get_size()
            self._last_frame = time.monotonic()
            if caps is not None and (self._caps is None or not self._caps.is_equal(caps)):
                self._caps = caps
                if self._feed is not None:
                    self._feed.appsrc.set_caps(caps)
            feed = self._feed
            if feed is None:
                return Gst.FlowReturn.OK
            keyframe = not buf.has_flags(Gst.BufferFlags.DELTA_UNIT)
            if feed.appsrc.get_current_level_buffers() > MAX_QUEUED_FRAMES:
                # The media is not consuming: drop this GOP rather than queue or block.
                feed.need_keyframe = True
                return Gst.FlowReturn.OK
            if feed.need_keyframe and not keyframe:
                return Gst.FlowReturn.OK
            feed.need_keyframe = False
            out = shallow_copy(buf)  # shares the memory; only the timestamps change
            self._retime(feed, buf, out)
        feed.appsrc.push_buffer(out)
        return Gst.FlowReturn.OK

    def _on_audio(self, sink: GstApp.AppSink) -> Gst.FlowReturn:
        """An AAC frame from the ingest: stamp it with the video's offset so both stay on one timeline."""
        sample = sink.emit("pull-sample")
        if sample is None:
            return Gst.FlowReturn.OK
        buf = sample.get_buffer()
        caps = sample.get_caps()
        with self._lock:
            self._audio_in += 1
            self._bytes_in += buf.get_size()
            if caps is not None and (self._acaps is None or not self._acaps.is_equal(caps)):
                self._acaps = caps
                if self._feed is not None and self._feed.asrc is not None:
                    self._feed.asrc.set_caps(caps)
            feed = self._feed
            # Until the video has anchored the media's timeline (first keyframe), audio has no place on it.
            if feed is None or feed.asrc is None or feed.offset is None or buf.pts == Gst.CLOCK_TIME_NONE:
                return Gst.FlowReturn.OK
            if feed.asrc.get_current_level_buffers() > MAX_QUEUED_FRAMES:
                return Gst.FlowReturn.OK
            out = shallow_copy(buf)
            out.pts = max(0, buf.pts + feed.offset)
            out.dts = Gst.CLOCK_TIME_NONE
            asrc = feed.asrc
        asrc.push_buffer(out)
        return Gst.FlowReturn.OK

    @staticmethod
    def _retime(feed: _Feed, buf: Gst.Buffer, out: Gst.Buffer) -> None:
        """Map encoder timestamps onto the media's running time, keeping the encoder's frame spacing."""
        now = _running_time(feed.appsrc)
        ref = buf.dts if buf.dts != Gst.CLOCK_TIME_NONE else buf.pts
        if now is None or ref == Gst.CLOCK_TIME_NONE:
            out.pts = out.dts = Gst.CLOCK_TIME_NONE  # appsrc do-timestamp stamps it on arrival
            return
        if feed.offset is None or abs(ref + feed.offset - now) > MAX_DRIFT_NS:
            feed.offset = now - ref
        out.dts = max(0, buf.dts + feed.offset) if buf.dts != Gst.CLOCK_TIME_NONE else Gst.CLOCK_TIME_NONE
        out.pts = max(0, buf.pts + feed.offset) if buf.pts != Gst.CLOCK_TIME_NONE else out.dts

    # -- status and lifecycle -----------------------------------------------------------------

    def status(self) -> dict[str, object]:
        """Snapshot for `camstream status`.

        ingest_connected: frames arrived on the current encoder connection (False once it ends);
        viewers: RTSP connections that sent PLAY and have not left; connections: open RTSP connections;
        sessions: RTSP sessions (a UDP viewer that vanished keeps one until it times out); viewers_dropped:
        viewers disconnected for not keeping up, stalling or never sending a request; frames_in: frames received since
        start, all connections; ingest_bytes: H.264 and AAC bytes received since start (for the bitrate);
        last_frame_age: seconds since the newest frame (None before the first).
        """
        with self._lock:
            age = None if self._last_frame is None else round(time.monotonic() - self._last_frame, 3)
            return {
                "ingest_connected": self._ingest_connected,
                "viewers": len(self._viewers),
                "connections": len(self._clients),
                "sessions": self._server.get_session_pool().get_n_sessions(),
                "viewers_dropped": self._dropped,
                "frames_in": self._frames_in,
                "audio_frames_in": self._audio_in,
                "ingest_bytes": self._bytes_in,
                "last_frame_age": age,
                "updated_at": round(time.time(), 3),
            }

    def _write_status(self) -> bool:
        path = self.settings.status_file
        if not path:
            return True
        try:
            write_atomic(path, json.dumps(self.status()))  # readers never see a half-written file
        except OSError as exc:
            # A full state directory: camstream takes a status file that stops changing for a hung server and
            # restarts it (rtsp_builtin.py hung()). Touching the file needs no free blocks, so the heartbeat
            # goes on and live is untouched; the viewer counts are stale meanwhile. One line, not one a second.
            try:
                with open(path, "ab"):
                    os.utime(path)
            except OSError:
                # Not even that (a read-only state directory): say it on stdout, which camstream reads anyway.
                print("alive", flush=True)  # rtsp_builtin.HEARTBEAT_LINE, like its READY_PREFIX below
            if not self._status_failing:
                log.warning("cannot write status file %s: %s; serving on, status not updated until it can",
                            path, exc.strerror or exc)
                self._status_failing = True
            return True
        if self._status_failing:
            log.info("status file %s is written again", path)
            self._status_failing = False
        return True

    def _cleanup_sessions(self) -> bool:
        # Drop sessions of UDP viewers that vanished without TEARDOWN once they time out.
        self._server.get_session_pool().cleanup()
        return True

    def _quit(self) -> bool:
        log.info("stopping")
        self.loop.quit()
        return False

    def run(self) -> int:
        """Listen, serve until SIGTERM/SIGINT, clean up; return the process exit code."""
        s = self.settings
        if self._server.attach(None) == 0:
            print(f"error: cannot listen for RTSP on {s.address}:{s.port}", file=sys.stderr, flush=True)
            return 2
        if not self._open_ingest():
            print(f"error: cannot listen for the encoder on 127.0.0.1:{s.ingest_port}", file=sys.stderr, flush=True)
            return 2
        for sig in (signal.SIGTERM, signal.SIGINT):
            GLib.unix_signal_add(GLib.PRIORITY_HIGH, sig, self._quit)
        GLib.timeout_add_seconds(SESSION_CLEANUP_INTERVAL_S, self._cleanup_sessions)
        GLib.timeout_add_seconds(VIEWER_CHECK_INTERVAL_S, self._check_viewers)
        if s.status_file:
            self._write_status()
            GLib.timeout_add_seconds(STATUS_INTERVAL_S, self._write_status)
        port = self._server.get_bound_port()
        print(f"listening rtsp://{s.address}:{port}{s.mount} ingest tcp://127.0.0.1:{s.ingest_port}", flush=True)
        try:
            self.loop.run()
        finally:
            self._close_ingest()
            # Close every RTSP connection so viewers see the end instead of a silent stall.
            self._server.client_filter(lambda _server, client: GstRtspServer.RTSPFilterResult.REMOVE)
            if s.status_file:
                try:
                    os.unlink(s.status_file)
                except FileNotFoundError:
                    pass
        return 0


def _running_time(element: Gst.Element) -> int | None:
    """The element's current running time in ns, or None before its pipeline has a clock."""
    clock = element.get_clock()
    if clock is None:
        return None
    base = element.get_base_time()
    now = clock.get_time()
    return now - base if now >= base else None


def serve(settings: Settings) -> int:
    """Run the server until a stop signal; the exit code for the process."""
    Gst.init(None)
    return RtspServer(settings).run()
