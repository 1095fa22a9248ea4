"""`make run` (config/run_local.py) on a fresh data folder: it serves, and SIGTERM stops everything it started."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.slow


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def processes_using(folder: Path) -> list[str]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if str(folder) in command:
                found.append(command)
    return found


def test_sigterm_stops_the_worker_the_web_server_and_the_embedded_servers(tmp_path):
    data, port = tmp_path / "data", free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env.update(SNAPSHELF_DATA_DIR=str(data), SNAPSHELF_RUN_PORT=str(port), SNAPSHELF_SEARCH_MODEL="offline")
    run = subprocess.Popen([sys.executable, "-m", "config.run_local"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/search/?q=mug", timeout=5) as response:
                    assert response.status == 200
                    break
            except OSError:
                assert run.poll() is None, "make run exited before serving"
                assert time.monotonic() < deadline, "the storefront did not answer within 2 minutes"
                time.sleep(1)
        assert processes_using(data)  # its Postgres, Redis and Celery run with the data folder in their command
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=60) == 0
        deadline = time.monotonic() + 30
        while processes_using(data) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert processes_using(data) == []
    finally:
        if run.poll() is None:
            run.kill()
