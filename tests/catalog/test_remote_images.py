import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from catalog.remote_images import ImageFetchError, image_url_fetch, ip_is_public
from tests.sample_images import image_bytes

PNG = image_bytes()


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):
        routes = {
            "/ok.png": (200, "image/png", PNG),
            "/page.html": (200, "text/html", b"<html></html>"),
            "/big.png": (200, "image/png", PNG * 50),
            "/missing.png": (404, "text/plain", b"no"),
        }
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/ok.png")
            self.end_headers()
            return
        status, content_type, body = routes[self.path]
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_loopback_is_refused_by_default(server, settings):
    settings.SNAPSHELF_IMAGE_URL_PORTS = []
    with pytest.raises(ImageFetchError, match="private, loopback or link-local"):
        image_url_fetch(f"{server}/ok.png")


def test_refusal_does_not_name_the_private_address(settings):
    # Read keys see fetch errors: the addresses behind a name would map the private network.
    with pytest.raises(ImageFetchError, match="private, loopback or link-local") as refused:
        image_url_fetch("http://localhost/x.png")
    assert "127.0.0.1" not in str(refused.value) and "::1" not in str(refused.value)


@pytest.mark.parametrize("url", ["http://example.com:8080/x.png", "https://example.com:22/x.png", "http://[::1]:6379/"])
def test_only_ports_80_and_443_by_default(url):
    with pytest.raises(ImageFetchError, match="ports 80, 443"):
        image_url_fetch(url)


class DripHandler(BaseHTTPRequestHandler):
    """Sends an image's headers, then one byte every 0.2 s: each read is well inside any timeout."""

    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "image/png")
        self.send_header("Content-Length", "50")
        self.end_headers()
        for _ in range(50):
            self.wfile.write(b"x")
            self.wfile.flush()
            time.sleep(0.2)

    def log_message(self, *args):
        pass


def test_a_dripped_body_is_cut_at_the_deadline(settings):
    settings.SNAPSHELF_IMAGE_URL_ALLOW_PRIVATE = True
    settings.SNAPSHELF_IMAGE_URL_PORTS = []
    settings.SNAPSHELF_IMAGE_URL_DEADLINE = 1.0
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), DripHandler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    started = time.monotonic()
    try:
        with pytest.raises(ImageFetchError, match=r"longer than 1\.0 seconds"):
            image_url_fetch(f"http://127.0.0.1:{httpd.server_address[1]}/slow.png", timeout=5)
    finally:
        httpd.shutdown()
    assert time.monotonic() - started < 3  # not the 10 s the server would take


@pytest.mark.parametrize("address", ["10.1.2.3", "192.168.1.1", "172.16.0.1", "169.254.169.254", "::1",
                                     "fe80::1", "::ffff:127.0.0.1", "0.0.0.0"])  # fmt: skip
def test_private_addresses_are_not_public(address):
    assert not ip_is_public(address)


# IPv6 forms that lead to a private IPv4 address, and the deprecated site-local range.
@pytest.mark.parametrize("address", [
    "::7f00:1",  # IPv4-compatible 127.0.0.1
    "::a9fe:a9fe",  # IPv4-compatible 169.254.169.254 (cloud metadata)
    "64:ff9b::a00:1",  # NAT64 10.0.0.1
    "64:ff9b::a9fe:a9fe",  # NAT64 169.254.169.254
    "64:ff9b:1::a00:1",  # local-use NAT64
    "2002:a00:1::1",  # 6to4 10.0.0.1
    "2002:7f00:1::",  # 6to4 127.0.0.1
    "2001:0:4136:e378:8000:63bf:f5ff:fffe",  # Teredo, client 10.0.0.1
    "fec0::1",  # site-local
])  # fmt: skip
def test_ipv6_forms_of_private_ipv4_addresses_are_not_public(address):
    assert not ip_is_public(address)


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700:4700::1111", "64:ff9b::808:808", "2002:808:808::1"])
def test_public_address_is_public(address):
    assert ip_is_public(address)


def test_fetch_when_private_hosts_are_allowed(server, settings):
    settings.SNAPSHELF_IMAGE_URL_ALLOW_PRIVATE = True
    settings.SNAPSHELF_IMAGE_URL_PORTS = []  # the test server listens on a random port
    assert image_url_fetch(f"{server}/ok.png") == PNG
    assert image_url_fetch(f"{server}/redirect") == PNG
    with pytest.raises(ImageFetchError, match="not an image"):
        image_url_fetch(f"{server}/page.html")
    with pytest.raises(ImageFetchError, match="HTTP 404"):
        image_url_fetch(f"{server}/missing.png")
    with pytest.raises(ImageFetchError, match="limit"):
        image_url_fetch(f"{server}/big.png", max_bytes=len(PNG) * 2)


def test_only_http_urls():
    with pytest.raises(ImageFetchError, match="not an http"):
        image_url_fetch("file:///etc/passwd")
