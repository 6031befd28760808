"""Files that arrive as links (Meta's ``message.attachments[].payload.url``): queued by
the pipeline, downloaded later by the media worker through ``fetch.py``.

The pipeline queues one ``AttachmentFetch`` row per link of an inbound message, in the
transaction that stores the message (``enqueue``); the webhook request never waits on a
download. ``fetch_due`` claims due rows like every worker (``inbound.claims``), fetches
each outside any transaction with the SSRF rules and the size cap, and stores the bytes
with the e-mail connector's content-addressed storage as an ``Attachment`` of the message.

A link that cannot be fetched — a refused address, a body over the cap, a 4xx — fails at
once; a timeout, a dropped connection, a 429 or a 5xx is retried after 30 s, 2 min and
8 min, then fails. A failed link leaves a small text ``Attachment`` named "… (could not
fetch)" saying why, shown with the message like any file, and the reason on its row.
Nothing here raises out of ``fetch_due``: an unexpected error fails that one link.
"""

import logging
import mimetypes
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import PurePosixPath
from urllib.parse import unquote, urlsplit

import httpx
from django.db import transaction
from django.utils import timezone

from fairdesk.cases.models import Attachment
from fairdesk.connectors import fetch
from fairdesk.connectors.email.attachments import write_file
from fairdesk.connectors.models import AttachmentFetch
from fairdesk.inbound import claims
from fairdesk.inbound.bulk_writes import insert_rows
from fairdesk.inbound.interchange import InterchangeMessage
from fairdesk.workspaces.models import Workspace

log = logging.getLogger(__name__)

MAX_BYTES = fetch.MAX_BYTES  # the e-mail connector's cap too: 10 MiB
MAX_ATTEMPTS = 4
RETRY_BASE = timedelta(seconds=30)
LEASE = timedelta(minutes=5)
SAFE_NAME = re.compile(r"[^A-Za-z0-9._-]+")
MAX_NAME_CHARS = 100


@dataclass(slots=True)
class MediaOutcome:
    done: int = 0
    failed: int = 0
    retried: int = 0


def enqueue(*, workspace: Workspace, messages: Iterable[InterchangeMessage]) -> int:
    """Queue the links of inbound messages (inside the caller's transaction); a link
    already queued (the message processed again) is left as it is."""
    now = timezone.now()
    rows = [
        AttachmentFetch(
            workspace=workspace,
            channel=message.channel,
            message_external_id=message.external_id,
            position=position,
            url=link.url,
            kind=link.kind,
            available_at=now,
        )
        for message in messages
        if message.direction == "inbound"
        for position, link in enumerate(message.attachments)
    ]
    return insert_rows(AttachmentFetch, rows)


def fetch_due(
    *,
    limit: int = 20,
    allow: frozenset[str] = frozenset(),
    resolver: fetch.Resolver = fetch.system_resolver,
    transport: httpx.BaseTransport | None = None,
) -> MediaOutcome:
    """Claim up to ``limit`` due links and settle each: stored, failed, or retried later.

    ``allow``, ``resolver`` and ``transport`` are for tests and stand-ins (see
    ``fetch.fetch``); production passes none of them.
    """
    claims.reclaim_expired(AttachmentFetch)
    token, ids = claims.claim(AttachmentFetch, limit=limit, lease=LEASE)
    outcome = MediaOutcome()
    for row in AttachmentFetch.objects.filter(id__in=ids).order_by("id"):
        try:
            _settle(row, token, outcome, allow=allow, resolver=resolver, transport=transport)
        except claims.LostClaim:
            log.warning("attachment %s was reclaimed by another worker", row.pk)
        except Exception:  # a bug or a full disk must not stop the worker
            log.exception("attachment %s could not be settled; its lease will run out", row.pk)
    return outcome


def _settle(
    row: AttachmentFetch,
    token: str,
    outcome: MediaOutcome,
    *,
    allow: frozenset[str],
    resolver: fetch.Resolver,
    transport: httpx.BaseTransport | None,
) -> None:
    if row.attempts > MAX_ATTEMPTS:  # a worker died on it again and again (lease ran out)
        _failed(row, token, f"gave up after {MAX_ATTEMPTS} attempts", outcome, transient=False)
        return
    try:
        got = fetch.fetch(
            row.url, resolver=resolver, transport=transport, allow=allow, max_bytes=MAX_BYTES
        )
    except fetch.FetchRefused as refused:
        _failed(row, token, str(refused), outcome, transient=refused.transient)
    except httpx.HTTPError as error:
        _failed(row, token, _network_error(error), outcome, transient=True)
    else:
        _stored(row, token, got)
        outcome.done += 1


def _stored(row: AttachmentFetch, token: str, got: fetch.Fetched) -> None:
    digest = write_file(got.body)  # before the transaction: at worst an unused file
    content_type = got.content_type.split(";", 1)[0].strip()[:100] or "application/octet-stream"
    with transaction.atomic():
        claims.release_done(
            AttachmentFetch, token=token, ids=[row.pk], values=_settled(row.Status.DONE, "")
        )
        _attachment(row, _filename(row, content_type), content_type, len(got.body), digest)


def _failed(
    row: AttachmentFetch, token: str, reason: str, outcome: MediaOutcome, *, transient: bool
) -> None:
    reason = " ".join(reason.split())[:300]
    if transient and row.attempts < MAX_ATTEMPTS:
        wait = RETRY_BASE * 4 ** (row.attempts - 1)
        values = _settled(row.Status.PENDING, reason)
        values["available_at"] = timezone.now() + wait
        with transaction.atomic():
            claims.release_done(AttachmentFetch, token=token, ids=[row.pk], values=values)
        outcome.retried += 1
        return
    host = (urlsplit(row.url).hostname or "?")[:100]
    note = f"Could not fetch this {row.kind or 'file'} from {host}: {reason}\n".encode()
    digest = write_file(note)
    with transaction.atomic():
        claims.release_done(
            AttachmentFetch, token=token, ids=[row.pk], values=_settled(row.Status.FAILED, reason)
        )
        name = f"{_base_name(row)} (could not fetch).txt"
        _attachment(row, name, "text/plain", len(note), digest)
    outcome.failed += 1


def _settled(status: str, error: str) -> dict[str, object]:
    return {"status": status, "error": error, "claim_token": "", "lease_until": None}


def _attachment(
    row: AttachmentFetch, filename: str, content_type: str, size: int, digest: str
) -> None:
    Attachment.objects.bulk_create(
        [
            Attachment(
                workspace_id=row.workspace_id,
                channel=row.channel,
                message_external_id=row.message_external_id,
                position=row.position,
                filename=filename[:200],
                content_type=content_type,
                size=size,
                sha256=digest,
            )
        ],
        ignore_conflicts=True,
    )


def _filename(row: AttachmentFetch, content_type: str = "") -> str:
    """The link's last path segment made safe (``receipt-55812.pdf``), else
    ``image-1``: shown to agents, offered as the download's name, never a path. An XRPC
    call (Bluesky's ``/xrpc/com.atproto.sync.getBlob?…``) names its method, not the
    file: it is ``image-1.jpg``, the extension from the content type."""
    path = unquote(urlsplit(row.url).path)
    if path.startswith("/xrpc/"):
        return _base_name(row) + (mimetypes.guess_extension(content_type) or "")
    segment = PurePosixPath(path).name
    name = SAFE_NAME.sub("_", segment).strip("._")[:MAX_NAME_CHARS]
    return name or _base_name(row)


def _base_name(row: AttachmentFetch) -> str:
    kind = SAFE_NAME.sub("_", row.kind).strip("._")[:30] or "file"
    return f"{kind}-{row.position + 1}"


def _network_error(error: httpx.HTTPError) -> str:
    if isinstance(error, httpx.TimeoutException):
        return "timed out"
    return f"network error ({type(error).__name__})"
