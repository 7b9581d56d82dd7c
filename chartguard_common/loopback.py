"""Is a host this machine? Every request loop, load and fault targets loopback only."""

from __future__ import annotations

import ipaddress
import socket

__all__ = ["is_loopback_host"]


def is_loopback_host(host: str) -> bool:
    """True when ``host`` is, or resolves only to, 127.0.0.0/8 or ::1.

    A name is resolved (``localhost`` via /etc/hosts); a name that does not resolve, or
    that resolves to any non-loopback address, is not loopback.
    """
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None)
    except OSError:
        return False
    addresses = {info[4][0] for info in infos}
    return bool(addresses) and all(
        ipaddress.ip_address(str(a).split("%")[0]).is_loopback for a in addresses
    )
