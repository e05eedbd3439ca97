"""Media servers camstream can run and watch: embedded RTSP, mediamtx, nginx-rtmp (table in servers/registry.py).

Kept empty so `python -m camstream.servers.rtsp_builtin` does not import its own module twice.
"""
