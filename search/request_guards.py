"""What a view may know about a request before reading its body: who sent it, and how big it is.

``client_ip`` is the one answer to "which address is this client" for the storefront's limits and
the API's throttles. ``X-Forwarded-For`` is written by whoever sends the request, so it counts
only as far as the project says proxies of its own append to it: with
``SNAPSHELF_TRUSTED_PROXY_COUNT`` = n, the n-th address from the right is the client (each
trusted proxy appends the address it received the request from); with 0 (the default) the
header is ignored and ``REMOTE_ADDR`` is the client.
"""

from __future__ import annotations

import ipaddress

from django.http import HttpRequest

from search.conf import search_setting


def client_ip(request: HttpRequest) -> str:
    """The client's address, as far as the trusted proxies vouch for it."""
    remote = request.META.get("REMOTE_ADDR", "") or ""
    count = int(search_setting("TRUSTED_PROXY_COUNT") or 0)
    if count <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < count:
        return remote  # fewer hops than proxies: the request did not come through all of them
    candidate = forwarded[-count]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


def content_length(request: HttpRequest) -> int:
    """The body's declared size (0 when missing or malformed: Django then reads no body)."""
    try:
        return max(int(request.META.get("CONTENT_LENGTH") or 0), 0)
    except ValueError:
        return 0
