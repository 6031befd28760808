"""SQL building blocks shared by the insights queries, for SQLite and PostgreSQL alike.

Durations are measured in seconds by :class:`Seconds` rather than with Django's duration
arithmetic, because logarithms and comparisons with SLA targets need a plain number on
both databases. SLA targets come from the workspace's table (``routing.queries.targets_table``)
as a ``CASE`` over (severity, entitlement): no per-row Python.
"""

from collections.abc import Iterable
from typing import Any

from django.db import connections
from django.db.models import (
    BooleanField,
    Exists,
    Expression,
    F,
    FloatField,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models import Case as SqlCase
from django.db.models.functions import Coalesce

from fairdesk.cases.models import DeliveryStatus, Direction, Message, Visibility
from fairdesk.routing.policy import Targets

TargetsTable = dict[tuple[str, str], Targets]

TIER_UNDER_100 = "<100"
TIER_100 = "100–1k"  # noqa: RUF001 - the en dash is the label shown to people
TIER_1K = "1k–10k"  # noqa: RUF001
TIER_10K = "10k–100k"  # noqa: RUF001
TIER_100K = "≥100k"
UNKNOWN_TIER = "unknown"
FOLLOWER_TIERS = (TIER_UNDER_100, TIER_100, TIER_1K, TIER_10K, TIER_100K, UNKNOWN_TIER)
TIER_LIMITS = ((100, TIER_UNDER_100), (1_000, TIER_100), (10_000, TIER_1K), (100_000, TIER_10K))

# Replies that never left (held by the tone guard, failed to send) answered nobody.
NOT_DELIVERED = (DeliveryStatus.HELD, DeliveryStatus.FAILED)


# Seconds from ``start`` to ``end``, per backend: what :class:`Seconds` writes, and what
# raw SQL templates over named columns write through :func:`seconds_sql`.
_SECONDS_SQL = {
    "postgresql": "EXTRACT(EPOCH FROM ({end} - {start}))::double precision",
    "sqlite": "ROUND((julianday({end}) - julianday({start})) * 86400.0, 3)",
}


def seconds_sql(vendor: str, end: str, start: str) -> str:
    """:class:`Seconds` between two SQL expressions (column names, say) as SQL text."""
    return _SECONDS_SQL[vendor].format(end=end, start=start)


class Seconds(Func):
    """Seconds from ``start`` to ``end`` as a float (negative when ``end`` is earlier).

    PostgreSQL: ``EXTRACT(EPOCH FROM end - start)``, exact. SQLite stores datetimes as
    text: the difference of two ``julianday`` values, rounded to the millisecond so whole
    seconds come out exact. NULL when either side is NULL.
    """

    arity = 2
    output_field = FloatField()

    def __init__(self, end: Any, start: Any) -> None:
        super().__init__(end, start)

    def as_sql(  # type: ignore[override]
        self, compiler: Any, connection: Any, **extra: Any
    ) -> tuple[str, tuple[Any, ...]]:
        (end, end_params), (start, start_params) = (
            compiler.compile(part) for part in self.get_source_expressions()
        )
        return seconds_sql(connection.vendor, end, start), (*end_params, *start_params)


def resolved_at(prefix: str = "") -> Coalesce:
    """When the case was resolved, or closed without a resolution time."""
    return Coalesce(F(f"{prefix}resolved_at"), F(f"{prefix}closed_at"))


def target_seconds(targets: TargetsTable, kind: str, *, prefix: str = "") -> SqlCase:
    """The SLA target of ``kind`` (first_response, next_response, resolution) in seconds.

    ``prefix`` reaches the case from another model (``"case__"`` from a message).
    """
    whens = [
        When(
            Q(**{f"{prefix}severity": severity, f"{prefix}entitlement": entitlement}),
            then=Value(getattr(cell, kind).total_seconds()),
        )
        for (severity, entitlement), cell in targets.items()
    ]
    return SqlCase(*whens, default=Value(None), output_field=FloatField())


def first_inbound(field: str, *, outer: str | None = None) -> Subquery:
    """A field of the case's first customer message (index ``message_timeline_idx``);
    ``outer``: the case is ``OuterRef(OuterRef(outer))``, for a subquery inside another."""
    case = OuterRef("pk") if outer is None else OuterRef(OuterRef(outer))
    return Subquery(
        Message.objects.filter(case=case, direction=Direction.INBOUND)
        .order_by("sent_at", "id")
        .values(field)[:1]
    )


def follower_tier(followers: str) -> SqlCase:
    """The reach band of the field ``followers``; no count (e-mail, phone) is unknown."""
    return SqlCase(
        When(Q(**{f"{followers}__isnull": True}), then=Value(UNKNOWN_TIER)),
        *(When(Q(**{f"{followers}__lt": limit}), then=Value(name)) for limit, name in TIER_LIMITS),
        default=Value(TIER_100K),
    )


def replied(*, case: str = "case", since: str = "sent_at") -> Exists:
    """An outbound reply on ``OuterRef(case)`` written at or after ``OuterRef(since)``.

    Queued and sent replies count; held or failed ones did not reach anyone, and an
    internal note is not a reply. Uses ``message_reply_idx`` (case_id, sent_at), partial
    on exactly this condition: one index-only probe per check.
    """
    return Exists(
        Message.objects.filter(
            case=OuterRef(case),
            direction=Direction.OUTBOUND,
            sent_at__gte=OuterRef(since),
        )
        .exclude(delivery_status__in=NOT_DELIVERED)
        .exclude(visibility=Visibility.INTERNAL)
    )


class AnyOf(Expression):
    """A condition: ``column`` is one of the integers ``values``. On PostgreSQL one array
    parameter (``= ANY(%s::bigint[])``), so that thousands of ids cost neither a placeholder each
    to write nor a constant each to plan (a chunk of 5,000 contact ids as an ``IN`` list
    took ~50 ms to write and 10 ms to plan, per query); elsewhere an ``IN`` list of the
    integers themselves (written here from ``int``, so nothing but digits)."""

    conditional = True
    output_field = BooleanField()

    def __init__(self, column: str, values: Iterable[int]) -> None:
        super().__init__()
        self.column: Any = F(column)
        self.values = [int(value) for value in values]

    def get_source_expressions(self) -> list[Any]:
        return [self.column]

    def set_source_expressions(self, exprs: Any) -> None:
        (self.column,) = exprs

    def as_sql(self, compiler: Any, connection: Any, **_: Any) -> tuple[str, tuple[Any, ...]]:
        column, params = compiler.compile(self.column)
        if not self.values:
            return "1 = 0", ()
        if connection.vendor == "postgresql":
            return f"{column} = ANY(%s::bigint[])", (*params, self.values)
        return f"{column} IN ({', '.join(map(str, self.values))})", tuple(params)


def union_all(parts: list[QuerySet[Any]]) -> QuerySet[Any]:
    """The parts (cells of rolled-up days, live rows) as one ``UNION ALL``."""
    return parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]


def run_over(rows: QuerySet[Any], template: str) -> list[tuple[Any, ...]]:
    """Run the SQL ``template`` with ``rows`` (a query) in place of ``{rows}``: grouping
    over a ``UNION ALL``, which the ORM does not write."""
    sql, params = rows.query.get_compiler(using=rows.db).as_sql()
    with connections[rows.db].cursor() as cursor:
        cursor.execute(template.format(rows=sql), params)
        return list(cursor.fetchall())
