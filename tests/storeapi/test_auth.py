"""API keys: hashed, shown once, scoped by kind, throttled per key; staff sessions; CORS."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from catalog.models import Product
from storeapi.models import ApiKey
from storeapi.services.api_keys import api_key_create, api_key_find, api_key_hash, api_key_revoke
from tests.catalog.factories import ProductFactory
from tests.storeapi.conftest import client_with

pytestmark = pytest.mark.django_db

PRODUCTS = "/api/v1/products/"
SEARCH = "/api/v1/search/"


def test_keys_are_stored_hashed_and_recognised_by_prefix():
    api_key, key = api_key_create(name="Shop", kind="public")
    assert key.startswith("ss_pub_") and len(key) > 30
    assert api_key.key_hash == api_key_hash(key) and key not in api_key.key_hash
    assert key.startswith(api_key.prefix) and len(api_key.prefix) < len(key) // 2


def test_without_a_key_nothing_but_the_schema_is_open(client):
    response = client.get(PRODUCTS)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert client.post(SEARCH, {"text": "red"}, content_type="application/json").status_code == 401
    assert client.get("/api/v1/schema/").status_code == 200


def test_unknown_and_revoked_keys_are_refused(write_key):
    response = client_with("ss_write_not-a-real-key").get(PRODUCTS)
    assert response.status_code == 401 and response.json()["error"]["code"] == "authentication_failed"
    ApiKey.objects.update(is_active=False)
    assert client_with(write_key).get(PRODUCTS).status_code == 401


def test_key_in_x_api_key_header(client, read_key):
    assert client.get(PRODUCTS, HTTP_X_API_KEY=read_key).status_code == 200


def test_scopes_public_read_write(public_key, read_key, write_key):
    product = ProductFactory()
    new = {"sku": "NEW-1", "title": "New"}
    public, read, write = client_with(public_key), client_with(read_key), client_with(write_key)
    assert public.get(PRODUCTS).status_code == 403
    assert public.get(PRODUCTS).json()["error"]["code"] == "permission_denied"
    assert public.get("/api/v1/categories/").status_code == 200  # for search filters in the widget
    assert read.get(f"{PRODUCTS}{product.pk}/").status_code == 200
    assert read.post(PRODUCTS, new, format="json").status_code == 403
    assert read.delete(f"{PRODUCTS}{product.pk}/").status_code == 403
    assert write.post(PRODUCTS, new, format="json").status_code == 201
    assert read.get("/api/v1/index/status/").status_code == 200
    assert public.get("/api/v1/index/status/").status_code == 403


def test_anonymous_search_only_when_the_setting_allows(client, settings):
    settings.SNAPSHELF_API_ANONYMOUS_SEARCH = True
    response = client.post(SEARCH, {"text": "red"}, content_type="application/json")
    assert response.status_code != 401 and response.status_code != 403
    assert client.get(PRODUCTS).status_code == 401


def test_staff_sessions_get_the_scopes_of_their_permissions(client):
    from django.contrib.auth.models import Permission

    user = User.objects.create_user("shopper", password="pw-12345-long")
    client.force_login(user)
    assert client.get(PRODUCTS).status_code == 401  # not staff: no session access at all
    user.is_staff = True
    user.save()
    new = {"sku": "STAFF-1", "title": "Made by staff"}
    assert client.get(PRODUCTS).status_code == 403  # staff without "view product"
    assert client.post(SEARCH, {"text": "red"}, content_type="application/json").status_code != 403
    user.user_permissions.add(Permission.objects.get(codename="view_product"))
    user = User.objects.get(pk=user.pk)  # permissions are cached on the instance
    assert client.get(PRODUCTS).status_code == 200
    assert client.post(PRODUCTS, new, content_type="application/json").status_code == 403
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["add_product", "change_product", "delete_product"])
    )
    assert client.post(PRODUCTS, new, content_type="application/json").status_code == 201
    admin = User.objects.create_superuser("owner", password="pw-12345-long")
    client.force_login(admin)
    assert client.delete(f"{PRODUCTS}{Product.objects.get(sku='STAFF-1').pk}/").status_code == 204


def test_throttled_per_key_with_retry_after(settings):
    settings.SNAPSHELF_API_THROTTLE_RATES = {"read": "3/min", "public": "1/min", "write": "1/min", "anonymous": "1/min"}
    _, key = api_key_create(name="Tight", kind="read")
    _, other = api_key_create(name="Other", kind="read")
    client = client_with(key)
    assert [client.get(PRODUCTS).status_code for _ in range(4)] == [200, 200, 200, 429]
    response = client.get(PRODUCTS)
    assert response.json()["error"]["code"] == "throttled"
    assert int(response.headers["Retry-After"]) > 0
    assert client_with(other).get(PRODUCTS).status_code == 200  # its own bucket
    _, custom = api_key_create(name="Generous", kind="read", throttle_rate="10/min")
    assert all(client_with(custom).get(PRODUCTS).status_code == 200 for _ in range(5))


def test_cors_only_for_configured_origins_and_public_key_origins(client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://configured.example"]
    api_key_create(name="Shop", kind="public", allowed_origins=["https://shop.example"])
    preflight = {"HTTP_ACCESS_CONTROL_REQUEST_METHOD": "POST", "HTTP_ACCESS_CONTROL_REQUEST_HEADERS": "x-api-key"}
    for origin, allowed in [
        ("https://configured.example", True),
        ("https://shop.example", True),
        ("https://evil.example", False),
    ]:
        response = client.options(SEARCH, HTTP_ORIGIN=origin, **preflight)
        assert (response.headers.get("Access-Control-Allow-Origin") == origin) is allowed, origin
    # Not under /api/: no CORS at all.
    assert "Access-Control-Allow-Origin" not in client.options("/", HTTP_ORIGIN="https://shop.example", **preflight)


def test_public_key_refused_from_an_origin_not_in_its_list(settings):
    settings.SNAPSHELF_API_ANONYMOUS_SEARCH = False
    _, key = api_key_create(name="Shop", kind="public", allowed_origins=["https://shop.example"])
    client = client_with(key)
    refused = client.post(SEARCH, {"text": "x"}, format="json", HTTP_ORIGIN="https://evil.example")
    assert refused.status_code == 403
    assert client.post(SEARCH, {"text": "x"}, format="json", HTTP_ORIGIN="https://shop.example").status_code not in (
        401,
        403,
    )


def test_admin_creates_a_key_and_shows_it_once(admin_client):
    response = admin_client.post(
        reverse("admin:storeapi_apikey_add"),
        {"name": "Shop front", "kind": "public", "allowed_origins": "https://shop.example/", "throttle_rate": "",
         "is_active": "on"},
    )  # fmt: skip
    assert response.status_code == 200
    page = response.content.decode()
    api_key = ApiKey.objects.get(name="Shop front")
    assert api_key.allowed_origins == ["https://shop.example"]
    key = page.split('id="new-api-key" type="text" readonly value="')[1].split('"')[0]
    assert api_key.key_hash == api_key_hash(key)
    change_page = admin_client.get(reverse("admin:storeapi_apikey_change", args=[api_key.pk])).content.decode()
    assert key not in change_page and api_key.prefix in change_page
    assert client_with(key).post(SEARCH, {"text": "x"}, format="json").status_code not in (401, 403)


def test_revoking_a_key_in_the_admin_takes_effect_at_once(admin_client):
    api_key, key = api_key_create(name="Shop front", kind="read")
    client = client_with(key)
    assert client.get(PRODUCTS).status_code == 200
    change = reverse("admin:storeapi_apikey_change", args=[api_key.pk])
    form = {"name": "Shop front", "allowed_origins": "", "throttle_rate": ""}  # "active" unticked
    assert admin_client.post(change, form).status_code == 302
    assert client.get(PRODUCTS).status_code == 401


def test_a_key_revoked_without_a_save_is_refused_at_its_next_request():
    api_key, key = api_key_create(name="Shop front", kind="read")
    client = client_with(key)
    assert client.get(PRODUCTS).status_code == 200
    ApiKey.objects.filter(pk=api_key.pk).update(is_active=False)  # as another process or raw SQL would
    with CaptureQueriesContext(connection) as queries:
        assert client.get(PRODUCTS).status_code == 401
    assert len([q for q in queries.captured_queries if "storeapi_apikey" in q["sql"]]) == 1


def test_a_revocation_between_a_lookup_and_its_last_used_write_refuses_the_request():
    # The race: a request reads the active key, the key is revoked, then the request records the
    # key's use. The write is only for an active row, so the request learns of the revocation.
    from storeapi.services.api_keys import _api_key_touch

    api_key, key = api_key_create(name="Shop front", kind="read")
    in_flight = ApiKey.objects.get(pk=api_key.pk)  # what the request read: active, never used
    api_key_revoke(api_key=api_key)
    assert _api_key_touch(in_flight) is False
    assert ApiKey.objects.get(pk=api_key.pk).last_used_at is None
    assert api_key_find(key) is None
