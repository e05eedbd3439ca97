#!/usr/bin/env bash
# Thin wrapper kept from the second seed: `camstream install-service` writes /etc/camstream/camstream.yaml and
# installs camstream.service. The seed's variables become the same flags as the seed's streamer (each only when set):
#   DEVICE -> --device, WIDTH+HEIGHT -> --resolution WxH, FPS -> --fps, BITRATE -> --bitrate,
#   SERVER_URL -> --server (RTMP on), STREAM_KEY -> --stream-key --rtmp, INPUT_FORMAT -> --input-format,
#   ENCODER -> --encoder. A lone WIDTH or HEIGHT goes in as CAMSTREAM_VIDEO_WIDTH/HEIGHT.
# Extra arguments (--user, --config, --ssd-path, --dry-run, ...) are passed through.
set -euo pipefail
args=()
[ -n "${DEVICE:-}" ] && args+=(--device "$DEVICE")
if [ -n "${WIDTH:-}" ] && [ -n "${HEIGHT:-}" ]; then
  args+=(--resolution "${WIDTH}x${HEIGHT}")
else
  [ -n "${WIDTH:-}" ] && args+=(--env "CAMSTREAM_VIDEO_WIDTH=$WIDTH")
  [ -n "${HEIGHT:-}" ] && args+=(--env "CAMSTREAM_VIDEO_HEIGHT=$HEIGHT")
fi
[ -n "${FPS:-}" ] && args+=(--fps "$FPS")
[ -n "${BITRATE:-}" ] && args+=(--bitrate "$BITRATE")
[ -n "${SERVER_URL:-}" ] && args+=(--server "$SERVER_URL")
[ -n "${STREAM_KEY:-}" ] && args+=(--stream-key "$STREAM_KEY" --rtmp)
[ -n "${INPUT_FORMAT:-}" ] && args+=(--input-format "$INPUT_FORMAT")
[ -n "${ENCODER:-}" ] && args+=(--encoder "$ENCODER")
exec "${CAMSTREAM:-camstream}" install-service "${args[@]}" "$@"
