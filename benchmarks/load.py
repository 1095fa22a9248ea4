"""Many shoppers at once: gunicorn with production settings, closed-loop clients, latency per kind.

    python -m benchmarks.load [--clients 8] [--seconds 30] [--compare REV] [--demo | --dataset DIR]
    python -m benchmarks.load --url http://127.0.0.1:8000 --api-key KEY   # a server you started

1. Embedded Postgres and Redis in a data folder (``--data-dir``, default ``.data-bench``) that
   keeps the prepared catalog between runs: the fashion set (../shared/datasets/fashion, imported
   with ``import_catalog --format fashion-csv`` and embedded inline) or, with ``--demo`` or when
   the set is absent, the generated demo catalog. Preparing the fashion set takes minutes once;
   later runs start in seconds (``migrate`` and ``search_index rebuild --missing --inline`` are
   no-ops then). An API key is made for each run.
2. gunicorn with ``config.settings.production`` and ``WEB_CONCURRENCY`` workers (``--workers``,
   default 4, as docs/operations.md runs it), on loopback; ``--compare REV`` starts a second one
   from ``git worktree add`` of REV (its own ``migrate`` against the same database, its own Redis
   database) and measures both in alternating rounds.
3. Warm-up (``--warmup`` seconds, so each worker has loaded its model), then ``--clients``
   closed-loop clients for ``--seconds``: each picks a photo search with probability
   ``--photo-share`` and the API with probability ``--api-share``, else words on the storefront.
   Storefront photos go as a browser sends them: the form page once per client for the CSRF cookie
   and token, a multipart POST, the 303 followed to the results page (one timed operation). API
   calls are JSON (words) or multipart (photo) with the run's key.
4. Prints operations/s and p50/p95/p99 per kind, and every distinct error with its count.

Loopback only; clients, seconds and rounds are bounded. Figures and the machine they were taken
on: docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import requests

ROOT = Path(__file__).resolve().parent.parent
FASHION = ROOT.parent / "shared" / "datasets" / "fashion"
GLIBC_TUNABLES = "glibc.malloc.mmap_threshold=2147483647:glibc.malloc.trim_threshold=4294967295"
LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}
MAX_CLIENTS = 256
MAX_SECONDS = 600
PHOTO_SAMPLE = 200
WARMUP_SLOWEST_S = 5.0
WARMUP_MAX_S = 300
KINDS = ("words", "photo", "api words", "api photo")
# HTTP requests per operation: a storefront photo is the POST (answered 303) and the results page.
REQUESTS_PER_OPERATION = {"photo": 2}

# Run in the prepared database by ``manage.py shell``: the queries the clients send (a colour and
# an article type, as shoppers type them, else title words) and a fresh API key.
QUERIES_SCRIPT = """
import json, random
from catalog.models import Product
rows = Product.objects.filter(is_active=True).values_list("title", "attributes")
queries = sorted({" ".join(filter(None, [(a or {}).get("colour", ""), (a or {}).get("article_type", "")])).lower()
                  or " ".join(t.split()[-2:]).lower() for t, a in rows})
print(json.dumps(queries))
"""
# Rows waiting out a retry backoff (an earlier run stopped mid-batch) are claimable now.
RETRY_NOW_SCRIPT = """
from search.models import ImageEmbedding, ProductEmbedding
for rows in (ImageEmbedding.objects, ProductEmbedding.objects):
    rows.filter(status="pending").update(available_at=None)
"""
API_KEY_SCRIPT = """
from storeapi.services.api_keys import api_key_create
_, key = api_key_create(name="benchmarks.load", kind="read", throttle_rate="1000000/min")
print(key)
"""


@dataclass
class Server:
    label: str
    url: str
    api_key: str
    process: subprocess.Popen[bytes] | None = None
    log: Path | None = None
    samples: list[tuple[str, float, str]] = field(default_factory=list)
    seconds: float = 0.0


# --- preparing the data and the servers ------------------------------------------------------


def services_start(data_dir: Path, stack: ExitStack) -> dict[str, str]:
    """The embedded Postgres and Redis of ``data_dir``; their URLs as the servers' environment."""
    sys.path.insert(0, str(ROOT))
    from config import embedded_services

    database_url = embedded_services.postgres_start(data_dir / "postgres")
    redis = embedded_services.EmbeddedRedis(data_dir / "redis")
    redis_url = redis.start()
    stack.callback(redis.stop)
    return {"DATABASE_URL": database_url, "REDIS_URL": redis_url}


def server_env(data_dir: Path, services: dict[str, str], *, label: str, workers: int, redis_db: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "SNAPSHELF_"))}
    return env | {
        **services,
        "REDIS_URL": services["REDIS_URL"].replace("db=0", f"db={redis_db}"),
        "DJANGO_SETTINGS_MODULE": "config.settings.production",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(40),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
        # Plain HTTP on loopback: in production a proxy terminates TLS and redirects to HTTPS.
        "DJANGO_SECURE_COOKIES": "0",
        "DJANGO_SECURE_SSL_REDIRECT": "0",
        # Every client comes from 127.0.0.1: the storefront's per-address rates would refuse them.
        "SNAPSHELF_STOREFRONT_PHOTO_RATE": "1000000/m",
        "SNAPSHELF_STOREFRONT_WORDS_RATE": "1000000/m",
        "DJANGO_STATIC_ROOT": str(data_dir / f"static-{label}"),
        "DJANGO_MEDIA_ROOT": str(data_dir / "media"),
        "DJANGO_LOG_LEVEL": "WARNING",
        "SNAPSHELF_DATA_DIR": str(data_dir),
        "GLIBC_TUNABLES": GLIBC_TUNABLES,
        "WEB_CONCURRENCY": str(workers),
    }


def manage(checkout: Path, env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args], cwd=checkout, env=env, capture_output=True, text=True, check=False
    )
    if result.returncode:
        raise SystemExit(f"manage.py {' '.join(args[:2])} failed in {checkout}:\n{result.stderr[-3000:]}")
    return result.stdout


def catalog_prepare(data_dir: Path, env: dict[str, str], dataset: Path | None) -> None:
    """Import the catalog once per data folder, then embed (and make thumbnails of) whatever is
    missing: everything the first time (minutes for the fashion set), nothing on later runs."""
    marker = data_dir / "prepared.json"
    manage(ROOT, env, "migrate", "--verbosity", "0")
    if not marker.exists():
        started = time.monotonic()
        if dataset is not None:
            print(f"Importing {dataset} (once per data folder; minutes)...", flush=True)
            manage(ROOT, env, "import_catalog", str(dataset / "metadata.csv"), "--format", "fashion-csv",
                   "--images", str(dataset), "--no-progress")  # fmt: skip
        else:
            manage(ROOT, env, "seed_demo_catalog", "--if-empty")
        marker.write_text(json.dumps({"catalog": str(dataset or "demo"), "seconds": time.monotonic() - started}))
    print("Embedding what is missing (all of it the first time: minutes)...", flush=True)
    manage(ROOT, env, "shell", "-c", RETRY_NOW_SCRIPT)
    manage(ROOT, env, "search_index", "rebuild", "--missing", "--inline", "--no-progress")
    print(manage(ROOT, env, "search_index", "status").strip(), flush=True)


def server_start(checkout: Path, env: dict[str, str], label: str, data_dir: Path) -> Server:
    manage(checkout, env, "migrate", "--verbosity", "0")
    manage(checkout, env, "collectstatic", "--noinput", "--verbosity", "0")
    port = _free_port()
    log = data_dir / f"gunicorn-{label}.log"
    # The docs' command; a longer worker timeout only because a worker's first search imports
    # torch and loads the model, which takes longer than gunicorn's 30 s on a busy machine.
    command = [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}", "--timeout", "120"]
    process = subprocess.Popen(
        command, cwd=checkout, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True
    )
    server = Server(label, f"http://127.0.0.1:{port}", "", process, log)
    try:
        _answering_wait(server)
    except BaseException:
        server_stop(server)
        raise
    server.api_key = manage(checkout, env, "shell", "-c", API_KEY_SCRIPT).strip().splitlines()[-1]
    return server


def _answering_wait(server: Server) -> None:
    assert server.process is not None and server.log is not None
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise SystemExit(f"gunicorn ({server.label}) exited:\n{server.log.read_text()[-3000:]}")
        try:
            if requests.get(server.url + "/", timeout=5, allow_redirects=False).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.5)
    raise SystemExit(f"gunicorn ({server.label}) did not answer 200 in 120 s:\n{server.log.read_text()[-3000:]}")


def server_stop(server: Server) -> None:
    if server.process is None or server.process.poll() is not None:
        return
    os.killpg(server.process.pid, signal.SIGTERM)
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(server.process.pid, signal.SIGKILL)
        server.process.wait()


@contextmanager
def revision_checkout(rev: str) -> Iterator[Path]:
    """REV checked out beside this one (git worktree), removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="snapshelf-load-")) / "checkout"
    subprocess.run(["git", "worktree", "add", "--detach", str(folder), rev], cwd=ROOT, check=True,
                   capture_output=True)  # fmt: skip
    try:
        yield folder
    finally:
        subprocess.run(["git", "worktree", "remove", "--force", str(folder)], cwd=ROOT, check=False)
        shutil.rmtree(folder.parent, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- the clients -----------------------------------------------------------------------------


@dataclass
class Workload:
    queries: list[str]
    photos: list[bytes]
    photo_share: float
    api_share: float


class Shopper:
    """One closed-loop client with its own session (cookies, CSRF token, keep-alive)."""

    def __init__(self, server: Server, workload: Workload, seed: int) -> None:
        self.server, self.workload = server, workload
        self.random = random.Random(seed)
        self.session = requests.Session()
        self.csrf_token = ""

    def run_until(self, deadline: float, samples: list[tuple[str, float, str]]) -> None:
        while time.monotonic() < deadline:
            kind = self._kind()
            started = time.perf_counter()
            try:
                error = getattr(self, "_" + kind.replace(" ", "_"))()
            except requests.RequestException as exc:
                error = f"{type(exc).__name__}: {exc}"[:300]
            samples.append((kind, time.perf_counter() - started, error))

    def _kind(self) -> str:
        photo = self.random.random() < self.workload.photo_share
        api = self.random.random() < self.workload.api_share
        return ("api " if api else "") + ("photo" if photo else "words")

    def _words(self) -> str:
        query = self.random.choice(self.workload.queries)
        response = self.session.get(f"{self.server.url}/search/", params={"q": query}, timeout=60)
        return _check(response, 200, b'class="card"')

    def _photo(self) -> str:
        if not self.csrf_token:  # the form page, once: its CSRF cookie and token serve every POST
            page = self.session.get(f"{self.server.url}/", timeout=60)
            self.csrf_token = _csrf_token(page.text)
            if not self.csrf_token:
                return f"form page {page.status_code}: no csrfmiddlewaretoken"
        photo = self.random.choice(self.workload.photos)
        response = self.session.post(
            f"{self.server.url}/search/",
            data={"csrfmiddlewaretoken": self.csrf_token, "q": ""},
            files={"photo": ("photo.jpg", photo, "image/jpeg"), "camera": ("", b"", "application/octet-stream")},
            headers={"Referer": f"{self.server.url}/", "Origin": self.server.url},
            timeout=60,
        )
        if not response.history or response.history[0].status_code != 303:
            first = response.history[0].status_code if response.history else response.status_code
            return f"photo POST answered {first}, not 303"
        return _check(response, 200, b'class="card"')

    def _api_words(self) -> str:
        query = self.random.choice(self.workload.queries)
        response = self.session.post(f"{self.server.url}/api/v1/search/", json={"text": query, "limit": 24},
                                     headers={"X-Api-Key": self.server.api_key}, timeout=60)  # fmt: skip
        return _check(response, 200, b'"results"')

    def _api_photo(self) -> str:
        photo = self.random.choice(self.workload.photos)
        response = self.session.post(f"{self.server.url}/api/v1/search/", data={"limit": "24"},
                                     files={"image": ("photo.jpg", photo, "image/jpeg")},
                                     headers={"X-Api-Key": self.server.api_key}, timeout=60)  # fmt: skip
        return _check(response, 200, b'"results"')


def _check(response: requests.Response, status: int, marker: bytes) -> str:
    if response.status_code != status:
        where = f"{response.request.method} {urlsplit(response.url).path}"
        return f"{where} {response.status_code}: {response.text[:200]!r}"
    if marker not in response.content:
        return f"{response.request.method} {urlsplit(response.url).path} {status} without {marker.decode()}"
    return ""


def _csrf_token(html: str) -> str:
    marker = 'name="csrfmiddlewaretoken" value="'
    start = html.find(marker)
    return html[start + len(marker) : html.find('"', start + len(marker))] if start >= 0 else ""


def load_run(server: Server, workload: Workload, *, clients: int, seconds: float, seed: int) -> list:  # type: ignore[type-arg]
    """``clients`` shoppers for ``seconds``; their samples (kind, seconds, error)."""
    shoppers = [Shopper(server, workload, seed * 1000 + n) for n in range(clients)]
    samples: list[tuple[str, float, str]] = []  # list.append is atomic: shared by the threads
    deadline = time.monotonic() + seconds
    threads = [threading.Thread(target=s.run_until, args=(deadline, samples)) for s in shoppers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return samples


# --- the report ------------------------------------------------------------------------------


def percentile(sorted_values: list[float], fraction: float) -> float:
    index = min(len(sorted_values) - 1, max(0, round(fraction * (len(sorted_values) - 1))))
    return sorted_values[index]


def report(server: Server) -> list[str]:
    groups: dict[str, list[float]] = defaultdict(list)
    errors: Counter[tuple[str, str]] = Counter()
    for kind, seconds, error in server.samples:
        for group in (kind, "all words" if kind.endswith("words") else "all photos", "all"):
            groups[group].append(seconds)
        if error:
            errors[(kind, error)] += 1
    requests_made = sum(REQUESTS_PER_OPERATION.get(kind, 1) for kind, _, _ in server.samples)
    lines = [f"{server.label}: {len(server.samples)} operations ({requests_made} HTTP requests, "
             f"{requests_made / server.seconds:.1f}/s) in {server.seconds:.0f} s, "
             f"{sum(errors.values())} errors"]  # fmt: skip
    for group in (*KINDS, "all words", "all photos", "all"):
        values = sorted(groups.get(group, []))
        if not values:
            continue
        ms = [1000 * percentile(values, f) for f in (0.5, 0.95, 0.99)]
        rate = len(values) / server.seconds
        lines.append(f"  {group:<11} {len(values):6d} ops {rate:7.1f}/s   "
                     f"p50 {ms[0]:7.1f} ms  p95 {ms[1]:7.1f} ms  p99 {ms[2]:7.1f} ms")  # fmt: skip
    for (kind, error), count in sorted(errors.items()):
        lines.append(f"  error x{count} ({kind}): {error}")
    return lines


# --- the command -----------------------------------------------------------------------------


def arguments(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=8, help=f"closed-loop clients (1-{MAX_CLIENTS})")
    parser.add_argument("--seconds", type=float, default=30, help=f"measured seconds per server (max {MAX_SECONDS})")
    parser.add_argument("--warmup", type=float, default=15, help="seconds of the same load before measuring")
    parser.add_argument("--rounds", type=int, default=0, help="rounds per server (default 1; 2 with --compare)")
    parser.add_argument("--photo-share", type=float, default=0.3, help="share of photo searches (0-1)")
    parser.add_argument("--api-share", type=float, default=0.25, help="share of operations through the API (0-1)")
    parser.add_argument("--workers", type=int, default=4, help="gunicorn workers (WEB_CONCURRENCY)")
    parser.add_argument("--compare", metavar="REV", help="also measure this git revision, rounds alternating")
    parser.add_argument("--url", help="measure a running server instead (loopback only); needs --api-key")
    parser.add_argument("--api-key", default="", help="with --url: a key that may search")
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".data-bench", help="prepared catalog (kept)")
    parser.add_argument("--dataset", type=Path, default=FASHION, help="the fashion data set's folder")
    parser.add_argument("--demo", action="store_true", help="the generated demo catalog instead of the fashion set")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    if not 1 <= args.clients <= MAX_CLIENTS:
        parser.error(f"--clients must be 1-{MAX_CLIENTS}")
    if not 0 < args.seconds <= MAX_SECONDS or not 0 <= args.warmup <= MAX_SECONDS:
        parser.error(f"--seconds and --warmup must be at most {MAX_SECONDS}")
    if not (0 <= args.photo_share <= 1 and 0 <= args.api_share <= 1):
        parser.error("--photo-share and --api-share are shares between 0 and 1")
    if args.url and (urlsplit(args.url).hostname or "") not in LOOPBACK:
        parser.error("--url must be a loopback address (127.0.0.1, localhost, ::1)")
    if args.url and args.compare:
        parser.error("--compare starts its own servers; leave out --url")
    args.rounds = args.rounds or (2 if args.compare else 1)
    if not 1 <= args.rounds <= 10:
        parser.error("--rounds must be 1-10")
    return args


def workload_read(data_dir: Path, env: dict[str, str], args: argparse.Namespace) -> Workload:
    queries = json.loads(manage(ROOT, env, "shell", "-c", QUERIES_SCRIPT).strip().splitlines()[-1])
    files = sorted(p for p in (data_dir / "media").rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    files = [p for p in files if "thumbnails" not in p.parts and "cache" not in p.parts]
    photos = [p.read_bytes() for p in random.Random(args.seed).sample(files, min(PHOTO_SAMPLE, len(files)))]
    if not queries or not photos:
        raise SystemExit(f"the catalog in {data_dir} has no products or no images")
    return Workload(queries, photos, args.photo_share, args.api_share)


def main(argv: list[str] | None = None) -> int:
    args = arguments(argv)
    with ExitStack() as stack:
        if args.url:
            servers = [Server("url", args.url.rstrip("/"), args.api_key)]
            workload = Workload(["red shirts", "blue jeans", "black watch", "white shoes"],
                                _photos_from(args.dataset, args.seed), args.photo_share, args.api_share)  # fmt: skip
        else:
            servers, workload = _servers_start(args, stack)
        print(f"{len(servers)} server(s), {args.clients} clients, {args.seconds:g} s x {args.rounds} round(s), "
              f"photo share {args.photo_share:g}, API share {args.api_share:g}, "
              f"{len(workload.queries)} queries, {len(workload.photos)} photos", flush=True)  # fmt: skip
        for server in servers:
            warm_up(server, workload, args)
        for number in range(args.rounds):
            for server in servers if number % 2 == 0 else servers[::-1]:
                started = time.monotonic()
                server.samples += load_run(server, workload, clients=args.clients,
                                           seconds=args.seconds / args.rounds, seed=args.seed + number)  # fmt: skip
                server.seconds += time.monotonic() - started
        for server in servers:
            print("\n".join(report(server)), flush=True)
    return 0


def warm_up(server: Server, workload: Workload, args: argparse.Namespace) -> None:
    """The same load for ``--warmup`` seconds, then more 10-second rounds (up to WARMUP_MAX_S)
    until none of a round's operations takes WARMUP_SLOWEST_S: a web process's first search
    imports torch and loads the model, and which process takes a request is gunicorn's choice."""
    started = time.monotonic()
    seconds, round_number = args.warmup, 0
    while seconds > 0:
        samples = load_run(server, workload, clients=max(args.clients, 2 * args.workers), seconds=seconds,
                           seed=args.seed + 99 + round_number)  # fmt: skip
        slowest = max((s for _, s, _ in samples), default=0.0)
        if slowest < WARMUP_SLOWEST_S or time.monotonic() - started > WARMUP_MAX_S:
            break
        seconds, round_number = 10, round_number + 1
    print(f"{server.label}: warmed up in {time.monotonic() - started:.0f} s", flush=True)


def _servers_start(args: argparse.Namespace, stack: ExitStack) -> tuple[list[Server], Workload]:
    dataset = None if args.demo else args.dataset
    if dataset is not None and not (dataset / "metadata.csv").is_file():
        print(f"No fashion data set at {dataset}: using the demo catalog (--demo).", flush=True)
        dataset = None
    data_dir = args.data_dir.resolve() / ("demo" if dataset is None else "fashion")
    data_dir.mkdir(parents=True, exist_ok=True)
    services = services_start(data_dir, stack)
    env = server_env(data_dir, services, label="head", workers=args.workers, redis_db=0)
    catalog_prepare(data_dir, env, dataset)
    workload = workload_read(data_dir, env, args)
    checkouts = [("head", ROOT, 0)]
    if args.compare:
        checkouts.append((args.compare, stack.enter_context(revision_checkout(args.compare)), 1))
    servers = []
    for label, checkout, redis_db in checkouts:
        server_env_ = server_env(data_dir, services, label=_slug(label), workers=args.workers, redis_db=redis_db)
        server = server_start(checkout, server_env_, _slug(label), data_dir)
        stack.callback(server_stop, server)
        revision = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=checkout, capture_output=True,
                                  text=True, check=False).stdout.strip()  # fmt: skip
        server.label = f"{label} ({revision})"
        servers.append(server)
    return servers, workload


def _photos_from(dataset: Path, seed: int) -> list[bytes]:
    files = sorted((dataset / "images").glob("*.jpg"))
    if not files:
        raise SystemExit(f"--url needs photos to send: none in {dataset / 'images'}")
    return [p.read_bytes() for p in random.Random(seed).sample(files, min(PHOTO_SAMPLE, len(files)))]


def _slug(label: str) -> str:
    return "".join(c if c.isalnum() else "-" for c in label)[:40]


if __name__ == "__main__":
    sys.exit(main())
