"""Search over message text, handles and contact names, scoped to one workspace.

Message text uses the database's full-text index (migration ``cases/0004``):
PostgreSQL matches ``to_tsvector('simple', text)`` through its GIN index, SQLite an FTS5
table kept current by triggers. Full-text rather than pg_trgm: agents search for words
("refund", "dryer smoke"), which a tsvector index answers from a compact index for
millions of messages, where trigram indexes are several times larger and slow on common
words. The "simple" configuration does not stem or drop stop words, so a query behaves
the same in every language. Every word of the query must occur in the same message; the
last one may be a prefix, so results appear while the agent is still typing.

Handles and names are matched as a case-insensitive substring of the contact's name,
an identity's handle or display name ("@dana" finds "@dana_k"). On PostgreSQL, pg_trgm
GIN indexes on ``UPPER(col::text)`` (migration ``contacts/0003``) serve exactly the
``UPPER(col::text) LIKE UPPER('%…%')`` that Django's ``icontains`` writes; keep
``icontains`` here or change the indexes with it.

Known limits: a word found in a large share of all messages is looked up in the newest
:data:`TEXT_WINDOW` matching messages of each page (the next page looks among older
cases again, so paging goes on to the oldest). A name query shorter than three characters
has no trigram to look up and reads the whole trigram index. SQLite has no trigram
index: there name matching scans the workspace's contacts and folds ASCII letters only
("élodie" does not find "Élodie" by name; the message index folds case and accents).

User input never reaches the query syntax: it is cut into word tokens (letters and
digits), each bound as a parameter and quoted for the engine, so SQL and full-text
operators in the query are just text.
"""

import re
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import F, Prefetch, Q, QuerySet
from django.db.models.expressions import RawSQL

from fairdesk.cases.models import Case, Message
from fairdesk.contacts.models import Contact, ContactIdentity
from fairdesk.workspaces.models import Workspace

MAX_QUERY_CHARS = 200
MAX_TERMS = 8
SEARCH_PAGE_SIZE = 25
# The newest matching messages a page of results considers (ten pages' worth of cases
# from single messages): bounds the work for a word found in a large share of all
# messages ("order"). The next page looks again among older cases (``case_id < after``).
TEXT_WINDOW = 250
# PostgreSQL looks for them among the newest 20,000 message ids first, then the next
# 180,000, then all older ones (see _pg_text_matches): edges counted from the newest id.
TEXT_SLICES = (20_000, 200_000)
# Up to this many people whose name or handle matches are looked up by id; beyond it the
# name is common, and walking the newest cases finds a page of theirs at once.
NAME_CAP = 2_000
WORD = re.compile(r"[^\W_]+")  # letters and digits


class SearchInvalid(ValueError):
    """A query that cannot be searched (empty, or too long)."""


@dataclass(frozen=True, slots=True)
class SearchPage:
    cases: list[Case]
    next_cursor: str | None


def search_cases(
    *, workspace: Workspace, query: str, after: str | None = None, limit: int = SEARCH_PAGE_SIZE
) -> SearchPage:
    """Cases of ``workspace`` with a message, handle or name matching ``query``, newest
    case first, keyset paged on the case id (``after`` is the last id shown).

    Four queries whatever the data: the case ids of the newest matching messages, the
    people whose name or handle matches, then the page of cases by those ids (and its
    identities). Reading the ids first gives the database small, explicit lists to look
    up by index; one query with both as subqueries made PostgreSQL walk every case of the
    workspace backwards when few or none matched (0.3 to 0.7 s at 1M cases)."""
    terms = search_terms(query)
    before = _decode(after) if after is not None else None
    if connection.vendor == "postgresql":
        text: Any = _pg_text_matches(workspace, terms, before)
    else:
        text = _text_matches(workspace, terms, before)
    text_ids = [case_id for (case_id,) in text]
    names, few = _name_matches(workspace, query)
    # Few people: every matching case is found through the indexes and the newest are
    # sorted (``id + 0``), never looked for by walking the cases backwards, which the
    # planner chose for a few hundred people and which read tens of thousands of cases.
    newest = (F("id") + 0).desc() if few else F("id").desc()
    cases = (
        Case.objects.filter(Q(id__in=text_ids) | names, workspace=workspace)
        .select_related("team", "contact", "assignee")
        .prefetch_related(
            Prefetch("contact__identities", queryset=ContactIdentity.objects.order_by("id"))
        )
        .order_by(newest)
    )
    if before is not None:
        cases = cases.filter(id__lt=before)
    rows = list(cases[: limit + 1])
    # A full window of messages may have left older matching cases out: offer the next
    # page, which looks among the cases older than this one's last.
    more = len(rows) > limit or (bool(rows) and len(text_ids) >= TEXT_WINDOW)
    rows = rows[:limit]
    return SearchPage(cases=rows, next_cursor=str(rows[-1].pk) if more else None)


def search_terms(query: str) -> list[str]:
    """The words of a query; raises :class:`SearchInvalid` when there are none."""
    if len(query) > MAX_QUERY_CHARS:
        raise SearchInvalid(f"Search for at most {MAX_QUERY_CHARS} characters.")
    terms = [t.lower() for t in WORD.findall(query)][:MAX_TERMS]
    if not terms:
        raise SearchInvalid("Type a word to search for.")
    return terms


def _text_matches(
    workspace: Workspace, terms: list[str], before: int | None
) -> QuerySet[Message, Any]:
    """SQLite: case ids of the newest :data:`TEXT_WINDOW` messages containing every
    term, the last one as a prefix (on cases older than ``before``). Terms are letters
    and digits only, so the quoting below cannot be broken out of."""
    match = " ".join(f'"{t}"' for t in terms) + " *"
    messages = Message.objects.filter(workspace=workspace, case__isnull=False).filter(
        id__in=RawSQL(
            "SELECT rowid FROM cases_message_fts WHERE cases_message_fts MATCH %s", [match]
        )
    )
    if before is not None:
        messages = messages.filter(case_id__lt=before)
    return messages.order_by("-id").values_list("case_id")[:TEXT_WINDOW]


def _pg_text_matches(workspace: Workspace, terms: list[str], before: int | None) -> RawSQL:
    """PostgreSQL: the newest matches, looked up in slices of message ids, newest slice
    first (:data:`TEXT_SLICES`). Each bounded slice ANDs the GIN index's bitmap with a
    range of the primary key, so a common word reads the heap rows of the newest slice
    only, and ``LIMIT`` over ``UNION ALL`` never starts the older slices once enough
    matched; a rare word costs a few index lookups per slice. The oldest slice bounds the
    id as a filter (``id + 0``) and reads the word's matches from the heap: it is reached
    only for a word with fewer than :data:`TEXT_WINDOW` matches in the newest 200,000
    messages, so it has few, and a bitmap of millions of ids cost more (0.25 to 0.3 s
    at 5M messages; 47 ms for 800,000). ``id + 0`` in the order keeps the planner
    from walking the primary key backwards and re-tokenising every message on the way
    (what it chose for ``ORDER BY id DESC LIMIT`` over all matches, taking seconds)."""
    lexemes = [f"'{t}'" for t in terms[:-1]] + [f"'{terms[-1]}':*"]
    top = "(SELECT MAX(id) FROM cases_message WHERE workspace_id = %s)"
    match = (
        "SELECT id, case_id FROM cases_message WHERE workspace_id = %s "
        "AND case_id IS NOT NULL {older} "
        "AND to_tsvector('simple'::regconfig, COALESCE(text, '')) "
        "@@ to_tsquery('simple'::regconfig, %s) {bounds} ORDER BY id + 0 DESC LIMIT %s"
    )
    older = "" if before is None else "AND case_id < %s"
    edges = [0, *TEXT_SLICES]
    parts: list[str] = []
    params: list[Any] = []
    for n, edge in enumerate(edges):
        last = n == len(edges) - 1
        bounds = (
            f"AND id + 0 <= {top} - %s" if last else f"AND id > {top} - %s AND id <= {top} - %s"
        )
        parts.append(f"({match.format(older=older, bounds=bounds)})")
        params += [workspace.pk, *([] if before is None else [before]), " & ".join(lexemes)]
        if not last:
            params += [workspace.pk, edges[n + 1]]
        params += [workspace.pk, edge, TEXT_WINDOW]
    sql = f"SELECT case_id FROM ({' UNION ALL '.join(parts)}) AS newest LIMIT %s"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, TEXT_WINDOW])
        return cursor.fetchall()


def _name_matches(workspace: Workspace, query: str) -> tuple[Q, bool]:
    """The contact's name, or one of its identities' handle or name, contains the query
    (without a leading @), and whether the people are few. They are read first (one
    query, at most :data:`NAME_CAP` + 1): few, and their cases are looked up by id;
    more, and the two uncorrelated subqueries go into the case query, which walks the
    newest cases and soon finds a page of so common a name (about 0.1 s for a surname
    shared by 22,000 people at 1M cases, most of it hashing them)."""
    name = query.strip().lstrip("@").strip()
    if not name:
        return Q(pk__in=[]), True
    by_contact = Contact.objects.filter(workspace=workspace, display_name__icontains=name)
    by_identity = ContactIdentity.objects.filter(workspace=workspace).filter(
        Q(handle__icontains=name) | Q(display_name__icontains=name)
    )
    people = list(
        by_contact.order_by()
        .values_list("id", flat=True)
        .union(by_identity.order_by().values_list("contact_id", flat=True), all=True)[
            : NAME_CAP + 1
        ]
    )
    if len(people) <= NAME_CAP:
        return Q(contact_id__in=people), True
    return Q(contact_id__in=by_contact.values("id")) | Q(
        contact_id__in=by_identity.values("contact_id")
    ), False


def _decode(after: str) -> int:
    try:
        return int(after)
    except ValueError:
        raise SearchInvalid("This page link is not valid any more.") from None
