"""API tests: keys of each kind and a DRF client that sends one."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from rest_framework.test import APIClient

from storeapi.services.api_keys import api_key_create


@pytest.fixture(autouse=True)
def throttle_counts_clear():
    # Throttle buckets live in Redis, which outlives each test's database transaction.
    cache.clear()
    yield


def client_with(key: str | None) -> APIClient:
    client = APIClient()
    if key:
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
    return client


@pytest.fixture
def write_key(db) -> str:
    return api_key_create(name="ERP sync", kind="write")[1]


@pytest.fixture
def read_key(db) -> str:
    return api_key_create(name="Reporting", kind="read")[1]


@pytest.fixture
def public_key(db) -> str:
    return api_key_create(name="Shop front", kind="public")[1]


@pytest.fixture
def api(write_key) -> APIClient:
    """A client with a read/write key."""
    return client_with(write_key)


class ImageServer:
    """A loopback HTTP server with a few images (the SSRF guard must be relaxed to reach it)."""

    def __init__(self, port: int) -> None:
        self.port = port

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.port}/{name}"


@pytest.fixture
def image_server(tmp_path):
    import functools
    import http.server
    import threading

    from tests.sample_images import image_bytes

    (tmp_path / "red.png").write_bytes(image_bytes((220, 20, 20)))
    (tmp_path / "blue.png").write_bytes(image_bytes((20, 20, 220)))
    (tmp_path / "green.jpg").write_bytes(image_bytes((20, 200, 20), fmt="JPEG"))

    class QuietHandler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

    handler = functools.partial(QuietHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield ImageServer(server.server_address[1])
    server.shutdown()
    server.server_close()
