"""The web view's read-only HTTP routes: status, recordings, chunk playback, export, latest snapshot, metrics.

Nothing here changes a setting or deletes a recording. Paths from requests are checked before anything is opened:
relative, no `..`, no absolute paths, and the resolved file must stay inside its folder (no symlink escapes).
"""

from __future__ import annotations

import asyncio
import os
import re
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path, PurePosixPath
from typing import Any

from aiohttp import web

from camstream import metrics
from camstream.errors import CamstreamError, UsageError
from camstream.status import read_status
from camstream.storage.export import chunk_names, export, find_chunks, iso, parse_time
from camstream.storage.layout import LATEST_IMAGE

EXPORT_MAX_S = 6 * 3600  # one download at most this long: keeps the temporary copy bounded
EXPORT_CHUNK = 256 * 1024
_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass
class Context:
    """What the routes read: folders of this run, and the media hub's counters."""

    state_dir: Path
    video_dir: Path
    images_dir: Path
    latest_dir: Path
    ffmpeg: str = "ffmpeg"
    profile: str = ""
    path: str = "live"
    live: Callable[[], bool] = field(default=lambda: False)
    stats: Callable[[], dict[str, Any]] = field(default=lambda: {})
    ice_servers: list[dict[str, str]] = field(default_factory=list)
    export_lock: asyncio.Lock = field(default_factory=asyncio.Lock)


class BadPath(Exception):
    """A request path that must be refused: `status` is 400 (malformed) or 404 (not an allowed file)."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status


def safe_file(root: Path, requested: str, suffixes: tuple[str, ...]) -> Path:
    """The file `requested` names inside `root`, or BadPath; nothing is opened (only resolved and stat'ed)."""
    if not requested or "\x00" in requested or "\\" in requested:
        raise BadPath(400, "malformed path")
    pure = PurePosixPath(requested)
    if pure.is_absolute() or requested.startswith("/"):
        raise BadPath(400, "absolute paths are not allowed")
    if any(part in ("..", ".") for part in requested.split("/")) or "" in requested.split("/"):
        raise BadPath(400, "'..', '.' and empty path segments are not allowed")
    if not requested.endswith(suffixes):
        raise BadPath(404, "not a recording")
    try:
        base = root.resolve(strict=True)
        target = (root / pure).resolve(strict=True)
    except (OSError, RuntimeError):  # missing, or a symlink loop
        raise BadPath(404, "no such recording") from None
    if not target.is_relative_to(base) or not target.is_file():
        raise BadPath(404, "no such recording")  # a symlink pointing out of the folder, or a directory
    return target


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def day_index(video_dir: Path) -> list[dict[str, Any]]:
    """Days with recordings, newest first, and per hour the number of chunks (names only: no file is opened)."""
    days: dict[str, dict[str, int]] = {}
    for t, _name in chunk_names(video_dir):
        hours = days.setdefault(t.strftime("%Y-%m-%d"), {})
        hour = t.strftime("%H")
        hours[hour] = hours.get(hour, 0) + 1
    return [{"day": day, "hours": [{"hour": h, "chunks": n} for h, n in sorted(hours.items())],
             "chunks": sum(hours.values())} for day, hours in sorted(days.items(), reverse=True)]


def day_chunks(video_dir: Path, day: str, hour: str | None) -> list[dict[str, Any]]:
    """Chunks of one UTC day (or one hour of it) by hour, each with its playback URL."""
    start = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC)
    span = timedelta(days=1)
    if hour is not None:
        start += timedelta(hours=int(hour))
        span = timedelta(hours=1)
    hours: dict[str, list[dict[str, Any]]] = {}
    for chunk in find_chunks(video_dir, start, start + span):
        if chunk.start < start:
            continue  # began in the hour before: listed there
        item = chunk.to_json()
        item.pop("path", None)  # the server's own folders are not the viewer's business
        item["url"] = "/api/recordings/" + chunk.path.relative_to(video_dir).as_posix()
        hours.setdefault(chunk.start.strftime("%H"), []).append(item)
    return [{"hour": h, "chunks": items} for h, items in sorted(hours.items())]


def readings(ctx: Context, status: dict[str, Any] | None) -> metrics.Readings:
    """Measurements /metrics adds to the status: file ages and SoC temperatures."""
    out = metrics.Readings(profile=ctx.profile, temperatures=metrics.soc_temperatures())
    if status:
        for key, root, attr in (("last_chunk", ctx.video_dir, "last_chunk_mtime"),
                                ("last_snapshot", ctx.images_dir, "last_snapshot_mtime")):
            value = status.get(key)
            if isinstance(value, str) and value:
                try:
                    setattr(out, attr, os.stat(root / Path(value).name).st_mtime)
                except OSError:
                    pass
    return out


def routes(ctx: Context) -> list[web.RouteDef]:
    """Every API route, read-only (GET/HEAD)."""

    async def status(request: web.Request) -> web.Response:
        data = read_status(ctx.state_dir)
        if data is None:
            return _error(503, "camstream is not running")
        return web.json_response(data)

    async def info(request: web.Request) -> web.Response:
        return web.json_response({"path": ctx.path, "live": ctx.live(), "profile": ctx.profile,
                                  "whep": f"/{ctx.path}/whep", "time_ms": int(time.time() * 1000),
                                  "ice_servers": ctx.ice_servers,
                                  "media": ctx.stats()})

    async def clock(request: web.Request) -> web.Response:
        return web.json_response({"ms": time.time() * 1000})

    async def recordings(request: web.Request) -> web.Response:
        day = request.query.get("day")
        hour = request.query.get("hour")
        if day is None:
            return web.json_response({"days": await asyncio.to_thread(day_index, ctx.video_dir)})
        if not _DAY.match(day) or (hour is not None and not re.fullmatch(r"[01]\d|2[0-3]", hour)):
            return _error(400, "day=YYYY-MM-DD and optional hour=00-23")
        try:
            datetime.strptime(day, "%Y-%m-%d")
        except ValueError:
            return _error(400, "day=YYYY-MM-DD and optional hour=00-23")
        hours = await asyncio.to_thread(day_chunks, ctx.video_dir, day, hour)
        return web.json_response({"day": day, "hours": hours})

    async def recording(request: web.Request) -> web.StreamResponse:
        try:
            target = safe_file(ctx.video_dir, request.match_info["path"], (".mp4",))
        except BadPath as bad:
            return _error(bad.status, str(bad))
        # FileResponse answers Range requests (206) so the <video> element can seek.
        return web.FileResponse(target, headers={"Content-Type": "video/mp4"})

    async def snapshot(request: web.Request) -> web.StreamResponse:
        # latest_image.jpg is a link into images/: it is followed only when it lands on a file in there.
        try:
            target = (ctx.latest_dir / LATEST_IMAGE).resolve(strict=True)
            inside = target.is_relative_to(ctx.images_dir.resolve(strict=True)) and target.is_file()
        except (OSError, RuntimeError):
            inside = False
        if not inside:
            return _error(404, "no snapshot yet")
        return web.FileResponse(target, headers={"Content-Type": "image/jpeg"})

    async def export_range(request: web.Request) -> web.StreamResponse:
        raw_from, raw_to = request.query.get("from"), request.query.get("to")
        if not raw_from or not raw_to:
            return _error(400, "give from= and to= (ISO 8601 UTC, e.g. 2026-11-23T18:56:32Z, or -10m)")
        try:
            start, end = parse_time(raw_from, "from="), parse_time(raw_to, "to=")
        except UsageError as exc:
            return _error(400, str(exc))
        if end <= start:
            return _error(400, "from= must be before to=")
        if (end - start).total_seconds() > EXPORT_MAX_S:
            return _error(400, f"ranges up to {EXPORT_MAX_S // 3600} hours: download longer ones in parts")
        work = ctx.state_dir / "web-export"
        async with ctx.export_lock:  # one join at a time: each one copies its range to disk first
            work.mkdir(parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix="export-", suffix=".mp4", dir=work)
            os.close(fd)
            out = Path(name)
            try:
                await asyncio.to_thread(export, ctx.video_dir, start, end, out, ctx.ffmpeg)
                fh = out.open("rb")
            except UsageError as exc:
                return _error(404, str(exc))
            except CamstreamError as exc:
                return _error(500, str(exc))
            finally:
                out.unlink(missing_ok=True)  # an open file stays readable; nothing is left on disk
        with fh:
            size = os.fstat(fh.fileno()).st_size
            filename = f"camstream-{start.strftime('%Y%m%dT%H%M%SZ')}-{end.strftime('%Y%m%dT%H%M%SZ')}.mp4"
            response = web.StreamResponse(headers={"Content-Type": "video/mp4", "Content-Length": str(size),
                                                   "Content-Disposition": f'attachment; filename="{filename}"'})
            await response.prepare(request)
            while data := await asyncio.to_thread(fh.read, EXPORT_CHUNK):
                await response.write(data)
            await response.write_eof()
        return response

    async def metrics_page(request: web.Request) -> web.Response:
        data = read_status(ctx.state_dir)
        text = metrics.render(data, await asyncio.to_thread(readings, ctx, data))
        return web.Response(text=text, headers={"Content-Type": metrics.CONTENT_TYPE})

    return [
        web.get("/api/status", status),
        web.get("/api/info", info),
        web.get("/api/time", clock),
        web.get("/api/recordings", recordings),
        web.get("/api/recordings/{path:.+}", recording),
        web.get("/api/snapshot/latest.jpg", snapshot),
        web.get("/api/export", export_range),
        web.get("/metrics", metrics_page),
    ]


__all__ = ["BadPath", "Context", "day_chunks", "day_index", "iso", "routes", "safe_file"]
