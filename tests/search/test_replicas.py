"""Search on a real streaming replica of the embedded Postgres (search/replicas.py): searches read
from it, a replica that lags beyond the bound is skipped, and searches survive its loss."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator

import pytest
from django.core.cache import cache
from django.db import connection, connections
from django.urls import reverse

from catalog.models import Product
from catalog.services import product_image_add, product_upsert
from search.replicas import STATE_KEY, replica_check, replica_state
from search.services.index_queue import embeddings_process_available
from search.services.model_switch import embedding_model_activate
from tests.celery_workers import wait_until
from tests.replica_server import StreamingReplica
from tests.sample_images import image_bytes

ALIAS = "search_replica_test"
pytestmark = [pytest.mark.django_db(transaction=True, databases=["default", ALIAS]), pytest.mark.slow]
COLOURS = {"red": (210, 30, 30), "green": (30, 180, 40), "blue": (30, 40, 210)}
# What each part of a search sends: a vector leg, the keyword leg, the products shown.
VECTOR_SQL, KEYWORD_SQL, DISPLAY_SQL = "<=>", "to_tsquery", '"catalog_product"."id" IN ('


@pytest.fixture
def shop(tiny_models):
    """A small catalog indexed by the tiny CLIP, committed (the replica sees only commits)."""
    embedding_model_activate("tiny")
    for colour, rgb in COLOURS.items():
        for kind in ("mug", "tee"):
            product, _ = product_upsert(sku=f"R-{kind}-{colour}".upper(), title=f"{colour.title()} {kind}")
            product_image_add(product=product, data=image_bytes(rgb))
    embeddings_process_available(time_budget=300)


def on_replica(sql: str, params: tuple[object, ...] = ()) -> list[tuple[object, ...]]:
    with connections[ALIAS].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


@pytest.fixture(scope="module", autouse=True)
def replica_alias(django_db_setup):
    """ALIAS in DATABASES before each test case checks its ``databases`` (a mirror of the test
    database, so the test case never flushes it); ``replica`` points it at a running replica."""
    default = connections["default"].settings_dict
    connections.settings[ALIAS] = {**default, "TEST": {**default["TEST"], "MIRROR": "default"}}
    connections.settings[ALIAS].update(NOWHERE)
    yield
    del connections.settings[ALIAS]


NOWHERE = {"HOST": "/nonexistent", "PORT": "", "OPTIONS": {"host": "/nonexistent", "connect_timeout": 2}}


@pytest.fixture
def replica(shop, settings):
    """The streaming replica, known to Django as ALIAS and listed in SNAPSHELF_SEARCH_DATABASES."""
    server = StreamingReplica()
    try:
        server.create()
        server.start()
        connections.settings[ALIAS].update(server.connection_settings())
        settings.SNAPSHELF_SEARCH_DATABASES = [ALIAS]
        settings.SNAPSHELF_SEARCH_REPLICA_MAX_LAG_SECONDS = 1.0
        # Kept long, so that each test decides when the state is checked again (cache.delete).
        settings.SNAPSHELF_SEARCH_REPLICA_CHECK_SECONDS = 300
        cache.delete(STATE_KEY.format(alias=ALIAS))
        assert on_replica("SELECT pg_is_in_recovery()") == [(True,)]
        wait_until(lambda: on_replica("SELECT count(*) FROM catalog_product") == [(6,)], 60, "the replica to catch up")
        wait_until(lambda: replica_check(ALIAS)["usable"], 60, "the replica to report no lag")
        yield server
    finally:
        with contextlib.suppress(Exception):  # a stopped replica's connection may fail to close
            connections[ALIAS].close()
        with contextlib.suppress(AttributeError):  # the next test's connection reads its own settings
            del connections[ALIAS]
        connections.settings[ALIAS].update(NOWHERE)
        cache.delete(STATE_KEY.format(alias=ALIAS))
        server.remove()


@contextlib.contextmanager
def statements_run() -> Iterator[tuple[list[str], list[str]]]:
    """The statements each server runs meanwhile (Django's execute wrappers see every cursor's
    SQL, the binary vector cursor's too), as (on the replica, on the primary)."""
    on_replica_sql: list[str] = []
    on_primary_sql: list[str] = []

    def recorder(statements: list[str]):  # type: ignore[no-untyped-def]
        def record(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
            statements.append(str(sql))
            return execute(sql, params, many, context)

        return record

    with (
        connections[ALIAS].execute_wrapper(recorder(on_replica_sql)),
        connection.execute_wrapper(recorder(on_primary_sql)),
    ):
        yield on_replica_sql, on_primary_sql


def search_page(client, words: str):  # type: ignore[no-untyped-def]
    """The storefront's results for ``words``: titles, and the statements each server ran."""
    with statements_run() as (replica_sql, primary_sql):
        response = client.get(reverse("search:results"), {"q": words})
    assert response.status_code == 200, response.content[-2000:]
    return [hit.product.title for hit in response.context["result"].hits], replica_sql, primary_sql


def search_parts(statements: list[str]) -> set[str]:
    parts = {"vector": VECTOR_SQL, "keyword": KEYWORD_SQL, "display": DISPLAY_SQL}
    return {name for name, marker in parts.items() if any(marker in sql for sql in statements)}


def test_searches_read_from_the_replica(client, replica):
    titles, replica_sql, primary_sql = search_page(client, "red mug")
    assert "Red mug" in titles
    # Vector legs, the keyword leg and the products shown all ran on the replica's connection...
    assert search_parts(replica_sql) == {"vector", "keyword", "display"}
    assert search_parts(primary_sql) == set()
    # ...which is a standby in recovery, not the primary under another name.
    assert on_replica("SELECT pg_is_in_recovery()") == [(True,)]
    assert replica_state(ALIAS)["usable"] is True

    # A photo: its token (the shopper's own write) is kept and read on the primary, the search on the replica.
    response = client.post(reverse("search:results"), {"photo": _upload(image_bytes(COLOURS["green"]))})
    assert response.status_code == 303
    with statements_run() as (replica_sql, primary_sql):
        page = client.get(response["Location"])
    assert page.status_code == 200
    assert page.context["result"].hits[0].product.title in ("Green mug", "Green tee")
    assert "vector" in search_parts(replica_sql)
    assert any("search_queryphoto" in sql for sql in primary_sql)
    assert not any("search_queryphoto" in sql for sql in replica_sql)


def test_a_replica_lagging_beyond_the_bound_is_skipped(client, replica):
    on_replica("SELECT pg_wal_replay_pause()")
    product = Product.objects.get(sku="R-MUG-BLUE")
    product.title = "Zanzibar mug"
    product.save()  # committed on the primary; the replica receives it but does not replay it
    wait_until(lambda: on_replica("SELECT pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()")[0][0], 30,
               "the replica to receive the change")  # fmt: skip
    wait_until(lambda: replica_check(ALIAS)["usable"] is False, 30, "the lag to pass the bound")
    assert "behind the primary" in replica_state(ALIAS)["reason"]

    titles, replica_sql, primary_sql = search_page(client, "zanzibar")
    assert "Zanzibar mug" in titles  # from the primary: the replica still has "Blue mug"
    assert search_parts(replica_sql) == set()
    assert search_parts(primary_sql) == {"vector", "keyword", "display"}

    on_replica("SELECT pg_wal_replay_resume()")
    wait_until(lambda: replica_check(ALIAS)["usable"] is True, 30, "the replica to catch up")
    titles, replica_sql, _ = search_page(client, "zanzibar")
    assert "Zanzibar mug" in titles and "vector" in search_parts(replica_sql)


def test_searches_survive_the_replica_being_stopped(client, replica, caplog):
    titles, replica_sql, _ = search_page(client, "green")
    assert titles and "vector" in search_parts(replica_sql)
    assert replica_state(ALIAS)["usable"] is True  # and kept so in the cache: the next search trusts it

    replica.stop("immediate")  # the replica goes away mid-test, as a crashed server does
    with caplog.at_level(logging.WARNING, logger="search.replicas"):
        titles, _, primary_sql = search_page(client, "green")
    assert {"Green mug", "Green tee"} <= set(titles)
    assert search_parts(primary_sql) == {"vector", "keyword", "display"}  # answered by the primary
    assert any("failed during a search" in record.getMessage() for record in caplog.records)
    assert replica_state(ALIAS)["usable"] is False

    # Until it is checked again, searches go straight to the primary; a check finds it unreachable.
    response = client.post(reverse("search:results"), {"photo": _upload(image_bytes(COLOURS["red"]))}, follow=True)
    assert response.status_code == 200 and response.context["result"].hits
    cache.delete(STATE_KEY.format(alias=ALIAS))
    titles, _, primary_sql = search_page(client, "red")
    assert "Red mug" in titles and "vector" in search_parts(primary_sql)
    assert replica_state(ALIAS)["reason"].startswith("unreachable")


def _upload(data: bytes):  # type: ignore[no-untyped-def]
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("photo.png", data, content_type="image/png")
