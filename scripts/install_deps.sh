#!/usr/bin/env bash
# Install the Debian packages camstream and its test suite use, when they are missing.
# Uses apt-get directly as root, `sudo -n` when available, else prints what to install.
set -euo pipefail

PACKAGES=(
  ffmpeg                       # capture, encode, mux; ffprobe/ffplay for clients
  nginx libnginx-mod-rtmp      # managed and system RTMP server
  gstreamer1.0-tools gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-bad gstreamer1.0-libav
  gir1.2-gstreamer-1.0 gir1.2-gst-plugins-base-1.0 gir1.2-gst-rtsp-server-1.0   # embedded RTSP server
  libgirepository1.0-dev libcairo2-dev pkg-config   # to build PyGObject<3.51 in the venv
  python3-venv python3-dev
  fonts-dejavu-core            # the test pattern's clock overlay
  v4l-utils                    # camstream devices
  dnsmasq-base systemd         # validators for rendered hotspot / service files
  gstreamer1.0-nice            # ICE for webrtcbin (browser live view over WebRTC/WHEP)
  gir1.2-gst-plugins-bad-1.0   # GstWebRTC/GstSdp bindings: camstream.web.media drives webrtcbin from Python
  gstreamer1.0-plugins-ugly    # x264enc: the bench's seed-design case and GStreamer test sources
  alsa-utils                   # arecord -l for `camstream devices` (audio capture devices)
  iproute2                     # ip netns / tc for the fault and offline-LAN tests
)
# Only the test suite and the bench need these: a real browser, a real audio capture device.
TEST_PACKAGES=(
  hostapd                      # hostapd config parse check
  chromium                     # headless browser for the web view tests (driven by Playwright)
  pulseaudio pulseaudio-utils  # user-mode PulseAudio with a null sink as a real capture device
  faketime                     # libfaketime: wall-clock jumps for camstream alone in the fault tests
)
if [ "${1:-}" = "--with-hotspot" ]; then PACKAGES+=(hostapd); fi
if [ "${CAMSTREAM_TEST_PACKAGES:-0}" = "1" ]; then PACKAGES+=("${TEST_PACKAGES[@]}"); fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
  SUDO=(sudo -n)
else
  echo "error: missing system packages: ${missing[*]} : install them with: sudo apt-get install ${missing[*]}" >&2
  exit 2
fi
export DEBIAN_FRONTEND=noninteractive
echo "installing system packages: ${missing[*]}"
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
