"""Batch UPDATEs without the ORM's per-row CASE expressions.

Django's ``bulk_update`` builds one ``CASE WHEN id = … THEN …`` per field and row, and
resolving those expressions costs more than the database work. The pipeline instead
sends one parameterised ``UPDATE … WHERE id = %s`` through ``executemany``: a prepared
statement on SQLite, a pipelined batch on psycopg 3.
"""

from collections.abc import Iterable, Sequence

from django.db import connection, models


def update_rows(
    model: type[models.Model], objs: Iterable[models.Model], fields: Sequence[str]
) -> int:
    """Write ``fields`` of each (saved) object back to its row. Returns rows sent."""
    concrete = [model._meta.get_field(name) for name in fields]
    columns = ", ".join(
        f"{connection.ops.quote_name(str(f.column))} = %s"  # type: ignore[union-attr]
        for f in concrete
    )
    pk = model._meta.pk
    assert pk is not None
    sql = (
        f"UPDATE {connection.ops.quote_name(model._meta.db_table)} SET {columns} "
        f"WHERE {connection.ops.quote_name(str(pk.column))} = %s"
    )
    params = []
    for obj in objs:
        row = [
            f.get_db_prep_save(getattr(obj, f.attname), connection)  # type: ignore[union-attr]
            for f in concrete
        ]
        row.append(obj.pk)
        params.append(row)
    if params:
        with connection.cursor() as cursor:
            cursor.executemany(sql, params)
    return len(params)


def insert_rows(model: type[models.Model], objs: Sequence[models.Model]) -> int:
    """INSERT objects whose ids are not needed afterwards; duplicates are skipped.

    Relies on the table's unique constraints: a row that already exists is left alone
    (``ON CONFLICT DO NOTHING``), which makes a repeated delivery a no-op.
    """
    if not objs:
        return 0
    concrete = [f for f in model._meta.concrete_fields if not f.primary_key]
    quote = connection.ops.quote_name
    columns = ", ".join(quote(str(f.column)) for f in concrete)
    placeholders = ", ".join(["%s"] * len(concrete))
    sql = (
        f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({placeholders}) "
        "ON CONFLICT DO NOTHING"
    )
    params = []
    for obj in objs:
        obj._prepare_related_fields_for_save(operation_name="insert_rows")  # type: ignore[attr-defined]
        params.append([f.get_db_prep_save(f.pre_save(obj, add=True), connection) for f in concrete])
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)
    return len(params)
