"""Writing many rows' own values in one statement, without the expressions Django's ``bulk_update`` builds.

``bulk_update`` writes ``CASE WHEN pk = … THEN … END`` for every row and field: for a batch of 50 rows and 6
fields that is 300 expressions resolved in Python, most of the job's time on a hot path (a broadcast's
outcomes). ``rows_update`` joins the rows to a list of values instead (``UPDATE … FROM (VALUES …)``, on
PostgreSQL and SQLite 3.33+), each value prepared by its field as Django would save it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from django.db import connections, router
from django.db.models import Field, Model

# SQLite takes at most this many values in one statement.
_SQLITE_MAX_PARAMS = 999


def rows_update(model: type[Model], objs: Sequence[Model], fields: Sequence[str], *, when: str = "") -> int:
    """Write ``fields`` of ``objs`` (saved rows of ``model``) as they are on the objects, in one statement (a
    few on SQLite, which limits its values). ``when``: an SQL condition a row must also meet to be written,
    naming the table's columns as ``t.<column>`` and the new values as ``v.<column>``: a constant of the
    caller's code, never built from input (it takes no parameters).
    Returns how many rows were written. Like ``bulk_update``, it sends no signals and leaves ``auto_now``
    fields alone unless they are named."""
    if not objs:
        return 0
    database = router.db_for_write(model)
    connection = connections[database]
    meta = model._meta
    pk = cast(Field, meta.pk)
    columns = [cast(Field, meta.get_field(name)) for name in fields]
    quote = connection.ops.quote_name
    names: list[str] = ["pk", *(str(field.column) for field in columns)]
    postgres = connection.vendor == "postgresql"

    def placeholder(field: Any) -> str:
        # PostgreSQL types a list of values by its first row: each value is cast to its column's type.
        return f"CAST(%s AS {field.db_type(connection)})" if postgres else "%s"

    row_sql = "(" + ", ".join([placeholder(pk), *(placeholder(field) for field in columns)]) + ")"
    assignments = ", ".join(f"{quote(name)} = v.{quote(name)}" for name in names[1:])
    condition = f" AND ({when})" if when else ""
    per_statement = max(1, _SQLITE_MAX_PARAMS // len(names)) if not postgres else len(objs)
    written = 0
    with connection.cursor() as cursor:
        for start in range(0, len(objs), per_statement):
            chunk = objs[start : start + per_statement]
            params: list[Any] = []
            for obj in chunk:
                params.append(pk.get_db_prep_save(obj.pk, connection))
                params.extend(field.get_db_prep_save(getattr(obj, field.attname), connection) for field in columns)
            # Identifiers from the model, quoted; values as parameters; ``when`` is the caller's constant SQL.
            values = f"VALUES {', '.join([row_sql] * len(chunk))}"
            if postgres:
                source = f"({values}) AS v({', '.join(quote(name) for name in names)})"
            else:  # SQLite names a list's columns column1, column2 …
                named = ", ".join(f"column{i} AS {quote(name)}" for i, name in enumerate(names, start=1))
                source = f"(SELECT {named} FROM ({values})) AS v"  # noqa: S608
            update = f"UPDATE {quote(meta.db_table)} AS t SET {assignments} FROM {source} "  # noqa: S608
            sql = update + f"WHERE t.{quote(str(pk.column))} = v.{quote('pk')}{condition}"
            cursor.execute(sql, params)
            written += cursor.rowcount
    return written
