"""Fetching product images from URLs without becoming a proxy into the private network.

The host name is resolved once, every address is checked, and the connection goes to the
checked address (so a second DNS answer cannot swap in a private one). An IPv6 address that
carries an IPv4 one (IPv4-mapped and -compatible, NAT64 ``64:ff9b::/96``, 6to4 ``2002::/16``,
Teredo) is checked as that IPv4 address too, and the deprecated site-local ``fec0::/10`` counts as
private. Only ports 80 and 443 are allowed (SNAPSHELF_IMAGE_URL_PORTS). Redirects are followed by
hand, each hop checked the same way. Size, content type, each read (SNAPSHELF_IMAGE_URL_TIMEOUT)
and the whole fetch, redirects and a slowly dripped body included (SNAPSHELF_IMAGE_URL_DEADLINE),
are capped. A refused address is not named in the error, which API keys can read; the log has it.
"""

from __future__ import annotations

import http.client
import ipaddress
import logging
import socket
import ssl
import time
from urllib.parse import urljoin, urlsplit

from catalog.conf import catalog_setting

USER_AGENT = "Snapshelf image fetcher"
CHUNK_BYTES = 64 * 1024
NAT64 = ipaddress.ip_network("64:ff9b::/96")
# Not global, though Python's tables do not say so: site-local (deprecated) and local-use NAT64.
NOT_GLOBAL = (ipaddress.ip_network("fec0::/10"), ipaddress.ip_network("64:ff9b:1::/48"))
IPV4_COMPATIBLE = ipaddress.ip_network("::/96")

logger = logging.getLogger(__name__)


class ImageFetchError(ValueError):
    """The URL could not be fetched as an image; the message says why."""


def image_url_fetch(url: str, *, max_bytes: int | None = None, timeout: float | None = None) -> bytes:
    """Return the bytes behind ``url`` or raise ImageFetchError."""
    max_bytes = max_bytes or catalog_setting("IMAGE_MAX_BYTES")
    timeout = timeout or catalog_setting("IMAGE_URL_TIMEOUT")
    deadline = time.monotonic() + float(catalog_setting("IMAGE_URL_DEADLINE"))
    for _hop in range(catalog_setting("IMAGE_URL_MAX_REDIRECTS") + 1):
        response, connection, sock = _request(url, _remaining(url, deadline, timeout))
        try:
            if response.status in (301, 302, 303, 307, 308):
                location = response.getheader("Location")
                if not location:
                    raise ImageFetchError(f"{url} redirected without a Location header.")
                url = urljoin(url, location)
                continue
            if response.status != 200:
                raise ImageFetchError(f"{url} answered HTTP {response.status}.")
            content_type = (response.getheader("Content-Type") or "").split(";")[0].strip().lower()
            if not content_type.startswith("image/"):
                raise ImageFetchError(f"{url} is not an image (Content-Type {content_type or 'missing'}).")
            declared = response.getheader("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise ImageFetchError(f"{url} is {int(declared):,} bytes; the limit is {max_bytes:,}.")
            return _body_read(url, response, sock, max_bytes=max_bytes, deadline=deadline, timeout=timeout)
        except (OSError, http.client.HTTPException) as exc:
            raise ImageFetchError(f"{url} could not be read: {exc}") from exc
        finally:
            connection.close()
    raise ImageFetchError(f"{url} redirected too many times.")


def _remaining(url: str, deadline: float, timeout: float) -> float:
    """The timeout for the next socket operation: the read timeout, or less as the deadline nears."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise _deadline_passed(url)
    return min(timeout, left)


def _deadline_passed(url: str) -> ImageFetchError:
    return ImageFetchError(f"{url} took longer than {catalog_setting('IMAGE_URL_DEADLINE')} seconds.")


def _body_read(
    url: str,
    response: http.client.HTTPResponse,
    sock: socket.socket | None,
    *,
    max_bytes: int,
    deadline: float,
    timeout: float,
) -> bytes:
    # Chunk by chunk, each read under what is left of the deadline: a server that drips a byte
    # just inside the read timeout cannot hold a worker for longer than the deadline.
    chunks: list[bytes] = []
    size = 0
    while True:
        left = _remaining(url, deadline, timeout)
        if sock is not None:
            sock.settimeout(left)
        try:
            chunk = response.read1(CHUNK_BYTES)
        except TimeoutError:
            if left < timeout:  # the deadline's share of the timeout ran out, not a read's own
                raise _deadline_passed(url) from None
            raise
        if not chunk:
            return b"".join(chunks)
        size += len(chunk)
        if size > max_bytes:
            raise ImageFetchError(f"{url} is larger than the limit of {max_bytes:,} bytes.")
        chunks.append(chunk)


def _request(
    url: str, timeout: float
) -> tuple[http.client.HTTPResponse, http.client.HTTPConnection, socket.socket | None]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ImageFetchError(f"{url!r} is not an http(s) URL.")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as exc:
        raise ImageFetchError(f"{url!r} has an invalid port.") from exc
    ports = catalog_setting("IMAGE_URL_PORTS")
    if ports and port not in {int(allowed) for allowed in ports}:
        raise ImageFetchError(f"{url} uses port {port}; image URLs may use ports {', '.join(map(str, ports))}.")
    address = _resolve_allowed(parts.hostname, port)
    connection_class = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(parts.hostname, port, timeout=timeout, address=address)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    try:
        connection.request("GET", path, headers={"User-Agent": USER_AGENT, "Accept": "image/*"})
        sock = connection.sock  # getresponse() forgets it when the server will close the connection
        return connection.getresponse(), connection, sock
    except (OSError, http.client.HTTPException) as exc:
        connection.close()
        raise ImageFetchError(f"{url} could not be fetched: {exc}") from exc


def _resolve_allowed(host: str, port: int) -> str:
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ImageFetchError(f"The host {host!r} could not be resolved.") from exc
    addresses = [str(info[4][0]) for info in infos]
    if not catalog_setting("IMAGE_URL_ALLOW_PRIVATE"):
        for address in addresses:
            if not ip_is_public(address):
                # The address stays in the log: read keys see fetch errors, and the addresses
                # behind a name are a map of the private network.
                logger.info("image URL host %r resolves to the non-public address %s", host, address)
                raise ImageFetchError(
                    f"The host {host!r} resolves to a private, loopback or link-local address; "
                    "set SNAPSHELF_IMAGE_URL_ALLOW_PRIVATE to allow it."
                )
    return addresses[0]


def ip_is_public(address: str) -> bool:
    """A global unicast address, and so is any IPv4 address an IPv6 one carries."""
    ip = ipaddress.ip_address(address.split("%")[0])
    if not ip.is_global or ip.is_multicast:
        return False
    if isinstance(ip, ipaddress.IPv4Address):
        return True
    if any(ip in network for network in NOT_GLOBAL):
        return False
    return all(ip_is_public(str(embedded)) for embedded in _embedded_ipv4(ip))


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> list[ipaddress.IPv4Address]:
    """The IPv4 addresses an IPv6 address leads to: mapped and compatible (the last 32 bits),
    NAT64 (the same), 6to4 (bits 16-48) and Teredo (the server and the client)."""
    embedded: list[ipaddress.IPv4Address] = []
    if ip.ipv4_mapped is not None:
        embedded.append(ip.ipv4_mapped)
    if ip in NAT64 or ip in IPV4_COMPATIBLE:
        embedded.append(ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF))
    if ip.sixtofour is not None:
        embedded.append(ip.sixtofour)
    if ip.teredo is not None:
        embedded.extend(ip.teredo)
    return embedded


class _PinnedHTTPConnection(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, *, timeout: float, address: str) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    def __init__(self, host: str, port: int, *, timeout: float, address: str) -> None:
        super().__init__(host, port, timeout=timeout, context=ssl.create_default_context())
        self._address = address

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._context.wrap_socket(sock, server_hostname=self.host)  # type: ignore[attr-defined]
