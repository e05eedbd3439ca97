#!/usr/bin/env bash
# Thin wrapper kept from the second seed: `camstream install-service` renders and installs camstream.service.
# The seed's variables are mapped to camstream settings for the service (each only when set):
#   DEVICE -> source, WIDTH/HEIGHT -> video.width/height, FPS -> video.fps, BITRATE -> video.bitrate,
#   SERVER_URL/STREAM_KEY -> rtmp.server/rtmp.stream_key (and RTMP on), INPUT_FORMAT -> video.input_format,
#   ENCODER -> video.encoder. Everything else comes from the config file (--config FILE).
# Extra arguments (--user, --config, --dry-run, ...) are passed through.
set -euo pipefail
args=()
add() { args+=(--env "$1=$2"); }
[ -n "${DEVICE:-}" ] && add CAMSTREAM_SOURCE "$DEVICE"
[ -n "${WIDTH:-}" ] && add CAMSTREAM_VIDEO_WIDTH "$WIDTH"
[ -n "${HEIGHT:-}" ] && add CAMSTREAM_VIDEO_HEIGHT "$HEIGHT"
[ -n "${FPS:-}" ] && add CAMSTREAM_VIDEO_FPS "$FPS"
[ -n "${BITRATE:-}" ] && add CAMSTREAM_VIDEO_BITRATE "$BITRATE"
[ -n "${SERVER_URL:-}" ] && add CAMSTREAM_RTMP_SERVER "$SERVER_URL"
[ -n "${STREAM_KEY:-}" ] && add CAMSTREAM_RTMP_STREAM_KEY "$STREAM_KEY"
if [ -n "${SERVER_URL:-}${STREAM_KEY:-}" ]; then add CAMSTREAM_RTMP_ENABLED true; fi
[ -n "${INPUT_FORMAT:-}" ] && add CAMSTREAM_VIDEO_INPUT_FORMAT "$INPUT_FORMAT"
[ -n "${ENCODER:-}" ] && add CAMSTREAM_VIDEO_ENCODER "$ENCODER"
exec "${CAMSTREAM:-camstream}" install-service "${args[@]}" "$@"
