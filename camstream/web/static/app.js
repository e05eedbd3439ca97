// camstream's page: live view (through player.js), live status, latest snapshot, recordings, latency readout.
// Plain browser JavaScript, no build step. All times on the page are UTC, like the file names.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const video = $("video");
  const state = { info: null, offsetMs: 0, latencies: [], lastFrameAt: 0, player: null, ownStamp: true,
    playerState: "" };

  async function getJSON(url) {
    const r = await fetch(url, { cache: "no-store", credentials: "same-origin" });
    if (!r.ok) throw new Error(url + ": HTTP " + r.status);
    return r.json();
  }

  // ---- connection indicator: judged by frames actually arriving ----------------------------------------------
  function setConn(s, text) {
    const el = $("conn");
    if (el.dataset.state !== s || $("conn-text").textContent !== text) {
      el.dataset.state = s;
      $("conn-text").textContent = text;
    }
  }

  function mode() {
    const p = state.player;
    const m = p && (p.mode || (p.state && p.state.mode) || p.transport);
    return typeof m === "string" ? m : "";
  }

  function watchFrames() {
    const onFrame = (now, meta) => {
      state.lastFrameAt = performance.now();
      if (state.ownStamp) readStamp(meta);
      video.requestVideoFrameCallback(onFrame);
    };
    if ("requestVideoFrameCallback" in HTMLVideoElement.prototype) {
      video.requestVideoFrameCallback(onFrame);
    } else {
      video.addEventListener("timeupdate", () => { state.lastFrameAt = performance.now(); });
    }
    setInterval(() => {
      if (!state.info || !state.info.live) return;
      const age = performance.now() - state.lastFrameAt;
      const m = mode();
      if (state.lastFrameAt && age < 2000) setConn("live", "live" + (m ? " · " + m : ""));
      else if (state.lastFrameAt) setConn("reconnecting", state.playerState || "reconnecting");
      else setConn("connecting", state.playerState || "connecting");
    }, 500);
  }

  // ---- glass-to-glass latency: the --clock stamp (camstream/latency.py) read back from the frames -----------
  const SYNC = [1, 1, 0, 1, 0, 0], MS_BITS = 42, CHECK_BITS = 10, CHECK_MOD = 1021;
  const CELLS = SYNC.length + MS_BITS + CHECK_BITS;
  const canvas = document.createElement("canvas");
  const ctx2d = canvas.getContext("2d", { willReadFrequently: true });
  let lastStampRead = 0;

  function decodeStamp(w) {
    const cell = Math.max(4, Math.floor(w / 80));
    if (cell * CELLS > w) return null;
    const data = ctx2d.getImageData(0, 0, cell * CELLS, cell).data;
    const lo = Math.floor(cell / 4), hi = cell - Math.floor(cell / 4);
    const bits = [];
    for (let i = 0; i < CELLS; i++) {
      let sum = 0, n = 0;
      for (let y = lo; y < hi; y++) {
        for (let x = i * cell + lo; x < i * cell + hi; x++) {
          const o = (y * cell * CELLS + x) * 4;
          sum += 0.299 * data[o] + 0.587 * data[o + 1] + 0.114 * data[o + 2];
          n++;
        }
      }
      bits.push(sum / n >= 128 ? 1 : 0);
    }
    for (let i = 0; i < SYNC.length; i++) if (bits[i] !== SYNC[i]) return null;
    let ms = 0, check = 0;
    for (let i = 0; i < MS_BITS; i++) ms += bits[SYNC.length + i] * Math.pow(2, i);
    for (let j = 0; j < CHECK_BITS; j++) check += bits[SYNC.length + MS_BITS + j] << j;
    return check === ms % CHECK_MOD ? ms : null;
  }

  function readStamp() {
    const now = performance.now();
    if (now - lastStampRead < 200 || !video.videoWidth) return;
    lastStampRead = now;
    const w = video.videoWidth, cell = Math.max(4, Math.floor(w / 80));
    canvas.width = cell * CELLS;
    canvas.height = cell;
    try {
      ctx2d.drawImage(video, 0, 0, cell * CELLS, cell, 0, 0, cell * CELLS, cell);
    } catch (e) { return; }
    const ms = decodeStamp(w);
    if (ms === null) return;
    showLatency(Date.now() + state.offsetMs - ms);
  }

  function showLatency(latency) {
    state.latencies.push(latency);
    if (state.latencies.length > 25) state.latencies.shift();
    const sorted = state.latencies.slice().sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)];
    $("latency").hidden = false;
    $("latency-ms").textContent = String(Math.round(median));
    video.dataset.latencyMs = String(Math.round(latency));
  }

  async function syncClock() {
    // The stamp is the camera host's wall clock: measure this browser's offset to it (half the round trip).
    try {
      const t0 = Date.now();
      const r = await getJSON("/api/time");
      const t1 = Date.now();
      state.offsetMs = r.ms - (t0 + t1) / 2;
    } catch (e) { /* keep the last offset */ }
  }

  // ---- status panel: every field of /api/status, once a second -------------------------------------------------
  const LABELS = { pid: "pid", state: "state", source: "source", encoder: "encoder", profile: "H.264 profile",
    started_at: "started", uptime: "uptime", frames: "frames", fps: "fps", bitrate: "bitrate",
    bitrate_bps: "bitrate (bit/s)", speed: "speed", dropped_frames: "dropped frames", restarts: "restarts",
    last_restart_reason: "last restart", restart_reasons: "restart reasons", recording_paused: "recording paused",
    disk_not_answering: "disk not answering",
    viewers: "viewers", viewers_by_protocol: "viewers by protocol", disk_free_bytes: "disk free",
    last_chunk: "last chunk", last_snapshot: "last snapshot", urls: "viewer URLs" };

  function fmt(key, v) {
    if (v === null || v === undefined || v === "") return "-";
    if (key === "disk_free_bytes") return (v / 1e9).toFixed(1) + " GB";
    if (key === "uptime") return Math.round(v) + " s";
    if (key === "started_at") return new Date(v * 1000).toISOString().replace(".000", "");
    if (key === "fps") return Number(v).toFixed(1);
    if (key === "last_chunk" || key === "last_snapshot") return String(v).split("/").pop();
    if (Array.isArray(v)) return v.join("\n");
    if (typeof v === "object") {
      const parts = Object.keys(v).sort().map((k) => k + " " + v[k]);
      return parts.length ? parts.join(", ") : "-";
    }
    if (typeof v === "boolean") return v ? "yes" : "no";
    return String(v);
  }

  function renderStatus(s) {
    const body = $("status").tBodies[0];
    for (const key of Object.keys(s)) {
      let row = body.querySelector('tr[data-field="' + key + '"]');
      if (!row) {
        row = document.createElement("tr");
        row.dataset.field = key;
        const th = document.createElement("th");
        th.textContent = LABELS[key] || key.replace(/_/g, " ");
        row.appendChild(th);
        row.appendChild(document.createElement("td"));
        body.appendChild(row);
      }
      const text = fmt(key, s[key]);
      const td = row.cells[1];
      if (td.textContent !== text) td.textContent = text;
      td.style.whiteSpace = Array.isArray(s[key]) ? "pre-line" : "";
    }

  }

  async function pollStatus() {
    try {
      const s = await getJSON("/api/status");
      renderStatus(s);
      $("status-age").textContent = "updated " + new Date().toISOString().slice(11, 19) + " UTC";
      $("status-panel").dataset.updatedAt = String(Date.now());
      if (state.info && !state.info.live) setConn(s.state === "running" ? "live" : "offline", s.state);
    } catch (e) {
      $("status-age").textContent = "camstream is not answering";
      setConn("offline", "offline");
    }
  }

  // ---- latest snapshot ---------------------------------------------------------------------------------------
  function refreshSnapshot() {
    const img = new Image();
    img.onload = () => {
      $("snapshot").src = img.src;
      $("snapshot").hidden = false;
      $("snapshot-none").hidden = true;
    };
    img.src = "/api/snapshot/latest.jpg?t=" + Date.now();
  }

  // ---- recordings by day and hour, playback, download a range ----------------------------------------------
  const pad = (n) => String(n).padStart(2, "0");
  const utcInput = (d) => d.getUTCFullYear() + "-" + pad(d.getUTCMonth() + 1) + "-" + pad(d.getUTCDate()) +
    "T" + pad(d.getUTCHours()) + ":" + pad(d.getUTCMinutes()) + ":" + pad(d.getUTCSeconds());

  function updateDownload() {
    const from = $("range-from").value, to = $("range-to").value;
    const a = $("range-download");
    if (from && to) {
      a.href = "/api/export?from=" + encodeURIComponent(from + "Z") + "&to=" + encodeURIComponent(to + "Z");
    }
  }

  function setRange(start, end) {
    $("range-from").value = utcInput(start);
    $("range-to").value = utcInput(end);
    updateDownload();
  }

  async function loadDays() {
    let data;
    try { data = await getJSON("/api/recordings"); } catch (e) { $("days").textContent = "Recordings unavailable."; return; }
    const box = $("days");
    const open = new Set([...box.querySelectorAll("details[open]")].map((d) => d.dataset.day));
    box.textContent = "";
    if (!data.days.length) { box.innerHTML = '<p class="muted">No recordings yet.</p>'; return; }
    data.days.forEach((d, i) => {
      const det = document.createElement("details");
      det.dataset.day = d.day;
      if (open.has(d.day) || (i === 0 && !open.size)) det.open = true;
      const sum = document.createElement("summary");
      sum.textContent = d.day + " · " + d.chunks + " chunks";
      det.appendChild(sum);
      d.hours.forEach((h) => {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "hour";
        b.dataset.day = d.day;
        b.dataset.hour = h.hour;
        b.textContent = h.hour + ":00 (" + h.chunks + ")";
        b.onclick = () => loadHour(d.day, h.hour);
        det.appendChild(b);
      });
      box.appendChild(det);
    });
  }

  async function loadHour(day, hour) {
    const data = await getJSON("/api/recordings?day=" + day + "&hour=" + hour);
    const box = $("chunks");
    box.textContent = "";
    const h3 = document.createElement("h3");
    h3.textContent = day + " " + hour + ":00 UTC";
    box.appendChild(h3);
    const start = new Date(day + "T" + hour + ":00:00Z");
    setRange(start, new Date(start.getTime() + 3600e3));
    data.hours.forEach((h) => h.chunks.forEach((c) => {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "chunk";
      b.dataset.url = c.url;
      b.textContent = c.start.slice(11, 19) + " (" + c.duration.toFixed(1) + " s)";
      b.onclick = () => play(c, b);
      box.appendChild(b);
    }));
  }

  function play(chunk, button) {
    document.querySelectorAll(".chunks button.playing").forEach((x) => x.classList.remove("playing"));
    button.classList.add("playing");
    const pv = $("playback");
    pv.hidden = false;
    pv.src = chunk.url;
    pv.play().catch(() => {});
    setRange(new Date(chunk.start), new Date(chunk.end));
  }

  // ---- live view ---------------------------------------------------------------------------------------------
  function startLive(info) {
    if (!info.live) {
      $("no-live").hidden = false;
      setConn("offline", "no live video");
      return;
    }
    const params = new URLSearchParams(location.search);
    const opts = { path: info.path };
    if (params.get("mode")) opts.mode = params.get("mode");
    if (info.ice_servers && info.ice_servers.length) opts.iceServers = info.ice_servers;
    if (window.CamstreamPlayer && typeof window.CamstreamPlayer.attach === "function") {
      const player = window.CamstreamPlayer.attach(video, opts);
      state.player = player;
      if (player && typeof player.addEventListener === "function") {
        // The player reads the --clock stamp itself: take its samples (on this browser's clock) and correct
        // them by the measured offset to the camera host's clock.
        state.ownStamp = false;
        player.addEventListener("latency", (e) => showLatency(e.detail.ms + state.offsetMs));
        player.addEventListener("state", (e) => { state.playerState = e.detail.state; });
        // Sound (--audio): the player starts muted, because browsers only autoplay muted media (Chrome's and
        // Safari's autoplay policies); one tap on the speaker button, a user gesture, turns it on.
        player.addEventListener("audio", (e) => showSound(e.detail.available, e.detail.muted));
      }
    } else {
      $("no-live").textContent = "The live player did not load.";
      $("no-live").hidden = false;
    }
    watchFrames();
  }

  function showSound(available, muted) {
    const button = $("sound");
    button.hidden = !available;
    button.innerHTML = muted ? "&#x1F507;" : "&#x1F50A;";
    button.setAttribute("aria-pressed", muted ? "false" : "true");
    button.setAttribute("aria-label", muted ? "Sound on" : "Sound off");
  }
  $("sound").onclick = () => {
    if (state.player && state.player.setMuted) state.player.setMuted(!video.muted);
  };
  $("fullscreen").onclick = () => {
    const el = $("live");
    if (document.fullscreenElement) document.exitFullscreen();
    else if (el.requestFullscreen) el.requestFullscreen().catch(() => {});
    else if (video.webkitEnterFullscreen) video.webkitEnterFullscreen();  // iPhone Safari: the video only
  };
  $("range-from").onchange = updateDownload;
  $("range-to").onchange = updateDownload;
  $("range").onsubmit = (e) => e.preventDefault();

  function showProfile() {
    const i = state.info || {};
    const media = i.media || {};
    let text = i.profile || "-";
    if (media.profile_level_id) text += " · stream " + media.profile_level_id + (media.profile ? " (" + media.profile + ")" : "");
    $("profile").textContent = text;
  }

  async function refreshInfo() {
    try { state.info = Object.assign(state.info || {}, await getJSON("/api/info")); showProfile(); } catch (e) { /* later */ }
  }

  async function boot() {
    try {
      state.info = await getJSON("/api/info");
    } catch (e) {
      state.info = { live: false, path: "live", profile: "" };
    }
    showProfile();
    startLive(state.info);
    setRange(new Date(Date.now() - 600e3), new Date());
    syncClock();
    setInterval(syncClock, 30000);
    pollStatus();
    setInterval(pollStatus, 1000);
    refreshSnapshot();
    setInterval(refreshSnapshot, 2000);
    loadDays();
    setInterval(loadDays, 30000);
    setInterval(refreshInfo, 5000);
  }
  window.camstreamPage = state;
  boot();
})();
