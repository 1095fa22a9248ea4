"""Management commands that need the apps' tables say so plainly when they are missing.

Without this, ``import_catalog`` on a database that was never migrated reported one error per row
(9,583 of ``relation "catalog_category" does not exist``) instead of saying to run ``migrate``.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.db.migrations.executor import MigrationExecutor


def database_migrations_check(using: str = DEFAULT_DB_ALIAS) -> None:
    """Raise a CommandError naming what to do when the database is unreachable or not migrated."""
    connection = connections[using]
    try:
        executor = MigrationExecutor(connection)
        plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError as exc:
        raise CommandError(f"Cannot read the database's migrations ({exc}). Is Postgres running?") from exc
    if plan:
        apps = ", ".join(sorted({migration.app_label for migration, _ in plan}))
        raise CommandError(
            f"The database is not migrated: {len(plan)} migration(s) to apply ({apps}). "
            "Run `python manage.py migrate` (`make run` migrates too), then try again."
        )


class MigratedDatabaseCommand(BaseCommand):
    """A command that checks the database is migrated before it does anything."""

    def execute(self, *args: Any, **options: Any) -> Any:
        database_migrations_check()
        return super().execute(*args, **options)
