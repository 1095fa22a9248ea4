"""Search reads on Postgres read replicas (streaming standbys of the primary).

``SNAPSHELF_SEARCH_DATABASES`` lists database aliases (replicas of ``default``) that searches
read from: the vector legs, the keyword and SKU legs, typo correction, the active model and its
"no close match" threshold, and the products a result page shows. Everything else stays on the
primary: every write, and the reads of a shopper's own writes (a photo query's token, read right
after the photo was posted, is read from ``default``), and anything outside a search.

A search runs inside :func:`search_reads_run`, which picks a usable replica and sets it for the
current context; :class:`SearchReadRouter` sends the ORM's reads there and raw SQL of the search
modules asks :func:`search_connection`. A replica is usable when it answers and its replay lag is
within ``SNAPSHELF_SEARCH_REPLICA_MAX_LAG_SECONDS``. Each replica's state is checked at most once
per ``SNAPSHELF_SEARCH_REPLICA_CHECK_SECONDS`` and kept in Django's cache (shared by every
process); so what a search reads is at most MAX_LAG + CHECK seconds behind the primary. A replica
that is down, lagging, or fails during a search is skipped (a warning is logged) and the search
runs on the primary instead: a shopper never sees an error because of a replica.
"""

from __future__ import annotations

import contextvars
import logging
import random
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, InterfaceError, OperationalError, connections
from django.db.backends.base.base import BaseDatabaseWrapper

from search.conf import search_setting

logger = logging.getLogger(__name__)
T = TypeVar("T")

# The alias the current search reads from (None: not in a search, everything on the primary).
_search_alias: contextvars.ContextVar[str | None] = contextvars.ContextVar("snapshelf_search_alias", default=None)

STATE_KEY = "snapshelf:search-replica:{alias}"

# Seconds the replica's data is behind the primary: 0 while it has replayed everything it received
# and its WAL receiver is connected (an idle primary sends nothing, and the last replayed
# transaction's age would then grow without any lag); otherwise the age of the last replayed
# transaction. A server that is not in recovery (a promoted replica, the primary itself) has none.
LAG_SQL = (
    "SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0 "
    "WHEN pg_last_wal_receive_lsn() <= pg_last_wal_replay_lsn() "
    "AND EXISTS (SELECT 1 FROM pg_stat_wal_receiver) THEN 0 "
    "ELSE coalesce(extract(epoch FROM now() - pg_last_xact_replay_timestamp()), 1e9) END::float8"
)
# A replica dropping a connection mid-search (stopped, restarted, network): run it on the primary.
REPLICA_FAILURES = (OperationalError, InterfaceError)


def search_replicas() -> list[str]:
    return [alias for alias in search_setting("SEARCH_DATABASES") if alias != DEFAULT_DB_ALIAS]


def search_alias() -> str:
    """The database the current search reads from (``default`` outside a search)."""
    return _search_alias.get() or DEFAULT_DB_ALIAS


def search_connection() -> BaseDatabaseWrapper:
    """The connection raw SQL of a search read uses (search/vector_store.py, keywords)."""
    return connections[search_alias()]


def search_reads_run(read: Callable[[], T]) -> T:
    """Run ``read`` (reads only: it may run twice) on a usable replica, or on the primary when
    none is usable or the replica fails during the read."""
    if _search_alias.get() is not None:  # already inside a search (products_similar -> ...)
        return read()
    alias = replica_pick()
    token = _search_alias.set(alias)
    try:
        return read()
    except REPLICA_FAILURES as exc:
        if alias == DEFAULT_DB_ALIAS:
            raise
        logger.warning("search replica %s failed during a search (%s); searching on the primary", alias, exc)
        _state_store(alias, usable=False, reason=f"failed during a search: {exc}")
        _connection_drop(alias)
        _search_alias.set(DEFAULT_DB_ALIAS)
        return read()
    finally:
        _search_alias.reset(token)


def replica_pick() -> str:
    """A usable replica (at random, spreading searches), else ``default``."""
    replicas = search_replicas()
    random.shuffle(replicas)
    for alias in replicas:
        if replica_state(alias)["usable"]:
            return alias
    return DEFAULT_DB_ALIAS


def replica_state(alias: str) -> dict[str, Any]:
    """``{"usable": bool, "lag": seconds or None, "reason": str}`` from the cache, or checked now
    (and kept for SEARCH_REPLICA_CHECK_SECONDS)."""
    state = cache.get(STATE_KEY.format(alias=alias))
    if isinstance(state, dict):
        return state
    return replica_check(alias)


def replica_check(alias: str) -> dict[str, Any]:
    """Ask the replica for its lag now and keep the answer in the cache."""
    max_lag = float(search_setting("SEARCH_REPLICA_MAX_LAG_SECONDS"))
    try:
        with connections[alias].cursor() as cursor:
            cursor.execute(LAG_SQL)
            lag = float(cursor.fetchone()[0])
    except REPLICA_FAILURES as exc:
        logger.warning("search replica %s is unreachable (%s); searches use the primary", alias, exc)
        _connection_drop(alias)
        return _state_store(alias, usable=False, reason=f"unreachable: {exc}")
    if lag > max_lag:
        logger.warning("search replica %s is %.1f s behind (more than %.1f s); searches use the primary",
                       alias, lag, max_lag)  # fmt: skip
        return _state_store(alias, usable=False, lag=lag, reason=f"{lag:.1f} s behind the primary")
    return _state_store(alias, usable=True, lag=lag)


def _state_store(alias: str, *, usable: bool, lag: float | None = None, reason: str = "") -> dict[str, Any]:
    state = {"usable": usable, "lag": lag, "reason": reason}
    cache.set(STATE_KEY.format(alias=alias), state, timeout=float(search_setting("SEARCH_REPLICA_CHECK_SECONDS")))
    return state


def _connection_drop(alias: str) -> None:
    """Forget a broken connection, so that the next use connects again."""
    try:
        connections[alias].close()
    except Exception:  # closing a dead socket may raise; the connection is gone either way
        logger.debug("closing search replica %s", alias, exc_info=True)


class SearchReadRouter:
    """Inside a search (search_reads_run), reads go to the replica it picked; every write, and
    every read outside a search, to ``default`` (also for objects that were loaded from a replica:
    they are the same rows)."""

    def db_for_read(self, model: type, **hints: Any) -> str:
        return search_alias()

    def db_for_write(self, model: type, **hints: Any) -> str:
        return DEFAULT_DB_ALIAS

    def allow_relation(self, obj1: Any, obj2: Any, **hints: Any) -> bool | None:
        databases = {DEFAULT_DB_ALIAS, *search_replicas()}
        return True if {obj1._state.db, obj2._state.db} <= databases else None

    def allow_migrate(self, db: str, app_label: str, model_name: str | None = None, **hints: Any) -> bool | None:
        # Replicas receive the primary's schema through replication.
        return False if db in search_replicas() else None
