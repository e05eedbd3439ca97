#!/usr/bin/env bash
# Thin wrapper kept from the second seed: `camstream hotspot setup` does the work (validation, NetworkManager
# or hostapd + dnsmasq, saved state for `camstream hotspot teardown`). The seed's variables still work:
#   SSID, PASSWORD, INTERFACE, COUNTRY, CHANNEL, ADDRESS, BACKEND (each only passed on when set).
# Any extra arguments (e.g. --dry-run) are passed through.
set -euo pipefail
args=()
[ -n "${SSID:-}" ] && args+=(--ssid "$SSID")
[ -n "${PASSWORD:-}" ] && args+=(--password "$PASSWORD")
[ -n "${INTERFACE:-}" ] && args+=(--interface "$INTERFACE")
[ -n "${COUNTRY:-}" ] && args+=(--country "$COUNTRY")
[ -n "${CHANNEL:-}" ] && args+=(--channel "$CHANNEL")
[ -n "${ADDRESS:-}" ] && args+=(--address "$ADDRESS")
[ -n "${BACKEND:-}" ] && args+=(--backend "$BACKEND")
exec "${CAMSTREAM:-camstream}" hotspot setup "${args[@]}" "$@"
