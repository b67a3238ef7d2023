"""Where a webhook may be sent: public addresses only, unless a setting allows private ones.

Checked when a subscription is saved and again before each delivery, as the
host name may resolve elsewhere by then (DNS rebinding).
"""

import ipaddress
import socket
from urllib.parse import urlsplit

from django.conf import settings

ALLOW_SETTING = "ABM_WEBHOOKS_ALLOW_PRIVATE"


class TargetRefused(ValueError):
    """The URL may not receive webhooks; the message says why and what to do."""


def _is_private(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        address = address.ipv4_mapped
    return (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def target_check(url: str) -> list[str]:
    """The addresses ``url``'s host resolves to; raises ``TargetRefused`` when any of them is
    private, loopback or link-local (and ``ABM_WEBHOOKS_ALLOW_PRIVATE`` is off), or the URL
    is not http(s) or its host does not resolve."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused(f"{url!r} is not an http:// or https:// URL with a host name.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise TargetRefused(f"The port of {url!r} is not a number.") from exc
    try:
        infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise TargetRefused(
            f"The host {parts.hostname!r} does not resolve ({exc.strerror or exc}); "
            "check the spelling of the URL."
        ) from exc
    addresses = sorted({info[4][0] for info in infos})
    if not getattr(settings, ALLOW_SETTING, False):
        private = [a for a in addresses if _is_private(ipaddress.ip_address(a.split("%")[0]))]
        if private:
            raise TargetRefused(
                f"{parts.hostname} resolves to {', '.join(private)}, a private, loopback or "
                "link-local address: webhooks go only to public addresses. Use the receiver's "
                f"public URL (development and tests may set {ALLOW_SETTING}=1)."
            )
    return addresses
