"""`HOST:PORT` addresses a process listens on (`--metrics-addr`), checked before anything
starts; light to import (the metrics server itself is imported only when one is asked for)."""

from __future__ import annotations

#: What a bare port listens on: this machine only.
LOOPBACK = "127.0.0.1"


class AddressError(ValueError):
    pass


def parse_address(text: str) -> tuple[str, int]:
    """`HOST:PORT` (`[::1]:PORT` for IPv6), or a bare `PORT` for loopback only. Every
    interface must be asked for by name (`0.0.0.0:8080`): an empty host is refused rather
    than read as all interfaces."""
    value = text.strip()
    host, sep, port_text = value.rpartition(":")
    if not sep:
        host, port_text = LOOPBACK, value
    if not port_text.isdigit() or int(port_text) > 65535:
        raise AddressError(f"{text!r}: the port must be a number from 0 to 65535, e.g. 9464")
    if sep and not host:
        raise AddressError(
            f"{text!r}: give the host too: 127.0.0.1:{port_text} for this machine only, "
            f"0.0.0.0:{port_text} for every interface"
        )
    bracketed = host.startswith("[") and host.endswith("]")
    if bracketed:
        host = host[1:-1]
    if ":" in host and not bracketed:
        raise AddressError(f"{text!r}: write an IPv6 address in brackets, e.g. [::1]:9464")
    if not host or any(c.isspace() or c in "[]/" for c in host):
        raise AddressError(f"{text!r}: use HOST:PORT, e.g. 127.0.0.1:9464")
    return host, int(port_text)
