"""Output plug-ins: each turns the one H.264 encode (or decoded frames) into one kind of destination."""
