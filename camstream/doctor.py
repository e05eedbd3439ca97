"""`camstream doctor`: independent checks, each returning pass/warn/fail with the fix for a failure."""

from __future__ import annotations

import errno
import functools
import importlib
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from camstream import devices as devices_mod
from camstream import encoders, proc, rpicam
from camstream.config import AudioConfig, VideoConfig
from camstream.errors import CamstreamError, MissingToolError
from camstream.install import hotspot, service
from camstream.install.plan import Host

PASS, WARN, FAIL = "pass", "warn", "fail"
RTMP_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"


@dataclass(frozen=True)
class CheckResult:
    """One line of the doctor's table."""

    name: str
    status: str
    detail: str
    fix: str = ""


Which = Callable[[str], str]
Runner = Callable[[list[str]], tuple[int, str]]


def _find(which: Which, tool: str) -> str | None:
    try:
        return which(tool)
    except MissingToolError:
        return None


def check_ffmpeg(ffmpeg: str, which: Which, run: Runner) -> CheckResult:
    """FFmpeg is installed; report its version line."""
    path = _find(which, ffmpeg)
    if path is None:
        return CheckResult("ffmpeg", FAIL, f"{ffmpeg} not found", "sudo apt install ffmpeg (or set ffmpeg.path)")
    code, out = run([path, "-hide_banner", "-version"])
    first = out.splitlines()[0] if out else ""
    if code != 0 or not first.startswith("ffmpeg version"):
        return CheckResult("ffmpeg", FAIL, f"{path} -version failed", "reinstall ffmpeg: sudo apt install --reinstall ffmpeg")
    return CheckResult("ffmpeg", PASS, f"{path}: {' '.join(first.split()[:3])}")


def check_ffprobe(which: Which) -> CheckResult:
    """ffprobe (used by probes and tests) is installed."""
    path = _find(which, "ffprobe")
    if path is None:
        return CheckResult("ffprobe", FAIL, "ffprobe not found", "sudo apt install ffmpeg")
    return CheckResult("ffprobe", PASS, path)


def check_encoder(ffmpeg_path: str | None, encoder: str, *, required: bool,
                  trial: Callable[[str, str], tuple[bool, str]] = encoders.retrial) -> CheckResult:
    """A real one-frame trial encode (its verdict replaces the cached one); a missing hardware encoder only warns."""
    name = f"encoder {encoder}"
    if ffmpeg_path is None:
        return CheckResult(name, FAIL if required else WARN, "not tried: ffmpeg missing", "install ffmpeg first")
    ok, why = trial(ffmpeg_path, encoder)
    if ok:
        return CheckResult(name, PASS, "one-frame trial encode works")
    if required:
        return CheckResult(name, FAIL, why, "install a full FFmpeg build with libx264: sudo apt install ffmpeg")
    return CheckResult(name, WARN, f"unavailable ({why}); libx264 is used instead",
                       "only on a Raspberry Pi with /dev/video11 (bcm2835-codec); nothing to fix elsewhere")


def check_cameras(list_devices: Callable[[], list[devices_mod.Device]]) -> CheckResult:
    """At least one /dev/video* node offers capture formats."""
    try:
        found = list_devices()
    except MissingToolError as err:
        return CheckResult("camera", WARN, str(err), "sudo apt install v4l-utils")
    except CamstreamError as err:
        return CheckResult("camera", FAIL, str(err), "connect a camera, or run with --source testsrc")
    cams = [d for d in found if any(f.buffer_type == "Video Capture" and (f.sizes or f.size_range) for f in d.formats)]
    if not cams:
        return CheckResult("camera", FAIL, f"{len(found)} /dev/video* node(s), none offers capture sizes",
                           "connect a camera (`camstream devices` lists what is there), or use --source testsrc")
    text = "; ".join(f"{d.path} ({d.card or 'unknown'}: {', '.join(f.fourcc for f in d.formats)})" for d in cams)
    return CheckResult("camera", PASS, text)


def check_libcamera(list_cameras: Callable[[], list[rpicam.LibcameraCamera]]) -> CheckResult:
    """Cameras libcamera sees (the Pi camera module), from `rpicam-hello --list-cameras`."""
    name = "libcamera camera"
    try:
        cams = list_cameras()
    except MissingToolError:
        return CheckResult(name, WARN, "rpicam-apps not installed (needed for the Pi camera module only)",
                           "sudo apt install rpicam-apps")
    if not cams:
        return CheckResult(name, WARN, "rpicam-hello --list-cameras lists no camera",
                           "check the ribbon cable and camera_auto_detect=1 in /boot/firmware/config.txt, reboot")
    text = "; ".join(f"rpicam:{c.index} {c.sensor} {c.width}x{c.height}" for c in cams)
    return CheckResult(name, PASS, f"{text} (use --source rpicam:N)")


def check_nginx(which: Which, rtmp_module: Path = Path(RTMP_MODULE)) -> CheckResult:
    """nginx and its RTMP module (needed for RTMP only)."""
    path = _find(which, "nginx")
    if path is None:
        return CheckResult("nginx-rtmp", WARN, "nginx not found (needed for RTMP only)", "camstream install-server nginx")
    if not rtmp_module.exists():
        return CheckResult("nginx-rtmp", WARN, f"{rtmp_module} missing (needed for RTMP only)",
                           "sudo apt install libnginx-mod-rtmp")
    return CheckResult("nginx-rtmp", PASS, f"{path} with {rtmp_module.name}")


def check_gst_rtsp(importer: Callable[[], object] | None = None) -> CheckResult:
    """The builtin RTSP server's GStreamer bindings (gst-rtsp-server through PyGObject) import."""

    def default_import() -> object:
        gi = importlib.import_module("gi")
        gi.require_version("GstRtspServer", "1.0")
        return importlib.import_module("gi.repository.GstRtspServer")

    try:
        (importer or default_import)()
    except (ImportError, ValueError) as exc:
        return CheckResult("gst-rtsp-server", WARN, f"not importable ({exc}); mediamtx can serve RTSP instead",
                           "sudo apt install gir1.2-gst-rtsp-server-1.0 && pip install 'PyGObject<3.51'")
    return CheckResult("gst-rtsp-server", PASS, "GstRtspServer 1.0 importable")


def check_mediamtx(which: Which) -> CheckResult:
    """mediamtx is optional: the builtin server is used without it."""
    path = _find(which, "mediamtx")
    if path is None:
        return CheckResult("mediamtx", WARN, "not installed (optional; the builtin RTSP server is used)",
                           "camstream install-server mediamtx")
    return CheckResult("mediamtx", PASS, path)


def port_free(port: int, address: str = "0.0.0.0") -> bool:
    """True when a TCP listener could bind `address:port` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((address, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return False
            raise
    return True


def check_port(label: str, port: int, service_active: bool, is_free: Callable[[int], bool] = port_free) -> CheckResult:
    """The port is free, or taken by the camstream service itself."""
    name = f"port {port} ({label})"
    if is_free(port):
        return CheckResult(name, PASS, "free")
    if service_active:
        return CheckResult(name, PASS, "in use (camstream.service is running)")
    return CheckResult(name, FAIL, "in use by another program",
                       f"stop it (`sudo ss -ltnp 'sport = :{port}'` shows which) or change the {label} port")


def check_disk(ssd_path: Path, min_free_bytes: int = 2 * 1024**3) -> CheckResult:
    """Free space where recordings go (the nearest existing parent when the path does not exist yet)."""
    probe_path = ssd_path
    while not probe_path.exists() and probe_path != probe_path.parent:
        probe_path = probe_path.parent
    usage = shutil.disk_usage(probe_path)
    free_gb = usage.free / 1024**3
    detail = f"{free_gb:.1f} GiB free of {usage.total / 1024**3:.1f} GiB at {ssd_path}"
    if not ssd_path.exists():
        detail += f" (not created yet; measured at {probe_path})"
    if usage.free < min_free_bytes:
        return CheckResult("disk", FAIL, detail, "free space or point paths.ssd_path at the SSD")
    return CheckResult("disk", PASS, detail)


def service_state(run: Runner) -> tuple[str, str]:
    """(is-enabled, is-active) of camstream.service; ("", "") without systemctl."""
    _, enabled = run(["systemctl", "is-enabled", service.UNIT_NAME])
    _, active = run(["systemctl", "is-active", service.UNIT_NAME])
    return enabled.strip(), active.strip()


def check_service(enabled: str, active: str) -> CheckResult:
    """camstream.service installed, enabled and running."""
    if active == "active":
        return CheckResult("service", PASS, f"{service.UNIT_NAME} active ({enabled or 'unknown'})")
    if active in ("failed", "activating") or (enabled == "enabled" and active != "active"):
        return CheckResult("service", FAIL, f"{service.UNIT_NAME} {active or 'unknown'} ({enabled})",
                           f"journalctl -u {service.UNIT_NAME} -n 50 shows why")
    return CheckResult("service", WARN, f"{service.UNIT_NAME} not installed or not enabled",
                       "sudo camstream install-service --config FILE (for start on boot)")


def check_hotspot(host: Host, state_dir: str, run: Runner) -> CheckResult:
    """The camstream hotspot, if one was set up, is up."""
    try:
        st = hotspot.status(host, state_dir, run)
    except CamstreamError:
        return CheckResult("hotspot", WARN, "not set up (viewers join your existing network)",
                           "sudo camstream hotspot setup --ssid NAME --password PASS")
    detail = f"{st.backend}, SSID {st.ssid!r}, {st.address}, {len(st.clients)} client(s)"
    if not st.active:
        fix = ("nmcli connection up camstream-hotspot" if st.backend == "networkmanager"
               else f"journalctl -u {hotspot.HOSTAPD_UNIT} -n 50 shows why")
        return CheckResult("hotspot", FAIL, detail + " but down", fix)
    return CheckResult("hotspot", PASS, detail)


AudioCheck = Callable[[str, AudioConfig], float | None]


def _check_audio_device(ffmpeg: str, audio: AudioConfig) -> float | None:
    from camstream.audio import check_device

    return check_device(ffmpeg, audio, seconds=1.0)


def check_audio(ffmpeg: str | None, audio: AudioConfig | None, capture: AudioCheck = _check_audio_device) -> CheckResult:
    """The configured microphone answers a one-second real capture; its level tells whether it hears anything."""
    if audio is None or not audio.is_device:
        what = "off (--audio none)" if audio is None or not audio.enabled else f"{audio.input}: no device to check"
        return CheckResult("audio", PASS, what)
    if ffmpeg is None:
        return CheckResult("audio", FAIL, f"{audio.input}: cannot check without ffmpeg", "install ffmpeg first")
    try:
        level = capture(ffmpeg, audio)
    except CamstreamError as exc:
        return CheckResult("audio", FAIL, str(exc).split(": check")[0], "pick a device from `camstream devices`")
    if level is None or level <= -90:
        return CheckResult("audio", WARN, f"{audio.input}: captures, but only silence",
                           "check the microphone is plugged in and not muted (alsamixer / pavucontrol)")
    return CheckResult("audio", PASS, f"{audio.input}: captures, mean level {level:.1f} dBFS")


@dataclass(frozen=True)
class DoctorInputs:
    """Settings the checks depend on (from the camstream config)."""

    ffmpeg: str = "ffmpeg"
    ssd_path: Path = Path(".")
    rtsp_port: int = 8554
    rtmp_port: int = 1935
    hotspot_state_dir: str = hotspot.STATE_DIR
    # The run's video settings and resolved knobs: the trial encodes use exactly the run's encoder argv.
    video: VideoConfig | None = None
    knobs: encoders.Knobs | None = None
    audio: AudioConfig | None = None


def run_all(inputs: DoctorInputs, host: Host, which: Which = proc.which, run: Runner = hotspot.run_tool,
            list_devices: Callable[[], list[devices_mod.Device]] = devices_mod.list_devices,
            list_cameras: Callable[[], list[rpicam.LibcameraCamera]] = rpicam.list_cameras) -> list[CheckResult]:
    """Every check, in the order the table shows them."""
    ffmpeg = check_ffmpeg(inputs.ffmpeg, which, run)
    ffmpeg_path = _find(which, inputs.ffmpeg) if ffmpeg.status == PASS else None
    enabled, active = service_state(run)
    trial = functools.partial(encoders.retrial, video=inputs.video, knobs=inputs.knobs)
    camera = check_cameras(list_devices)
    libcamera = check_libcamera(list_cameras)
    if camera.status == FAIL and libcamera.status == PASS:
        # No USB camera, but the Pi camera module is there: nothing is wrong.
        camera = CheckResult(camera.name, WARN, camera.detail, "the Pi camera module works with --source rpicam")
    return [
        ffmpeg,
        check_encoder(ffmpeg_path, "libx264", required=True, trial=trial),
        check_encoder(ffmpeg_path, "h264_v4l2m2m", required=False, trial=trial),
        check_ffprobe(which),
        camera,
        check_audio(ffmpeg_path, inputs.audio),
        libcamera,
        check_nginx(which),
        check_gst_rtsp(),
        check_mediamtx(which),
        check_port("RTSP", inputs.rtsp_port, active == "active"),
        check_port("RTMP", inputs.rtmp_port, active == "active"),
        check_disk(inputs.ssd_path),
        check_service(enabled, active),
        check_hotspot(host, inputs.hotspot_state_dir, run),
    ]


def failed(results: list[CheckResult]) -> bool:
    """True when any check failed (doctor exits 1)."""
    return any(r.status == FAIL for r in results)
