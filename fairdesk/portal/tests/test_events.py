"""The portal's steps are on the case timeline: link sent, identity verified, CSAT given —
on the right case of the right workspace, with no secret in them, shown escaped."""

import json

from django.test import Client
from django.urls import reverse

from fairdesk.cases.models import Case, CaseEvent, CaseStatus
from fairdesk.portal.models import PortalChallenge
from fairdesk.portal.tests.conftest import LINK, Customer, code_of, sign_in
from fairdesk.workspaces.models import Agent

HOSTILE = "<script>alert('x')</script>\r\nSet-Cookie: evil=1 =HYPERLINK(\"http://evil\")"
PORTAL_TYPES = ("portal_link_sent", "identity_verified", "satisfaction_rated")


def _events(case: Case) -> list[tuple[str, dict[str, object], int | None]]:
    return [
        (e.type, e.params, e.actor_id)
        for e in CaseEvent.objects.filter(case=case, type__in=PORTAL_TYPES).order_by("at", "id")
    ]


def test_link_verification_and_rating_are_on_the_timeline_without_secrets(
    dana: Customer, bob: Customer, globex_dana: Customer, agent: Agent
) -> None:
    client = Client()
    link = sign_in(client, dana, agent)
    Case.objects.filter(pk=dana.case.pk).update(status=CaseStatus.CLOSED)
    rated = client.post(
        reverse("portal:csat", args=["acme", dana.case.public_id]),
        {"score": 2, "comment": HOSTILE},
    )
    assert rated.status_code == 302

    assert _events(dana.case) == [
        ("portal_link_sent", {"channel": "x", "expires_at": link.expires_at.isoformat()}, agent.pk),
        ("identity_verified", {"channel": "x", "method": "one-time code"}, None),
        ("satisfaction_rated", {"score": 2, "channel": "portal", "comment": HOSTILE}, None),
    ]
    assert _events(bob.case) == [] and _events(globex_dana.case) == []
    # Neither the link's token nor the code is in any event of the case.
    challenge = PortalChallenge.objects.select_related("message").get(link=link)
    stored = json.dumps([e.params for e in CaseEvent.objects.filter(case=dana.case)])
    assert LINK.search(stored) is None and "/l/" not in stored
    assert challenge.code_digest not in stored and link.digest not in stored
    assert code_of(challenge) not in stored  # the code message is not delivered yet


def test_the_agent_sees_them_escaped_and_the_outsider_sees_nothing(
    dana: Customer, agent: Agent, outsider: Agent
) -> None:
    client = Client()
    sign_in(client, dana, agent)
    Case.objects.filter(pk=dana.case.pk).update(status=CaseStatus.CLOSED)
    client.post(
        reverse("portal:csat", args=["acme", dana.case.public_id]),
        {"score": 4, "comment": HOSTILE},
    )
    staff = Client()
    staff.force_login(agent.user)
    page = staff.get(reverse("case", args=[dana.case.public_id])).content.decode()
    for title in ("Portal link sent", "Identity verified", "Satisfaction rated"):
        assert title in page
    assert "<script>alert" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in page
    other = Client()
    other.force_login(outsider.user)
    assert other.get(reverse("case", args=[dana.case.public_id])).status_code == 404
