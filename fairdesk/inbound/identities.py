"""Who wrote each message of a batch: one identity per (channel, external id), one contact
per person, resolved with one query per lookup for the whole batch.

Resolution order (DESIGN §4): the identity itself, then the e-mail or phone the platform
gave, then a case reference the customer quoted (``FD-123``: an explicit identifier),
else a new contact. Races between workers end at the identity's unique constraint: the
first insert wins and the loser's empty contact is removed.
"""

import re
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from fairdesk.cases.models import Case
from fairdesk.contacts.models import Contact, ContactIdentity
from fairdesk.inbound.bulk_writes import create_rows, insert_rows, update_rows
from fairdesk.workspaces.models import Workspace

if TYPE_CHECKING:
    from fairdesk.inbound.pipeline import Parsed

CASE_REFERENCE = re.compile(r"\bFD-(\d{1,12})\b")
# What threading reads of an identity and its contact (the rest is never loaded).
IDENTITY_FIELDS = (
    "id",
    "workspace_id",
    "contact_id",
    "channel",
    "external_id",
    "handle",
    "display_name",
    "follower_count",
    "contact__id",
    "contact__workspace_id",
    "contact__email",
    "contact__phone",
    "contact__entitlement",
    "contact__display_name",
)


def identity_key(channel: str, external_id: str) -> tuple[str, str]:
    return channel, (external_id.lower() if channel == "email" else external_id)


def lock_contacts(contact_ids: Iterable[int]) -> None:
    """Row-lock contacts in a fixed (id) order. A no-op on SQLite, whose writes are serial."""
    list(
        Contact.objects.select_for_update()
        .filter(id__in=sorted(set(contact_ids)))
        .order_by("id")
        .values_list("id", flat=True)
    )


def referenced_case(text: str, referenced: dict[int, Case]) -> Case | None:
    """The first case of this batch's lookups that the text quotes as ``FD-<id>``."""
    for match in CASE_REFERENCE.finditer(text[:5000]):
        case = referenced.get(int(match.group(1)))
        if case is not None:
            return case
    return None


class IdentityResolver:
    def __init__(self, workspace: Workspace) -> None:
        self.workspace = workspace

    def resolve(
        self, parsed: Sequence["Parsed"], referenced: dict[int, Case]
    ) -> dict[tuple[str, str], ContactIdentity]:
        authors: dict[tuple[str, str], Parsed] = {}
        for item in parsed:
            if item.message.direction == "inbound":
                key = identity_key(item.message.channel, item.message.author.external_id)
                authors.setdefault(key, item)
        found = self._existing_identities(authors.keys())
        missing = {key: item for key, item in authors.items() if key not in found}
        if missing:
            created = self._create_identities(missing, referenced)
            found.update(self._existing_identities(missing.keys()))
            # Another worker may have created the same identity first: its contact wins
            # and ours, now without any identity, is removed.
            used = {identity.contact_id for identity in found.values()}
            orphans = [c.pk for c in created if c.pk not in used]
            if orphans:
                Contact.objects.filter(pk__in=orphans).delete()
        self._refresh_identities(authors, found)
        return found

    def _existing_identities(
        self, keys: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], ContactIdentity]:
        wanted = set(keys)
        if not wanted:
            return {}
        # One query for every channel: an id that exists on another channel too comes
        # back as well and is dropped here.
        rows = (
            ContactIdentity.objects.select_related("contact")
            .only(*IDENTITY_FIELDS)
            .filter(
                workspace=self.workspace,
                channel__in={channel for channel, _ in wanted},
                external_id__in={external_id for _, external_id in wanted},
            )
        )
        found: dict[tuple[str, str], ContactIdentity] = {}
        for row in rows:
            key = (row.channel, row.external_id)
            if key in wanted:
                found[key] = row
        return found

    def _create_identities(
        self, missing: dict[tuple[str, str], "Parsed"], referenced: dict[int, Case]
    ) -> list[Contact]:
        emails = {
            m.message.author.email.lower() for m in missing.values() if m.message.author.email
        }
        for channel, external_id in missing:
            if channel == "email":
                emails.add(external_id)
        phones = {m.message.author.phone for m in missing.values() if m.message.author.phone}
        by_email = (
            {c.email: c for c in Contact.objects.filter(workspace=self.workspace, email__in=emails)}
            if emails
            else {}
        )
        by_phone = (
            {c.phone: c for c in Contact.objects.filter(workspace=self.workspace, phone__in=phones)}
            if phones
            else {}
        )
        new_contacts: dict[tuple[str, str], Contact] = {}
        identities = []
        for key in sorted(missing):
            item = missing[key]
            author = item.message.author
            email = (author.email or (key[1] if key[0] == "email" else "")).lower()
            contact = by_email.get(email) or by_phone.get(author.phone or "")
            if contact is None:
                case = referenced_case(item.message.text, referenced)
                contact = case.contact if case is not None else None
                if contact is not None and email and not contact.email:
                    # The customer proved the link by quoting their case reference.
                    contact.email = email
                    update_rows(Contact, [contact], ["email"])
            if contact is None:
                contact = Contact(
                    workspace=self.workspace,
                    display_name=author.display_name or author.handle,
                    email=email,
                    phone=author.phone or "",
                )
                new_contacts[key] = contact
                if email:
                    by_email[email] = contact
            identities.append((key, item, contact))
        create_rows(Contact, list(new_contacts.values()))
        rows = [
            ContactIdentity(
                workspace=self.workspace,
                contact=contact,
                channel=key[0],
                external_id=key[1],
                handle=item.message.author.handle,
                display_name=item.message.author.display_name,
                follower_count=item.message.author.followers,
            )
            for key, item, contact in identities
        ]
        insert_rows(ContactIdentity, rows)
        return list(new_contacts.values())

    def _refresh_identities(
        self,
        authors: dict[tuple[str, str], "Parsed"],
        found: dict[tuple[str, str], ContactIdentity],
    ) -> None:
        changed = []
        entitled = []
        for key, item in authors.items():
            identity = found[key]
            author = item.message.author
            fresh = (
                author.handle or identity.handle,
                author.display_name or identity.display_name,
                author.followers if author.followers is not None else identity.follower_count,
            )
            if fresh != (identity.handle, identity.display_name, identity.follower_count):
                identity.handle, identity.display_name, identity.follower_count = fresh
                changed.append(identity)
            wanted = item.message.entitlement
            if wanted and identity.contact.entitlement != wanted:
                identity.contact.entitlement = wanted
                entitled.append(identity.contact)
        if changed:
            update_rows(ContactIdentity, changed, ["handle", "display_name", "follower_count"])
        if entitled:
            update_rows(Contact, entitled, ["entitlement"])
