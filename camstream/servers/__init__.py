"""Media servers camstream can run and watch: embedded RTSP, mediamtx, nginx-rtmp."""
