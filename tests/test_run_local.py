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


def storefront_answers(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/search/?q=mug", timeout=10) as response:
            return response.status == 200
    except OSError:
        return False


def wait_for(condition, what: str, run: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert run.poll() is None, f"make run exited while waiting for {what}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)


def pid_in(path: Path) -> int | None:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def killed_and_back(name: str, old_pid: int, new_pid, port: int, run: subprocess.Popen) -> None:
    """SIGKILL ``old_pid``; make run starts it again (``new_pid()`` changes) and the storefront answers."""
    os.kill(old_pid, signal.SIGKILL)
    wait_for(lambda: new_pid() not in (None, old_pid), f"the {name} to be started again", run)
    wait_for(lambda: storefront_answers(port), f"the storefront to answer after the {name} was killed", run)


def test_make_run_starts_again_what_stops_and_sigterm_stops_everything(tmp_path):
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
        import psutil

        def child(word: str):  # the web server or the worker, by a word of its command line
            for process in psutil.Process(run.pid).children():
                try:
                    if word in " ".join(process.cmdline()):
                        return process.pid
                except psutil.Error:  # a killed child not reaped yet (a zombie), or gone
                    continue
            return None

        killed_and_back("web server", child("runserver"), lambda: child("runserver"), port, run)
        killed_and_back("worker", child("celery"), lambda: child("celery"), port, run)
        redis_pid = data / "redis" / "redis.pid"
        killed_and_back("Redis server", pid_in(redis_pid), lambda: pid_in(redis_pid), port, run)
        postmaster_pid = data / "postgres" / "postmaster.pid"
        killed_and_back("Postgres server", pid_in(postmaster_pid), lambda: pid_in(postmaster_pid), port, run)
        run.send_signal(signal.SIGTERM)
        assert run.wait(timeout=60) == 0
        deadline = time.monotonic() + 30
        while processes_using(data) and time.monotonic() < deadline:
            time.sleep(0.5)
        assert processes_using(data) == []
    finally:
        if run.poll() is None:  # a failed check: stop it the way that stops its children and servers too
            run.send_signal(signal.SIGTERM)
            try:
                run.wait(timeout=60)
            except subprocess.TimeoutExpired:
                run.kill()
