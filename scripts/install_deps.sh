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
)
if [ "${1:-}" = "--with-hotspot" ]; then PACKAGES+=(hostapd); fi
if [ "${CAMSTREAM_TEST_PACKAGES:-0}" = "1" ]; then PACKAGES+=(hostapd); fi

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
