"""Real `celery worker` processes on the test database and Redis, for tests of what workers do."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

from django.conf import settings
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]
WorkerStart = Callable[..., "subprocess.Popen[bytes]"]


def wait_until(condition: Callable[[], bool], timeout: float, what: str, describe: Callable[[], object] = str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.25)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}; {describe()}")


def celery_workers(tmp_path: Path, base_env: dict[str, str]) -> Iterator[WorkerStart]:
    """A generator for a fixture: yields ``start(name, beat=False, **env)``, stops the workers after."""
    # The settings' server, with the test database's name.
    database_url = urlsplit(settings.DATABASE_URL)._replace(path=f"/{connection.settings_dict['NAME']}").geturl()
    workers: list[subprocess.Popen[bytes]] = []

    def start(name: str, *, beat: bool = False, **env_overrides: str) -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            **base_env,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": database_url,
            "REDIS_URL": settings.REDIS_URL,
            "SNAPSHELF_DATA_DIR": str(tmp_path / f"data-{name}"),
            "DJANGO_MEDIA_ROOT": str(settings.MEDIA_ROOT),
            "PYTHONPATH": str(ROOT),
            **env_overrides,
        }
        log = (tmp_path / f"{name}.log").open("wb")
        command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool=solo", "--loglevel=INFO",
                   "--without-gossip", "--without-mingle", "--without-heartbeat", "-n", f"{name}@%h"]  # fmt: skip
        if beat:
            command += ["--beat", "--schedule", str(tmp_path / f"{name}-beat-schedule")]
        worker = subprocess.Popen(command, env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
        workers.append(worker)
        return worker

    yield start
    for worker in workers:
        if worker.poll() is None:
            worker.send_signal(signal.SIGTERM)
            try:
                worker.wait(20)
            except subprocess.TimeoutExpired:
                worker.kill()
