"""Retention: keep recordings under max_age / max_size, always leave min_free, pause recording when the disk is full.

The policy (`plan_deletions`) is a pure function over an index of recordings. The `Housekeeper` keeps that index
up to date cheaply (one scan at start, then chunks as they land, a scandir of images/ on a timer and a rare
rescan of video/), applies the policy, and tells the supervisor whether recording may run.

Limits can be changed while camstream runs by writing `<state_dir>/retention.yaml` (flat keys `max_age`,
`max_size`, `min_free`, same syntax as the config file); it is re-read within a second of changing and wins over
the config file, flags and environment. Delete the file to go back to the configured limits.
"""

from __future__ import annotations

import bisect
import logging
import os
import shutil
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from camstream.config import Config, MinFree, min_free, optional_duration, optional_size
from camstream.errors import ConfigError
from camstream.storage.atomic import write_atomic
from camstream.storage.layout import LATEST_IMAGE, LATEST_VIDEO, OVERRIDE_FILE, is_recording
from camstream.storage.watchers import recover_stale_partials

log = logging.getLogger("camstream")



@dataclass(frozen=True, order=True)
class Recording:
    """One finished chunk or snapshot: ordered by time (mtime, seconds since the epoch), then path."""

    time: float
    path: Path
    size: int


@dataclass(frozen=True)
class Deletion:
    """A recording the policy removes, and which limit asked for it (age, size or free)."""

    path: Path
    size: int
    reason: str


@dataclass(frozen=True)
class RetentionPolicy:
    """The three limits; None / MinFree() = no limit."""

    max_age: float | None = None
    max_size: int | None = None
    min_free: MinFree = field(default_factory=MinFree)

    @classmethod
    def from_config(cls, cfg: Config) -> RetentionPolicy:
        """record.max_age, record.max_size and record.min_free."""
        return cls(cfg.record.max_age, cfg.record.max_size, cfg.record.min_free)

    def active(self) -> bool:
        """True when any limit is set."""
        return self.max_age is not None or self.max_size is not None or bool(self.min_free.bytes or self.min_free.percent)


def explain_deletions(
    files: Sequence[Recording],
    now: float,
    max_age: float | None,
    max_size: int | None,
    min_free_bytes: int,
    disk_free: int,
    protected: Iterable[Path] = (),
    reserve: int = 0,
) -> list[Deletion]:
    """What to delete, oldest first, with the limit that asks for each; pure.

    `files` are finished recordings (the .part being written is never among them); `protected` paths (the latest_*
    targets) are never chosen but still count towards the total size. `reserve` is room for what is written before
    the next check (the chunk being written): the total is kept under max_size - reserve and free space above
    min_free + reserve. Free space is only made by deleting when that reaches the goal: if another program filled
    the disk, wiping every recording would not let recording continue anyway, so nothing is deleted for it.
    """
    keep = set(protected)
    ordered = sorted(files)
    candidates = [f for f in ordered if f.path not in keep]
    out: list[Deletion] = []
    i = 0
    if max_age is not None:
        while i < len(candidates) and now - candidates[i].time > max_age:
            out.append(Deletion(candidates[i].path, candidates[i].size, "age"))
            i += 1
    freed = sum(d.size for d in out)
    if max_size is not None:
        total = sum(f.size for f in ordered) - freed
        while i < len(candidates) and total + reserve > max_size:
            out.append(Deletion(candidates[i].path, candidates[i].size, "size"))
            total -= candidates[i].size
            freed += candidates[i].size
            i += 1
    # With min_free off the reserve alone still asks for room: a disk that really fills (another program, or
    # min_free 0) loses its oldest recordings rather than the chunk being written (issue 12).
    if min_free_bytes + reserve > 0:
        goal = min_free_bytes + reserve
        deletable = sum(f.size for f in candidates[i:])
        if disk_free + freed < goal <= disk_free + freed + deletable:
            while i < len(candidates) and disk_free + freed < goal:
                out.append(Deletion(candidates[i].path, candidates[i].size, "free"))
                freed += candidates[i].size
                i += 1
    return out


def plan_deletions(
    files: Sequence[Recording],
    now: float,
    max_age: float | None,
    max_size: int | None,
    min_free_bytes: int,
    disk_free: int,
    protected: Iterable[Path] = (),
    reserve: int = 0,
) -> list[Path]:
    """Paths to delete, oldest first (see explain_deletions for the rules)."""
    return [d.path for d in explain_deletions(files, now, max_age, max_size, min_free_bytes, disk_free, protected,
                                              reserve)]


def human(n: float) -> str:
    """Bytes for a log line: 1.4 MB, 20.0 GB."""
    for unit in ("B", "kB", "MB", "GB"):
        if abs(n) < 1000:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


class RecordingIndex:
    """Finished recordings under video/ and images/, sorted oldest first, with their total size."""

    def __init__(self) -> None:
        self._sorted: list[Recording] = []
        self._by_path: dict[Path, Recording] = {}
        self.total = 0

    def __len__(self) -> int:
        return len(self._sorted)

    def __contains__(self, path: object) -> bool:
        return path in self._by_path

    def items(self) -> list[Recording]:
        """Oldest first."""
        return self._sorted

    def add(self, path: Path) -> Recording | None:
        """Stat and add (or refresh) one file; None when it is gone."""
        try:
            st = path.stat()
        except FileNotFoundError:
            self.discard(path)
            return None
        self.discard(path)
        rec = Recording(st.st_mtime, path, st.st_size)
        bisect.insort(self._sorted, rec)  # new files are the newest: this is an append in practice
        self._by_path[path] = rec
        self.total += rec.size
        return rec

    def discard(self, path: Path) -> None:
        """Forget a file (deleted by us or by someone else)."""
        rec = self._by_path.pop(path, None)
        if rec is None:
            return
        i = bisect.bisect_left(self._sorted, rec)
        if i < len(self._sorted) and self._sorted[i] == rec:
            del self._sorted[i]
        else:  # pragma: no cover - defensive; keeps the index consistent if ordering ever surprised us
            self._sorted.remove(rec)
        self.total -= rec.size

    def shift(self, since: float, delta: float) -> list[Recording]:
        """Move every recording dated `since` or later by `delta` seconds (the clock they were dated with was
        wrong); the ones moved, with their new times."""
        moved = []
        for rec in list(self._sorted):
            if rec.time >= since:
                new = replace(rec, time=rec.time + delta)
                self.discard(rec.path)
                bisect.insort(self._sorted, new)
                self._by_path[new.path] = new
                self.total += new.size
                moved.append(new)
        return moved

    def sync_dir(self, directory: Path) -> tuple[int, int]:
        """Reconcile with one directory listing: stat only new names, drop vanished ones; (added, added bytes)."""
        try:
            with os.scandir(directory) as entries:
                names = {e.name for e in entries if is_recording(e.name)}
        except FileNotFoundError:
            names = set()
        known = {p.name for p in self._by_path if p.parent == directory}
        for name in known - names:
            self.discard(directory / name)
        added = added_bytes = 0
        for name in sorted(names - known):
            rec = self.add(directory / name)
            if rec is not None:
                added += 1
                added_bytes += rec.size
        return added, added_bytes


_OVERRIDE_PARSERS = {"max_age": optional_duration, "max_size": optional_size, "min_free": min_free}


def read_override(file: Path) -> dict[str, Any]:
    """Limits from the run-time override file: {'max_age': float|None, ...}; ConfigError with file:line if bad."""
    try:
        data = yaml.safe_load(file.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: not valid YAML ({exc}): write lines like `min_free: 1GB`") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{file}: expected lines like `min_free: 1GB` (keys max_age, max_size, min_free)")
    out: dict[str, Any] = {}
    for key, raw in data.items():
        if key not in _OVERRIDE_PARSERS:
            raise ConfigError(f"{file}: unknown key '{key}': allowed are max_age, max_size, min_free")
        if raw is False:  # YAML reads a bare off/no/false as a boolean
            raw = "off"
        try:
            out[key] = _OVERRIDE_PARSERS[key](raw)
        except ValueError as exc:
            raise ConfigError(f"{file}: {key}={raw}: {exc}") from None
    return out


def render_override(values: dict[str, str]) -> str:
    """The override file's text for raw limits like {"min_free": "1GB"}; pure."""
    lines = [f'{key}: "{value}"' for key, value in values.items()]  # quoted: YAML would read off/no as false
    return ("# camstream run-time retention limits (written by `camstream recordings limits`);\n"
            "# a running camstream applies changes within a second; delete this file to use the config again\n"
            + "".join(line + "\n" for line in lines))


def write_override(state_dir: Path, values: dict[str, tuple[str, str]]) -> Path:
    """Check {key: (flag, raw)} and write <state_dir>/retention.yaml atomically (temp file + rename)."""
    for key, (flag, raw) in values.items():
        try:
            _OVERRIDE_PARSERS[key](raw)
        except ValueError as exc:
            raise ConfigError(f"{flag} {raw}: {exc}") from None
    file = state_dir / OVERRIDE_FILE
    state_dir.mkdir(parents=True, exist_ok=True)
    return write_atomic(file, render_override({key: raw for key, (_, raw) in values.items()}))


def apply_override(policy: RetentionPolicy, state_dir: Path | None) -> RetentionPolicy:
    """The policy with <state_dir>/retention.yaml applied, when that file exists."""
    if state_dir is None or not (state_dir / OVERRIDE_FILE).is_file():
        return policy
    return replace(policy, **read_override(state_dir / OVERRIDE_FILE))


def latest_targets(latest_dir: Path) -> set[Path]:
    """Files the latest_* links point at (never deleted)."""
    out = set()
    for name in (LATEST_VIDEO, LATEST_IMAGE):
        try:
            out.add(Path(os.readlink(latest_dir / name)))
        except OSError:
            pass
    return out


class Housekeeper:
    """Runs retention when chunks land and on a timer, and decides whether recording may run (disk space)."""

    MAX_DELETIONS_PER_TICK = 500  # a huge backlog (limits just lowered) is worked off over several ticks
    OVERRIDE_CHECK = 1.0  # seconds between stats of the override file
    DISK_CHECK = 1.0  # seconds between checks that the recording directories are writable and have room
    # The wall clock moved this much more (or less) than the monotonic clock between two ticks: it was stepped
    # (NTP on a board without an RTC; slewing changes it by 0.5 ms/s at most, ntpd(8)).
    CLOCK_STEP_S = 2.0
    SUMMARY_EVERY = 60.0  # seconds between info summaries of deletions

    def __init__(
        self,
        video_dir: Path | None,
        images_dir: Path | None,
        latest_dir: Path,
        disk_path: Path,
        policy: RetentionPolicy,
        state_dir: Path | None = None,
        interval: float = 10.0,
        rescan_interval: float = 300.0,
        chunk_bytes_hint: int = 0,
        clock: Callable[[], float] = time.monotonic,
        wallclock: Callable[[], float] = time.time,
        disk_usage: Callable[[Path], Any] = shutil.disk_usage,
        detect_clock_steps: bool | None = None,
    ) -> None:
        self.video_dir = video_dir
        self.images_dir = images_dir
        self.latest_dir = latest_dir
        self.disk_path = disk_path
        self.configured = policy
        self.policy = policy
        self.state_dir = state_dir
        self.interval = interval
        self.rescan_interval = rescan_interval
        self._clock = clock
        self._wallclock = wallclock
        self._disk_usage = disk_usage
        # Only meaningful when both clocks are real (or both are a test's consistent fakes): a fake monotonic
        # clock against the real wall clock would look like a step at every tick.
        self._detect_steps = (clock is time.monotonic and wallclock is time.time) if detect_clock_steps is None \
            else detect_clock_steps
        self._clock_offset: float | None = None  # wall minus monotonic at the last tick
        self._run_since: float | None = None  # wall time (today's clock) this run started recording
        self.index = RecordingIndex()
        self.paused = False
        self._started = False
        self._next_run = 0.0
        self._next_rescan = 0.0
        self._next_override_check = 0.0
        self._override_mtime: float | None = None
        self._pending = False
        self._chunk_sizes: deque[int] = deque([chunk_bytes_hint] if chunk_bytes_hint else [], maxlen=3)
        self._image_rate = 0.0  # bytes/s of snapshots, measured between image scans
        self._last_image_scan: float | None = None
        self._undeletable: set[Path] = set()
        self._unreported: dict[str, int] = {}
        self._unreported_bytes = 0
        self._last_summary: float | None = None
        self.trouble: str | None = None  # why recording cannot write at all (read-only, unmounted), else None
        self._next_disk_check = 0.0
        # A recording disk mounted below / (a USB SSD): when it vanishes, its mount point is an empty directory
        # on the root filesystem, and recording there would fill the SD card instead (issue 12).
        self._mount_root = _mount_root(disk_path)

    @classmethod
    def from_config(cls, cfg: Config, **kwargs: Any) -> Housekeeper:
        """record.max_age/max_size/min_free, the paths, and a first guess of the chunk size from the bitrate."""
        hint = int(cfg.video.bitrate / 8 * cfg.record.segment_seconds) if cfg.record.enabled else 0
        return cls(
            cfg.video_dir if cfg.record.enabled else None,
            cfg.images_dir if cfg.snapshots.enabled else None,
            cfg.latest_dir, cfg.paths.ssd_path, RetentionPolicy.from_config(cfg),
            state_dir=cfg.state_dir, chunk_bytes_hint=hint, **kwargs,
        )

    # -- the Protocol ---------------------------------------------------------------------------------------------
    def tick(self, landed: Sequence[Any]) -> bool:
        """Index chunks that landed, run retention when due; False while the disk is too full to record."""
        now = self._clock()
        if self._detect_steps:
            self._check_clock_step(now)
        if not self._started:
            self._started = True
            self._scan_all(now)
            self._pending = True
        for chunk in landed:
            rec = self.index.add(Path(chunk.path))
            if rec is not None:
                self._chunk_sizes.append(rec.size)
        changed = self._check_override(now)
        if now >= self._next_disk_check:
            # Once a second: a statvfs and a few stats, so ENOSPC is answered within a second, not an interval.
            self._next_disk_check = now + self.DISK_CHECK
            changed = self._check_disk() or changed
            if self.trouble is None and self.video_dir is not None:
                for kept in recover_stale_partials(self.video_dir):
                    self.index.add(kept)
            if not changed and self.trouble is None and not self.paused:
                try:
                    changed = self._disk_usage(self.disk_path).free < self.reserve()
                except OSError:
                    pass
        if self.trouble is not None:
            return False
        if now >= self._next_rescan:
            self._scan_all(now)
        elif self.images_dir is not None and now - (self._last_image_scan or 0.0) >= self.interval:
            self._scan_images(now)
            self._pending = True
        if landed or changed or self._pending or now >= self._next_run:
            self._next_run = now + self.interval
            self.run()
        return not self.paused

    # -- work -----------------------------------------------------------------------------------------------------
    def reserve(self) -> int:
        """Room kept for what is written before the next check: the chunk being written and new snapshots."""
        if self.paused:
            return 0
        chunk = max(self._chunk_sizes, default=0)
        return int(1.25 * chunk + 1.5 * self._image_rate * self.interval)

    def run(self) -> list[Deletion]:
        """Apply the policy now: delete, log, and update `paused`."""
        self._pending = False
        usage = self._disk_usage(self.disk_path)
        need = self.policy.min_free.required(usage.total)
        reserve = self.reserve()
        latest = latest_targets(self.latest_dir)
        for target in latest:
            # The chunk finished while FFmpeg was being restarted never reaches tick(); the link names it.
            if target not in self.index and target.parent in (self.video_dir, self.images_dir):
                self.index.add(target)
        plan = explain_deletions(self.index.items(), self._wallclock(), self.policy.max_age, self.policy.max_size,
                                 need, usage.free, latest | self._undeletable, reserve)
        if len(plan) > self.MAX_DELETIONS_PER_TICK:
            plan = plan[: self.MAX_DELETIONS_PER_TICK]
            self._pending = True
        done = self._delete(plan)
        freed = sum(d.size for d in done)
        free = usage.free + freed
        self._decide(free, need)
        self._summarise(done, free)
        return done

    def _summarise(self, done: Sequence[Deletion], free: int) -> None:
        # Steady rotation deletes a file per chunk; one info line a minute says the same without flooding the log.
        for d in done:
            self._unreported[d.reason] = self._unreported.get(d.reason, 0) + 1
            self._unreported_bytes += d.size
        now = self._clock()
        if not self._unreported or (self._last_summary is not None and now - self._last_summary < self.SUMMARY_EVERY):
            return
        labels = (("age", "by age"), ("size", "over max_size"), ("free", "for min_free"))
        why = ", ".join(f"{self._unreported[r]} {label}" for r, label in labels if r in self._unreported)
        since = "" if self._last_summary is None else f" in the last {now - self._last_summary:.0f} s"
        log.info("retention: deleted %d recordings%s (%s; %s); recordings now %s, %s free on disk",
                 sum(self._unreported.values()), since, human(self._unreported_bytes), why,
                 human(self.index.total), human(free))
        self._unreported, self._unreported_bytes, self._last_summary = {}, 0, now

    def _check_disk(self) -> bool:
        """Notice a read-only, unmounted or vanished recording directory and its return; True on a change."""
        trouble = self._disk_trouble()
        if trouble == self.trouble:
            return False
        if trouble is not None:
            log.warning("recording paused: %s; live stream continues, recording resumes when it is back", trouble)
        else:
            log.info("recording resumed: %s is writable again", self.disk_path)
            self._pending = True
            self._next_rescan = 0.0  # what is on the disk now may differ from what was there
        self.trouble = trouble
        return True

    def _disk_trouble(self) -> str | None:
        if self._mount_root is not None and not os.path.ismount(self._mount_root):
            return f"{self._mount_root} is not mounted any more"
        for directory in (self.video_dir, self.images_dir, self.latest_dir):
            if directory is None:
                continue
            if not directory.is_dir():
                try:
                    directory.mkdir(parents=True, exist_ok=True)
                except OSError as exc:
                    return f"{directory} is gone and cannot be made again ({exc.strerror})"
            if not os.access(directory, os.W_OK | os.X_OK):  # EROFS shows here too, even for root
                return f"{directory} is read-only"
        return None

    def _decide(self, free: int, need: int) -> None:
        # min_free off: recording still needs room for the chunk being written; only when deleting cannot make
        # that much does it pause (issue 12: ENOSPC is a disk condition, not a crash).
        floor = need or int(1.25 * max(self._chunk_sizes, default=0))
        if not floor:
            if self.paused:
                self.paused = False
                log.info("min_free is off: recording resumed")
            return
        if not self.paused and free < floor:
            self.paused = True
            if need:
                log.warning("disk full: recording paused (%s free, need %s); live stream continues",
                            human(free), human(need))
            else:
                log.warning("disk full: recording paused (%s free, nothing left to delete); live stream continues",
                            human(free))
        elif self.paused:
            # Hysteresis: resume only with room for a few chunks more than the threshold, so it does not flap.
            keep = latest_targets(self.latest_dir) | self._undeletable
            deletable = sum(r.size for r in self.index.items() if r.path not in keep)
            room = max(3 * max(self._chunk_sizes, default=0), 8 * 2**20)
            if free + deletable >= floor + room:
                self.paused = False
                self._pending = True  # make the room now, by the normal rules
                log.info("disk space is back: recording resumed (%s free, need %s)", human(free), human(floor))

    def _delete(self, plan: Sequence[Deletion]) -> list[Deletion]:
        done = []
        for d in plan:
            try:
                d.path.unlink()
            except FileNotFoundError:
                pass  # someone else removed it; it no longer takes space either way
            except OSError as exc:
                log.warning("retention: cannot delete %s (%s); leaving it", d.path, exc.strerror)
                self._undeletable.add(d.path)
                continue
            self.index.discard(d.path)
            log.debug("retention: deleted %s (%s, %s)", d.path.name, human(d.size), d.reason)
            done.append(d)
        return done

    def _check_clock_step(self, now: float) -> None:
        """Re-date this run's recordings when the wall clock was stepped, so retention ages them correctly."""
        wall = self._wallclock()
        offset = wall - now
        if self._run_since is None:
            self._run_since = wall
        previous, self._clock_offset = self._clock_offset, offset
        if previous is None or abs(offset - previous) <= self.CLOCK_STEP_S:
            return
        delta = offset - previous
        # Recordings this run wrote before the step carry times of the old clock: an hour forward would make
        # minutes-old chunks look an hour old (max_age deletes them), a step back would make the newest look the
        # oldest (max_size and min_free delete them first). Older runs' recordings were dated by their own clock
        # and are left alone. Their mtimes on disk are corrected too, so a restart judges them the same way.
        since = self._run_since
        self._run_since = since + delta
        moved = self.index.shift(since, delta)
        for rec in moved:
            try:
                os.utime(rec.path, (rec.time, rec.time))
            except OSError:
                pass
        log.warning("wall clock stepped by %+.0f s: %d recordings of this run re-dated so retention ages them "
                    "correctly", delta, len(moved))
        self._pending = True

    def _scan_all(self, now: float) -> None:
        self._next_rescan = now + self.rescan_interval
        if self.video_dir is not None:
            self.index.sync_dir(self.video_dir)
        if self.images_dir is not None:
            self._scan_images(now)

    def _scan_images(self, now: float) -> None:
        assert self.images_dir is not None
        _, added_bytes = self.index.sync_dir(self.images_dir)
        if self._last_image_scan is not None and now > self._last_image_scan:
            self._image_rate = added_bytes / (now - self._last_image_scan)
        self._last_image_scan = now

    def _check_override(self, now: float) -> bool:
        if self.state_dir is None or now < self._next_override_check:
            return False
        self._next_override_check = now + self.OVERRIDE_CHECK
        file = self.state_dir / OVERRIDE_FILE
        try:
            mtime: float | None = file.stat().st_mtime_ns
        except FileNotFoundError:
            mtime = None
        if mtime == self._override_mtime:
            return False
        self._override_mtime = mtime
        if mtime is None:
            self.policy = self.configured
            log.info("retention: %s removed; back to the configured limits", file)
            return True
        try:
            self.policy = replace(self.configured, **read_override(file))
        except (ConfigError, OSError) as exc:
            log.warning("retention: ignoring %s: %s", file, exc)
            return False
        log.info("retention: limits from %s: max_age=%s max_size=%s min_free=%s", file,
                 self.policy.max_age, self.policy.max_size, self.policy.min_free)
        return True


def _mount_root(path: Path) -> Path | None:
    """The mount point `path` lives on when that is not `/` (a separate recording disk), else None."""
    probe = path.resolve()
    while not probe.exists() and probe.parent != probe:
        probe = probe.parent
    while probe.parent != probe:
        if os.path.ismount(probe):
            return probe
        probe = probe.parent
    return None


def scan(video_dir: Path | None, images_dir: Path | None) -> RecordingIndex:
    """A full index of both directories (for `recordings prune`)."""
    index = RecordingIndex()
    for directory in (video_dir, images_dir):
        if directory is not None:
            index.sync_dir(directory)
    return index


def prune(cfg: Config, dry_run: bool = False) -> tuple[list[Deletion], int]:
    """Apply retention once (`recordings prune`): returns what was (or would be) deleted and the free space after."""
    policy = apply_override(RetentionPolicy.from_config(cfg), cfg.state_dir)
    index = scan(cfg.video_dir, cfg.images_dir)
    usage = shutil.disk_usage(cfg.paths.ssd_path)
    plan = explain_deletions(index.items(), time.time(), policy.max_age, policy.max_size,
                             policy.min_free.required(usage.total), usage.free, latest_targets(cfg.latest_dir))
    if dry_run:
        return plan, usage.free + sum(d.size for d in plan)
    done = []
    for d in plan:
        try:
            d.path.unlink()
        except FileNotFoundError:
            pass
        log.debug("retention: deleted %s (%s, %s)", d.path.name, human(d.size), d.reason)
        done.append(d)
    return done, shutil.disk_usage(cfg.paths.ssd_path).free
