"""Set-based writes: one ``INSERT … ON CONFLICT … DO UPDATE … WHERE … IS DISTINCT FROM`` per batch.

A row identical to the stored one is neither written nor returned, so an identical re-send changes
nothing and costs one statement; a new row is inserted and a changed one updated in the same statement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import connection, models

MAX_PARAMS = 60_000  # PostgreSQL allows 65,535 bind parameters per statement


@dataclass(frozen=True)
class Written:
    pk: int
    key: tuple[Any, ...]  # the conflict columns' values
    inserted: bool


def _column(model: type[models.Model], name: str) -> tuple[str, models.Field]:
    field = model._meta.get_field(name)
    return str(field.column), field  # type: ignore[union-attr, return-value]


def upsert(
    model: type[models.Model],
    rows: Sequence[dict[str, Any]],
    *,
    conflict: tuple[str, ...],
    compare: tuple[str, ...],
    also_set: tuple[str, ...] = (),
) -> list[Written]:
    """Insert ``rows`` (field name → value) or update them where ``conflict`` matches a stored row and
    any of ``compare`` differs (``also_set`` is written with them, never compared: ``updated_at``).
    Rows are written in the order given: callers sort them, so concurrent writers lock alike."""
    if not rows:
        return []
    names = list(rows[0])
    quote = connection.ops.quote_name
    columns = [_column(model, n) for n in names]
    table = quote(model._meta.db_table)
    conflict_cols = [quote(_column(model, n)[0]) for n in conflict]
    compare_cols = [quote(_column(model, n)[0]) for n in compare]
    set_cols = [quote(_column(model, n)[0]) for n in (*compare, *also_set)]
    row_sql = "(" + ", ".join(["%s"] * len(names)) + ")"
    returned: list[Written] = []
    per_statement = max(1, MAX_PARAMS // len(names))
    for start in range(0, len(rows), per_statement):
        chunk = rows[start : start + per_statement]
        params: list[Any] = []
        for row in chunk:
            params.extend(
                field.get_db_prep_save(row[name], connection)
                for name, (_, field) in zip(names, columns, strict=True)
            )
        # Identifiers come from the model's metadata, quoted; every value is a bound parameter.
        sql = (
            f"INSERT INTO {table} ({', '.join(quote(c) for c, _ in columns)}) "  # noqa: S608
            f"VALUES {', '.join([row_sql] * len(chunk))} "
            f"ON CONFLICT ({', '.join(conflict_cols)}) DO UPDATE SET "
            + ", ".join(f"{c} = EXCLUDED.{c}" for c in set_cols)
            + f" WHERE ({', '.join(f'{table}.{c}' for c in compare_cols)}) "
            f"IS DISTINCT FROM ({', '.join(f'EXCLUDED.{c}' for c in compare_cols)}) "
            f"RETURNING {table}.id, (xmax = 0), {', '.join(f'{table}.{c}' for c in conflict_cols)}"
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            returned.extend(Written(row[0], tuple(row[2:]), bool(row[1])) for row in cursor.fetchall())
    return returned
