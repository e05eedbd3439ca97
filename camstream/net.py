"""Small socket helpers shared by the servers and the runner: port checks, free ports, this host's addresses."""

from __future__ import annotations

import errno
import socket

import psutil

from camstream.errors import PortInUseError


def _family(host: str) -> socket.AddressFamily:
    return socket.AF_INET6 if ":" in host else socket.AF_INET


def tcp_port_free(port: int, host: str = "0.0.0.0") -> bool:
    """True when a TCP listener could bind host:port now (SO_REUSEADDR, as servers set it, ignores TIME_WAIT)."""
    with socket.socket(_family(host), socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def udp_port_free(port: int, host: str = "0.0.0.0") -> bool:
    """True when a UDP socket could bind host:port now."""
    with socket.socket(_family(host), socket.SOCK_DGRAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _bind(sock: socket.socket, address: str, port: int, fix: str) -> None:
    """Bind with SO_REUSEADDR (a previous run's TIME_WAIT connections do not count); PortInUseError naming `fix`."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((address, port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise PortInUseError(f"port {port} is already in use: choose another with {fix}") from exc
        raise


def check_port_free(address: str, port: int, fix: str) -> None:
    """Raise PortInUseError naming `fix` (the flag or setting to change) when address:port is taken."""
    with socket.socket(_family(address), socket.SOCK_STREAM) as sock:
        _bind(sock, address, port, fix)


def listening_socket(address: str, port: int, fix: str, *, send_buffer: int, backlog: int = 511) -> socket.socket:
    """A TCP socket listening on address:port whose accepted connections each get a send buffer of `send_buffer`
    bytes (the kernel doubles it for its bookkeeping) instead of one Linux grows up to tcp_wmem's maximum: accepted
    sockets inherit the listener's buffer size and its lock against autotuning (socket(7) SO_SNDBUF). For a server
    that takes it over (nginx's inherited sockets); PortInUseError naming `fix` when the port is taken."""
    sock = socket.socket(_family(address), socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, send_buffer)
        _bind(sock, address, port, fix)
        sock.listen(backlog)
    except BaseException:
        sock.close()
        raise
    return sock


def port_accepts(port: int, host: str = "127.0.0.1", timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def free_port(address: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now (the kernel picks it)."""
    with socket.socket(_family(address), socket.SOCK_STREAM) as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


def host_addresses() -> list[str]:
    """This machine's non-loopback IPv4 addresses (what a viewer on the LAN or hotspot connects to)."""
    found = []
    for _name, addrs in sorted(psutil.net_if_addrs().items()):
        for addr in addrs:
            if addr.family == socket.AF_INET and not addr.address.startswith("127."):
                found.append(addr.address)
    return found
