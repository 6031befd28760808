"""Batch INSERTs and UPDATEs without the ORM's per-row overhead, on both databases.

PostgreSQL: one multi-row statement per chunk (``INSERT … VALUES (…),(…) ON CONFLICT DO
NOTHING``; ``UPDATE t SET … FROM (VALUES …) AS v WHERE t.id = v.id``), sent through a
server-side-binding cursor so that the values travel as parameters instead of being
quoted into the SQL text by the client. SQLite: one prepared statement per row through
``executemany``, which is the fast path there.

Every value is a bound parameter; only identifiers and column types taken from the model
definitions are ever written into the SQL text.
"""

import functools
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

from django.db import connection, models

# PostgreSQL accepts at most 65,535 bound parameters per statement.
PG_MAX_PARAMS = 65_000
PG_MAX_ROWS = 500


def is_postgresql() -> bool:
    return connection.vendor == "postgresql"


def adapt_datetime(value: datetime | None) -> object:
    """An aware datetime as the database stores it (SQLite: Django's naive UTC text)."""
    if value is None or is_postgresql():
        return value
    return connection.ops.adapt_datetimefield_value(value)


@contextmanager
def cursor() -> Iterator[Any]:
    """A Django cursor; on PostgreSQL one that binds parameters on the server.

    It is wrapped like ``connection.cursor()`` so that execute wrappers and query
    logging (``CaptureQueriesContext``) see every statement.
    """
    if not is_postgresql():
        with connection.cursor() as django_cursor:
            yield django_cursor
        return
    import psycopg

    connection.ensure_connection()
    # RawCursor: the SQL already carries PostgreSQL's own $n placeholders, so psycopg has
    # no query text to rewrite (that rewrite is not cached for long statements and cost
    # more than the INSERT itself).
    raw: Any = psycopg.RawCursor(connection.connection)
    wrapped = (
        connection.make_debug_cursor(raw)
        if connection.queries_logged
        else connection.make_cursor(raw)
    )
    with wrapped as django_cursor:
        yield django_cursor


@functools.lru_cache(maxsize=64)
def _values_sql(width: int, rows: int, casts: tuple[str, ...] = ()) -> str:
    """``($1, $2), ($3, $4), …`` (with ``::type`` casts when given) for PostgreSQL."""
    suffix = [f"::{kind}" for kind in casts] if casts else [""] * width
    return ", ".join(
        "(" + ", ".join(f"${row * width + col + 1}{suffix[col]}" for col in range(width)) + ")"
        for row in range(rows)
    )


def _chunks(rows: Sequence[Sequence[object]], width: int) -> Iterator[Sequence[Sequence[object]]]:
    size = max(1, min(PG_MAX_ROWS, PG_MAX_PARAMS // max(1, width)))
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def insert_values(
    table: str, columns: Sequence[str], rows: Sequence[Sequence[object]], *, ignore: bool = True
) -> int:
    """INSERT raw parameter rows; with ``ignore``, rows hitting a unique constraint are
    skipped (``ON CONFLICT DO NOTHING``). Returns how many rows were actually inserted."""
    if not rows:
        return 0
    quote = connection.ops.quote_name
    names = ", ".join(quote(c) for c in columns)
    tail = " ON CONFLICT DO NOTHING" if ignore else ""
    inserted = 0
    with cursor() as c:
        if is_postgresql():
            for chunk in _chunks(rows, len(columns)):
                values = _values_sql(len(columns), len(chunk))
                sql = f"INSERT INTO {quote(table)} ({names}) VALUES {values}{tail}"
                c.execute(sql, [value for row in chunk for value in row])
                inserted += max(0, c.rowcount)
        else:
            row_sql = "(" + ", ".join(["%s"] * len(columns)) + ")"
            c.executemany(f"INSERT INTO {quote(table)} ({names}) VALUES {row_sql}{tail}", rows)
            inserted = max(0, c.rowcount)
    return inserted


def update_values(
    table: str,
    columns: Sequence[tuple[str, str]],
    rows: Sequence[Sequence[object]],
    *,
    pk: tuple[str, str] = ("id", "bigint"),
) -> int:
    """UPDATE rows by primary key. ``columns`` are (name, SQL type) pairs; each row holds
    their values followed by the key. Returns rows sent."""
    if not rows:
        return 0
    quote = connection.ops.quote_name
    with cursor() as c:
        if is_postgresql():
            names = [*(name for name, _ in columns), pk[0]]
            casts = (*(kind for _, kind in columns), pk[1])
            alias = ", ".join(quote("v_" + n) for n in names)
            assignments = ", ".join(f"{quote(n)} = v.{quote('v_' + n)}" for n, _ in columns)
            for chunk in _chunks(rows, len(names)):
                values = _values_sql(len(names), len(chunk), casts)
                sql = (
                    f"UPDATE {quote(table)} AS t SET {assignments} FROM (VALUES {values}) "
                    f"AS v ({alias}) WHERE t.{quote(pk[0])} = v.{quote('v_' + pk[0])}"
                )
                c.execute(sql, [value for row in chunk for value in row])
        else:
            assignments = ", ".join(f"{quote(n)} = %s" for n, _ in columns)
            c.executemany(
                f"UPDATE {quote(table)} SET {assignments} WHERE {quote(pk[0])} = %s", rows
            )
    return len(rows)


def _pk(model: type[models.Model]) -> tuple[str, str]:
    pk = model._meta.pk
    assert pk is not None
    return str(pk.column), str(pk.rel_db_type(connection))


def _adapter(field: Any) -> Callable[[Any], object]:
    """How a value of ``field`` is bound: datetimes and plain scalars directly (the
    ORM's per-value preparation costs more than the write), anything else as the ORM
    prepares it."""
    if isinstance(field, models.DateTimeField):
        return adapt_datetime
    if isinstance(field, models.CharField | models.TextField | models.ForeignKey):
        return _same
    if isinstance(field, models.IntegerField | models.BooleanField):
        return _same
    return lambda value: field.get_db_prep_save(value, connection)


def _same(value: object) -> object:
    return value


def update_rows(
    model: type[models.Model], objs: Iterable[models.Model], fields: Sequence[str]
) -> int:
    """Write ``fields`` of each (saved) object back to its row. Returns rows sent."""
    concrete = [model._meta.get_field(name) for name in fields]
    columns = [
        (str(f.column), str(f.db_type(connection)))  # type: ignore[union-attr]
        for f in concrete
    ]
    getters = [(str(f.attname), _adapter(f)) for f in concrete]  # type: ignore[union-attr]
    params = []
    for obj in objs:
        row = [adapt(getattr(obj, attname)) for attname, adapt in getters]
        row.append(obj.pk)
        params.append(row)
    return update_values(model._meta.db_table, columns, params, pk=_pk(model))


def insert_rows(model: type[models.Model], objs: Sequence[models.Model]) -> int:
    """INSERT objects whose ids are not needed afterwards; duplicates are skipped.

    Relies on the table's unique constraints: a row that already exists is left alone
    (``ON CONFLICT DO NOTHING``), which makes a repeated delivery a no-op.
    """
    if not objs:
        return 0
    columns, params = _object_rows(model, objs)
    insert_values(model._meta.db_table, columns, params)
    return len(params)


def create_rows(model: type[models.Model], objs: Sequence[models.Model]) -> None:
    """``bulk_create`` that sets the new ids, as one multi-row ``INSERT … RETURNING`` per
    chunk on PostgreSQL (Django's own builds arrays it quotes on the client, which costs
    more than the insert); Django's ``bulk_create`` on SQLite."""
    if not objs:
        return
    if not is_postgresql():
        model._default_manager.bulk_create(objs, batch_size=500)
        return
    columns, params = _object_rows(model, objs)
    pk = model._meta.pk
    assert pk is not None
    quote = connection.ops.quote_name
    names = ", ".join(quote(c) for c in columns)
    ids: list[object] = []
    with cursor() as c:
        for chunk in _chunks(params, len(columns)):
            values = _values_sql(len(columns), len(chunk))
            c.execute(
                f"INSERT INTO {quote(model._meta.db_table)} ({names}) VALUES {values} "
                f"RETURNING {quote(str(pk.column))}",
                [value for row in chunk for value in row],
            )
            ids.extend(row[0] for row in c.fetchall())
    for obj, new_id in zip(objs, ids, strict=True):
        obj.pk = new_id
        obj._state.adding = False
        obj._state.db = connection.alias


def _object_rows(
    model: type[models.Model], objs: Sequence[models.Model]
) -> tuple[list[str], list[list[object]]]:
    concrete = [f for f in model._meta.concrete_fields if not f.primary_key]
    adapters = [(f, _adapter(f)) for f in concrete]
    params = []
    for obj in objs:
        obj._prepare_related_fields_for_save(operation_name="insert_rows")  # type: ignore[attr-defined]
        params.append([adapt(f.pre_save(obj, add=True)) for f, adapt in adapters])
    return [str(f.column) for f in concrete], params
