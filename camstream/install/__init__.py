"""Installers: render systemd units and hotspot configs as text, then apply them (or print them for --dry-run)."""
