"""Sources: classification, input argv per kind, and a Y4M stream on a named pipe through `camstream run`."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from camstream.config import VideoConfig
from camstream.errors import SourceError
from camstream.latency import write_y4m_stamped
from camstream.sources import Source, SourceKind, classify, input_args
from support import decodes_cleanly, media_duration

VIDEO = VideoConfig()


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        pytest.param(Source(SourceKind.TESTSRC, "testsrc"),
                     ["-re", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30"], id="testsrc"),
        pytest.param(Source(SourceKind.V4L2, "/dev/video0"),
                     ["-f", "v4l2", "-thread_queue_size", "64", "-input_format", "mjpeg", "-video_size", "1280x720",
                      "-framerate", "30", "-i", "/dev/video0"], id="v4l2-mjpeg"),
        pytest.param(Source(SourceKind.FILE, "/media/a b.mp4"),
                     ["-re", "-stream_loop", "-1", "-i", "/media/a b.mp4"], id="file-looped-native-rate"),
        pytest.param(Source(SourceKind.PIPE, "/run/cam.y4m"), ["-probesize", "32768", "-i", "/run/cam.y4m"],
                     id="fifo"),
        pytest.param(Source(SourceKind.URL, "rtsp://10.0.0.9/cam"),
                     ["-rtsp_transport", "tcp", "-i", "rtsp://10.0.0.9/cam"], id="rtsp-url"),
        pytest.param(Source(SourceKind.URL, "srt://10.0.0.9:9000"), ["-i", "srt://10.0.0.9:9000"], id="srt-url"),
    ],
)
def test_input_args(source: Source, expected: list[str]) -> None:
    assert input_args(source, VIDEO) == expected


def test_v4l2_yuyv_and_auto_format() -> None:
    yuyv = VideoConfig(input_format="yuyv422", width=640, height=480, fps=15)
    assert input_args(Source(SourceKind.V4L2, "/dev/video1"), yuyv) == [
        "-f", "v4l2", "-thread_queue_size", "64", "-input_format", "yuyv422", "-video_size", "640x480",
        "-framerate", "15", "-i", "/dev/video1"]
    auto = VideoConfig(input_format="auto")
    assert "-input_format" not in input_args(Source(SourceKind.V4L2, "/dev/video1"), auto)


def test_classify(tmp_path: Path) -> None:
    regular = tmp_path / "clip.mp4"
    regular.write_bytes(b"x")
    fifo = tmp_path / "cam.y4m"
    os.mkfifo(fifo)
    assert classify("testsrc") == Source(SourceKind.TESTSRC, "testsrc")
    assert classify(str(regular)).kind is SourceKind.FILE
    assert classify(str(fifo)).kind is SourceKind.PIPE
    assert classify("/dev/null").kind is SourceKind.V4L2  # a character device
    assert classify("rtmp://h/live/cam").kind is SourceKind.URL
    with pytest.raises(SourceError, match=r"^source /dev/video42: no such device: .* --source testsrc$"):
        classify("/dev/video42")
    with pytest.raises(SourceError, match=r"no such file"):
        classify(str(tmp_path / "missing.mp4"))


def test_y4m_on_a_named_pipe_is_a_source(camstream_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    fifo = tmp_path / "cam.y4m"
    os.mkfifo(fifo)
    ssd = tmp_path / "ssd"
    stop = threading.Event()
    writer = threading.Thread(target=write_y4m_stamped, args=(fifo, 320, 240, 25, 60), kwargs={"stop": stop.is_set},
                              daemon=True)
    writer.start()
    cs = camstream_run("--source", str(fifo), "--resolution", "320x240", "--fps", "25", "--no-rtsp",
                       "--segment-seconds", "2", "--ssd-path", str(ssd), "--state-dir", str(tmp_path / "state"))
    try:
        cs.wait_for(lambda: len(list((ssd / "video").glob("*Z.mp4"))) >= 2, 30, "two chunks from the pipe")
        assert cs.stop() == 0
    finally:
        stop.set()
        writer.join(10)
    first = sorted((ssd / "video").glob("*Z.mp4"))[0]
    assert decodes_cleanly(first) and abs(media_duration(first) - 2.0) <= 1.0
    assert (ssd / "drone_temp" / "latest_image.jpg").resolve(strict=True).suffix == ".jpg"
