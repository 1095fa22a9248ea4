import threading
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


def test_loopback_is_refused_by_default(server):
    with pytest.raises(ImageFetchError, match="private, loopback or link-local"):
        image_url_fetch(f"{server}/ok.png")


@pytest.mark.parametrize("address", ["10.1.2.3", "192.168.1.1", "172.16.0.1", "169.254.169.254", "::1",
                                     "fe80::1", "::ffff:127.0.0.1", "0.0.0.0"])  # fmt: skip
def test_private_addresses_are_not_public(address):
    assert not ip_is_public(address)


def test_public_address_is_public():
    assert ip_is_public("93.184.216.34")


def test_fetch_when_private_hosts_are_allowed(server, settings):
    settings.SNAPSHELF_IMAGE_URL_ALLOW_PRIVATE = True
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
