"""Fetching a URL a platform or a customer gave us (avatars, attachment links) without
letting it reach inside our network.

Every hop is checked: the host must resolve only to public addresses (no loopback,
private, link-local, multicast, reserved or unspecified ranges, IPv4 or IPv6, including
IPv4-mapped IPv6), the scheme must be http(s), redirects are followed by hand (at most
``MAX_REDIRECTS``) and each target is checked again, and the body is read with a size
cap. The connection goes to the address that was checked (no second DNS lookup that an
attacker could answer differently), with the original host name sent for TLS and
``Host``.

``allow`` names addresses that may be fetched although they are not public: the loopback
stand-in servers that tests pass explicitly. Nothing passes it in production, where
nothing but public addresses is ever reached.
"""

import ipaddress
import socket
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

MAX_REDIRECTS = 3
MAX_BYTES = 10 * 1024 * 1024
TIMEOUT = httpx.Timeout(10.0, connect=5.0)

Resolver = Callable[[str, int], list[str]]


class FetchRefused(Exception):
    """The URL points somewhere we never fetch from, or its answer is unacceptable.

    ``transient``: the server answered 429 or 5xx, so a later try may succeed."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True, slots=True)
class Fetched:
    url: str
    content_type: str
    body: bytes


def system_resolver(host: str, port: int) -> list[str]:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise FetchRefused(f"cannot resolve {host[:100]!r}") from exc
    return sorted({str(info[4][0]) for info in infos})


def is_public(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def checked_address(
    url: str, resolver: Resolver, allow: frozenset[str] = frozenset()
) -> tuple[str, str, int]:
    """(host, a public address it resolves to, port) or ``FetchRefused``."""
    parts = urlsplit(url)
    if parts.scheme not in {"http", "https"}:
        raise FetchRefused(f"scheme {parts.scheme[:20]!r} is not fetched")
    host = parts.hostname
    if not host:
        raise FetchRefused("URL has no host")
    if parts.username or parts.password:
        raise FetchRefused("URLs with credentials are not fetched")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    addresses = resolver(host, port)
    if not addresses:
        raise FetchRefused(f"{host[:100]!r} resolves to nothing")
    # Every address must be public: a name resolving to one public and one private
    # address could be connected to either.
    for address in addresses:
        if not is_public(address) and address not in allow:
            raise FetchRefused(f"{host[:100]!r} resolves to a non-public address")
    return host, addresses[0], port


def fetch(
    url: str,
    *,
    resolver: Resolver = system_resolver,
    max_bytes: int = MAX_BYTES,
    transport: httpx.BaseTransport | None = None,
    allow: frozenset[str] = frozenset(),
) -> Fetched:
    """GET ``url`` under the rules above; ``FetchRefused`` when any rule is broken."""
    current = url
    with httpx.Client(timeout=TIMEOUT, follow_redirects=False, transport=transport) as client:
        for _ in range(MAX_REDIRECTS + 1):
            host, address, port = checked_address(current, resolver, allow)
            response = _get_pinned(
                client, current, host=host, address=address, port=port, max_bytes=max_bytes
            )
            if response is None:
                raise FetchRefused(f"body larger than {max_bytes} bytes")
            status, headers, body = response
            if status in {301, 302, 303, 307, 308}:
                location = headers.get("location")
                if not location:
                    raise FetchRefused("redirect without a Location")
                current = urljoin(current, location)
                continue
            if status != 200:
                raise FetchRefused(f"HTTP {status}", transient=status == 429 or status >= 500)
            return Fetched(url=current, content_type=headers.get("content-type", ""), body=body)
    raise FetchRefused(f"more than {MAX_REDIRECTS} redirects")


def _get_pinned(
    client: httpx.Client, url: str, *, host: str, address: str, port: int, max_bytes: int
) -> tuple[int, httpx.Headers, bytes] | None:
    """GET with the connection pinned to the checked ``address``; None when too large."""
    parts = urlsplit(url)
    literal = f"[{address}]" if ":" in address else address
    pinned = parts._replace(netloc=f"{literal}:{port}").geturl()
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    request = client.build_request(
        "GET", pinned, headers={"Host": parts.netloc.rsplit("@", 1)[-1]}, extensions=extensions
    )
    response = client.send(request, stream=True)
    try:
        chunks: list[bytes] = []
        size = 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > max_bytes:
                return None
            chunks.append(chunk)
        return response.status_code, response.headers, b"".join(chunks)
    finally:
        response.close()
