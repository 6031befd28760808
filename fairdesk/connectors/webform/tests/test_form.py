"""The public web form end to end: page, CSRF, storage, idempotency, threading, thanks."""

import re
import uuid
from collections.abc import Callable

import pytest
from django.test import Client

from conftest import record
from fairdesk.cases.models import Case, Message
from fairdesk.connectors.models import Channel, RateCounter, WebformSubmission
from fairdesk.connectors.webform import services
from fairdesk.connectors.webform.tests.conftest import fields, form_url, post, thanks_url
from fairdesk.contacts.models import Contact
from fairdesk.inbound.models import InboundEvent
from fairdesk.inbound.pipeline import drain
from fairdesk.workspaces.models import Agent, Workspace

NEUTRAL = "We have your message and will get back to you."


def submitted(response: object) -> WebformSubmission:
    """The submission a POST redirected to."""
    location = response["Location"]  # type: ignore[index]
    match = re.fullmatch(r"/contact/[0-9a-f-]{36}/thanks/([0-9a-f-]{36})/", location)
    assert match, location
    return WebformSubmission.objects.get(public_id=match.group(1))


# --- the page -------------------------------------------------------------------------


def test_form_page_has_labels_token_csrf_and_a_hidden_honeypot(webform: Channel) -> None:
    response = Client().get(form_url(webform))

    assert response.status_code == 200
    html = response.content.decode()
    assert "<title>Contact Acme · Acme</title>" in html
    for name, label in [
        ("name", "Your name"),
        ("email", "Your e-mail address"),
        ("reference", "Order number or case reference (optional)"),
        ("message", "How can we help?"),
    ]:
        assert f'<label for="id_{name}">{label}</label>' in html
        assert f'id="id_{name}"' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert re.search(r'<input type="hidden" name="token" value="[0-9a-f-]{36}"', html)
    assert re.search(r'<p hidden>\s*<label for="id_website">Leave this field empty</label>', html)
    assert 'aria-describedby="id_email_helptext"' in html


def test_each_render_mints_a_new_token(webform: Channel) -> None:
    pattern = r'name="token" value="([0-9a-f-]{36})"'
    first = re.search(pattern, Client().get(form_url(webform)).content.decode())
    second = re.search(pattern, Client().get(form_url(webform)).content.decode())

    assert first and second and first.group(1) != second.group(1)


def test_unknown_or_non_webform_channel_is_404(webform: Channel, workspace: Workspace) -> None:
    from fairdesk.connectors.services import create_channel

    x = create_channel(
        workspace=workspace, kind="x", name="@Acme", config={"brand_user_id": "1000000001"}
    )

    assert Client().get(form_url(uuid.uuid4())).status_code == 404
    assert Client().get(form_url(x.public_id)).status_code == 404
    assert post(x, fields()).status_code == 404
    assert InboundEvent.objects.count() == 0


def test_post_without_csrf_token_is_refused(webform: Channel) -> None:
    client = Client(enforce_csrf_checks=True)

    response = client.post(form_url(webform), fields())

    assert response.status_code == 403
    assert InboundEvent.objects.count() == 0
    assert WebformSubmission.objects.count() == 0


def test_post_with_the_pages_csrf_token_is_accepted(webform: Channel) -> None:
    client = Client(enforce_csrf_checks=True)
    page = client.get(form_url(webform)).content.decode()
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)
    assert csrf

    response = client.post(form_url(webform), fields(csrfmiddlewaretoken=csrf.group(1)))

    assert response.status_code == 302
    assert InboundEvent.objects.count() == 1


# --- storing --------------------------------------------------------------------------


def test_submission_is_stored_as_a_private_interchange_record(
    webform: Channel, workspace: Workspace
) -> None:
    response = post(webform, fields(reference="10042"))

    assert response.status_code == 302
    submission = submitted(response)
    assert response["Location"] == thanks_url(webform, submission.public_id)
    event = InboundEvent.objects.get()
    assert (event.workspace_id, event.channel, event.external_id, event.source) == (
        workspace.pk,
        "webform",
        str(submission.public_id),
        "webform",
    )
    payload = dict(event.payload)
    assert payload.pop("created_at").endswith("Z")
    assert payload == {
        "channel": "webform",
        "external_id": str(submission.public_id),
        "direction": "inbound",
        "visibility": "private",
        "author": {
            "external_id": "dana@example.com",
            "handle": "dana@example.com",
            "display_name": "Dana Whitfield",
            "followers": None,
            "email": "dana@example.com",
            "phone": None,
        },
        "text": "My kettle stopped heating after two days.\n\nOrder/reference: 10042",
        "in_reply_to": None,
        "brand_handle": None,
        "entitlement": None,
    }
    assert (submission.workspace_id, submission.channel_id) == (workspace.pk, webform.pk)
    webform.refresh_from_db()
    assert webform.last_event_at is not None
    assert webform.last_error == ""


def test_double_submit_stores_once_and_lands_on_the_same_page(webform: Channel) -> None:
    data = fields()

    first = post(webform, data)
    second = post(webform, data)

    assert first.status_code == second.status_code == 302
    assert first["Location"] == second["Location"]
    assert InboundEvent.objects.count() == 1
    assert WebformSubmission.objects.count() == 1
    # The repeat did not spend the client's rate limit either.
    assert sorted(RateCounter.objects.values_list("scope", "hits")) == [
        ("webform-email", 1),
        ("webform-ip", 1),
    ]


def test_losing_a_double_submit_race_returns_the_winner(
    webform: Channel, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two requests with one token at once: the second's insert fails on the unique
    token, its transaction (rate-limit hits included) rolls back, and it answers with
    the first one's page."""
    data = fields()
    first = post(webform, data)
    seen: list[uuid.UUID] = []
    real = services._by_token

    def not_yet_visible(channel: Channel, token: uuid.UUID) -> WebformSubmission | None:
        seen.append(token)
        return None if len(seen) == 1 else real(channel, token)

    monkeypatch.setattr(services, "_by_token", not_yet_visible)
    second = post(webform, data)

    assert second.status_code == 302
    assert second["Location"] == first["Location"]
    assert len(seen) == 2
    assert InboundEvent.objects.count() == 1
    assert sorted(RateCounter.objects.values_list("scope", "hits")) == [
        ("webform-email", 1),
        ("webform-ip", 1),
    ]


def test_invalid_input_is_422_with_errors_tied_to_fields_and_changes_nothing(
    webform: Channel,
) -> None:
    data = fields(name="", email="not-an-address", message="x" * 4001)

    response = post(webform, data)

    assert response.status_code == 422
    html = response.content.decode()
    assert "<title>Error: Contact Acme · Acme</title>" in html
    assert 'role="alert"' in html
    assert '<a href="#id_email">Your e-mail address: Enter a valid email address.</a>' in html
    assert '<ul class="errorlist" id="id_name_error"><li>This field is required.</li></ul>' in html
    assert re.search(r'<input[^>]*aria-invalid="true"[^>]*id="id_email"', html) or re.search(
        r'<input[^>]*id="id_email"[^>]*aria-invalid="true"', html
    )
    assert 'aria-describedby="id_email_helptext id_email_error"' in html
    assert "Ensure this value has at most 4000 characters (it has 4001)." in html
    # What the customer typed is kept, so nothing has to be written again.
    assert 'value="not-an-address"' in html
    assert InboundEvent.objects.count() == 0
    assert WebformSubmission.objects.count() == 0
    assert RateCounter.objects.count() == 0


def test_missing_or_bad_token_asks_to_reload(webform: Channel) -> None:
    response = post(webform, fields(token="not-a-uuid"))

    assert response.status_code == 422
    assert "This form has expired." in response.content.decode()
    assert InboundEvent.objects.count() == 0


def test_oversized_body_is_413_and_stores_nothing(webform: Channel) -> None:
    response = post(webform, fields(message="x" * 70_000))

    assert response.status_code == 413
    assert "Message too long" in response.content.decode()
    assert InboundEvent.objects.count() == 0
    assert RateCounter.objects.count() == 0


# --- honeypot and spam ----------------------------------------------------------------


def test_honeypot_stores_nothing_and_looks_like_success(webform: Channel) -> None:
    response = post(webform, fields(website="http://cheap-pills.example"))

    assert response.status_code == 302
    assert re.fullmatch(
        rf"/contact/{webform.public_id}/thanks/[0-9a-f-]{{36}}/", response["Location"]
    )
    page = Client().get(response["Location"])
    assert page.status_code == 200
    assert NEUTRAL in page.content.decode()
    assert InboundEvent.objects.count() == 0
    assert WebformSubmission.objects.count() == 0
    # The robot's address pays for the attempt.
    assert list(RateCounter.objects.values_list("scope", "hits")) == [("webform-ip", 1)]


def test_spam_is_stored_flagged_and_never_queued(webform: Channel, workspace: Workspace) -> None:
    spam = "Congratulations, you have won a cash prize! Claim your prize now: text WIN to 80085"
    response = post(webform, fields(message=spam))

    assert response.status_code == 302
    submission = submitted(response)
    assert drain() == 1

    message = Message.objects.get(workspace=workspace)
    assert (message.channel, message.external_id, message.is_spam, message.case_id) == (
        "webform",
        str(submission.public_id),
        True,
        None,
    )
    assert message.triage["spam_reason"] == "prize scam"
    assert Case.objects.count() == 0
    page = Client().get(response["Location"]).content.decode()
    assert NEUTRAL in page
    assert "FD-" not in page


# --- threading and the thank-you page -------------------------------------------------


def test_reference_appears_only_once_the_pipeline_opened_the_case(
    webform: Channel, workspace: Workspace
) -> None:
    response = post(webform, fields())
    before = Client().get(response["Location"]).content.decode()

    assert NEUTRAL in before
    assert "FD-" not in before

    assert drain() == 1
    case = Case.objects.get(workspace=workspace)
    after = Client().get(response["Location"]).content.decode()
    assert f"Your case reference is <strong>FD-{case.pk}</strong>." in after
    assert (case.origin_channel, case.contact.email, case.contact.display_name) == (
        "webform",
        "dana@example.com",
        "Dana Whitfield",
    )


def test_known_email_joins_the_open_case_without_revealing_its_reference(
    webform: Channel, workspace: Workspace, ingest: Callable[..., int]
) -> None:
    ingest(
        workspace,
        [
            record(
                "mail-1",
                "Where is my refund?",
                channel="email",
                author="dana@example.com",
                handle="dana@example.com",
                email="dana@example.com",
            )
        ],
    )
    case = Case.objects.get(workspace=workspace)

    response = post(webform, fields(email="DANA@example.COM"))
    assert drain() == 1

    assert Case.objects.filter(workspace=workspace).count() == 1
    assert list(
        Message.objects.filter(case=case).order_by("id").values_list("channel", flat=True)
    ) == ["email", "webform"]
    # Anyone can type an address: the page never tells them the case it joined.
    page = Client().get(response["Location"]).content.decode()
    assert NEUTRAL in page
    assert "FD-" not in page


def test_quoted_case_reference_joins_that_case_and_is_shown(
    webform: Channel, workspace: Workspace, ingest: Callable[..., int]
) -> None:
    ingest(workspace, [record("t-1", "@AcmeSupport my kettle is broken", author="u-9")])
    case = Case.objects.get(workspace=workspace)

    response = post(webform, fields(email="new@example.com", reference=f"FD-{case.pk}"))
    assert drain() == 1

    message = Message.objects.get(channel="webform")
    assert message.case_id == case.pk
    assert Contact.objects.filter(workspace=workspace).count() == 1
    assert case.contact.identities.filter(channel="webform").get().external_id == (
        "new@example.com"
    )
    page = Client().get(response["Location"]).content.decode()
    assert f"<strong>FD-{case.pk}</strong>" in page


def test_unknown_submission_and_other_channels_submission_show_nothing(
    webform: Channel, globex_webform: Channel
) -> None:
    response = post(webform, fields())
    drain()
    submission = submitted(response)

    assert NEUTRAL in Client().get(thanks_url(webform, uuid.uuid4())).content.decode()
    # Acme's submission id under Globex's form: no reference of Acme's leaks.
    page = Client().get(thanks_url(globex_webform, submission.public_id)).content.decode()
    assert NEUTRAL in page
    assert "FD-" not in page
    assert Client().get(f"/contact/{uuid.uuid4()}/thanks/{uuid.uuid4()}/").status_code == 404


# --- hostile input --------------------------------------------------------------------

HOSTILE_NAME = "<script>alert('n')</script>\r\nBcc: victim@example.com"
HOSTILE_MESSAGE = (
    '=HYPERLINK("http://evil.example","refund")\r\n<img src=x onerror=alert(1)>'
    " </textarea><b>bold</b>"
)
HOSTILE_REFERENCE = "+cmd|' /C calc'!A0"


def test_hostile_input_is_stored_verbatim_and_escaped_on_every_page(
    webform: Channel, workspace: Workspace, agent: Agent, agent_client: Client
) -> None:
    data = fields(name=HOSTILE_NAME, message=HOSTILE_MESSAGE, reference=HOSTILE_REFERENCE)

    # Re-rendered with an error, the form escapes what it echoes back.
    echoed = post(webform, {**data, "email": "bad"}).content.decode()
    assert "<script>alert('n')" not in echoed
    assert "&lt;script&gt;alert(&#x27;n&#x27;)&lt;/script&gt;" in echoed
    assert "</textarea><b>bold</b>" not in echoed
    # A line break in the address could add a mail header later: refused outright.
    crlf = post(webform, {**data, "email": "dana@example.com\r\nBcc: victim@example.com"})
    assert crlf.status_code == 422
    assert InboundEvent.objects.count() == 0

    response = post(webform, data)
    assert response.status_code == 302
    payload = InboundEvent.objects.get().payload
    assert payload["author"]["display_name"] == HOSTILE_NAME
    assert payload["text"] == f"{HOSTILE_MESSAGE}\n\nOrder/reference: {HOSTILE_REFERENCE}"

    drain()
    case = Case.objects.get(workspace=workspace)
    assert case.contact.display_name == HOSTILE_NAME
    page = agent_client.get(f"/cases/{case.public_id}/").content.decode()
    assert "<script>alert('n')" not in page
    assert "<img src=x" not in page
    assert "<b>bold</b>" not in page
    assert "&lt;img src=x onerror=alert(1)&gt;" in page


# --- two workspaces -------------------------------------------------------------------


def test_each_form_stores_into_its_own_workspace_only(
    webform: Channel,
    globex_webform: Channel,
    workspace: Workspace,
    other_workspace: Workspace,
) -> None:
    assert post(webform, fields(email="dana@example.com")).status_code == 302
    assert post(globex_webform, fields(email="dana@example.com"), ip="192.0.2.1").status_code == 302
    assert post(globex_webform, fields(email="lee@example.com"), ip="192.0.2.2").status_code == 302
    assert drain() == 3

    assert Case.objects.filter(workspace=workspace).count() == 1
    assert Case.objects.filter(workspace=other_workspace).count() == 2
    acme = Case.objects.get(workspace=workspace)
    assert list(acme.messages.values_list("workspace_id", flat=True)) == [workspace.pk]
    assert sorted(
        Contact.objects.filter(workspace=other_workspace).values_list("email", flat=True)
    ) == ["dana@example.com", "lee@example.com"]
    assert acme.contact.workspace_id == workspace.pk
