#!/usr/bin/env bash
# Install the system nginx with the RTMP module and camstream's config/nginx/rtmp.conf.
# Same steps as `camstream install-server nginx`:
#   apt-get install nginx libnginx-mod-rtmp, copy rtmp.conf to /etc/nginx/camstream-rtmp.conf,
#   add ONE top-level `include` line for it to /etc/nginx/nginx.conf (the rtmp block cannot live inside
#   http {}, so conf.d/ and sites-enabled/ do not work), `nginx -t`, reload. Safe to run again.
# If `nginx -t` or the reload fails, the previous files are put back.
#
# Usage: sudo scripts/install_rtmp_server.sh [--dry-run]
#   --dry-run   print every command and file, change nothing (no root needed)
# Environment (for tests and image builds): NGINX_CONF, RTMP_CONF_DEST, RTMP_CONF_SRC.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
NGINX_CONF=${NGINX_CONF:-/etc/nginx/nginx.conf}
RTMP_CONF_DEST=${RTMP_CONF_DEST:-/etc/nginx/camstream-rtmp.conf}
RTMP_CONF_SRC=${RTMP_CONF_SRC:-$HERE/../config/nginx/rtmp.conf}
INCLUDE_COMMENT="# Added by camstream: RTMP endpoint (the rtmp block must be at top level, outside http {})."
INCLUDE_LINE="include $RTMP_CONF_DEST;"

DRY_RUN=0
for arg in "$@"; do
  case "$arg" in
    --dry-run) DRY_RUN=1 ;;
    -h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "error: unknown argument '$arg': use --dry-run or --help" >&2; exit 2 ;;
  esac
done

if [ ! -f "$RTMP_CONF_SRC" ]; then
  echo "error: $RTMP_CONF_SRC not found: run this script from a camstream checkout or set RTMP_CONF_SRC" >&2
  exit 2
fi
if [ "$DRY_RUN" -eq 0 ] && [ "$(id -u)" -ne 0 ]; then
  echo "error: installing nginx changes the system and needs root: run it with sudo, or add --dry-run" >&2
  exit 2
fi

run() {
  echo "\$ $*"
  if [ "$DRY_RUN" -eq 0 ]; then "$@"; fi
}

has_include() {
  [ -f "$NGINX_CONF" ] && grep -qxF -- "$INCLUDE_LINE" <(sed 's/^[[:space:]]*//; s/[[:space:]]*$//' "$NGINX_CONF")
}

run apt-get update
run apt-get install -y nginx libnginx-mod-rtmp

echo "# write $RTMP_CONF_DEST (mode 0644)"
cat "$RTMP_CONF_SRC"
echo "# end of $RTMP_CONF_DEST"

if has_include; then
  echo "# $NGINX_CONF already includes $RTMP_CONF_DEST"
  ADD_INCLUDE=0
else
  echo "# append to $NGINX_CONF"
  printf '%s\n%s\n' "$INCLUDE_COMMENT" "$INCLUDE_LINE"
  ADD_INCLUDE=1
fi

if [ "$DRY_RUN" -eq 1 ]; then
  echo "\$ nginx -t"
  echo "\$ systemctl reload-or-restart nginx"
  exit 0
fi

# Keep the old files so a config nginx rejects never stays behind.
BACKUP=$(mktemp -d)
trap 'rm -rf "$BACKUP"' EXIT
[ -f "$RTMP_CONF_DEST" ] && cp -p "$RTMP_CONF_DEST" "$BACKUP/rtmp.conf"
cp -p "$NGINX_CONF" "$BACKUP/nginx.conf"

restore() {
  echo "error: $1 failed: restoring the previous $NGINX_CONF and $RTMP_CONF_DEST" >&2
  cp -p "$BACKUP/nginx.conf" "$NGINX_CONF"
  if [ -f "$BACKUP/rtmp.conf" ]; then cp -p "$BACKUP/rtmp.conf" "$RTMP_CONF_DEST"; else rm -f "$RTMP_CONF_DEST"; fi
  exit 1
}

install -D -m 0644 "$RTMP_CONF_SRC" "$RTMP_CONF_DEST"
if [ "$ADD_INCLUDE" -eq 1 ]; then
  # Make sure the file ends with a newline before appending, then append at top level.
  [ -n "$(tail -c1 "$NGINX_CONF")" ] && echo >> "$NGINX_CONF"
  printf '\n%s\n%s\n' "$INCLUDE_COMMENT" "$INCLUDE_LINE" >> "$NGINX_CONF"
fi

run nginx -t || restore "nginx -t"
# reload-or-restart: reload a running nginx without dropping viewers, start one that is stopped.
run systemctl reload-or-restart nginx || restore "systemctl reload-or-restart nginx"
echo "RTMP server ready: rtmp://<this-host-ip>:1935/live/cam"
