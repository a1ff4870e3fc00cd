"""Which outbound targets Flare may call (SSRF rules); pure, the DNS lookup is the caller's.

A webhook or chat URL is refused when any address its host resolves to is loopback, private,
link-local (which holds the cloud metadata endpoint 169.254.169.254), unique-local, multicast,
reserved or unspecified, unless the address is inside an allow-listed network. An IPv4 address
inside an IPv6 one (IPv4-mapped, 6to4, or NAT64's well-known prefix) is judged as that IPv4
address; NAT64's local-use prefix, and the site-local, IPv4-compatible and IPv4-translated
ranges (which Python's `is_global` passes) are internal.
"""

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Cloud metadata services that are not covered by the link-local range.
METADATA_ADDRESSES = {
    ipaddress.ip_address("fd00:ec2::254"),
    ipaddress.ip_address("100.100.100.200"),
}

# NAT64's well-known prefix (RFC 6052): the last 32 bits are an IPv4 address. The local-use
# prefix (RFC 8215) is a network's own translation, to addresses of its own: internal.
NAT64 = ipaddress.ip_network("64:ff9b::/96")
NAT64_LOCAL_USE = ipaddress.ip_network("64:ff9b:1::/48")
# Never routed on the internet: "::a.b.c.d", IPv4-compatible (deprecated, RFC 4291), and
# "::ffff:0:a.b.c.d", IPv4-translated (RFC 2765, for a translator of one's own network).
NOT_ROUTED = (ipaddress.ip_network("::/96"), ipaddress.ip_network("::ffff:0:0:0/96"))


class TargetRefused(Exception):
    """A URL Flare will not call; the message says why."""


def target_host(url: str) -> tuple[str, int]:
    """(host, port) of an http(s) URL, or TargetRefused."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError as error:  # e.g. an unclosed "[" of an IPv6 address
        raise TargetRefused(f"the URL is malformed: {error}") from error
    if parts.scheme not in ("http", "https") or not host:
        raise TargetRefused("the URL must be absolute, with http or https")
    if parts.username or parts.password:
        raise TargetRefused("the URL must not carry credentials")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as error:
        raise TargetRefused(f"the URL's port is invalid: {error}") from error
    try:
        host.encode("idna")  # as the address lookup will: an empty or over-long label fails
    except UnicodeError as error:
        raise TargetRefused(f"{host} is not a valid host name: {error}") from error
    return host, port


def check_addresses(host: str, addresses: Iterable[str], allowed_networks: Iterable[str]) -> None:
    """Raise TargetRefused unless every resolved address is public or allow-listed."""
    networks = [ipaddress.ip_network(network, strict=False) for network in allowed_networks]
    resolved = [ipaddress.ip_address(address.split("%")[0]) for address in addresses]
    if not resolved:
        raise TargetRefused(f"{host} does not resolve")
    for address in resolved:
        if any(address in network for network in networks):
            continue
        if _internal(address):
            raise TargetRefused(
                f"{host} resolves to {address}, an internal address; "
                "allow-list its network in FLARE_EGRESS_ALLOWED_NETWORKS to permit it"
            )


def _internal(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address):
        # A 6to4 gateway (RFC 3056) sends to the IPv4 address in bits 16 to 48.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded:
            return _internal(embedded)
        # A DNS64 answer: the network's NAT64 gateway connects to the IPv4 address inside it.
        if address in NAT64:
            return _internal(ipaddress.IPv4Address(int(address) & 0xFFFF_FFFF))
        if address in NAT64_LOCAL_USE or address.is_site_local:
            return True
        if any(address in network for network in NOT_ROUTED):
            return True
    return address in METADATA_ADDRESSES or not address.is_global or address.is_multicast
