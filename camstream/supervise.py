"""Keep the pipeline alive: start servers and FFmpeg, watch for exits and stalls, restart with backoff, stop cleanly."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

from camstream import proc
from camstream.config import WatchdogConfig
from camstream.errors import CamstreamError, MissingToolError
from camstream.metrics import reason_kind
from camstream.servers.base import Server
from camstream.sources import Source, exists, find_rpicam
from camstream.progress import Progress, ProgressReader
from camstream.status import STATUS_FILE, Status, read_status, remove_status, write_status
from camstream.storage.watchers import ChunkWatcher, SnapshotWatcher

log = logging.getLogger("camstream")

# rpicam-apps' message when libcamera finds no camera ("ERROR: *** no cameras available ***").
NO_CAMERA = "no cameras available"
# Moved to camstream/progress.py and camstream/status.py; still importable from here.
__all__ = ["STATUS_FILE", "Backoff", "Housekeeper", "Pipeline", "Progress", "ProgressReader", "Restart", "Status",
           "Supervisor", "install_signal_handlers", "read_status"]


class Housekeeper(Protocol):
    """Disk policy run by the supervisor: retention, and whether recording may run (disk space)."""

    def tick(self, landed: Sequence[Any]) -> bool:
        """Called ~5 times a second with the chunks that just landed; returns False to pause recording."""
        ...


@dataclass
class Pipeline:
    """Everything the supervisor runs: the FFmpeg argv and environment, servers, and the disk watchers."""

    argv: list[str]
    source: Source
    encoder: str
    # The same graph without the disk sinks (chunks, snapshots), used while the disk is full: live keeps going.
    # None when there is no live output: then FFmpeg simply waits until space is back.
    argv_live_only: list[str] | None = None
    housekeeper: Housekeeper | None = None
    servers: Sequence[Server] = ()
    env: dict[str, str] = field(default_factory=lambda: {"TZ": "UTC"})
    chunks: ChunkWatcher | None = None
    snapshots: SnapshotWatcher | None = None
    snapshot_interval: float = 1.0
    segment_seconds: float = 5.5
    urls: list[str] = field(default_factory=list)
    state_dir: Path | None = None
    disk_path: Path | None = None
    # A camera process whose stdout is FFmpeg's stdin (rpicam-vid); argv[0] is looked up again on every start.
    source_argv: list[str] | None = None
    # While the camera process reported no camera: True once the camera is listed again (e.g. replugged).
    camera_probe: Callable[[], bool] | None = None
    # Sound: a callable giving the audio state for status/metrics (the feeder's, or a fixed one), or None.
    audio_status: Callable[[], Any] | None = None
    profile: str = ""  # the H.264 profile the encode uses, for status, the page and /metrics


class Backoff:
    """Exponential wait between restarts, capped, plus a restarts-per-minute limit."""

    def __init__(self, cfg: WatchdogConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.cfg = cfg
        self._clock = clock
        self.failures = 0
        self._recent: deque[float] = deque()

    def next_delay(self) -> float:
        """Seconds to wait before the next start, counting this failure."""
        now = self._clock()
        self.failures += 1
        self._recent.append(now)
        while self._recent and now - self._recent[0] > 60:
            self._recent.popleft()
        if len(self._recent) > self.cfg.max_restarts_per_minute:
            return self.cfg.backoff_max
        return min(self.cfg.backoff_max, self.cfg.backoff_initial * (2 ** (self.failures - 1)))

    def healthy(self) -> None:
        """The pipeline ran well for a while: the next failure starts from the first delay again."""
        self.failures = 0


class Restart(Exception):
    """Internal: the pipeline must be torn down and started again, for `reason`."""

    def __init__(self, reason: str, tail: Sequence[str] = (), planned: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.tail = list(tail)
        self.planned = planned


class Supervisor:
    """Runs a Pipeline until stopped: restarts on exit, stall or vanished source; finalises on stop."""

    HEALTHY_AFTER = 30.0  # seconds of good running that reset the backoff
    STARTUP_GRACE = 10.0  # first frame may take this long (camera warm-up, server start)

    def __init__(
        self,
        pipeline: Pipeline,
        watchdog: WatchdogConfig,
        stop: threading.Event | None = None,
        on_status: Callable[[Status], None] | None = None,
    ) -> None:
        self.p = pipeline
        self.wd = watchdog
        self.stop_event = stop or threading.Event()
        self.force_event = threading.Event()
        self.on_status = on_status
        self.backoff = Backoff(watchdog)
        self.ffmpeg: proc.Child | None = None
        self.camera: proc.Child | None = None
        self.camera_missing = False
        self._last_camera_probe = 0.0
        self.progress = ProgressReader()
        self.status = Status(pid=os.getpid(), state="starting", source=pipeline.source.spec,
                             encoder=pipeline.encoder, started_at=time.time(), urls=list(pipeline.urls),
                             profile=pipeline.profile)
        self.bitrate = BitrateMeter()
        self._servers_up = False
        self._last_status_write = 0.0
        self.recording_paused = False
        # Monotonic time FFmpeg was last seen blocked on the recording disk; whether recording waits for it now.
        self._disk_held_at = 0.0
        self._disk_held_from = 0.0
        self._disk_waiting = False

    # -- public -----------------------------------------------------------
    def run(self, duration: float | None = None) -> int:
        """Run until stop is set or `duration` seconds pass; returns the exit code (0 on a clean stop)."""
        deadline = time.monotonic() + duration if duration else None
        waiting_logged = False
        try:
            while not self.stop_event.is_set():
                if deadline and time.monotonic() >= deadline:
                    break
                if not self._source_present():
                    if not waiting_logged:
                        log.warning("camera %s disappeared; waiting for it", self.p.source.spec)
                        waiting_logged = True
                    self._set_state("waiting for source")
                    self._wait(0.5, deadline)
                    continue
                if waiting_logged:
                    log.info("camera %s is back; starting", self.p.source.spec)
                    waiting_logged = False
                if self.recording_paused and self.p.argv_live_only is None:
                    # Disk full and nothing live to serve: no FFmpeg until the housekeeper sees space again.
                    self._set_state("paused: disk full")
                    try:
                        self._housekeeping([])
                    except Restart:
                        continue
                    self._wait(1.0, deadline)
                    continue
                try:
                    self._start_all()
                    self._watch(deadline)
                except Restart as why:
                    if why.planned:
                        self._teardown_ffmpeg(graceful=True)
                        # The housekeeper already said why, in one line; this is the mechanics.
                        log.debug("%s", why.reason)
                        continue
                    self._teardown(graceful=False)
                    self._note_restart(why)
                    if not self._source_present():
                        continue  # the wait loop above takes over, with its own cheap polling
                    self._wait(self.backoff.next_delay(), deadline)
                except CamstreamError:
                    self._teardown(graceful=False)
                    raise
        finally:
            self._teardown(graceful=not self.force_event.is_set())
            if self.p.chunks:
                self.p.chunks.close()
            self._set_state("stopped")
            self._remove_status()
        return 0

    def request_stop(self) -> None:
        """First Ctrl-C/SIGTERM: finish the current chunk and stop. A second call forces it."""
        if self.stop_event.is_set():
            self.force_event.set()
            for child in (self.ffmpeg, self.camera):
                if child:
                    child.signal(signal.SIGKILL)
        self.stop_event.set()

    # -- internals --------------------------------------------------------
    def _wait(self, seconds: float, deadline: float | None) -> None:
        if deadline:
            seconds = max(0.0, min(seconds, deadline - time.monotonic()))
        self.stop_event.wait(seconds)

    def _start_all(self) -> None:
        self._set_state("starting")
        if not self._servers_up:
            for server in self.p.servers:
                server.start()
            for server in self.p.servers:
                server.wait_ready(10.0)
            self._servers_up = True
        if self.p.chunks:
            self.p.chunks.reset()
        self.progress = ProgressReader()
        argv = self.p.argv
        if self.recording_paused and self.p.argv_live_only is not None:
            argv = self.p.argv_live_only
        self.ffmpeg = proc.Child("ffmpeg", argv, env=self.p.env, stop_signal=signal.SIGINT,
                                 on_stdout_line=self.progress.feed)
        if self.p.source_argv:
            self._start_with_camera(self.p.source_argv)
        else:
            self.ffmpeg.start()
        log.debug("ffmpeg started (pid %s)", self.ffmpeg.pid)

    def _start_with_camera(self, source_argv: list[str]) -> None:
        """camera | ffmpeg: the camera tool writes the video to its stdout, FFmpeg reads it on stdin."""
        assert self.ffmpeg is not None
        tool = find_rpicam()
        if tool is None:
            raise Restart(f"source {self.p.source.spec}: {source_argv[0]} not found")
        self.camera = proc.Child(os.path.basename(source_argv[0]), [tool, *source_argv[1:]], env=self.p.env)
        try:
            proc.start_piped(self.camera, self.ffmpeg)
        except MissingToolError:
            self.camera = None
            raise Restart(f"source {self.p.source.spec}: {source_argv[0]} not found") from None
        log.debug("%s started (pid %s)", self.camera.name, self.camera.pid)

    def _source_present(self) -> bool:
        """The source is there: device/file/tool present, and (after the camera tool said so) a camera listed."""
        if not exists(self.p.source):
            return False
        if not self.camera_missing or self.p.camera_probe is None:
            return True
        now = time.monotonic()
        if now - self._last_camera_probe < 2.0:  # listing cameras costs a process start: not every poll
            return False
        self._last_camera_probe = now
        self.camera_missing = not self.p.camera_probe()
        return not self.camera_missing

    def _watch(self, deadline: float | None) -> None:
        assert self.ffmpeg is not None
        started = time.monotonic()
        self._set_state("running")
        while not self.stop_event.is_set():
            now = time.monotonic()
            if deadline and now >= deadline:
                return
            if self.camera is not None and (code := self.camera.poll()) is not None:
                tail = self._tail()
                if any(NO_CAMERA in line.lower() for line in self.camera.tail()):
                    self.camera_missing = True
                    self._last_camera_probe = time.monotonic()
                raise Restart(f"{self.camera.name} exited with code {code}", tail)
            code = self.ffmpeg.poll()
            if code is not None:
                raise Restart(f"ffmpeg exited with code {code}", self._tail())
            for server in self.p.servers:
                if not server.running():
                    self._restart_server(server)
                else:
                    # A server whose process lives but whose main loop stopped (deadlock, SIGSTOP) serves nobody.
                    hung = getattr(server, "hung", None)
                    why = hung() if hung is not None else None
                    if why:
                        self._restart_server(server, why)
            if not self._source_present():
                raise Restart(f"source {self.p.source.spec} disappeared")
            _, last_frame = self.progress.snapshot()
            if last_frame is None:
                if now - started > max(self.STARTUP_GRACE, self.wd.stall_seconds):
                    raise Restart(f"no frame within {now - started:.0f} s of starting", self._tail())
            elif now - last_frame > self.wd.stall_seconds:
                raise Restart(f"stalled: no new frame for {now - last_frame:.1f} s", self._tail())
            landed = self.p.chunks.poll() if self.p.chunks else []
            for chunk in landed:
                log.debug("chunk landed: %s (%.2f s)", chunk.path.name, chunk.duration)
                self.bitrate.add_chunk(chunk.path, chunk.duration)
            if self.p.housekeeper is not None:
                self._housekeeping(landed)
            if self.p.snapshots:
                self.p.snapshots.poll()
            self._check_outputs_alive(started, now)
            if now - started > self.HEALTHY_AFTER:
                self.backoff.healthy()
            self._publish_status()
            self.stop_event.wait(0.2)

    def _housekeeping(self, landed: Sequence[Any]) -> None:
        """Retention, and the disk-full switch (the housekeeper logs the one pause/resume line itself)."""
        assert self.p.housekeeper is not None
        may_record = self.p.housekeeper.tick(landed)
        if may_record == self.recording_paused:
            self.recording_paused = not may_record
            # Switching the graph is a planned restart: no backoff, not counted as a failure.
            raise Restart("recording paused: disk space low" if self.recording_paused
                          else "recording resumed: disk space is back", planned=True)

    def _check_outputs_alive(self, started: float, now: float) -> None:
        """Frames can keep flowing while an output is dead (tee's onfail=ignore): judge liveness by what
        lands on disk too, like Frigate's watchdog does with its recordings."""
        allowance = max(self.STARTUP_GRACE, self.wd.stall_seconds)
        chunks, snaps = self.p.chunks, self.p.snapshots
        if self._disk_waiting:
            self._disk_answers_again(now)
        # While the disk held FFmpeg's writes, nothing could land: the deadlines count from when it let go.
        floor = max(started, self._disk_held_at)
        if chunks is not None and not self.recording_paused:
            limit = self.p.segment_seconds * 2 + self.wd.stall_seconds + allowance
            since = max(floor, chunks.last_at or started)
            if now - since > limit:
                self._output_stalled(now, since, f"recording stalled: no chunk closed for {now - since:.0f} s")
        if snaps is not None and not self.recording_paused:
            limit = self.p.snapshot_interval * 2 + self.wd.stall_seconds + allowance
            since = max(floor, snaps.last_at or started)
            if now - since > limit:
                self._output_stalled(now, since, f"snapshots stalled: none written for {now - since:.0f} s")

    def _output_stalled(self, now: float, since: float, why: str) -> None:
        """Restart FFmpeg for an output that stopped, unless the disk is what holds it.

        An SD card or USB disk that stalls (seconds to minutes: wear levelling, a failing card, a frozen
        filesystem) blocks the recording's write in the kernel while frames and the live outputs flow on (each
        tee slave writes from its own fifo thread). A restart cannot help then (FFmpeg cannot even die before
        the disk answers) and would stop live for as long as the disk stalls: wait for the disk instead.
        """
        pid = self.ffmpeg.pid if self.ffmpeg is not None else None
        if pid is not None and proc.blocked_on_io(pid):
            if not self._disk_waiting:
                self._disk_waiting, self._disk_held_from = True, since
                log.warning("recording disk not answering: FFmpeg's writes to %s have been held by the kernel for "
                            "%.0f s; live continues, recording resumes when the disk answers",
                            self.p.disk_path or "the recording folder", now - since)
            self._disk_held_at = now
            return
        raise Restart(why, self._tail())

    def _disk_answers_again(self, now: float) -> None:
        """While the disk held FFmpeg: note it still does, or say once that it answers and recording went on."""
        pid = self.ffmpeg.pid if self.ffmpeg is not None else None
        if pid is not None and proc.blocked_on_io(pid):
            self._disk_held_at = now
            return
        landed = [out.last_at for out in (self.p.chunks, self.p.snapshots) if out is not None and out.last_at]
        if landed and max(landed) > self._disk_held_at:
            log.warning("recording disk answers again after %.0f s: recording goes on",
                        self._disk_held_at - self._disk_held_from)
            self._disk_waiting = False

    def _tail(self) -> list[str]:
        """FFmpeg's last stderr lines, then the camera process's (prefixed with its name)."""
        tail = self.ffmpeg.tail() if self.ffmpeg else []
        if self.camera is not None:
            tail = tail[-8:] + [f"{self.camera.name}: {line}" for line in self.camera.tail()[-5:]]
        return tail

    def _restart_server(self, server: Server, why: str = "exited") -> None:
        """A dead (or hung) server is restarted on its own: FFmpeg's isolated output reconnects to it by itself,
        so capture and recording never stop for a server crash."""
        self._note_restart(Restart(f"{server.role} server {why}", server.tail()))
        # Written now, not at the next 1 s tick: the restarted server (the web API) may answer before that.
        self._publish_status(force=True)
        try:
            server.stop(grace=1.0)
            server.start()
            server.wait_ready(10.0)
        except CamstreamError as exc:
            raise Restart(f"{server.role} server did not come back: {exc}") from None

    def _teardown_ffmpeg(self, graceful: bool) -> None:
        if self.ffmpeg is not None:
            # SIGINT lets FFmpeg write the trailer of the chunk being written (and list it); a hung one is killed.
            info = self.ffmpeg.stop(grace=10.0 if graceful else 2.0)
            log.debug("ffmpeg stopped (code %s)", info.returncode)
            self.ffmpeg = None
        if self.camera is not None:
            # After FFmpeg, so FFmpeg finalises its files first; the camera then only sees a closed pipe.
            info = self.camera.stop(grace=2.0)
            log.debug("%s stopped (code %s)", self.camera.name, info.returncode)
            self.camera = None
        if self.p.chunks:
            self.p.chunks.poll()
            self.p.chunks.recover()
        if self.p.snapshots:
            self.p.snapshots.poll()

    def _teardown(self, graceful: bool) -> None:
        self._teardown_ffmpeg(graceful)
        if graceful or self.stop_event.is_set():
            self._stop_servers()
        else:
            # On a restart, servers that are still healthy keep their viewers; dead ones are restarted.
            if any(not s.running() for s in self.p.servers):
                self._stop_servers()

    def _stop_servers(self) -> None:
        for server in reversed(list(self.p.servers)):
            try:
                server.stop()
            except Exception as exc:  # keep stopping the others
                log.warning("stopping %s server failed: %s", server.role, exc)
        self._servers_up = False

    def _note_restart(self, why: Restart) -> None:
        self.status.restarts += 1
        self.status.last_restart_reason = why.reason
        kind = reason_kind(why.reason)
        self.status.restart_reasons[kind] = self.status.restart_reasons.get(kind, 0) + 1
        log.warning("restarting: %s", why.reason)
        for line in why.tail[-13:]:
            log.info("  last output: %s", line)

    def _set_state(self, state: str) -> None:
        self.status.state = state
        self._publish_status(force=True)

    def _publish_status(self, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self._last_status_write < 1.0:
            return
        self._last_status_write = now
        progress, _ = self.progress.snapshot()
        s = self.status
        s.uptime = round(time.time() - s.started_at, 1)
        s.frames, s.fps, s.speed = progress.frame, progress.fps, progress.speed
        s.dropped_frames = progress.drop_frames
        s.recording_paused = self.recording_paused
        s.disk_not_answering = self._disk_waiting
        s.viewers_by_protocol = self._viewers_by_protocol()
        s.viewers = sum(s.viewers_by_protocol.values()) if s.viewers_by_protocol else None
        # FFmpeg's own progress bitrate is N/A for the tee muxer: measure what actually lands.
        ingest = self._ingest_bytes()
        if ingest is not None:
            self.bitrate.add_ingest(ingest)
        s.bitrate_bps = self.bitrate.bps()
        s.bitrate = human_bitrate(s.bitrate_bps) if s.bitrate_bps is not None else ""
        if self.p.disk_path is not None:
            try:
                s.disk_free_bytes = shutil.disk_usage(self.p.disk_path).free
            except OSError:
                s.disk_free_bytes = None
        if self.p.chunks and self.p.chunks.last:
            s.last_chunk = str(self.p.chunks.last.path)
        if self.p.snapshots and self.p.snapshots.last:
            s.last_snapshot = str(self.p.snapshots.last)
        if self.p.audio_status is not None:
            s.audio = asdict(self.p.audio_status())
        if self.on_status:
            self.on_status(s)
        self._write_status(s)

    def _viewers_by_protocol(self) -> dict[str, int]:
        """Viewers per protocol, from every server that can count them (a server without a count is left out)."""
        out: dict[str, int] = {}
        for server in self.p.servers:
            try:
                by_protocol = getattr(server, "viewers_by_protocol", None)
                if by_protocol is not None:
                    counts = by_protocol()
                else:
                    count = server.viewers()
                    counts = {server.role: count} if count is not None else None
            except Exception:  # a status page that does not answer is not a pipeline failure
                continue
            for protocol, n in (counts or {}).items():
                out[protocol] = out.get(protocol, 0) + n
        return out

    def _ingest_bytes(self) -> int | None:
        """Bytes of the encode a local server has received so far (for the bitrate when nothing is recorded)."""
        if self.p.chunks is not None and not self.recording_paused:
            return None
        for server in self.p.servers:
            reader = getattr(server, "ingest_bytes", None)
            if reader is None:
                continue
            try:
                value = reader()
            except Exception:
                continue
            if isinstance(value, int):
                return value
        return None

    def _write_status(self, s: Status) -> None:
        if self.p.state_dir is not None:
            write_status(self.p.state_dir, s)

    def _remove_status(self) -> None:
        if self.p.state_dir is not None:
            remove_status(self.p.state_dir)


class BitrateMeter:
    """The encode's real bitrate: bytes of the chunks that landed over their duration, or the ingest byte rate."""

    WINDOW_S = 30.0

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._chunks: deque[tuple[float, int, float]] = deque()  # (landed at, bytes, seconds)
        self._ingest: deque[tuple[float, int]] = deque()  # (at, cumulative bytes)

    def add_chunk(self, path: Path, duration: float) -> None:
        """A chunk landed: remember its size and duration."""
        try:
            size = path.stat().st_size
        except OSError:
            return
        if duration > 0:
            self._chunks.append((self._clock(), size, duration))
        self._trim()

    def add_ingest(self, total_bytes: int) -> None:
        """A reading of a server's cumulative ingest byte counter."""
        now = self._clock()
        if self._ingest and total_bytes < self._ingest[-1][1]:
            self._ingest.clear()  # the server restarted: its counter began again
        self._ingest.append((now, total_bytes))
        self._trim()

    def _trim(self) -> None:
        now = self._clock()
        while len(self._chunks) > 1 and now - self._chunks[0][0] > self.WINDOW_S:
            self._chunks.popleft()
        while len(self._ingest) > 2 and now - self._ingest[0][0] > self.WINDOW_S / 3:
            self._ingest.popleft()

    def bps(self) -> int | None:
        """Bits per second, or None before anything was measured."""
        if len(self._ingest) >= 2:
            (t0, b0), (t1, b1) = self._ingest[0], self._ingest[-1]
            if t1 - t0 >= 1.0:
                return int((b1 - b0) * 8 / (t1 - t0))
        if self._chunks:
            size = sum(c[1] for c in self._chunks)
            seconds = sum(c[2] for c in self._chunks)
            return int(size * 8 / seconds)
        return None


def human_bitrate(bps: int) -> str:
    """1987000 -> '1987 kbit/s'; 12500000 -> '12.5 Mbit/s'."""
    if bps >= 10_000_000:
        return f"{bps / 1e6:.1f} Mbit/s"
    return f"{bps / 1000:.0f} kbit/s"


def install_signal_handlers(supervisor: Supervisor) -> None:
    """SIGINT/SIGTERM ask for a clean stop; a second one forces it."""

    def handler(signum: int, frame: object) -> None:
        supervisor.request_stop()

    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGTERM, handler)
