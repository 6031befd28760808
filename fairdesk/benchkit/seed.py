"""``fairdesk bench seed``: a realistic workspace of N cases and M messages, fast.

The staff (teams, ~40 agents, employees, root causes, saved views) is created through
the ORM; contacts, identities, cases, messages, case events and CSAT answers come from
:mod:`fairdesk.benchkit.rows` and go to the database in chunks — by ``COPY`` on
PostgreSQL, by ``bulk_create`` elsewhere. A second, small workspace is seeded beside it
so that isolation can be checked against real data.

On PostgreSQL the secondary indexes and foreign keys of the five big tables are dropped
for the load and rebuilt at the end (one index build beats millions of index inserts),
all in ONE transaction: if anything fails the database is left exactly as it was, indexes
included. The tables are locked against writers meanwhile: seed a bench database, not a
live one (``--keep-indexes`` loads through the indexes instead).

A workspace that already exists is refused: the seed never mixes two runs.
"""

import json
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import connection, models, transaction

from fairdesk.benchkit import case_rows
from fairdesk.benchkit import rows as R
from fairdesk.benchkit.texts import TextPools
from fairdesk.cases.models import Case, CaseEvent, Message
from fairdesk.contacts.models import Contact, ContactIdentity
from fairdesk.insights.models import RootCause
from fairdesk.portal.models import CsatResponse
from fairdesk.routing import services as routing_services
from fairdesk.routing.queries import targets_table
from fairdesk.workspaces.models import Agent, Employee, Workspace
from fairdesk.workspaces.services import create_workspace

TABLES: dict[str, tuple[type[models.Model], tuple[str, ...]]] = {
    "contact": (Contact, R.CONTACT_COLUMNS),
    "identity": (ContactIdentity, R.IDENTITY_COLUMNS),
    "case": (Case, R.CASE_COLUMNS),
    "message": (Message, R.MESSAGE_COLUMNS),
    "event": (CaseEvent, R.EVENT_COLUMNS),
    "csat": (CsatResponse, R.CSAT_COLUMNS),
}
# Tables whose indexes are rebuilt after the load on PostgreSQL (CSAT is small).
REBUILT = ("contact", "identity", "case", "message", "event")
CHUNK_CASES = 20_000
AGENTS_PER_TEAM = {"front-line": 22, "security": 4, "field-service": 7, "billing": 7}
CAUSES = {
    "delivery": [
        ("courier-missed-slot", "Courier missed the slot"),
        ("warehouse-delay", "Warehouse dispatch delay"),
    ],
    "billing": [("double-charge", "Card charged twice at checkout")],
    "account": [("reset-mail-lost", "Password reset mail not delivered")],
    "repair": [("heating-element-batch", "Faulty heating element batch")],
    "integration": [("api-rate-limit", "API rate limit too low for CRM sync")],
    "security": [("checkout-leak", "Checkout showed other customers' data")],
}
MANAGERS = ("Grace Hopper", "Alan Turing", "Katherine Johnson", "Edsger Dijkstra")


class SeedRefused(Exception):
    """The seed cannot run (the workspace exists, or the sizes make no sense)."""


@dataclass(slots=True)
class SeedResult:
    db: str
    workspace: str
    other_workspace: str
    counts: dict[str, int]
    other_counts: dict[str, int]
    seconds: dict[str, float] = field(default_factory=dict)
    texts: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "db": self.db,
            "workspace": self.workspace,
            "other_workspace": self.other_workspace,
            "counts": self.counts,
            "other_counts": self.other_counts,
            "seconds": self.seconds,
            "texts": self.texts,
        }


def seed(
    *,
    slug: str,
    cases: int,
    messages: int,
    seed: int,
    pools: TextPools,
    until: datetime | None = None,
    days: int = 365,
    other_cases: int | None = None,
    password: str = "bench",  # noqa: S107 (a throwaway login for a local bench workspace)
    keep_indexes: bool = False,
    progress: Any = None,
) -> SeedResult:
    """Seed workspace ``slug`` and ``slug-other``; refuse if either exists."""
    other_slug = f"{slug}-other"
    if cases < 1 or messages < cases:
        raise SeedRefused("Seed at least one case, and at least as many messages as cases.")
    taken = list(
        Workspace.objects.filter(slug__in=[slug, other_slug]).values_list("slug", flat=True)
    )
    if taken:
        raise SeedRefused(
            f"Workspace {', '.join(sorted(taken))} exists already: a seed never adds to an "
            "earlier one. Seed another --workspace, or start from a fresh database."
        )
    until = (until or datetime.now(UTC)).astimezone(UTC).replace(second=0, microsecond=0)
    other_cases = other_cases if other_cases is not None else max(1, min(1000, cases // 10))
    say = progress or (lambda text: None)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    with transaction.atomic():
        first = _first_ids()
        loader = _Loader(keep_indexes=keep_indexes or connection.vendor != "postgresql")
        loader.prepare()
        timings["prepare"] = _lap(started)
        main_counts = _seed_one(
            slug,
            "Bench",
            cases,
            messages,
            seed,
            pools,
            until,
            days,
            first,
            password,
            AGENTS_PER_TEAM,
            loader,
            say,
        )
        timings["load"] = _lap(started) - timings["prepare"]
        other_counts = _seed_one(
            other_slug,
            "Bench (other tenant)",
            other_cases,
            other_cases * max(1, messages // cases),
            seed + 1,
            pools,
            until,
            days,
            loader.next_ids,
            password,
            {"front-line": 2, "security": 1, "field-service": 1, "billing": 1},
            loader,
            say,
        )
        say("rebuilding indexes and foreign keys")
        rebuild_started = time.perf_counter()
        loader.finish()
        timings["indexes"] = _lap(rebuild_started)
    analyse_started = time.perf_counter()
    say("analysing")
    loader.analyse()
    timings["analyse"] = _lap(analyse_started)
    timings["total"] = _lap(started)
    return SeedResult(
        db=connection.vendor,
        workspace=slug,
        other_workspace=other_slug,
        counts=main_counts,
        other_counts=other_counts,
        seconds=timings,
        texts=pools.source,
    )


def _lap(since: float) -> float:
    return round(time.perf_counter() - since, 1)


def _first_ids() -> dict[str, int]:
    """The next free id of each table (the tables are locked on PostgreSQL first)."""
    ids = {}
    with connection.cursor() as cursor:
        for key, (model, _) in TABLES.items():
            table = model._meta.db_table
            if connection.vendor == "postgresql":
                cursor.execute(f"LOCK TABLE {table} IN SHARE ROW EXCLUSIVE MODE")
            cursor.execute(f"SELECT COALESCE(MAX(id), 0) + 1 FROM {table}")
            ids[key] = int(cursor.fetchone()[0])
    return ids


def _seed_one(
    slug: str,
    name: str,
    cases: int,
    messages: int,
    seed: int,
    pools: TextPools,
    until: datetime,
    days: int,
    first_ids: dict[str, int],
    password: str,
    team_sizes: dict[str, int],
    loader: "_Loader",
    say: Any,
) -> dict[str, int]:
    workspace = create_workspace(name=name, slug=slug, brand_handle=R.BRAND)
    staff = _staff(workspace, team_sizes, password)
    plan = R.Plan(
        workspace_id=workspace.pk,
        cases=cases,
        messages=messages,
        contacts=max(1, cases * 2 // 5),
        until=until,
        days=days,
        seed=seed,
        first_ids=first_ids,
    )
    contact_rows, identity_rows, people = R.contacts(plan)
    loader.write("contact", contact_rows)
    loader.write("identity", identity_rows)
    say(f"{slug}: {len(contact_rows)} contacts, {len(identity_rows)} identities")
    writer = case_rows.CaseWriter(plan, staff, people, pools)
    counts = {"contacts": len(contact_rows), "identities": len(identity_rows)}
    counts.update(cases=0, messages=0, events=0, csat=0)
    for chunk in writer.chunks(R.message_counts(plan), CHUNK_CASES):
        for key, rows_ in (
            ("case", chunk.cases),
            ("message", chunk.messages),
            ("event", chunk.events),
            ("csat", chunk.csat),
        ):
            loader.write(key, rows_)
        counts["cases"] += len(chunk.cases)
        counts["messages"] += len(chunk.messages)
        counts["events"] += len(chunk.events)
        counts["csat"] += len(chunk.csat)
        say(f"{slug}: {counts['cases']:,} cases, {counts['messages']:,} messages")
    loader.next_ids = {
        **writer.ids,
        "contact": first_ids["contact"] + len(contact_rows),
        "identity": first_ids["identity"] + len(identity_rows),
    }
    counts["agents"] = sum(len(a) for a in staff.agents.values())
    return counts


def _staff(workspace: Workspace, team_sizes: dict[str, int], password: str) -> R.Staff:
    """Agents per team (the first of each a supervisor), employees with managers, the
    root-cause catalogue and a few saved views."""
    teams = {t.slug: t.pk for t in workspace.teams.all()}
    digest = make_password(password)
    user_model = get_user_model()
    people: list[tuple[str, int, int]] = []
    for slug, size in team_sizes.items():
        people += [(slug, teams[slug], n) for n in range(size)]
    users = user_model.objects.bulk_create(
        user_model(
            username=f"{workspace.slug}-{slug}-{n + 1}",
            password=digest,
            email=f"{slug}-{n + 1}@{workspace.slug}.example",
        )
        for slug, _, n in people
    )
    agents = Agent.objects.bulk_create(
        Agent(
            workspace=workspace,
            user=user,
            display_name=f"{R.FIRST[i % len(R.FIRST)]} {R.LAST[i % len(R.LAST)]}",
            initials=f"{R.FIRST[i % len(R.FIRST)][0]}{R.LAST[i % len(R.LAST)][0]}{i % 100}",
            role=Agent.Role.SUPERVISOR if n == 0 else Agent.Role.AGENT,
            team_id=team_id,
            is_available=i % 2 == 0,
        )
        for i, (user, (_, team_id, n)) in enumerate(zip(users, people, strict=True))
    )
    by_team: dict[int, list[tuple[int, str]]] = {}
    for agent in agents:
        by_team.setdefault(agent.team_id, []).append((agent.pk, agent.initials))  # type: ignore[arg-type]
    supervisors = [a for a in agents if a.role == Agent.Role.SUPERVISOR]
    return R.Staff(
        teams=teams,
        agents=by_team,
        employees=_employees(workspace),
        causes=_causes(workspace, supervisors),
        targets=targets_table(workspace),
    )


def _employees(workspace: Workspace) -> list[tuple[int, str, int | None, str]]:
    managers = Employee.objects.bulk_create(
        Employee(workspace=workspace, name=name, email=f"m{i}@staff.example", title="Manager")
        for i, name in enumerate(MANAGERS)
    )
    staff = Employee.objects.bulk_create(
        Employee(
            workspace=workspace,
            name=f"{R.FIRST[i]} {R.LAST[i % len(R.LAST)]}",
            email=f"e{i}@staff.example",
            manager=managers[i % len(managers)],
        )
        for i in range(20)
    )
    named = {m.pk: m.name for m in managers}
    return [(e.pk, e.name, e.manager_id, named[e.manager_id]) for e in staff]  # type: ignore[index]


def _causes(workspace: Workspace, owners: list[Agent]) -> dict[str, list[str]]:
    RootCause.objects.bulk_create(
        RootCause(workspace=workspace, slug=slug, name=name, owner=owners[i % len(owners)])
        for i, (slug, name) in enumerate(c for causes in CAUSES.values() for c in causes)
    )
    if owners:
        lead = owners[0]
        routing_services.save_view(
            agent=lead,
            name="Critical and high",
            conditions={"severity": ["critical", "high"]},
            shared=True,
        )
        routing_services.save_view(
            agent=lead, name="Deliveries", conditions={"topic": ["delivery"]}, shared=True
        )
        routing_services.save_view(
            agent=lead, name="Unassigned on X", conditions={"assignee": "nobody", "channel": ["x"]}
        )
    return {topic: [slug for slug, _ in causes] for topic, causes in CAUSES.items()}


class _Loader:
    """Writes row tuples to their tables: COPY on PostgreSQL, bulk_create elsewhere."""

    def __init__(self, *, keep_indexes: bool) -> None:
        self.keep_indexes = keep_indexes
        self.saved: list[tuple[str, str]] = []  # (table, statement to restore)
        self.next_ids: dict[str, int] = {}
        self.extra: dict[str, tuple[tuple[str, ...], tuple[Any, ...]]] = {}
        for key, (model, columns) in TABLES.items():
            self.extra[key] = _defaults(model, columns)

    def prepare(self) -> None:
        """On PostgreSQL without ``keep_indexes``: drop the secondary indexes, unique and
        foreign-key constraints of the big tables, remembering how to make them again."""
        if self.keep_indexes:
            return
        with connection.cursor() as cursor:
            # Deferred checks of rows written earlier in the transaction would forbid
            # ALTER TABLE ("pending trigger events"): run them now.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
            for key in REBUILT:
                self._drop(cursor, TABLES[key][0]._meta.db_table)

    def _drop(self, cursor: Any, table: str) -> None:
        cursor.execute(
            "SELECT conname, pg_get_constraintdef(oid), contype FROM pg_constraint "
            "WHERE conrelid = %s::regclass AND contype IN ('f', 'u') ORDER BY contype DESC",
            [table],
        )
        constraints = cursor.fetchall()
        cursor.execute(
            "SELECT i.relname, pg_get_indexdef(x.indexrelid) FROM pg_index x "
            "JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = %s::regclass "
            "AND NOT x.indisprimary AND NOT EXISTS (SELECT 1 FROM pg_constraint c "
            "WHERE c.conindid = x.indexrelid AND c.contype IN ('p', 'u'))",
            [table],
        )
        indexes = cursor.fetchall()
        for name, _definition, _kind in constraints:
            cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
        for name, definition in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
            self.saved.append((table, definition))
        # Unique constraints before foreign keys: a key may need the unique index.
        for name, definition, _kind in sorted(constraints, key=lambda c: c[2] != "u"):
            self.saved.append((table, f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}'))

    def write(self, key: str, rows_: Sequence[tuple]) -> None:
        if not rows_:
            return
        model, columns = TABLES[key]
        extra_columns, extra_values = self.extra[key]
        if connection.vendor == "postgresql":
            table = model._meta.db_table
            names = ", ".join(columns + extra_columns)
            with (
                connection.cursor() as cursor,
                cursor.cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy,
            ):
                write = copy.write_row
                if extra_values:
                    for row in rows_:
                        write(row + extra_values)
                else:
                    for row in rows_:
                        write(row)
            return
        model._default_manager.bulk_create(
            _instances(model, columns + extra_columns, rows_, extra_values), batch_size=500
        )

    def finish(self) -> None:
        """Make the dropped indexes and constraints again; move the id sequences on."""
        with connection.cursor() as cursor:
            for _, statement in self.saved:
                cursor.execute(statement)
            if connection.vendor == "postgresql":
                for model, _ in TABLES.values():
                    table = model._meta.db_table
                    cursor.execute(
                        f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                        f"(SELECT COALESCE(MAX(id), 1) FROM {table}))"
                    )

    def analyse(self) -> None:
        """Fresh planner statistics and visibility maps for the loaded tables."""
        with connection.cursor() as cursor:
            if connection.vendor != "postgresql":
                cursor.execute("ANALYZE")
                return
            # VACUUM cannot run inside a transaction (a caller's, or a test's).
            command = "ANALYZE" if connection.in_atomic_block else "VACUUM ANALYZE"
            for model, _ in TABLES.values():
                cursor.execute(f"{command} {model._meta.db_table}")


def _defaults(
    model: type[models.Model], columns: tuple[str, ...]
) -> tuple[tuple[str, ...], tuple[Any, ...]]:
    """The columns a model has beyond ``columns``, with the value its default gives them.
    A column with no default (a new NOT NULL field) stops the seed with its name."""
    known = {f.column for f in model._meta.concrete_fields}
    unknown = set(columns) - known
    if unknown:
        raise SeedRefused(f"{model._meta.db_table} has no column {', '.join(sorted(unknown))}.")
    names: list[str] = []
    values: list[Any] = []
    for field_ in model._meta.concrete_fields:
        if field_.column in columns:
            continue
        if field_.has_default():
            value = field_.get_default()
            value = json.dumps(value) if isinstance(field_, models.JSONField) else value
        elif field_.null:
            value = None
        else:
            raise SeedRefused(
                f"bench seed does not know how to fill {model._meta.db_table}.{field_.column}."
            )
        names.append(str(field_.column))
        values.append(value)
    return tuple(names), tuple(values)


def _instances(
    model: type[models.Model],
    columns: tuple[str, ...],
    rows_: Iterable[tuple],
    extra: tuple[Any, ...],
) -> list[models.Model]:
    """Model instances for ``bulk_create`` (JSON columns arrive as JSON text)."""
    json_columns = {
        f.column for f in model._meta.concrete_fields if isinstance(f, models.JSONField)
    }
    result = []
    for row in rows_:
        values = dict(zip(columns, row + extra, strict=True))
        for name in json_columns:
            if isinstance(value := values.get(str(name)), str):
                values[str(name)] = json.loads(value)
        result.append(model(**values))
    return result


def default_until() -> datetime:
    """The end of the seeded year: now, to the minute (the pages read 'the last N days')."""
    return datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(minutes=1)
