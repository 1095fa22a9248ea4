"""The OpenAPI schema is valid, the docs page works offline, and fuzzing the API finds no 500
and no response that breaks the schema (schemathesis, with a read/write key).

``make test`` runs a few generated cases per operation. The long run (docs/security.md) sets
SNAPSHELF_FUZZ_EXAMPLES (cases per operation) and SNAPSHELF_FUZZ_REPORT (a JSON file: cases and
statuses per operation):

    SNAPSHELF_FUZZ_EXAMPLES=500 SNAPSHELF_FUZZ_REPORT=/tmp/fuzz.json \
        .venv/bin/python -m pytest tests/storeapi/test_schema.py -k fuzz -q
"""

from __future__ import annotations

import collections
import json
import os

import pytest
import schemathesis
import yaml
from django.core.management import call_command
from django.core.signals import request_finished, request_started
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from openapi_spec_validator import validate
from schemathesis.specs.openapi.checks import ignored_auth, positive_data_acceptance

pytestmark = pytest.mark.django_db

SCHEMA_URL = "/api/v1/schema/?format=json"


def test_schema_is_valid_openapi_3(client):
    response = client.get(SCHEMA_URL)
    assert response.status_code == 200
    schema = response.json()
    validate(schema)
    assert schema["openapi"].startswith("3.")
    assert {"/api/v1/products/", "/api/v1/products/bulk/", "/api/v1/search/", "/api/v1/products/{id}/similar/",
            "/api/v1/index/status/", "/api/v1/webhooks/shopify/", "/api/v1/webhooks/woocommerce/",
            "/api/v1/categories/", "/api/v1/products/{id}/images/"} <= set(schema["paths"])  # fmt: skip
    assert schema["components"]["securitySchemes"]["apiKey"] == {
        "type": "http", "scheme": "bearer", "description": "An API key (or send it as X-Api-Key).",
    }  # fmt: skip
    error = schema["paths"]["/api/v1/products/"]["get"]["responses"]["400"]
    assert error["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}


def test_served_schema_and_the_spectacular_command_give_one_document(client, tmp_path):
    """CI pipelines and client generators run `manage.py spectacular`; it must write what is served."""
    served = yaml.safe_load(client.get("/api/v1/schema/").content)
    path = tmp_path / "schema.yaml"
    call_command("spectacular", "--file", str(path), "--validate", "--fail-on-warn")
    written = yaml.safe_load(path.read_text())
    assert written == served
    validate(written)
    assert written["info"]["title"] == "Snapshelf API" and written["info"]["version"] != "0.0.0"


def test_each_request_body_means_one_thing(client):
    """Files go as multipart, JSON carries a URL or base64: a generator can tell which to send."""
    schema = client.get(SCHEMA_URL).json()
    components = schema["components"]["schemas"]

    def bodies(path: str) -> dict[str, dict]:
        content = schema["paths"][path]["post"]["requestBody"]["content"]
        return {kind: components[body["schema"]["$ref"].rsplit("/", 1)[1]] for kind, body in content.items()}

    image = bodies("/api/v1/products/{id}/images/")
    assert image["multipart/form-data"]["required"] == ["file"]
    assert image["multipart/form-data"]["properties"]["file"]["format"] == "binary"
    assert "image_url" not in image["multipart/form-data"]["properties"]
    assert image["application/json"]["required"] == ["image_url"]
    assert "file" not in image["application/json"]["properties"]
    search = bodies("/api/v1/search/")
    assert search["multipart/form-data"]["properties"]["image"]["format"] == "binary"
    assert search["application/json"]["properties"]["image"] == {
        "type": "string", "description": "The photo as base64, or as a data: URL.",
    }  # fmt: skip
    # No JSON body anywhere carries a binary field.
    for operations in schema["paths"].values():
        for operation in operations.values():
            body = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if body and "$ref" in body["schema"]:
                properties = components[body["schema"]["$ref"].rsplit("/", 1)[1]].get("properties", {})
                assert all(field.get("format") != "binary" for field in properties.values())


def test_a_project_without_storeapis_schema_settings_is_warned(settings):
    from storeapi.checks import spectacular_settings_merged

    assert spectacular_settings_merged(None) == []
    settings.SPECTACULAR_SETTINGS = {"SWAGGER_UI_DIST": "SIDECAR"}
    (warning,) = spectacular_settings_merged(None)
    assert warning.id == "storeapi.W001" and "COMPONENT_SPLIT_REQUEST" in warning.msg


def test_docs_page_uses_local_assets(client):
    page = client.get("/api/v1/docs/").content.decode()
    assert "swagger-ui-bundle.js" in page and "/static/drf_spectacular_sidecar/" in page
    assert "cdn" not in page.lower()
    asset = page.split('src="')[1].split('"')[0]
    assert client.get(asset).status_code == 200


def _api_schema() -> schemathesis.BaseSchema:
    from config.wsgi import application

    # Loaded at collection: schemathesis' lazy fixture loader does not support pytest 9 yet.
    return schemathesis.openapi.from_wsgi(SCHEMA_URL, application)


fuzzed = _api_schema()


@pytest.fixture
def wsgi_keeps_the_test_connection():
    # As Django's test client does: the WSGI handler would close the test transaction's connection.
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


FUZZ_EXAMPLES = int(os.environ.get("SNAPSHELF_FUZZ_EXAMPLES", "12"))
# Cases and answers per operation, for the long run's report.
FUZZ_STATUSES: dict[str, collections.Counter[int]] = collections.defaultdict(collections.Counter)


@pytest.fixture(scope="module", autouse=True)
def fuzz_report():
    yield
    report = os.environ.get("SNAPSHELF_FUZZ_REPORT")
    if report and FUZZ_STATUSES:
        statuses = {operation: dict(sorted(counts.items())) for operation, counts in sorted(FUZZ_STATUSES.items())}
        total = sum(sum(counts.values()) for counts in FUZZ_STATUSES.values())
        with open(report, "w") as handle:
            json.dump({"cases": total, "operations": len(statuses), "statuses": statuses}, handle, indent=1)


@pytest.fixture
def unthrottled(settings):
    # Hundreds of cases a minute on one key: the fuzzing is about answers, not rates.
    rates = {"public": "1000000/min", "read": "1000000/min", "write": "1000000/min", "anonymous": "1000000/min"}
    settings.SNAPSHELF_API_THROTTLE_RATES = {**rates, "public_ceiling": "1000000/min"}


@fuzzed.parametrize()
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
def test_fuzz_the_api(case, write_key, wsgi_keeps_the_test_connection, unthrottled):
    """Each operation, with generated valid and invalid input: no 500, every answer as documented."""
    response = case.call(headers={"Authorization": f"Bearer {write_key}"})
    FUZZ_STATUSES[f"{case.operation.method.upper()} {case.operation.path}"][response.status_code] += 1
    # Left out: positive_data_acceptance expects every schema-valid request to succeed, but an
    # unknown category id, a taken SKU or a forged cursor is schema-valid and rightly refused; and
    # ignored_auth cannot tell the valid key sent here from generated credentials (test_auth.py
    # covers refusals of missing, unknown and revoked keys).
    case.validate_response(response, excluded_checks=[positive_data_acceptance, ignored_auth])
