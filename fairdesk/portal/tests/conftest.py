"""Portal fixtures: two workspaces and two customers in every test.

Dana (Acme, on X, also e-mail) and Bob (Acme, on X) are two customers of one workspace;
Dana also talks to Globex with the very same X account. Links and codes are read back
from the queued outbound messages, exactly where the customer would read them.
"""

import re
import struct
import uuid
import zlib
from dataclasses import dataclass

import pytest
from django.test import Client
from django.urls import reverse

from fairdesk.cases.models import Case
from fairdesk.cases.tests.factories import make_case
from fairdesk.contacts.models import ContactIdentity
from fairdesk.portal import services
from fairdesk.portal.models import PortalChallenge, PortalLink
from fairdesk.workspaces.models import Agent, Workspace

LINK = re.compile(r"http://testserver(/portal/[a-z0-9-]+/l/[0-9a-f.]+/)")
CODE = re.compile(r"\b([0-9]{8})\b")


@dataclass
class Customer:
    case: Case
    x: ContactIdentity

    @property
    def workspace(self) -> Workspace:
        return self.case.workspace


def _customer(workspace: Workspace, *, handle: str, name: str, external_id: str) -> Customer:
    case = make_case(
        workspace, handle=handle, name=name, external_id=external_id, text=f"{name}: dryer broken"
    )
    return Customer(case=case, x=ContactIdentity.objects.get(contact=case.contact, channel="x"))


@pytest.fixture
def dana(workspace: Workspace) -> Customer:
    customer = _customer(workspace, handle="@dana", name="Dana", external_id="d-1")
    ContactIdentity.objects.create(
        workspace=workspace,
        contact=customer.case.contact,
        channel="email",
        external_id="dana@example.com",
        handle="dana@example.com",
    )
    return customer


@pytest.fixture
def bob(workspace: Workspace) -> Customer:
    return _customer(workspace, handle="@bob", name="Bob", external_id="b-1")


@pytest.fixture
def globex_dana(other_workspace: Workspace, dana: Customer) -> Customer:
    """Dana's case at Globex, from the same X account (same external id)."""
    case = make_case(
        other_workspace, handle="@dana", name="Dana", external_id="d-1", text="Globex secret order"
    )
    return Customer(case=case, x=ContactIdentity.objects.get(contact=case.contact, channel="x"))


def send_link(case: Case, agent: Agent, **extra: str) -> tuple[services.SentLink, str]:
    """Send a portal link; return it and the path the customer's message carries."""
    sent = services.send_portal_link(
        case=case,
        agent=agent,
        base_url="http://testserver/",
        idempotency_key=str(uuid.uuid4()),
        **extra,
    )
    match = LINK.search(sent.outbox.message.text)
    assert match is not None
    return sent, match.group(1)


def code_of(challenge: PortalChallenge) -> str:
    assert challenge.message is not None
    match = CODE.search(challenge.message.text)
    assert match is not None
    return match.group(1)


def open_and_ask(client: Client, path: str, identity: ContactIdentity) -> PortalChallenge:
    """Open a link and ask for a code on ``identity``; return the challenge."""
    slug = path.split("/")[2]
    assert client.get(path).status_code == 302
    response = client.post(reverse("portal:send-code", args=[slug]), {"route": identity.pk})
    assert response.status_code == 302, response.content.decode()
    return PortalChallenge.objects.select_related("message").latest("created_at", "id")


def sign_in(client: Client, customer: Customer, agent: Agent) -> PortalLink:
    """The whole way in: link, code by DM on X, code typed. Returns the link."""
    sent, path = send_link(customer.case, agent)
    challenge = open_and_ask(client, path, customer.x)
    slug = customer.workspace.slug
    response = client.post(reverse("portal:check-code", args=[slug]), {"code": code_of(challenge)})
    assert response.status_code == 302
    assert response["Location"] == reverse("portal:home", args=[slug])
    return sent.link


def case_url(customer: Customer) -> str:
    return reverse("portal:case", args=[customer.workspace.slug, customer.case.public_id])


def tiny_png() -> bytes:
    """A real one-pixel PNG (signature, IHDR, IDAT, IEND with their CRCs)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\x00\x00")
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")
    )
