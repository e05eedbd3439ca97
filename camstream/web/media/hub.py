"""MediaHub: live video for browsers from camstream's single encode, over WebRTC (WHEP) or fMP4 over WebSocket.

camstream's FFmpeg sends MPEG-TS over local TCP (a reliable link, like the builtin RTSP ingest) to
`ingest_port`. Each access unit then goes, without transcoding, to
- every WebRTC viewer (`POST /<path>/whep`, RFC 9725): its own webrtcbin pipeline, H.264 payloaded as is;
- every fallback viewer (`GET /<path>/ws`): one fragmented-MP4 fragment per frame over a WebSocket, for
  Media Source Extensions in the browser (TCP only: works where UDP is blocked).
Every viewer has its own bounded queue and starts at a keyframe; one that falls behind skips to the next
keyframe (it loses frames, never gains delay) and never slows the ingest or anybody else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from camstream.errors import MissingToolError, ServerError
from camstream.web.media import fmp4, h264
from camstream.web.media.sdp import (
    SdpError,
    choose_format,
    ice_credentials,
    opus_payload,
    rewrite_offer,
    trickle_candidates,
)

if TYPE_CHECKING:
    from camstream.web.media.gst import AudioPacket, Frame, WebRtcPeer

log = logging.getLogger("camstream.web.media")

# Fallback frames waiting to be written to one WebSocket before that viewer skips to the next keyframe.
WS_QUEUE_FRAMES = 8
# How long a WHEP request waits for the encoder's first keyframe (its SPS says what to answer) before 503.
STREAM_WAIT_S = 3.0
# Gathering host candidates takes milliseconds; a STUN/TURN server that does not answer (offline) must not
# hold the answer longer than this. Candidates gathered later are simply not used (no server-side trickle).
GATHER_TIMEOUT_S = 0.5
GATHER_TIMEOUT_STUN_S = 2.0
# A WebRTC viewer that has not connected after this long, or stopped sending RTCP this long, is dropped.
CONNECT_TIMEOUT_S = 20.0
RTCP_TIMEOUT_S = 15.0
REAP_INTERVAL_S = 1.0
MAX_VIEWERS = 32
# How long a WHEP request waits for the first Opus packet once the stream is known to carry sound.
AUDIO_WAIT_S = 1.0


@dataclass(frozen=True)
class IceSettings:
    """ICE settings for WebRTC viewers. None of them is needed on a LAN or hotspot: host candidates are used.

    udp_port: first port WebRTC media may use, for firewalls: every viewer's sockets come from
    udp_port .. udp_port + udp_ports - 1. libnice binds one socket per viewer and local address (and one for
    ICE-TCP), with no single-port mux, so open udp_ports >= viewers x addresses (UDP and TCP).
    stun_server: 'stun://host:port', for viewers behind NAT. turn_server: 'turn://user:pass@host:port'.
    """

    udp_port: int | None = None
    stun_server: str | None = None
    turn_server: str | None = None
    udp_ports: int = 100


@dataclass
class _Stream:
    """What the ingest currently carries, from its last keyframe's parameter sets."""

    plid: str
    width: int
    height: int
    fps: float
    init: bytes  # fMP4 init segment
    generation: int  # bumps whenever the parameter sets change


@dataclass
class _WsItem:
    generation: int
    keyframe: bool
    data: bytes


class _WsViewer:
    def __init__(self, ws: web.WebSocketResponse) -> None:
        self.ws = ws
        self.queue: asyncio.Queue[_WsItem] = asyncio.Queue(WS_QUEUE_FRAMES)
        self.need_keyframe = True
        self.frames_dropped = 0
        self.bytes_out = 0


class MediaHub:
    """The live-video routes of the web server and the pipelines behind them."""

    def __init__(self, ingest_port: int, path: str = "live", ice: IceSettings = IceSettings()) -> None:
        self.ingest_port = ingest_port
        self.path = path.strip("/")
        if not self.path or "/" in self.path:
            raise ValueError(f"media path {path!r} is not valid: use one segment like 'live'")
        self.ice = ice
        self._lock = threading.Lock()
        self._peers: dict[str, WebRtcPeer] = {}
        self._ws: set[_WsViewer] = set()
        self._stream: _Stream | None = None
        self._stream_ready: asyncio.Event | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._glib: Any = None
        self._ingest: Any = None
        self._reaper: asyncio.Task[None] | None = None
        self._frames_in = 0
        self._bytes_in = 0
        self._ws_bytes_out = 0
        self._closed_peer_bytes = 0
        self._last_frame: float | None = None
        self._sps: bytes | None = None
        self._pps: bytes | None = None
        self._seq = 0
        self._last_dts: int | None = None
        self._caps: Any = None  # Gst.Caps of the ingest's H.264
        self._audio_caps: Any = None  # Gst.Caps of the ingest's Opus, once a packet came (None: no sound)
        self._audio_in = 0

    # -- lifecycle ------------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Load GStreamer, listen for the encoder on 127.0.0.1:ingest_port, start the viewer reaper."""
        try:
            from camstream.web.media import gst
        except (ImportError, ValueError) as exc:
            raise MissingToolError(
                "GStreamer WebRTC for Python",
                f"{exc}: sudo apt install gir1.2-gst-plugins-bad-1.0 gstreamer1.0-nice (and PyGObject in the venv)",
            ) from exc
        missing = gst.missing_elements()
        if missing:
            raise MissingToolError("GStreamer elements " + ", ".join(missing), "sudo apt install gstreamer1.0-nice "
                                   "gstreamer1.0-plugins-good gstreamer1.0-plugins-bad")
        self._loop = asyncio.get_running_loop()
        self._stream_ready = asyncio.Event()
        self._glib = gst.GLibThread()
        self._glib.start()
        self._ingest = gst.Ingest(self.ingest_port, self._on_frame, self._on_disconnect, self._on_audio)
        if not self._ingest.open():
            self._glib.stop()
            raise ServerError(f"cannot listen for the encoder on 127.0.0.1:{self.ingest_port}: port in use")
        await self._loop.run_in_executor(None, gst.warm_up)
        self._reaper = asyncio.create_task(self._reap())
        log.info("web media: ingest tcp://127.0.0.1:%d, WHEP /%s/whep, fallback /%s/ws",
                 self.ingest_port, self.path, self.path)

    async def stop(self) -> None:
        """Close every viewer and the ingest."""
        if self._reaper is not None:
            self._reaper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reaper
        with self._lock:
            peers = list(self._peers.values())
            self._peers.clear()
        loop = asyncio.get_running_loop()
        for peer in peers:
            await loop.run_in_executor(None, peer.close)
        for viewer in list(self._ws):
            await viewer.ws.close()  # ends its handler, which cancels its sender
        if self._ingest is not None:
            await loop.run_in_executor(None, self._ingest.close)
            self._ingest = None
        if self._glib is not None:
            self._glib.stop()
            self._glib = None

    # -- routes ---------------------------------------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        """WHEP (POST offer, PATCH trickle, DELETE session) and the WebSocket fallback, under /<path>/."""
        base = f"/{self.path}"
        return [
            web.post(f"{base}/whep", self._whep_post),
            web.patch(f"{base}/whep/{{session}}", self._whep_patch),
            web.delete(f"{base}/whep/{{session}}", self._whep_delete),
            web.get(f"{base}/ws", self._ws_handler),
        ]

    async def _wait_stream(self) -> _Stream | None:
        assert self._stream_ready is not None
        if self._stream is None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stream_ready.wait(), STREAM_WAIT_S)
        return self._stream

    async def _whep_post(self, request: web.Request) -> web.StreamResponse:
        if self._ingest is None:
            return web.Response(status=503, text="live video is not running\n")
        if request.content_type != "application/sdp":
            return web.Response(status=415, text="send the SDP offer with Content-Type: application/sdp\n")
        offer = await request.text()
        if len(self._peers) >= MAX_VIEWERS:
            return web.Response(status=503, headers={"Retry-After": "5"}, text="too many WebRTC viewers\n")
        stream = await self._wait_stream()
        if stream is None:
            return web.Response(status=503, headers={"Retry-After": "1"}, text="no video from the encoder yet\n")
        try:
            fmt = choose_format(offer, stream.plid)
        except SdpError as exc:
            # 406: the stream exists but this client cannot decode it; the player falls back to fMP4.
            return web.Response(status=406, text=f"{exc}\n")
        from camstream.web.media import gst

        caps = self._caps
        ice = self.ice
        loop = asyncio.get_running_loop()
        # Sound when the stream has it and the browser offered Opus (an offer without audio gets video only).
        audio_pt = opus_payload(offer)
        if audio_pt is not None and self._audio_caps is None and self._ingest.has_audio:
            deadline = loop.time() + AUDIO_WAIT_S
            while self._audio_caps is None and loop.time() < deadline:
                await asyncio.sleep(0.05)
        audio_caps = self._audio_caps if audio_pt is not None else None

        def make() -> WebRtcPeer:
            return gst.WebRtcPeer(fmt.pt, stream.plid, caps, udp_port=ice.udp_port, udp_ports=ice.udp_ports,
                                  stun_server=ice.stun_server, turn_server=ice.turn_server,
                                  audio_pt=audio_pt, audio_caps=audio_caps)

        peer = await loop.run_in_executor(None, make)
        gather = GATHER_TIMEOUT_STUN_S if (ice.stun_server or ice.turn_server) else GATHER_TIMEOUT_S
        try:
            answer = await loop.run_in_executor(None, peer.negotiate, rewrite_offer(offer, fmt.pt, stream.plid), gather)
        except (ValueError, RuntimeError) as exc:
            await loop.run_in_executor(None, peer.close)
            return web.Response(status=400, text=f"cannot answer this offer: {exc}\n")
        session = secrets.token_urlsafe(12)
        peer.remote_ufrag = ice_credentials(offer)[0]
        with self._lock:
            self._peers[session] = peer
        log.info("WebRTC viewer %s joined (H.264 %s as payload type %d%s)", session, stream.plid, fmt.pt,
                 "" if peer.audio_pt is None else f", Opus as {peer.audio_pt}")
        return web.Response(
            status=201, text=answer, content_type="application/sdp",
            headers={"Location": f"/{self.path}/whep/{session}"},
        )

    async def _whep_patch(self, request: web.Request) -> web.StreamResponse:
        peer = self._peers.get(request.match_info["session"])
        if peer is None:
            return web.Response(status=404, text="no such WHEP session\n")
        if request.content_type != "application/trickle-ice-sdpfrag":
            return web.Response(status=415, text="send candidates as application/trickle-ice-sdpfrag\n")
        body = await request.text()
        ufrag, _pwd = ice_credentials(body)
        if ufrag is not None and ufrag != peer.remote_ufrag:
            # An ICE restart: not supported; the client makes a new session instead (RFC 9725 4.3.2).
            return web.Response(status=405, headers={"Allow": "POST, DELETE"}, text="ICE restart not supported\n")
        loop = asyncio.get_running_loop()
        for _mid, cand in trickle_candidates(body):
            await loop.run_in_executor(None, peer.add_candidate, cand)
        return web.Response(status=204)

    async def _whep_delete(self, request: web.Request) -> web.StreamResponse:
        with self._lock:
            peer = self._peers.pop(request.match_info["session"], None)
        if peer is None:
            return web.Response(status=404, text="no such WHEP session\n")
        await self._close_peer(request.match_info["session"], peer, "left")
        return web.Response(status=200)

    async def _close_peer(self, session: str, peer: WebRtcPeer, why: str) -> None:
        self._closed_peer_bytes += peer.bytes_out
        await asyncio.get_running_loop().run_in_executor(None, peer.close)
        log.info("WebRTC viewer %s %s (%d frames sent, %d skipped)", session, why, peer.frames_out, peer.frames_dropped)

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(REAP_INTERVAL_S)
            now = time.monotonic()
            gone = []
            with self._lock:
                for session, peer in list(self._peers.items()):
                    if peer.state in ("failed", "closed"):
                        why = f"dropped (connection {peer.state})"
                    elif peer.last_rtcp is None and now - peer.created > CONNECT_TIMEOUT_S:
                        why = "dropped (never connected)"
                    elif peer.last_rtcp is not None and now - peer.last_rtcp > RTCP_TIMEOUT_S:
                        why = "dropped (no RTCP from the browser)"
                    else:
                        continue
                    gone.append((session, peer, why))
                    del self._peers[session]
            for session, peer, why in gone:
                await self._close_peer(session, peer, why)

    async def _ws_handler(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=10.0, compress=False)
        await ws.prepare(request)
        viewer = _WsViewer(ws)
        self._ws.add(viewer)
        sender = asyncio.create_task(self._ws_send(ws, viewer))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.ERROR:
                    break
        finally:
            self._ws.discard(viewer)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
            self._ws_bytes_out += viewer.bytes_out
        return ws

    async def _ws_send(self, ws: web.WebSocketResponse, viewer: _WsViewer) -> None:
        generation = -1
        while not ws.closed:
            item = await viewer.queue.get()
            stream = self._stream
            if item.generation != generation and stream is not None:
                generation = stream.generation
                info = {"type": "init", "codec": h264.mse_codec(stream.plid), "width": stream.width,
                        "height": stream.height, "fps": stream.fps, "profile_level_id": stream.plid}
                await ws.send_str(json.dumps(info))
                await ws.send_bytes(stream.init)
                viewer.bytes_out += len(stream.init)
            await ws.send_bytes(item.data)
            viewer.bytes_out += len(item.data)

    # -- ingest thread --------------------------------------------------------------------------------------------

    def _on_disconnect(self) -> None:
        self._last_dts = None
        self._audio_caps = None  # the next encoder may come without sound

    def _on_audio(self, packet: AudioPacket) -> None:
        """Called in the ingest's streaming thread for every Opus packet (the web view's sound)."""
        self._audio_in += 1
        self._audio_caps = packet.caps
        with self._lock:
            peers = list(self._peers.values())
        for peer in peers:
            peer.push_audio(packet)

    def _on_frame(self, frame: Frame) -> None:
        """Called in the ingest's streaming thread for every access unit."""
        buf = frame.buffer
        size = buf.get_size()
        self._frames_in += 1
        self._bytes_in += size
        self._last_frame = time.monotonic()
        self._caps = frame.caps
        data: bytes | None = None
        if frame.keyframe:
            data = buf.extract_dup(0, size)
            self._update_stream(h264.access_unit(data), frame)
        with self._lock:
            peers = list(self._peers.values())
        for peer in peers:
            peer.push(frame)
        if self._ws and self._stream is not None and self._loop is not None:
            if data is None:
                data = buf.extract_dup(0, size)
            item = self._fragment(data, frame)
            self._loop.call_soon_threadsafe(self._ws_dispatch, item)

    def _update_stream(self, au: h264.AccessUnit, frame: Frame) -> None:
        if au.sps is None or au.pps is None or (au.sps == self._sps and au.pps == self._pps):
            return
        from camstream.web.media import gst

        self._sps, self._pps = au.sps, au.pps
        width, height, fps = gst.caps_info(frame.caps)
        generation = self._stream.generation + 1 if self._stream else 0
        plid = h264.profile_level_id(au.sps)
        init = fmp4.init_segment(width, height, h264.avc_decoder_config(au.sps, au.pps))
        self._stream = _Stream(plid, width, height, fps, init, generation)
        log.info("web media: H.264 profile-level-id %s, %dx%d at %g fps", plid, width, height, fps)
        if self._loop is not None and self._stream_ready is not None:
            self._loop.call_soon_threadsafe(self._stream_ready.set)

    def _fragment(self, data: bytes, frame: Frame) -> _WsItem:
        assert self._stream is not None
        au = h264.access_unit(data)
        buf = frame.buffer
        dts = buf.dts if buf.dts >= 0 and buf.dts != 2**64 - 1 else buf.pts
        pts = buf.pts if buf.pts != 2**64 - 1 else dts
        fps = self._stream.fps or 30.0
        default = int(fmp4.TIMESCALE / fps)
        duration = default
        if self._last_dts is not None and 0 < dts - self._last_dts < 10**9:
            duration = (dts - self._last_dts) * fmp4.TIMESCALE // 10**9
        self._last_dts = dts
        self._seq += 1
        frag = fmp4.fragment(
            self._seq, dts * fmp4.TIMESCALE // 10**9, duration, (pts - dts) * fmp4.TIMESCALE // 10**9,
            au.sample, au.keyframe,
        )
        return _WsItem(self._stream.generation, au.keyframe, frag)

    def _ws_dispatch(self, item: _WsItem) -> None:
        """asyncio thread: offer one fragment to every fallback viewer's queue."""
        for viewer in self._ws:
            if viewer.need_keyframe and not item.keyframe:
                viewer.frames_dropped += 1
                continue
            if viewer.queue.full():
                viewer.need_keyframe = True
                viewer.frames_dropped += 1
                continue
            viewer.need_keyframe = False
            viewer.queue.put_nowait(item)

    # -- status ---------------------------------------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        """Viewers by protocol, frames and bytes in, bytes out, and what the stream is (for status and /metrics)."""
        with self._lock:
            peers = list(self._peers.values())
        stream = self._stream
        age = None if self._last_frame is None else round(time.monotonic() - self._last_frame, 3)
        webrtc_out = self._closed_peer_bytes + sum(p.bytes_out for p in peers)
        ws_out = self._ws_bytes_out + sum(v.bytes_out for v in self._ws)
        return {
            "viewers": {"webrtc": len(peers), "mse": len(self._ws)},
            "ingest_connected": bool(self._ingest is not None and self._ingest.connected),
            "frames_in": self._frames_in,
            "bytes_in": self._bytes_in,
            "ingest_bytes": self._bytes_in,
            "bytes_out": webrtc_out + ws_out,
            "bytes_out_by_protocol": {"webrtc": webrtc_out, "mse": ws_out},
            "frames_dropped": sum(p.frames_dropped for p in peers) + sum(v.frames_dropped for v in self._ws),
            "last_frame_age": age,
            "profile_level_id": stream.plid if stream else None,
            "profile": h264.profile_name(stream.plid) if stream else None,
            "codec": h264.mse_codec(stream.plid) if stream else None,
            "width": stream.width if stream else None,
            "height": stream.height if stream else None,
            # The sound WebRTC viewers get (the fMP4 fallback is video only): Opus packets in, viewers hearing it.
            "audio": {"codec": "opus" if self._audio_caps is not None else None, "packets_in": self._audio_in,
                      "webrtc_viewers": sum(1 for p in peers if p.audio_pt is not None)},
        }
