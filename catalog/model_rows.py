"""Model instances from rows read with a plain cursor.

For hot reads whose ORM query would cost more to build than to run (search result pages): the
SQL names every concrete field in order (``model_columns``), and ``model_from_row`` applies the
same database converters the ORM applies (a JSONField's decoding, for example) before
``Model.from_db``, so the instances are what the ORM would have made.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

from django.db import connection
from django.db.models import Model

M = TypeVar("M", bound=Model)
Converter = Callable[[Any, Any, Any], Any]


def model_columns(model: type[Model], alias: str) -> str:
    """``alias."col", ...`` for every concrete field of ``model``, in the order from_db expects."""
    quote = connection.ops.quote_name
    return ", ".join(f"{alias}.{quote(cast(str, field.column))}" for field in model._meta.concrete_fields)


def model_from_row(model: type[M], values: Sequence[Any]) -> M:
    """An instance of ``model`` from the values of its ``model_columns``."""
    if converters := _converters(model):
        values = list(values)
        for index, column, functions in converters:
            for function in functions:
                values[index] = function(values[index], column, connection)
    return model.from_db(connection.alias, _attnames(model), values)


@functools.cache
def _attnames(model: type[Model]) -> tuple[str, ...]:
    return tuple(field.attname for field in model._meta.concrete_fields)


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
