"""``make run``: the whole stack on the embedded default, stopped together by Ctrl-C.

Migrates, seeds the demo catalog into an empty database, makes a local admin login, then
starts a Celery worker with beat and the web server, and prints where to go. It watches all of
them (config/local_watch.py): what stops is started again.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from config import embedded_services
from config.local_watch import Child, KeepsStopping, Server, say, watch

HOST = os.environ.get("SNAPSHELF_RUN_HOST", "127.0.0.1")
PORT = os.environ.get("SNAPSHELF_RUN_PORT", "8000")
ADMIN_USERNAME = "admin"


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.local")
    postgres_embedded = not os.environ.get("DATABASE_URL")
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    call_command("seed_demo_catalog", if_empty=True)
    password = admin_login_ensure(settings.DATA_DIR)
    # Children reuse the servers this process started instead of racing to start their own.
    child_env = {**os.environ, "DATABASE_URL": settings.DATABASE_URL, "REDIS_URL": settings.REDIS_URL}
    python = sys.executable
    children = [
        Child("Celery worker", [python, "-m", "celery", "-A", "config", "worker", "--beat", "--loglevel=INFO",
              "--concurrency=1", "--schedule", str(settings.DATA_DIR / "celerybeat-schedule")], child_env),
        # One web process: its torch threads take every core (search.embedders.registry.torch_threads).
        Child("web server", [python, "manage.py", "runserver", f"{HOST}:{PORT}", "--noreload"],
              {**child_env, "WEB_CONCURRENCY": "1"}),
    ]  # fmt: skip
    for child in children:
        child.start()
    base = f"http://{HOST}:{PORT}"
    print(
        f"\nSnapshelf is running.\n  Storefront: {base}/\n  Admin:      {base}/admin/\n"
        f"  Admin login: {ADMIN_USERNAME} / {password}  (saved in {settings.DATA_DIR / 'admin-password.txt'})\n"
        "Press Ctrl-C to stop.\n",
        flush=True,
    )
    # A process manager (or `timeout`) stops this with SIGTERM: shut down as on Ctrl-C, so the
    # worker, the web server and the embedded servers stop with it instead of being left running.
    signal.signal(signal.SIGTERM, _stop_requested)
    status = 0
    try:
        watch(embedded_servers(settings, postgres_embedded), children)
    except KeyboardInterrupt:
        pass
    except KeepsStopping as exc:
        say(str(exc))
        status = 1
    finally:
        stop_children([child.process for child in children if child.process is not None])
        if settings.EMBEDDED_REDIS is not None:
            settings.EMBEDDED_REDIS.stop()
    return status


def embedded_servers(settings: Any, postgres_embedded: bool) -> list[Server]:
    """The embedded servers this process started, to start again if they stop."""
    servers = []
    if postgres_embedded:
        pgdata = settings.DATA_DIR / "postgres"
        servers.append(Server("Postgres server", lambda: embedded_services.postgres_is_live(pgdata),
                              lambda: embedded_services.postgres_restart_if_stopped(pgdata)))  # fmt: skip
    redis = settings.EMBEDDED_REDIS
    if redis is not None:
        servers.append(Server("Redis server", redis.is_running, redis.start))
    return servers


def _stop_requested(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def admin_login_ensure(data_dir: Path) -> str:
    """Create the local superuser once; its password is kept in the data folder."""
    from django.contrib.auth import get_user_model

    password_file = data_dir / "admin-password.txt"
    user_model = get_user_model()
    user = user_model.objects.filter(username=ADMIN_USERNAME).first()
    if user is not None and password_file.exists():
        return password_file.read_text().strip()
    password = secrets.token_urlsafe(12)
    if user is None:
        user_model.objects.create_superuser(ADMIN_USERNAME, "admin@localhost", password)
    else:
        user.set_password(password)
        user.save(update_fields=["password"])
    password_file.write_text(password + "\n")
    password_file.chmod(0o600)
    return password


def stop_children(children: list[subprocess.Popen[bytes]]) -> None:
    """SIGTERM to each child's process group (the worker's pool and beat processes too), then
    SIGKILL to the groups still there after 15 s (a task may still be running)."""
    for child in children:
        _signal_group(child, signal.SIGTERM)
    deadline = time.monotonic() + 15
    for child in children:
        with contextlib.suppress(subprocess.TimeoutExpired):
            child.wait(timeout=max(deadline - time.monotonic(), 0.1))
    for child in children:
        _signal_group(child, signal.SIGKILL)  # what is left of the group: orphaned pool processes
        child.wait()


def _signal_group(child: subprocess.Popen[bytes], signum: int) -> None:
    # Each child leads its own session (start_new_session), so its group id is its pid.
    with contextlib.suppress(ProcessLookupError):  # the whole group has exited
        os.killpg(child.pid, signum)


if __name__ == "__main__":
    sys.exit(main())
