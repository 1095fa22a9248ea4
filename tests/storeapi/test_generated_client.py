"""An integrator's whole flow through a Python client generated from the schema by
openapi-python-client, against a live server and a real Celery worker (which embeds and fetches).

The client is generated into a temporary folder from what `manage.py spectacular` writes (the same
document as /api/v1/schema/, test_schema.py checks), imported from there, and thrown away."""

from __future__ import annotations

import base64
import importlib
import io
import json
import shutil
import subprocess
import sys
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connection, connections

from search.embedders.registry import embedder_clear_cache
from storeapi.services.api_keys import api_key_create
from tests.celery_workers import celery_workers, wait_until
from tests.sample_images import image_bytes
from tests.search.tiny_clip import tiny_clip_save

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

PACKAGE = "snapshelf_api_client"
RED, BLUE = (220, 20, 20), (20, 20, 220)


@pytest.fixture(scope="module")
def api_client(tmp_path_factory) -> ModuleType:
    """The generated package, imported from a temporary folder."""
    tool = shutil.which("openapi-python-client", path=str(Path(sys.executable).parent)) or shutil.which(
        "openapi-python-client"
    )
    if tool is None:
        pytest.skip("openapi-python-client is not installed (it is in the dev extras: pip install -e '.[dev]')")
    folder = tmp_path_factory.mktemp("generated-client")
    schema = folder / "schema.yaml"
    call_command("spectacular", "--file", str(schema), "--validate", "--fail-on-warn")
    config = folder / "config.json"
    config.write_text(json.dumps({"package_name_override": PACKAGE, "post_hooks": []}))
    command = [tool, "generate", "--path", str(schema), "--config", str(config), "--meta", "none",
               "--output-path", str(folder / PACKAGE)]  # fmt: skip
    generated = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert generated.returncode == 0, generated.stdout + generated.stderr
    # Warnings would mean operations or models the generator could not understand (left out).
    assert "Warning" not in generated.stdout, generated.stdout
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))
        for name in [name for name in sys.modules if name == PACKAGE or name.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def module(name: str) -> Any:
    return importlib.import_module(f"{PACKAGE}.{name}")


@pytest.fixture
def tiny_search(tmp_path, settings):
    """The live server (in this process) and the worker index with a tiny CLIP: seconds, not minutes."""
    models = {
        "tiny": {
            "class": "search.embedders.clip.ClipEmbedder",
            "checkpoint": str(tiny_clip_save(tmp_path / "tiny-clip")),
        }
    }
    settings.SNAPSHELF_EMBEDDING_MODELS = models
    settings.SNAPSHELF_SEARCH_MODEL = "tiny"
    settings.SNAPSHELF_IMAGE_URL_ALLOW_PRIVATE = True  # the image server is on loopback
    settings.SNAPSHELF_IMAGE_URL_PORTS = []  # on a random port
    embedder_clear_cache()
    yield {"SNAPSHELF_EMBEDDING_MODELS": json.dumps(models), "SNAPSHELF_SEARCH_MODEL": "tiny",
           "SNAPSHELF_IMAGE_URL_ALLOW_PRIVATE": "true",
           "SNAPSHELF_IMAGE_URL_PORTS": ""}  # fmt: skip
    embedder_clear_cache()


@pytest.fixture
def start_worker(tmp_path, tiny_search):
    """Started by the test after the bulk upsert, so that it does not compete for the CPU with it."""
    starter = celery_workers(tmp_path, tiny_search)
    yield next(starter)
    next(starter, None)


@pytest.fixture
def request_connections_closed():
    """The live server's request threads close their database connections after each request, as
    with CONN_MAX_AGE=0: kept ones would outlive the threads and block dropping the test database."""
    settings_dict = connections.settings[DEFAULT_DB_ALIAS]
    max_age = settings_dict["CONN_MAX_AGE"]
    settings_dict["CONN_MAX_AGE"] = 0
    yield
    settings_dict["CONN_MAX_AGE"] = max_age


@pytest.fixture
def commits_without_fsync(transactional_db):
    """The live server commits each bulk row for real; waiting for the disk on each would be most of
    this test's time on a busy machine, and the throwaway database needs no durability."""
    name = connection.settings_dict["NAME"]
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')
    yield
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER DATABASE "{name}" RESET synchronous_commit')


def client_for(key: str, live_server: Any) -> Any:
    return module("client").AuthenticatedClient(
        base_url=live_server.url, token=key, raise_on_unexpected_status=True, timeout=300
    )


def call(operation: str, expected: int, **kwargs: Any) -> Any:
    """Run an operation by its module path, check the status, return the parsed body."""
    response = module(f"api.{operation}").sync_detailed(**kwargs)
    assert response.status_code == expected, (operation, response.status_code, response.content[:500])
    return response.parsed


def error_code(response: Any) -> str:
    assert isinstance(response.parsed, module("models").Error), response.content[:300]
    return response.parsed.error.code


def photo(colour: tuple[int, int, int], name: str) -> Any:
    return module("types").File(payload=io.BytesIO(image_bytes(colour)), file_name=name, mime_type="image/png")


def test_an_integrators_whole_flow_through_a_generated_client(
    api_client, commits_without_fsync, request_connections_closed, live_server, start_worker, image_server
):
    models = module("models")
    key = api_key_create(name="ERP sync", kind="write")[1]
    erp = client_for(key, live_server)

    # Products: create, then upsert by SKU; bulk-upsert a thousand.
    red = call("products.products_create", 201, client=erp, body=models.ProductWriteRequest(
        sku="MUG-RED", title="Red mug", price="12.50", currency="EUR", stock=4, category="Home > Mugs",
        attributes=models.ProductWriteRequestAttributes.from_dict({"colour": "red"}),
    ))  # fmt: skip
    assert (red.sku, red.category, red.price) == ("MUG-RED", "Home > Mugs", "12.50")
    upserted = call("products.products_upsert_create", 200, client=erp,
                    body=models.ProductWriteRequest(sku="MUG-RED", title="Red mug", price="11.00"))  # fmt: skip
    assert (upserted.result, upserted.product.price) == (models.ResultEnum.UPDATED, "11.00")
    blue = call("products.products_upsert_create", 201, client=erp,
                body=models.ProductWriteRequest(sku="MUG-BLUE", title="Blue mug", price="9.00")).product  # fmt: skip
    rows = [{"sku": f"BULK-{n:04d}", "title": f"Plate number {n}", "price": "3.00", "category": "Home > Plates"}
            for n in range(1000)]  # fmt: skip
    bulk = call("products.products_bulk_create", 200, client=erp,
                body=models.BulkUpsertRequestRequest(products=rows))  # fmt: skip
    assert (bulk.summary.created, bulk.summary.failed, len(bulk.results)) == (1000, 0, 1000)
    start_worker("integration")  # embeds what the writes queued, and fetches image URLs

    # The catalog page by page with the cursor, then only what changed since.
    seen, cursor, last_seen = [], module("types").UNSET, None
    while True:
        page = call("products.products_list", 200, client=erp, limit=500, cursor=cursor)
        seen += [product.sku for product in page.results]
        last_seen = page.results[-1].updated_at if page.results else last_seen
        if not page.next_:
            break
        cursor = parse_qs(urlsplit(page.next_).query)["cursor"][0]
    assert len(seen) == len(set(seen)) == 1002
    assert isinstance(last_seen, datetime)
    call("products.products_partial_update", 200, client=erp, id=blue.id,
         body=models.PatchedProductWriteRequest(stock=7))  # fmt: skip
    changed = call("products.products_list", 200, client=erp, updated_after=last_seen)
    assert [product.sku for product in changed.results] == ["MUG-BLUE"]

    # Images: a file (multipart), and a URL (JSON) that the worker fetches.
    image = call("products.products_images_create", 201, client=erp, id=red.id,
                 body=models.ImageFileUploadRequest(file=photo(RED, "red.png"), alt_text="Red mug"))  # fmt: skip
    assert image.alt_text == "Red mug" and image.width > 0
    by_url = models.ImageUrlUploadRequest(image_url=image_server.url("blue.png"), alt_text="Blue")
    fetch = call("products.products_images_create", 202, client=erp, id=blue.id, body=by_url)
    fetch_status = models.ImageFetchStatusEnum
    wait_until(
        lambda: call("products.image_fetches_retrieve", 200, client=erp, id=fetch.id).status
        not in (fetch_status.PENDING, fetch_status.FETCHING),
        120, "the worker to fetch the image URL",
    )  # fmt: skip
    assert call("products.image_fetches_retrieve", 200, client=erp, id=fetch.id).status == fetch_status.DONE

    # Wait for the index, as an integrator would: the index status until nothing is pending.
    def index_ready() -> bool:
        status = call("search.index_status_retrieve", 200, client=erp)
        return status.active is not None and status.pending == 0 and _ready(status, "image") == 2

    wait_until(index_ready, 180, "the worker to index the catalog",
               lambda: call("search.index_status_retrieve", 200, client=erp).to_dict())  # fmt: skip
    status = call("search.index_status_retrieve", 200, client=erp)
    assert status.active.name == "tiny" and _ready(status, "product") == 1002

    # Search by text (JSON), by photo as a file (multipart) and as base64 (JSON); similar products.
    found = call("search.search_create", 200, client=erp, body=models.SearchQueryRequest(text="red mug", limit=5))
    assert found.results[0].product.sku == "MUG-RED"
    by_file = call("search.search_create", 200, client=erp, body=models.SearchPhotoUploadRequest(
        image=photo(RED, "query.png"), limit=2, filters=models.SearchFiltersRequest(brand=""),
    ))  # fmt: skip
    assert by_file.results[0].product.sku == "MUG-RED" and by_file.results[0].distance < 0.01
    blue_photo = base64.b64encode(image_bytes(BLUE)).decode()
    by_base64 = call("search.search_create", 200, client=erp,
                     body=models.SearchQueryRequest(image=blue_photo, limit=2))  # fmt: skip
    assert by_base64.results[0].product.sku == "MUG-BLUE" and by_base64.results[0].distance < 0.01
    plates = call("search.search_create", 200, client=erp, body=models.SearchQueryRequest(text="plate", limit=5))
    assert len(plates.results) == 5 and plates.next_cursor
    more = call(
        "search.search_create",
        200,
        client=erp,
        body=models.SearchQueryRequest(text="plate", cursor=plates.next_cursor, limit=5),
    )
    first_skus = {hit.product.sku for hit in plates.results}
    assert more.results and not first_skus & {hit.product.sku for hit in more.results}
    similar = call("search.products_similar_retrieve", 200, client=erp, id=red.id)
    assert "MUG-BLUE" in [hit.product.sku for hit in similar.results]
    assert "MUG-RED" not in [hit.product.sku for hit in similar.results]

    _errors_have_one_shape(live_server, erp, models)
    _public_key_searches_and_nothing_more(live_server, red.id, models)


def _ready(status: Any, kind: str) -> int:
    counts = next(counts for counts in status.models if counts.model.name == "tiny").counts.to_dict()
    return counts.get(kind, {}).get("ready", 0)


def _errors_have_one_shape(live_server: Any, erp: Any, models: Any) -> None:
    products_list, products_create = module("api.products.products_list"), module("api.products.products_create")
    bad_key = products_list.sync_detailed(client=client_for("ss_write_not-a-key", live_server))
    assert (bad_key.status_code, error_code(bad_key)) == (401, "authentication_failed")
    bad_field = products_create.sync_detailed(
        client=erp, body=models.ProductWriteRequest(sku="BAD-1", title="Bad price", price="-1")
    )
    assert (bad_field.status_code, error_code(bad_field)) == (400, "validation_error")
    assert set(bad_field.parsed.error.details) == {"price"}  # details is free-form: a dict here
    throttled_key = api_key_create(name="Slow", kind="read", throttle_rate="3/min")[1]
    slow = client_for(throttled_key, live_server)
    answers = [products_list.sync_detailed(client=slow, limit=1) for _ in range(4)]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert error_code(answers[-1]) == "throttled" and int(answers[-1].headers["Retry-After"]) > 0


def _public_key_searches_and_nothing_more(live_server: Any, product_id: int, models: Any) -> None:
    shop = client_for(api_key_create(name="Shop front", kind="public")[1], live_server)
    found = call("search.search_create", 200, client=shop, body=models.SearchQueryRequest(text="blue mug"))
    assert found.results[0].product.sku == "MUG-BLUE"
    by_photo = call("search.search_create", 200, client=shop, body=models.SearchPhotoUploadRequest(
        image=photo(RED, "query.png"), limit=1,
    ))  # fmt: skip
    assert by_photo.results[0].product.sku == "MUG-RED"
    call("search.products_similar_retrieve", 200, client=shop, id=product_id)
    call("categories.categories_list", 200, client=shop)
    refused = {
        "products.products_list": {},
        "products.products_retrieve": {"id": product_id},
        "products.products_create": {"body": models.ProductWriteRequest(sku="NOPE", title="Not allowed")},
        "products.products_bulk_create": {"body": models.BulkUpsertRequestRequest(products=[{"sku": "N"}])},
        "products.products_images_create": {
            "id": product_id, "body": models.ImageFileUploadRequest(file=photo(RED, "red.png")),
        },
        "products.products_destroy": {"id": product_id},
        "search.index_status_retrieve": {},
    }  # fmt: skip
    for operation, kwargs in refused.items():
        response = module(f"api.{operation}").sync_detailed(client=shop, **kwargs)
        assert (operation, response.status_code) == (operation, 403)
        assert error_code(response) == "permission_denied"
