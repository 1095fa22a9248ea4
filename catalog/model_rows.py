"""Model instances from rows read with a plain cursor.

For hot reads whose ORM query would cost more to build than to run (search result pages): the
SQL names every concrete field in order (``model_columns``), ``rows_fetch`` runs it, and
``ModelReader`` (``model_from_row`` for one row) applies the same database converters the ORM
applies (a JSONField's decoding, for example) and makes the instance ``Model.from_db`` would make,
so the instances are what the ORM would have made. tests/catalog/test_model_rows.py compares them
with the ORM's.

Two shortcuts, each taken only where its result is the same (measured on a page of 24 products
with their images, ~100 timestamps and ~50 instances):

- Timestamps: Django reads ``timestamptz`` with a loader written in Python (it sets the time zone
  Django expects), ~3.5 us a value; psycopg's C loader gives the same datetimes, ``tzinfo``
  included, when the session and Django both use UTC (Django's default with USE_TZ), in ~0.2 us.
- Instances: ``Model.__init__`` sets each field through ``setattr`` and sends pre_init and
  post_init; when nobody listens to those for the model and every field's class attribute is one
  of Django's plain descriptors (whose ``__set__``, if any, only stores the value), the instance
  is made with the same ``__dict__`` directly, at about a third of the cost.
"""

from __future__ import annotations

import datetime
import functools
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar, cast

import psycopg
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Model
from django.db.models.base import ModelState
from django.db.models.fields.files import FileDescriptor
from django.db.models.fields.related_descriptors import ForeignKeyDeferredAttribute
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init
from psycopg.pq import Format

M = TypeVar("M", bound=Model)
Converter = Callable[[Any, Any, Any], Any]

# Descriptors that either have no __set__ or one that only stores into instance.__dict__ for a
# new instance (exact types: ImageFileDescriptor, a FileDescriptor subclass, also sets dimensions).
_PLAIN_DESCRIPTORS = (DeferredAttribute, ForeignKeyDeferredAttribute, FileDescriptor)
_TIMESTAMPTZ = psycopg.adapters.types["timestamptz"].oid


def model_columns(model: type[Model], alias: str) -> str:
    """``alias."col", ...`` for every concrete field of ``model``, in the order from_db expects."""
    quote = connection.ops.quote_name
    return ", ".join(f"{alias}.{quote(cast(str, field.column))}" for field in model._meta.concrete_fields)


def rows_fetch(sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """Every row of ``sql``, through Django's cursor (so query logging and capture see it), with
    timestamps read by psycopg's C loader where that gives what Django's loader gives."""
    db = connections[DEFAULT_DB_ALIAS]  # the thread's connection, looked up once
    with db.cursor() as cursor:
        if (loader := _timestamptz_loader(db)) is not None:
            cursor.cursor.adapters.register_loader(_TIMESTAMPTZ, loader)
        cursor.execute(sql, params)
        return cursor.fetchall()


def _timestamptz_loader(db: BaseDatabaseWrapper) -> type | None:
    # Django's loader replaces tzinfo with db.timezone; psycopg's gives the session's time zone,
    # datetime.UTC for "UTC". Only the C build's loader is worth swapping in.
    if psycopg.pq.__impl__ not in ("c", "binary"):
        return None
    if db.timezone is not datetime.UTC or db.timezone_name != "UTC":
        return None
    return cast(type, psycopg.adapters.get_loader(_TIMESTAMPTZ, Format.TEXT))


class ModelReader(Generic[M]):
    """Instances of ``model`` from the values of its ``model_columns``, with the connection, the
    converters and the way to make instances looked up once for a batch of rows (per row, looking
    up the thread's connection alone cost ~2 us)."""

    def __init__(self, model: type[M]) -> None:
        self.model = model
        self.db = connections[DEFAULT_DB_ALIAS]
        self.converters = _converters(model)
        self.attnames = _attnames(model)
        self.plain = _plain_init(model) and not pre_init.has_listeners(model) and not post_init.has_listeners(model)

    def __call__(self, values: Sequence[Any]) -> M:
        if self.converters:
            values = list(values)
            for index, column, functions in self.converters:
                for function in functions:
                    values[index] = function(values[index], column, self.db)
        if not self.plain:
            return self.model.from_db(self.db.alias, self.attnames, values)
        instance = self.model.__new__(self.model)
        state = ModelState()
        state.adding, state.db = False, self.db.alias
        fields = instance.__dict__
        fields["_state"] = state
        fields.update(zip(self.attnames, values, strict=True))
        return instance


def model_from_row(model: type[M], values: Sequence[Any]) -> M:
    """An instance of ``model`` from the values of its ``model_columns`` (ModelReader, for one row)."""
    return ModelReader(model)(values)


@functools.cache
def _attnames(model: type[Model]) -> tuple[str, ...]:
    return tuple(field.attname for field in model._meta.concrete_fields)


@functools.cache
def _plain_init(model: type[Model]) -> bool:
    """Whether Model.__init__ would only store each value in the instance's __dict__."""
    if model.__init__ is not Model.__init__ or model._meta.abstract:
        return False
    return all(
        type(getattr(model, attname, None)) in _PLAIN_DESCRIPTORS  # exact types: subclasses may do more
        for attname in _attnames(model)
    )


@functools.cache
def _converters(model: type[Model]) -> tuple[tuple[int, Any, tuple[Converter, ...]], ...]:
    # What SQLCompiler.get_converters() finds for these columns: the backend's, then the field's.
    found = []
    for index, field in enumerate(model._meta.concrete_fields):
        column = field.get_col(model._meta.db_table)
        functions = [*connection.ops.get_db_converters(column), *column.get_db_converters(connection)]
        if functions:
            found.append((index, column, tuple(functions)))
    return tuple(found)
