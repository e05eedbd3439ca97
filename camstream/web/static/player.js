/*
 * camstream live player (no build step, no dependencies): WebRTC through WHEP (RFC 9725), with a TCP-only
 * fallback (fragmented MP4 over a WebSocket into Media Source Extensions) from the same encode.
 *
 * API
 *   const player = CamstreamPlayer.attach(videoElement, {
 *     path: "live",            // stream path: POST /<path>/whep, WebSocket /<path>/ws
 *     mode: "auto",            // "auto" | "webrtc" | "mse"; default: the page's ?mode=, else "auto"
 *     base: "",                // URL prefix of the server (default: this page's origin)
 *     connectTimeoutMs: 4000,  // auto: no frame over WebRTC this long after a start -> fallback
 *     stallMs: 3000,           // no new frame this long while playing -> reconnect (same mode)
 *     iceServers: [],          // RTCIceServer list for remote viewers (none needed on a LAN/hotspot)
 *     stamp: true,             // read camstream's --clock stamp from frames: glass-to-glass latency
 *   });
 *   player.mode      "webrtc" | "mse": what is playing (or being tried) now
 *   player.state     "connecting" | "playing" | "stalled" | "reconnecting" | "closed"
 *   player.stats()   {mode, state, frames, fps, latencyMs, latencyP50, latencySamples, reconnects,
 *                     fallbacks, codec, error}
 *   player.latencies Array of recent glass-to-glass samples in ms (frames carrying the --clock stamp)
 *   player.decodedLatencies  WebRTC only: the same up to the decoder's output (before the display path)
 *   player.close()   stop and release the session
 *   player.hasAudio  true once the stream's sound plays (WebRTC: Opus; the fMP4 fallback is video only)
 *   player.setMuted(bool)  sound on/off. The player starts muted: browsers only autoplay muted media, and
 *     unmuting must happen in a user gesture (a click), so the page shows a sound button when hasAudio.
 *   player.addEventListener(type, fn): "state" (detail {state, mode, error}), "frame" (detail {frames,
 *     mediaTime}), "latency" (detail {ms}), "mode" (detail {mode}), "audio" (detail {available, muted})
 *     — a connection indicator needs only "state".
 *   CamstreamPlayer.decodeStamp(gray, width, height) -> ms | null: the --clock stamp decoder
 *     (camstream/latency.py, same layout), for a row-major 8-bit luma array.
 *
 * Recovery: the player watches decoded frames (requestVideoFrameCallback). No frame for stallMs ->
 * tear down and reconnect, retrying with backoff until frames flow again (encoder restart, Wi-Fi drop,
 * server restart). In "auto", WebRTC that fails or shows no frame within connectTimeoutMs -> fallback.
 */
(function (global) {
  "use strict";

  // --- the --clock stamp (camstream/latency.py) ---------------------------------------------------------
  var SYNC_BITS = [1, 1, 0, 1, 0, 0];
  var MS_BITS = 42;
  var CHECK_BITS = 10;
  var CHECK_MOD = 1021;
  var CELLS = SYNC_BITS.length + MS_BITS + CHECK_BITS;

  function cellSize(width) {
    var cell = Math.max(4, Math.floor(width / 80));
    return cell * CELLS > width ? 0 : cell;
  }

  function decodeStamp(gray, width, height) {
    var cell = cellSize(width);
    if (!cell || height < cell) return null;
    var lo = Math.floor(cell / 4), hi = cell - Math.floor(cell / 4), area = (hi - lo) * (hi - lo);
    var bits = [];
    for (var index = 0; index < CELLS; index++) {
      var x0 = index * cell, total = 0;
      for (var row = lo; row < hi; row++) {
        for (var col = x0 + lo; col < x0 + hi; col++) total += gray[row * width + col];
      }
      bits.push(total >= 128 * area ? 1 : 0);
    }
    for (var s = 0; s < SYNC_BITS.length; s++) if (bits[s] !== SYNC_BITS[s]) return null;
    var ms = 0, check = 0, base = SYNC_BITS.length;
    for (var i = 0; i < MS_BITS; i++) ms += bits[base + i] * Math.pow(2, i);
    base += MS_BITS;
    for (var j = 0; j < CHECK_BITS; j++) check += bits[base + j] * Math.pow(2, j);
    return check === ms % CHECK_MOD ? ms : null;
  }

  function StampReader() {
    this.canvas = document.createElement("canvas");
    this.ctx = null;
    this.misses = 0;
    this.retryAt = 0;
  }
  StampReader.prototype.read = function (video) {
    var w = video.videoWidth, cell = cellSize(w);
    if (!cell) return null;
    var now = performance.now();
    if (this.misses > 30 && now < this.retryAt) return null;  // no stamp in this stream: look again later
    // Whole rows: the cell size follows from the frame's width, as in latency.py.
    var cw = w;
    if (this.canvas.width !== cw || this.canvas.height !== cell) {
      this.canvas.width = cw;
      this.canvas.height = cell;
      this.ctx = this.canvas.getContext("2d", {willReadFrequently: true});
    }
    this.ctx.drawImage(video, 0, 0, cw, cell, 0, 0, cw, cell);
    var rgba = this.ctx.getImageData(0, 0, cw, cell).data;
    var gray = new Uint8Array(cw * cell);
    for (var p = 0, q = 0; p < gray.length; p++, q += 4) {
      gray[p] = (rgba[q] * 299 + rgba[q + 1] * 587 + rgba[q + 2] * 114) / 1000;
    }
    var ms = decodeStamp(gray, cw, cell);
    if (ms === null) {
      this.misses++;
      if (this.misses > 30) this.retryAt = now + 5000;
    } else {
      this.misses = 0;
    }
    return ms;
  };

  // --- the player ---------------------------------------------------------------------------------------
  function Player(video, opts) {
    this.target = new EventTarget();
    this.video = video;
    var query = new URLSearchParams(global.location ? global.location.search : "");
    this.opts = {
      path: opts.path || "live",
      mode: opts.mode || query.get("mode") || "auto",
      base: opts.base !== undefined ? opts.base : "",
      connectTimeoutMs: opts.connectTimeoutMs || 4000,
      stallMs: opts.stallMs || 3000,
      iceServers: opts.iceServers || [],
      stamp: opts.stamp !== false,
    };
    if (["auto", "webrtc", "mse"].indexOf(this.opts.mode) < 0) this.opts.mode = "auto";
    this.mode = this.opts.mode === "mse" ? "mse" : "webrtc";
    this.state = "connecting";
    this.frames = 0;
    this.lastFrameAt = 0;
    this.attemptAt = 0;
    this.attemptFrames = 0;
    this.reconnects = 0;
    this.fallbacks = 0;
    this.backoff = 500;
    this.codec = null;
    this.error = null;
    this.latencies = [];
    this.decodedLatencies = [];
    this.fpsWindow = [];
    this.t0 = performance.now();
    this.timeline = {};  // ms since attach of each step of the last connection: where start-up time goes
    this.closed = false;
    this.conn = null;  // {close()} of the current WebRTC or MSE connection
    this.hasAudio = false;
    this.stamp = this.opts.stamp ? new StampReader() : null;
    video.muted = true;
    video.autoplay = true;
    video.playsInline = true;
    this._watchFrames();
    var self = this;
    this.timer = setInterval(function () { self._watchdog(); }, 250);
    this._unload = function () { self.close(); };
    global.addEventListener("pagehide", this._unload);
    this._connect();
  }

  Player.prototype.addEventListener = function (t, fn) { this.target.addEventListener(t, fn); };
  Player.prototype.removeEventListener = function (t, fn) { this.target.removeEventListener(t, fn); };
  Player.prototype._emit = function (type, detail) {
    this.target.dispatchEvent(new CustomEvent(type, {detail: detail}));
  };
  Player.prototype._setState = function (state, error) {
    if (error !== undefined) this.error = error;
    if (state === this.state) return;
    this.state = state;
    this._emit("state", {state: state, mode: this.mode, error: this.error});
  };
  Player.prototype._mark = function (step) {
    this.timeline[step] = Math.round(performance.now() - this.t0);
  };
  Player.prototype._setAudio = function (available) {
    if (available === this.hasAudio) return;
    this.hasAudio = available;
    this._emit("audio", {available: available, muted: this.video.muted});
  };
  Player.prototype.setMuted = function (muted) {
    this.video.muted = !!muted;
    // Muted: the video plays as soon as decoded (lowest latency). With sound: the browser's own jitter buffer,
    // so it can hold the video back to the sound's playout (lip sync); forced to 0 it cannot (measured: sound
    // ~200 ms behind the picture in Chromium with the hint, ~80 ms without).
    this._lowLatency(!!muted);
    if (!muted) this.video.play().catch(function () {});
    this._emit("audio", {available: this.hasAudio, muted: this.video.muted});
  };
  Player.prototype._lowLatency = function (on) {
    var pc = this.conn && this.conn.pc;
    if (!pc) return;
    pc.getReceivers().forEach(function (r) {
      if (!r.track || r.track.kind !== "video") return;
      if ("jitterBufferTarget" in r) r.jitterBufferTarget = on ? 0 : null;
      if ("playoutDelayHint" in r) r.playoutDelayHint = on ? 0 : null;
    });
  };
  Player.prototype._url = function (suffix) {
    var base = this.opts.base || global.location.origin;
    return base.replace(/\/$/, "") + "/" + this.opts.path + suffix;
  };

  Player.prototype._watchFrames = function () {
    var self = this, video = this.video;
    if (!video.requestVideoFrameCallback) return;
    var last = -1;
    var onFrame = function (now, meta) {
      if (self.closed) return;
      var presented = meta.presentedFrames;
      var step = last < 0 || presented < last ? 1 : presented - last;  // frames the compositor showed
      last = presented;
      self.frames += step;
      self.attemptFrames += step;
      self.lastFrameAt = performance.now();
      self.fpsWindow.push([self.lastFrameAt, self.frames]);
      while (self.fpsWindow.length > 2 && self.lastFrameAt - self.fpsWindow[0][0] > 2000) self.fpsWindow.shift();
      if (self.state !== "playing") {
        self._mark("firstFrame");
        self.backoff = 500;
        self._setState("playing");  // error keeps the last problem (e.g. why the fallback is in use)
      }
      self._emit("frame", {frames: self.frames, mediaTime: meta.mediaTime});
      var ms = null;
      try {
        ms = self.stamp ? self.stamp.read(video) : null;
      } catch (e) {
        self.stamp = null;  // this browser cannot read frames back (e.g. a tainted canvas): no latency readout
      }
      if (ms !== null) {
        // When this frame is shown, on the wall clock the stamp was written with: `now` is the time of the
        // rendering step that presents it (as requestAnimationFrame's). Not meta.expectedDisplayTime: for
        // WebRTC streams Chromium fills it from the jitter buffer's render-time estimate, up to seconds off.
        var shown = Date.now() + (now - performance.now());
        var lat = shown - ms;
        if (meta.receiveTime !== undefined && meta.processingDuration !== undefined) {
          // WebRTC only: when the frame left the decoder (its last packet's arrival plus decoding), i.e. the
          // same point a GStreamer or FFmpeg viewer measures; the rest of `lat` is the browser's display path.
          var decoded = Date.now() + (meta.receiveTime + meta.processingDuration * 1000 - performance.now());
          self.decodedLatencies.push(decoded - ms);
          if (self.decodedLatencies.length > 600) self.decodedLatencies.shift();
          // Chromium hands a frame played without delay (playout-delay 0) to the compositor as soon as it is
          // decoded, and the rendering step that first shows it to the page can have begun before that: a frame
          // is never shown before it is decoded.
          lat = Math.max(lat, decoded - ms);
        }
        self.latencies.push(lat);
        if (self.latencies.length > 600) self.latencies.shift();
        self._emit("latency", {ms: lat});
      }
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  };

  Player.prototype._watchdog = function () {
    if (this.closed) return;
    var now = performance.now();
    var sinceAttempt = now - this.attemptAt;
    if (this.state === "playing") {
      if (now - this.lastFrameAt > this.opts.stallMs) {
        this._setState("stalled");
        this._reconnect("no frames for " + this.opts.stallMs + " ms");
      }
      return;
    }
    if (this.attemptFrames > 0) return;
    if (this.opts.mode === "auto" && this.mode === "webrtc" && sinceAttempt > this.opts.connectTimeoutMs) {
      this._fallback("WebRTC showed no frame within " + this.opts.connectTimeoutMs + " ms");
    } else if (sinceAttempt > Math.max(this.opts.connectTimeoutMs, this.backoff) + 2000) {
      this._reconnect("no frame yet");
    }
  };

  Player.prototype._fallback = function (why) {
    this.fallbacks++;
    this.error = why;
    this.mode = "mse";
    this._emit("mode", {mode: this.mode, reason: why});
    this._connect();
  };

  Player.prototype._reconnect = function (why) {
    this.reconnects++;
    this.error = why;
    this._setState("reconnecting");
    var self = this, wait = this.backoff;
    this.backoff = Math.min(this.backoff * 2, 2000);
    this._teardown();
    this.attemptAt = performance.now();  // the watchdog waits for this attempt, not the failed one
    this.attemptFrames = 0;
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(function () { if (!self.closed) self._connect(); }, wait);
  };

  Player.prototype._teardown = function () {
    if (this.conn) {
      try { this.conn.close(); } catch (e) { /* already gone */ }
      this.conn = null;
    }
    this._setAudio(false);
  };

  Player.prototype._connect = function () {
    this._teardown();
    this.attemptAt = performance.now();
    this.attemptFrames = 0;
    if (this.state !== "reconnecting") this._setState("connecting");
    var self = this;
    var start = this.mode === "webrtc" ? this._startWebRTC() : this._startMSE();
    start.catch(function (err) {
      if (self.closed) return;
      var msg = err && err.message ? err.message : String(err);
      if (self.opts.mode === "auto" && self.mode === "webrtc") self._fallback("WebRTC: " + msg);
      else self._reconnect(msg);
    });
  };

  // --- WebRTC (WHEP) ------------------------------------------------------------------------------------
  Player.prototype._startWebRTC = async function () {
    var self = this, video = this.video;
    var pc = new RTCPeerConnection({iceServers: this.opts.iceServers, bundlePolicy: "max-bundle"});
    var conn = {pc: pc, session: null, close: function () {
      pc.close();
      if (conn.session) fetch(conn.session, {method: "DELETE", keepalive: true}).catch(function () {});
    }};
    this.conn = conn;
    var tr = pc.addTransceiver("video", {direction: "recvonly"});
    try {
      // Offer H.264 only (plus its retransmission format): camstream never transcodes.
      var caps = RTCRtpReceiver.getCapabilities("video").codecs.filter(function (c) {
        return /video\/(h264|rtx)/i.test(c.mimeType);
      });
      if (caps.length && tr.setCodecPreferences) tr.setCodecPreferences(caps);
    } catch (e) { /* older browsers: offer everything, the server picks H.264 */ }
    // A live view: no jitter-buffer target of our own (W3C webrtc-extensions jitterBufferTarget; Chromium's
    // older playoutDelayHint). This lowers only the minimum playout delay: libwebrtc renders frames as soon as
    // they are decoded only when the sender also caps the maximum, which the hub does with the playout-delay
    // RTP header extension for a stream without sound (camstream/web/media/rtpext.py; with sound, lip sync wins).
    if ("jitterBufferTarget" in tr.receiver) tr.receiver.jitterBufferTarget = 0;
    if ("playoutDelayHint" in tr.receiver) tr.receiver.playoutDelayHint = 0;
    if (!video.muted) {  // sound on (a reconnect after the user unmuted): let the browser lip-sync
      if ("jitterBufferTarget" in tr.receiver) tr.receiver.jitterBufferTarget = null;
      if ("playoutDelayHint" in tr.receiver) tr.receiver.playoutDelayHint = null;
    }
    // Sound, when camstream runs with --audio: Opus only (camstream encodes Opus once for all browsers). A
    // server without sound answers the audio section as inactive and only video plays.
    var atr = pc.addTransceiver("audio", {direction: "recvonly"});
    try {
      var acaps = RTCRtpReceiver.getCapabilities("audio").codecs.filter(function (c) {
        return /audio\/opus/i.test(c.mimeType);
      });
      if (acaps.length && atr.setCodecPreferences) atr.setCodecPreferences(acaps);
    } catch (e) { /* offer everything: the server picks Opus */ }
    // Both tracks in one MediaStream, one element: the server puts them in one stream (a=msid) so the browser
    // keeps them in sync; a track without a signalled stream joins the same one.
    var stream = null;
    pc.ontrack = function (ev) {
      if (self.conn !== conn) return;
      var s = ev.streams && ev.streams[0] ? ev.streams[0] : null;
      if (!stream) stream = s || new MediaStream();
      if (stream.getTracks().indexOf(ev.track) < 0) stream.addTrack(ev.track);
      if (video.srcObject !== stream) video.srcObject = stream;
      video.play().catch(function () {});
      if (ev.track.kind === "audio") {
        ev.track.onunmute = function () { if (self.conn === conn) self._setAudio(true); };
        if (!ev.track.muted) self._setAudio(true);
      }
    };
    pc.onconnectionstatechange = function () {
      if (self.conn !== conn) return;
      if (pc.connectionState === "failed") self._connectionLost("WebRTC connection failed");
    };
    pc.oniceconnectionstatechange = function () {
      if (self.conn === conn && pc.iceConnectionState === "connected") self._mark("iceConnected");
    };
    this._mark("start");
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc, 1000);
    this._mark("offer");  // host candidates take milliseconds; never wait on an unreachable STUN server
    var ctl = new AbortController();
    var timer = setTimeout(function () { ctl.abort(); }, 3000);
    var url = this._url("/whep");
    var res;
    try {
      res = await fetch(url, {method: "POST", headers: {"Content-Type": "application/sdp"},
                               body: pc.localDescription.sdp, signal: ctl.signal});
    } finally {
      clearTimeout(timer);
    }
    if (res.status !== 201) throw new Error("WHEP " + res.status + ": " + (await res.text()).trim());
    var answer = await res.text();
    this._mark("answer");
    if (res.headers.get("Location")) conn.session = new URL(res.headers.get("Location"), url).href;
    if (this.conn !== conn) { conn.close(); return; }
    var m = /profile-level-id=([0-9a-fA-F]{6})/.exec(answer);
    this.codec = m ? "avc1." + m[1].toLowerCase() : null;
    await pc.setRemoteDescription({type: "answer", sdp: answer});
  };

  Player.prototype._connectionLost = function (why) {
    if (this.opts.mode === "auto" && this.mode === "webrtc" && this.attemptFrames === 0) this._fallback(why);
    else this._reconnect(why);
  };

  function gathered(pc, timeoutMs) {
    if (pc.iceGatheringState === "complete") return Promise.resolve();
    return new Promise(function (resolve) {
      var done = function () { clearTimeout(t); resolve(); };
      var t = setTimeout(done, timeoutMs);
      pc.addEventListener("icegatheringstatechange", function () {
        if (pc.iceGatheringState === "complete") done();
      });
    });
  }

  // --- fallback: fragmented MP4 over a WebSocket into MSE ------------------------------------------------
  Player.prototype._startMSE = function () {
    var self = this, video = this.video;
    return new Promise(function (resolve, reject) {
      var url = self._url("/ws").replace(/^http/, "ws");
      var ws = new WebSocket(url);
      ws.binaryType = "arraybuffer";
      var ms = null, sb = null, queue = [], codec = null, appended = 0, objectUrl = null;
      var conn = {ws: ws, close: function () {
        ws.onclose = ws.onerror = ws.onmessage = null;
        ws.close();
        if (objectUrl) URL.revokeObjectURL(objectUrl);
      }};
      self.conn = conn;
      var pump = function () {
        if (!sb || sb.updating || !queue.length || ms.readyState !== "open") return;
        var total = 0, i;
        for (i = 0; i < queue.length; i++) total += queue[i].byteLength;
        var chunk = new Uint8Array(total), off = 0;
        for (i = 0; i < queue.length; i++) { chunk.set(new Uint8Array(queue[i]), off); off += queue[i].byteLength; }
        queue = [];
        try {
          sb.appendBuffer(chunk);
        } catch (e) {
          self._reconnect("MSE append failed: " + e.message);
        }
      };
      var chase = function () {
        // Stay at the live edge: MSE has no jitter buffer of its own, the only delay is what is buffered.
        // Behind by a little (a busy CPU): play 10% faster, no frame skipped; by more than 1 s: jump (frames
        // lost). Jumping sooner cut the delay little and cost a loaded 2-core box 25% of frames (measured).
        var b = video.buffered;
        if (!b.length) return;
        var start = b.start(b.length - 1), end = b.end(b.length - 1);
        if (video.currentTime < start || end - video.currentTime > 1.0) video.currentTime = Math.max(start, end - 0.05);
        video.playbackRate = end - video.currentTime > 0.15 ? 1.1 : 1.0;
        if (video.paused) video.play().catch(function () {});
        if (++appended % 300 === 0 && video.currentTime - b.start(0) > 20) {
          try { sb.remove(0, video.currentTime - 10); } catch (e) { /* busy: next time */ }
        }
      };
      var open = function (newCodec) {
        codec = newCodec;
        self.codec = codec;
        if (!global.MediaSource || !MediaSource.isTypeSupported('video/mp4; codecs="' + codec + '"')) {
          reject(new Error("this browser cannot play " + codec + " through Media Source Extensions"));
          return;
        }
        ms = new MediaSource();
        sb = null;
        if (objectUrl) URL.revokeObjectURL(objectUrl);
        objectUrl = URL.createObjectURL(ms);
        video.srcObject = null;
        video.src = objectUrl;
        ms.addEventListener("sourceopen", function () {
          if (self.conn !== conn) return;
          sb = ms.addSourceBuffer('video/mp4; codecs="' + codec + '"');
          sb.mode = "segments";
          sb.addEventListener("updateend", function () { chase(); pump(); });
          pump();
        });
      };
      ws.onopen = function () { resolve(); };
      ws.onerror = function () { reject(new Error("WebSocket " + url + " failed")); };
      ws.onclose = function () { if (self.conn === conn) self._reconnect("WebSocket closed"); };
      ws.onmessage = function (ev) {
        if (typeof ev.data === "string") {
          var info = JSON.parse(ev.data);
          if (info.type === "init" && info.codec !== codec) {
            queue = [];
            open(info.codec);
          }
          return;
        }
        queue.push(ev.data);
        pump();
      };
    });
  };

  // --- public --------------------------------------------------------------------------------------------
  Player.prototype.stats = function () {
    var w = this.fpsWindow, fps = 0;
    if (w.length > 1) {
      var dt = (w[w.length - 1][0] - w[0][0]) / 1000;
      fps = dt > 0 ? (w[w.length - 1][1] - w[0][1]) / dt : 0;
    }
    var sorted = this.latencies.slice().sort(function (a, b) { return a - b; });
    return {
      mode: this.mode, state: this.state, frames: this.frames, fps: Math.round(fps * 10) / 10,
      latencyMs: this.latencies.length ? this.latencies[this.latencies.length - 1] : null,
      latencyP50: sorted.length ? sorted[Math.floor(sorted.length / 2)] : null,
      latencySamples: sorted.length, reconnects: this.reconnects, fallbacks: this.fallbacks,
      codec: this.codec, error: this.error, timeline: this.timeline, audio: this.hasAudio,
      muted: this.video.muted,
    };
  };

  Player.prototype.close = function () {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    clearTimeout(this.retryTimer);
    global.removeEventListener("pagehide", this._unload);
    this._teardown();
    this._setState("closed");
  };

  global.CamstreamPlayer = {
    attach: function (video, opts) { return new Player(video, opts || {}); },
    decodeStamp: decodeStamp,
  };
})(window);
