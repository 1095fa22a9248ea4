"""The storefront in Debian's chromium (Playwright): photo, text, filters, pages, paste, drag, bad files.

Each test seeds the demo catalog and indexes it with the offline preset (real weights, a few
seconds), because ``live_server`` needs committed data and flushes it after every test.
Screenshots go to test-artifacts/ (gitignored; CI keeps them as artifacts).
"""

from __future__ import annotations

import base64
import os
from pathlib import Path

import pytest
from PIL import Image

from catalog.models import Category
from tests.search.search_fixtures import demo_calibrate, demo_index_build, demo_photo, demo_photo_bytes

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip

pytestmark = [pytest.mark.browser, pytest.mark.slow]


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.skip(f"browser tests need Debian's chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API runs an event loop in this thread; Django refuses database access
    # from a thread with a running loop unless told that this is deliberate.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        yield chromium
        chromium.close()
    os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)


@pytest.fixture
def shop(live_server, transactional_db, browser):
    """The live storefront over the indexed demo catalog; yields (base url, a fresh page). Not
    calibrated (a second or more per photo here): no photo search is flagged unless a test calibrates."""
    demo_index_build("offline", calibrate=False)
    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    page.set_default_timeout(30_000)
    yield live_server.url, page
    context.close()


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def result_titles(page) -> list[str]:
    return page.locator(".results .card .title").all_inner_texts()


def photo_file(tmp_path: Path, name: str, image: Image.Image) -> str:
    path = tmp_path / name
    image.save(path, format="PNG")
    return str(path)


def test_photo_search_then_pages_filters_and_crop(shop, tmp_path):
    url, page = shop
    page.goto(url + "/")
    shot(page, "home")
    page.set_input_files("#id_photo", photo_file(tmp_path, "mug.png", demo_photo("DEMO-MUG-RED")))
    page.wait_for_url("**/search/?*token=*")
    assert result_titles(page)[0] == "Red Mug"
    assert page.locator(".results .card img").first.get_attribute("alt") == "Red Mug"
    shot(page, "results")

    first_page = result_titles(page)
    page.click("a[rel=next]")
    page.wait_for_url("**page=2*")
    assert "token=" in page.url and result_titles(page) and not set(result_titles(page)) & set(first_page)

    kitchen = Category.objects.get(name="Kitchen")
    page.select_option("select[name=category]", str(kitchen.pk))
    page.click("text=Apply filters")
    page.wait_for_url(f"**category={kitchen.pk}*")
    titles = result_titles(page)
    assert titles[0] == "Red Mug" and all(t.endswith(("Mug", "Water Bottle")) for t in titles)

    # Keyboard alone: focus the crop box, shrink it; the region is searched again.
    token = page.url.split("token=")[1].split("&")[0]
    page.focus(".crop-box")
    page.keyboard.press("Shift+ArrowLeft")
    page.wait_for_url(lambda new: "token=" in new and token not in new)
    assert "Red Mug" in result_titles(page)[:3]


def test_a_photo_like_nothing_shows_a_notice_above_the_nearest_products(shop, tmp_path):
    import numpy as np

    from search.models import EmbeddingModel

    demo_calibrate(EmbeddingModel.objects.get(status="active"))
    url, page = shop
    page.goto(url + "/")
    noise = Image.fromarray(np.random.default_rng(4).integers(0, 255, (300, 300, 3), dtype=np.uint8))
    page.set_input_files("#id_photo", photo_file(tmp_path, "noise.png", noise))
    page.wait_for_url("**/search/?*token=*")
    assert page.locator("#no-close-match").inner_text().startswith("No exact match. These look closest.")
    assert len(result_titles(page)) == 24  # the nearest products, never an empty page
    shot(page, "no-exact-match")


def test_cropped_and_rotated_copies_find_the_product(shop, tmp_path):
    url, page = shop
    photo = demo_photo("DEMO-BACKPACK-ORANGE")
    copies = {
        "cropped.png": photo.crop((70, 30, 380, 420)),
        "rotated.png": photo.rotate(25, expand=True, fillcolor=(248, 248, 246)),
    }
    for name, image in copies.items():
        page.goto(url + "/")
        page.set_input_files("#id_photo", photo_file(tmp_path, name, image))
        page.wait_for_url("**/search/?*token=*")
        assert "Orange Backpack" in result_titles(page)[:3], name


def test_text_search_product_page_and_small_screen(shop):
    url, page = shop
    page.set_viewport_size({"width": 360, "height": 780})
    page.goto(url + "/")
    page.fill("#id_q", "yellow sneaker")
    page.keyboard.press("Enter")
    page.wait_for_url("**/search/?q=yellow*")
    assert result_titles(page)[0] == "Yellow Sneaker"
    assert page.evaluate("document.documentElement.scrollWidth") <= 360
    page.locator(".results .card a").first.click()
    page.wait_for_selector("#similar-heading")
    assert page.locator(".similar .card").count() == 8
    assert "Yellow Sneaker" not in page.locator(".similar .card .title").all_inner_texts()
    page.set_viewport_size({"width": 1100, "height": 900})
    shot(page, "product")


def _drop_or_paste(page, kind: str, png: bytes) -> None:
    page.evaluate(
        """([kind, b64]) => {
            const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], "photo.png", {type: "image/png"}));
            const event = kind === "paste"
                ? new ClipboardEvent("paste", {clipboardData: transfer, bubbles: true})
                : new DragEvent("drop", {dataTransfer: transfer, bubbles: true, cancelable: true});
            (kind === "paste" ? document : document.querySelector("main")).dispatchEvent(event);
        }""",
        [kind, base64.b64encode(png).decode()],
    )


def test_paste_and_drop_search_with_the_photo(shop):
    url, page = shop
    for kind, sku, title in (("paste", "DEMO-CAP-GREEN", "Green Cap"), ("drop", "DEMO-SOCK-BLUE", "Blue Sock")):
        page.goto(url + "/")
        _drop_or_paste(page, kind, demo_photo_bytes(sku))
        page.wait_for_url("**/search/?*token=*")
        assert result_titles(page)[0] == title, kind


def test_a_file_that_is_not_an_image_gets_a_message(shop, tmp_path):
    url, page = shop
    page.goto(url + "/")
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")
    page.set_input_files("#id_photo", str(notes))
    page.wait_for_selector(".message.error")
    assert "not an image" in page.inner_text(".message.error")
    assert page.locator("#id_q").is_visible()  # the form is there to try again
