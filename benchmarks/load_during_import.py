"""Shoppers during a catalog import: the same closed-loop load while idle and while
``import_catalog`` writes, compared side by side.

    python -m benchmarks.load_during_import [--clients 64] [--seconds 30] [--rows 3000]

1. Embedded Postgres and Redis in ``--data-dir`` (default ``.data-bench-import``), migrated, with
   the demo catalog indexed inline by the offline preset (kept between runs), collected static files
   and a read key.
2. gunicorn with ``config.settings.production`` (``--workers``, default 4; plain HTTP on loopback).
3. ``--clients`` closed-loop clients for ``--seconds`` while nothing else runs ("idle"), then for as
   long again while ``import_catalog`` upserts ``--rows`` generated products with a category path
   and attributes each ("import"; the import is started afresh with new SKUs every run and
   stopped when the clients stop). Each client picks, in turn: words on the storefront, a product
   page, the API's text search, the API's product list.
4. Prints requests/s and p50/p95/p99 per phase and kind, the p95 ratio import/idle, the import's
   rows per second, and every error with its count; exits 1 on any error or 5xx.

Figures and the machine they were taken on: docs/performance.md.
"""

from __future__ import annotations

import argparse
import csv
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
GLIBC_TUNABLES = "glibc.malloc.mmap_threshold=2147483647:glibc.malloc.trim_threshold=4294967295"
MAX_CLIENTS = 256
QUERIES = ["red mug", "blue", "sneaker", "green cap", "tee", "lamp", "wool", "bag"]
PREPARE = """
from storeapi.services.api_keys import api_key_create
from catalog.models import Product
_, key = api_key_create(name="benchmarks.load_during_import", kind="read", throttle_rate="1000000/min")
print(key, ",".join(str(pk) for pk in Product.objects.filter(is_active=True).values_list("pk", flat=True)[:50]))
"""


def manage(env: dict[str, str], *args: str, capture: bool = False) -> str:
    result = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True,
                            capture_output=capture, text=True)  # fmt: skip
    return result.stdout if capture else ""


def prepare(data_dir: Path) -> tuple[dict[str, str], str, list[str]]:
    """Servers, schema, the indexed demo catalog and a key; the environment for the children."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.local", "SNAPSHELF_DATA_DIR": str(data_dir),
           "GLIBC_TUNABLES": GLIBC_TUNABLES, "SNAPSHELF_SEARCH_MODEL": "offline"}  # fmt: skip
    for name in ("DATABASE_URL", "REDIS_URL"):
        env.pop(name, None)
    os.environ.update({key: env[key] for key in ("SNAPSHELF_DATA_DIR", "DJANGO_SETTINGS_MODULE")})
    import django

    django.setup()
    from django.conf import settings

    env.update(DATABASE_URL=settings.DATABASE_URL, REDIS_URL=settings.REDIS_URL)
    manage(env, "migrate", "--verbosity", "0")
    manage(env, "seed_demo_catalog", "--if-empty")
    # Builds the offline preset's vectors inline, again only when its weights or features changed.
    manage(env, "search_model", "activate", "offline", "--inline")
    key, pks = manage(env, "shell", "-c", PREPARE, capture=True).strip().splitlines()[-1].split()
    return env, key, pks.split(",")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def web_server(env: dict[str, str], workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    server_env = {**env, "DJANGO_SETTINGS_MODULE": "config.settings.production", "WEB_CONCURRENCY": str(workers),
                  "DJANGO_SECRET_KEY": secrets.token_urlsafe(50), "DJANGO_SECURE_SSL_REDIRECT": "false",
                  "DJANGO_SECURE_COOKIES": "false", "DJANGO_SECURE_HSTS_SECONDS": "0"}  # fmt: skip
    # The production settings serve static files from collectstatic's manifest (WhiteNoise).
    manage(server_env, "collectstatic", "--noinput", "--verbosity", "0")
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "--workers", str(workers), "--bind", f"127.0.0.1:{port}",
         "--timeout", "120", "--log-level", "warning"],
        cwd=ROOT, env=server_env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and server.poll() is None:
        try:
            # One text search per worker (round robin is not promised; a few more do no harm) loads its model.
            if all(requests.get(f"{base}/search/?q=mug", timeout=300).ok for _ in range(workers * 2)):
                return server, base
        except requests.RequestException:
            time.sleep(1)
    server.kill()
    raise SystemExit("the web server did not answer within 10 minutes")


class Clients:
    def __init__(self, base: str, key: str, pks: list[str]) -> None:
        self.base, self.key, self.pks = base, key, pks
        self.phase = ""
        self.stop = threading.Event()
        self.latencies: dict[tuple[str, str], list[float]] = defaultdict(list)
        self.errors: Counter[tuple[str, str, str]] = Counter()

    def run(self, number: int) -> None:
        session = requests.Session()
        turn = number
        while not self.stop.is_set():
            turn += 1
            kind = ("words", "product page", "api search", "api list")[turn % 4]
            phase, started = self.phase, time.perf_counter()
            try:
                response = self._send(session, kind, turn)
            except requests.RequestException as exc:
                self.errors[(phase, kind, type(exc).__name__)] += 1
                continue
            if response.status_code >= 400:
                self.errors[(phase, kind, str(response.status_code))] += 1
            elif phase:
                self.latencies[(phase, kind)].append((time.perf_counter() - started) * 1000)

    def _send(self, session: requests.Session, kind: str, turn: int) -> requests.Response:
        query = QUERIES[turn % len(QUERIES)]
        headers = {"Authorization": f"Bearer {self.key}"}
        if kind == "words":
            return session.get(f"{self.base}/search/", params={"q": query}, timeout=120)
        if kind == "product page":
            return session.get(f"{self.base}/products/{self.pks[turn % len(self.pks)]}/", timeout=120)
        if kind == "api search":
            body = {"text": query, "limit": 12}
            return session.post(f"{self.base}/api/v1/search/", json=body, headers=headers, timeout=120)
        return session.get(f"{self.base}/api/v1/products/?limit=20", headers=headers, timeout=120)


def import_file(folder: Path, rows: int) -> Path:
    run = secrets.token_hex(3)
    path = folder / f"import-{run}.csv"
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=["sku", "title", "category", "price", "stock", "attributes"])
        writer.writeheader()
        for n in range(rows):
            writer.writerow({"sku": f"IMP-{run}-{n:06d}", "title": f"Imported item {n} in wool and cotton",
                             "category": f"Imported > Group {n % 11} > Shelf {n % 5}", "price": f"{n % 97 + 1}.25",
                             "stock": str(n % 13), "attributes": f"colour=c{n % 9}; size=s{n % 4}"})  # fmt: skip
    return path


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def report(clients: Clients, seconds: float, imported: int, import_seconds: float) -> int:
    print(f"\n{'phase':8} {'kind':14} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    all_by_phase: dict[str, list[float]] = defaultdict(list)
    for (phase, kind), values in sorted(clients.latencies.items()):
        all_by_phase[phase] += values
        print(f"{phase:8} {kind:14} {len(values) / seconds:7.1f} {percentile(values, 0.5):8.1f} "
              f"{percentile(values, 0.95):8.1f} {percentile(values, 0.99):8.1f}")  # fmt: skip
    for phase, values in all_by_phase.items():
        print(f"{phase:8} {'all':14} {len(values) / seconds:7.1f} {percentile(values, 0.5):8.1f} "
              f"{percentile(values, 0.95):8.1f} {percentile(values, 0.99):8.1f}")  # fmt: skip
    idle, busy = percentile(all_by_phase["idle"], 0.95), percentile(all_by_phase["import"], 0.95)
    print(f"\np95 import / idle: {busy / idle:.2f}   import: {imported} rows in {import_seconds:.0f} s "
          f"({imported / max(import_seconds, 1e-9):.0f} rows/s while serving)")  # fmt: skip
    for (phase, kind, error), count in sorted(clients.errors.items()):
        print(f"error: {phase or 'warm-up'} {kind}: {error} x{count}")
    return 1 if clients.errors else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--rows", type=int, default=3000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".data-bench-import")
    args = parser.parse_args()
    if not 1 <= args.clients <= MAX_CLIENTS or not 1 <= args.seconds <= 600:
        raise SystemExit(f"--clients 1..{MAX_CLIENTS}, --seconds 1..600")
    env, key, pks = prepare(args.data_dir.resolve())
    server, base = web_server(env, args.workers)
    clients = Clients(base, key, pks)
    threads = [threading.Thread(target=clients.run, args=(n,), daemon=True) for n in range(args.clients)]
    importing = None
    try:
        for thread in threads:
            thread.start()
        time.sleep(5)  # warm-up, not counted
        clients.phase = "idle"
        time.sleep(args.seconds)
        with tempfile.TemporaryDirectory() as folder:
            catalog = import_file(Path(folder), args.rows)
            importing = subprocess.Popen([sys.executable, "manage.py", "import_catalog", str(catalog), "--no-progress"],
                                         cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)  # fmt: skip
            clients.phase = ""  # the command's start (imports, checks) is not the import
            first_rows = imported_count(catalog, wait=True)
            import_started = time.monotonic()
            clients.phase = "import"
            time.sleep(args.seconds)
            clients.phase = ""
            import_seconds = time.monotonic() - import_started
            during = imported_count(catalog) - first_rows
            finished = importing.poll() is not None
            importing.send_signal(signal.SIGINT)
            importing.wait(60)
        clients.stop.set()
        for thread in threads:
            thread.join(150)
    finally:
        clients.stop.set()
        if importing is not None and importing.poll() is None:
            importing.kill()
        server.send_signal(signal.SIGTERM)
        server.wait(60)
        from django.conf import settings

        if settings.EMBEDDED_REDIS is not None:  # Postgres stops with its last user, this process
            settings.EMBEDDED_REDIS.stop()
    if finished:
        print("(the import finished before the clients stopped: raise --rows to keep it running)")
    return report(clients, args.seconds, during, import_seconds)


def imported_count(catalog: Path, *, wait: bool = False) -> int:
    """Rows of this run's import in the catalog; with ``wait``, once there are some (up to 5 minutes)."""
    import django.db

    from catalog.models import Product

    prefix = catalog.stem.replace("import-", "IMP-") + "-"
    deadline = time.monotonic() + 300
    while True:
        count = Product.objects.filter(sku__startswith=prefix).count()
        django.db.connections.close_all()
        if count or not wait or time.monotonic() > deadline:
            return count
        time.sleep(0.5)


if __name__ == "__main__":
    sys.exit(main())
