"""`manage.py api_key`: keys made, listed and revoked without the admin, and the key works at once."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from storeapi.models import ApiKey
from storeapi.services.api_keys import api_key_hash
from tests.storeapi.conftest import client_with

pytestmark = pytest.mark.django_db


def api_key(*args: str) -> tuple[str, str]:
    out, err = StringIO(), StringIO()
    call_command("api_key", *args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def test_create_prints_the_key_once_and_stores_only_its_hash():
    out, err = api_key("create", "--kind", "write", "--name", "ERP sync")
    key = out.strip()
    assert key.startswith("ss_write_") and "\n" not in key
    stored = ApiKey.objects.get()
    assert (stored.name, stored.kind, stored.key_hash) == ("ERP sync", "write", api_key_hash(key))
    assert key not in err and f"Created API key {stored.pk}" in err
    response = client_with(key).post(
        "/api/v1/products/", {"sku": "CLI-1", "title": "Made by a key from the CLI"}, format="json"
    )
    assert response.status_code == 201


def test_public_key_with_origins():
    out, _ = api_key(
        "create", "--kind", "public", "--name", "Shop", "--origin", "https://shop.example/",
        "--origin", "http://localhost:8000", "--throttle-rate", "60/min",
    )  # fmt: skip
    stored = ApiKey.objects.get()
    assert out.startswith("ss_pub_")
    assert stored.allowed_origins == ["https://shop.example", "http://localhost:8000"]
    assert stored.throttle_rate == "60/min"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--kind", "admin", "--name", "x"], "invalid choice"),
        (["--kind", "write", "--name", "x", "--origin", "https://a.example"], "Only public keys"),
        (["--kind", "public", "--name", "x", "--origin", "not an origin"], "allowed_origins"),
        (["--kind", "read", "--name", "x", "--throttle-rate", "fast"], "throttle_rate: Use a rate"),
        (["--kind", "read", "--name", ""], "name: This field cannot be blank."),
    ],
)
def test_create_refuses_bad_input_and_stores_nothing(args, message):
    with pytest.raises(CommandError, match=message):
        api_key("create", *args)
    assert not ApiKey.objects.exists()


def test_list_shows_keys_but_never_the_secret():
    write = api_key("create", "--kind", "write", "--name", "ERP sync")[0].strip()
    api_key("create", "--kind", "public", "--name", "Shop", "--origin", "https://shop.example")
    out, _ = api_key("list")
    lines = out.splitlines()
    assert len(lines) == 2 and write not in out
    erp = ApiKey.objects.order_by("id").first()
    assert erp is not None
    assert lines[0].split("\t")[:5] == [str(erp.pk), f"{erp.prefix}…", "write", "active", "ERP sync"]
    assert "origins=https://shop.example" in lines[1] and "last_used=never" in lines[1]


def test_revoke_by_id_or_prefix_refuses_the_key_at_once():
    key = api_key("create", "--kind", "write", "--name", "ERP sync")[0].strip()
    client = client_with(key)
    assert client.get("/api/v1/products/").status_code == 200
    stored = ApiKey.objects.get()
    out, _ = api_key("revoke", f"{stored.prefix}…")
    assert f"Revoked API key {stored.pk}" in out
    assert client.get("/api/v1/products/").status_code == 401
    assert api_key("revoke", str(stored.pk))[0].startswith(f"API key {stored.pk} was already revoked")
    assert api_key("list")[0] == ""
    assert "\trevoked\t" in api_key("list", "--all")[0]


def test_revoke_an_unknown_key():
    with pytest.raises(CommandError, match="No key matches '999'"):
        api_key("revoke", "999")
