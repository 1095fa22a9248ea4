"""The widget on a plain page from another origin: search by text and by photo, in Chromium."""

from __future__ import annotations

import functools
import http.server
import shutil
import threading

import pytest

from catalog.models import Product
from storeapi.services.api_keys import api_key_create
from tests.search.search_fixtures import catalog_delete, demo_index_build, demo_photo_bytes

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

STORE_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Plain store</title></head>
<body><h1>A plain store page</h1><div id="search-here"></div>
<script src="{api}/static/search/widget.js" data-api="{api}/api/v1/" data-key="{key}"
        data-target="#search-here" data-limit="6" defer></script>
</body></html>"""


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def store_site(tmp_path):
    """A second loopback server: the store, on another origin than the API."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(QuietHandler, directory=tmp_path))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def indexed_catalog(transactional_db):
    demo_index_build()
    Product.objects.filter(sku="DEMO-MUG-RED").update(url="https://store.example/products/red-mug")
    yield
    catalog_delete()


def test_widget_searches_by_text_and_by_photo_from_another_origin(
    indexed_catalog, live_server, store_site, settings, tmp_path
):
    if not shutil.which(CHROMIUM):
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import expect, sync_playwright

    folder, store_origin = store_site
    settings.ALLOWED_HOSTS = ["*"]
    # The public key names the store's origin: CORS lets the store's pages use it, and only them.
    _, key = api_key_create(name="Plain store", kind="public", allowed_origins=[store_origin])
    (folder / "index.html").write_text(STORE_PAGE.format(api=live_server.url, key=key))
    photo = tmp_path / "query.png"
    photo.write_bytes(demo_photo_bytes("DEMO-CAP-BLUE"))
    red_mug = Product.objects.get(sku="DEMO-MUG-RED")
    blue_cap = Product.objects.get(sku="DEMO-CAP-BLUE")
    red_mug_alt = red_mug.images.first().alt_text or red_mug.title
    # No ORM below: Playwright's sync API runs an event loop in this thread.

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{store_origin}/index.html")

        search_box = page.get_by_role("searchbox", name="Search products")
        search_box.fill("red mug")
        search_box.press("Enter")
        dialog = page.get_by_role("dialog", name="Search results")
        expect(dialog).to_be_visible()
        first = dialog.locator(".snapshelf-results li").first
        expect(first).to_contain_text(red_mug.title)
        expect(first.locator("a")).to_have_attribute("href", "https://store.example/products/red-mug")
        expect(first.locator("img")).to_have_attribute("alt", red_mug_alt)
        expect(dialog.get_by_role("status")).to_contain_text("products")

        page.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        expect(search_box).to_be_focused()

        search_box.fill("")
        page.locator("input[type=file]").set_input_files(str(photo))
        expect(dialog).to_be_visible()
        expect(dialog.locator(".snapshelf-results li").first).to_contain_text(blue_cap.title)
        dialog.get_by_role("button", name="Close results").click()
        expect(dialog).to_be_hidden()
        browser.close()
    assert errors == []
