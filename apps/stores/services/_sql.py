"""Set-based writes: one ``INSERT … ON CONFLICT … DO UPDATE … WHERE … IS DISTINCT FROM`` per batch.

A row identical to the stored one is neither written nor returned, so an identical re-send changes
nothing and costs one statement; a new row is inserted and a changed one updated in the same statement.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.db import connection, models

# Fields whose Python value needs Django's conversion before the database sees it.
_PREPARED = (models.JSONField, models.BinaryField)


@contextmanager
def bound_cursor() -> Iterator[Any]:
    """A server-side-binding psycopg cursor on Django's connection, in the tenant's search path.

    Django's psycopg backend interpolates parameters on the client; for statements whose parameters
    are whole columns (arrays of thousands of values) binding them on the server is several times
    cheaper. A Django cursor is opened first, so django-tenants has set the search path."""
    import psycopg

    with connection.cursor():
        raw = psycopg.Cursor(connection.connection)
        try:
            yield raw
        finally:
            raw.close()


@dataclass(frozen=True)
class Written:
    pk: int
    key: tuple[Any, ...]  # the conflict columns' values
    inserted: bool


def _column(model: type[models.Model], name: str) -> tuple[str, models.Field]:
    field = model._meta.get_field(name)
    return str(field.column), field  # type: ignore[union-attr, return-value]


def model_defaults(model: type[models.Model], now: Any) -> dict[str, Any]:
    """A new row's values for the fields a caller does not give: each field's default, and ``now`` for
    ``auto_now``/``auto_now_add`` ones (the model's rules, applied where ``save`` would apply them)."""
    values: dict[str, Any] = {}
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            values[field.name] = now
        else:
            values[field.name] = field.get_default()  # "" for text fields, None without a default
    return values


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
    Rows go in as one array per column (``unnest``): one short statement whatever the batch size.
    The arrays are sent in PostgreSQL's binary format (``%b``): the text format quotes and escapes
    every element in Python, which cost more than the statement itself at a thousand rows.
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
    arrays = [
        [field.get_db_prep_save(row[name], connection) for row in rows]
        if isinstance(field, _PREPARED)
        else [row[name] for row in rows]  # str, int, bool, Decimal, datetime, None: psycopg adapts them
        for name, (_, field) in zip(names, columns, strict=True)
    ]
    types = [field.db_type(connection) for _, field in columns]
    # Identifiers and types come from the model's metadata, quoted; every value is a bound parameter.
    if compare_cols:
        on_conflict = (
            f"DO UPDATE SET {', '.join(f'{c} = EXCLUDED.{c}' for c in set_cols)} "
            f"WHERE ({', '.join(f'{table}.{c}' for c in compare_cols)}) "
            f"IS DISTINCT FROM ({', '.join(f'EXCLUDED.{c}' for c in compare_cols)}) "
        )
    else:
        on_conflict = "DO NOTHING "  # nothing to compare: only new rows are written
    sql = (
        f"INSERT INTO {table} ({', '.join(quote(c) for c, _ in columns)}) "  # noqa: S608
        f"SELECT * FROM unnest({', '.join(f'%b::{t}[]' for t in types)}) "
        f"ON CONFLICT ({', '.join(conflict_cols)}) {on_conflict}"
        f"RETURNING {table}.id, (xmax = 0), {', '.join(f'{table}.{c}' for c in conflict_cols)}"
    )
    with bound_cursor() as cursor:
        cursor.execute(sql, arrays)
        return [Written(row[0], tuple(row[2:]), bool(row[1])) for row in cursor.fetchall()]


def delete_unlisted(model: type[models.Model], *, parent: str, listed: dict[int, set[str]]) -> int:
    """Delete the children of the given parents whose ``platform_id`` is not listed for their parent
    (a list that is sent is the complete list), in one statement."""
    if not listed:
        return 0
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    parent_col = quote(_column(model, parent)[0])
    parents = list(listed)
    keep_parents = [p for p, ids in listed.items() for _ in ids]
    keep_ids = [i for ids in listed.values() for i in ids]
    sql = (
        f"DELETE FROM {table} WHERE {parent_col} = ANY(%s::bigint[]) "  # noqa: S608 - identifiers from model metadata
        f"AND ({parent_col}, platform_id) NOT IN (SELECT * FROM unnest(%s::bigint[], %s::text[]))"
    )
    with bound_cursor() as cursor:
        cursor.execute(sql, [parents, keep_parents, keep_ids])
        return int(cursor.rowcount)


def insert_new(model: type[models.Model], row: dict[str, Any], *, conflict: tuple[str, ...]) -> int | None:
    """Insert one row unless ``conflict`` matches a stored one: its id, or None for a duplicate."""
    quote = connection.ops.quote_name
    columns = [_column(model, n) for n in row]
    values = [
        field.get_db_prep_save(row[name], connection) for name, (_, field) in zip(row, columns, strict=True)
    ]
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(c) for c, _ in columns)}) "  # noqa: S608 - identifiers from model metadata
        f"VALUES ({', '.join(['%s'] * len(values))}) "
        f"ON CONFLICT ({', '.join(quote(_column(model, n)[0]) for n in conflict)}) DO NOTHING RETURNING id"
    )
    with bound_cursor() as cursor:  # server-side binding: a body's bytes are not escaped into the SQL
        cursor.execute(sql, values)
        found = cursor.fetchone()
    return int(found[0]) if found else None


def rows_by_platform_id(
    model: type[models.Model], *, store_pk: int, keys: Sequence[str], fields: Sequence[str] = ("pk",)
) -> dict[str, tuple[Any, ...]]:
    """``platform_id`` → the values of ``fields`` for the store's rows among ``keys``, in one statement
    whose keys go as one bound array (the ORM's ``__in`` spells out and quotes every key)."""
    if not keys:
        return {}
    quote = connection.ops.quote_name
    columns = [quote(_column(model, "id" if f == "pk" else f)[0]) for f in fields]
    sql = (
        f"SELECT platform_id, {', '.join(columns)} FROM {quote(model._meta.db_table)} "  # noqa: S608 - identifiers from model metadata
        f"WHERE {quote(_column(model, 'store')[0])} = %s AND platform_id = ANY(%b::text[])"
    )
    with bound_cursor() as cursor:
        cursor.execute(sql, [store_pk, list(keys)])
        return {row[0]: tuple(row[1:]) for row in cursor.fetchall()}


def ids_by_platform_id(model: type[models.Model], *, store_pk: int, keys: Collection[str]) -> dict[str, int]:
    """``platform_id`` → id of the store's rows among ``keys`` (``rows_by_platform_id`` of the id)."""
    return {k: v[0] for k, v in rows_by_platform_id(model, store_pk=store_pk, keys=list(keys)).items()}
