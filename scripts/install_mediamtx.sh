#!/usr/bin/env bash
# Install the mediamtx release camstream is written for (same steps as `camstream install-server mediamtx`):
# download the tarball for this machine's architecture, check its sha256 against the release's
# checksums.sha256, install the binary to $PREFIX/bin/mediamtx.
#
# Usage: sudo scripts/install_mediamtx.sh [--dry-run] [--prefix DIR] [--print-arch]
#   --dry-run      print what would be downloaded and installed, change nothing (no root needed)
#   --prefix DIR   install to DIR/bin/mediamtx (default /usr/local)
#   --print-arch   print the release architecture for this machine and exit
# Environment: CAMSTREAM_MEDIAMTX_BASE_URL (mirror or file:// directory holding <version>/<files>),
#              UNAME_M / DPKG_ARCH (override detection, for tests).
set -euo pipefail

# Keep in step with MEDIAMTX_VERSION in camstream/servers/mediamtx.py (a test checks it).
MEDIAMTX_VERSION=v1.15.6
BASE_URL=${CAMSTREAM_MEDIAMTX_BASE_URL:-https://github.com/bluenviron/mediamtx/releases/download}
PREFIX=/usr/local
DRY_RUN=0
PRINT_ARCH=0

while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY_RUN=1 ;;
    --print-arch) PRINT_ARCH=1 ;;
    --prefix) [ $# -ge 2 ] || { echo "error: --prefix needs a directory" >&2; exit 2; }; PREFIX=$2; shift ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument '$1': use --dry-run, --prefix DIR or --print-arch" >&2; exit 2 ;;
  esac
  shift
done

detect_arch() {
  local machine=${UNAME_M:-$(uname -m)}
  case "$machine" in
    x86_64|amd64) echo amd64; return ;;
    aarch64|arm64) echo arm64; return ;;
    armv8l|armv7l|armv7) echo armv7; return ;;   # armv8l: 32-bit userland on a 64-bit CPU
    armv6l|armv6) echo armv6; return ;;          # Raspberry Pi 1 / Zero
  esac
  local dpkg_arch=${DPKG_ARCH:-$(dpkg --print-architecture 2>/dev/null || true)}
  case "$dpkg_arch" in
    amd64) echo amd64 ;;
    arm64) echo arm64 ;;
    armhf) echo armv7 ;;
    armel) echo armv6 ;;
    *) echo "error: no mediamtx release for machine '$machine': releases exist for amd64, arm64, armv7, armv6" >&2
       return 2 ;;
  esac
}

ARCH=$(detect_arch) || exit 2
if [ "$PRINT_ARCH" -eq 1 ]; then echo "$ARCH"; exit 0; fi

ASSET="mediamtx_${MEDIAMTX_VERSION}_linux_${ARCH}.tar.gz"
ASSET_URL="${BASE_URL%/}/$MEDIAMTX_VERSION/$ASSET"
SUMS_URL="${BASE_URL%/}/$MEDIAMTX_VERSION/checksums.sha256"
DEST="$PREFIX/bin/mediamtx"

echo "# mediamtx $MEDIAMTX_VERSION for linux/$ARCH"
echo "# download $ASSET_URL"
echo "# download $SUMS_URL"
echo "# verify sha256 of $ASSET against checksums.sha256"
echo "# extract mediamtx from $ASSET"
echo "# install it to $DEST (mode 0755)"
[ "$DRY_RUN" -eq 1 ] && exit 0

if [ "$(id -u)" -ne 0 ] && [ ! -w "$PREFIX/bin" ] && [ ! -w "$PREFIX" ]; then
  echo "error: installing to $DEST needs root: run it with sudo, use --prefix, or add --dry-run" >&2
  exit 2
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

fetch() {
  if command -v curl >/dev/null 2>&1; then curl -fsSL -o "$2" "$1"
  else wget -q -O "$2" "$1"; fi
}
fetch "$ASSET_URL" "$TMP/$ASSET" || { echo "error: download of $ASSET_URL failed" >&2; exit 1; }
fetch "$SUMS_URL" "$TMP/checksums.sha256" || { echo "error: download of $SUMS_URL failed" >&2; exit 1; }

# checksums.sha256 comes from `sha256sum -b *`, so names may carry a leading '*'.
EXPECTED=$(awk -v n="$ASSET" '{f=$2; sub(/^\*/, "", f); if (f == n) print tolower($1)}' "$TMP/checksums.sha256")
ACTUAL=$(sha256sum "$TMP/$ASSET" | awk '{print $1}')
if [ -z "$EXPECTED" ]; then
  echo "error: $ASSET is not listed in checksums.sha256: refusing to install an unverified download" >&2
  exit 1
fi
if [ "$EXPECTED" != "$ACTUAL" ]; then
  echo "error: $ASSET has sha256 $ACTUAL, checksums.sha256 says $EXPECTED: the download is corrupt or tampered" >&2
  exit 1
fi

mkdir -p "$TMP/x"
tar -xzf "$TMP/$ASSET" -C "$TMP/x" mediamtx
install -D -m 0755 "$TMP/x/mediamtx" "$DEST.camstream-tmp"
mv -f "$DEST.camstream-tmp" "$DEST"
echo "installed $DEST"
