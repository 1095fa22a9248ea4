"""Fetching product images from URLs without becoming a proxy into the private network.

The host name is resolved once, every address is checked, and the connection goes to the
checked address (so a second DNS answer cannot swap in a private one). Redirects are
followed by hand, each hop checked the same way. Size, time and content type are capped.
"""

from __future__ import annotations

import http.client
import ipaddress
import socket
import ssl
from urllib.parse import urljoin, urlsplit

from catalog.conf import catalog_setting

USER_AGENT = "Snapshelf image fetcher"


class ImageFetchError(ValueError):
    """The URL could not be fetched as an image; the message says why."""


def image_url_fetch(url: str, *, max_bytes: int | None = None, timeout: float | None = None) -> bytes:
    """Return the bytes behind ``url`` or raise ImageFetchError."""
    max_bytes = max_bytes or catalog_setting("IMAGE_MAX_BYTES")
    timeout = timeout or catalog_setting("IMAGE_URL_TIMEOUT")
    for _hop in range(catalog_setting("IMAGE_URL_MAX_REDIRECTS") + 1):
        response, connection = _request(url, timeout)
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
            data = response.read(max_bytes + 1)
            if len(data) > max_bytes:
                raise ImageFetchError(f"{url} is larger than the limit of {max_bytes:,} bytes.")
            return data
        except (OSError, http.client.HTTPException) as exc:
            raise ImageFetchError(f"{url} could not be read: {exc}") from exc
        finally:
            connection.close()
    raise ImageFetchError(f"{url} redirected too many times.")


def _request(url: str, timeout: float) -> tuple[http.client.HTTPResponse, http.client.HTTPConnection]:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ImageFetchError(f"{url!r} is not an http(s) URL.")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    address = _resolve_allowed(parts.hostname, port)
    connection_class = _PinnedHTTPSConnection if parts.scheme == "https" else _PinnedHTTPConnection
    connection = connection_class(parts.hostname, port, timeout=timeout, address=address)
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    try:
        connection.request("GET", path, headers={"User-Agent": USER_AGENT, "Accept": "image/*"})
        return connection.getresponse(), connection
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
                raise ImageFetchError(
                    f"The host {host!r} resolves to a private, loopback or link-local address ({address}); "
                    "set SNAPSHELF_IMAGE_URL_ALLOW_PRIVATE to allow it."
                )
    return addresses[0]


def ip_is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


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
