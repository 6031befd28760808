"""Sign in with Mastodon or X from the verify page (the flow: ``fairdesk.portal.oauth``).

``/portal/<workspace>/oauth/<provider>/`` starts it for the link being verified (the
pending cookie of ``views``) and sends the browser to the platform, keeping the
attempt's id and browser secret in a signed cookie (``fd_portal_oauth``: HttpOnly,
SameSite=Lax, so it comes back on the platform's top-level redirect; scoped to the
workspace's portal path; ten minutes). The start is a link, not a form: the CSP's
``form-action 'self'`` stops a form whose answer redirects to another origin.
``…/oauth/<provider>/callback/`` is where the platform sends the browser back; it
finishes the attempt and, on success, signs in exactly as a right code does. One
attempt at a time per browser: starting with one provider ends an attempt with the other.
"""

import uuid
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from fairdesk.connectors.webform.ratelimit import Throttled
from fairdesk.portal import oauth, views
from fairdesk.workspaces.models import Workspace

OAUTH_COOKIE = "fd_portal_oauth"
OAUTH_SALT = "fairdesk.portal.oauth"
OAUTH_MAX_AGE = int(oauth.ATTEMPT_TTL.total_seconds())


@dataclass(frozen=True, slots=True)
class Attempt:
    """What the browser holds of the sign-in it started."""

    link_id: int
    challenge_id: uuid.UUID
    browser_secret: str


@never_cache
@require_GET
def mastodon_start(request: HttpRequest, workspace: str) -> HttpResponse:
    return _start(request, workspace, oauth.MASTODON)


@never_cache
@require_GET
def mastodon_callback(request: HttpRequest, workspace: str) -> HttpResponse:
    return _finish(request, workspace, oauth.MASTODON)


@never_cache
@require_GET
def x_start(request: HttpRequest, workspace: str) -> HttpResponse:
    return _start(request, workspace, oauth.X)


@never_cache
@require_GET
def x_callback(request: HttpRequest, workspace: str) -> HttpResponse:
    return _finish(request, workspace, oauth.X)


def _start(request: HttpRequest, workspace: str, provider: oauth.Provider) -> HttpResponse:
    found = views._workspace(workspace)
    pending = views._pending(request, found)
    if pending is None:
        return views._unusable(request, found)
    try:
        started = oauth.start_sign_in(
            provider=provider, link=pending.link, redirect_uri=_callback(request, found, provider)
        )
    except oauth.SignInRefused as refused:
        return views._verify_page(request, pending, status=refused.status, error=str(refused))
    except Throttled as throttled:
        response = views._verify_page(
            request, pending, status=429, error="Too many sign-ins started. Try again later."
        )
        response["Retry-After"] = str(throttled.retry_after)
        return response
    response = HttpResponseRedirect(started.url)
    value = f"{found.pk}:{pending.link.pk}:{started.challenge_id}:{started.browser_secret}"
    response.set_signed_cookie(
        OAUTH_COOKIE, value, salt=OAUTH_SALT, **views._cookie_options(found, OAUTH_MAX_AGE)
    )
    return response


def _finish(request: HttpRequest, workspace: str, provider: oauth.Provider) -> HttpResponse:
    found = views._workspace(workspace)
    pending = views._pending(request, found)
    if pending is None:
        return views._forget(views._unusable(request, found), found, OAUTH_COOKIE)
    attempt = _attempt(request, found)
    try:
        if attempt is None or attempt.link_id != pending.link.pk:
            raise oauth.StateMismatch
        session, secret = oauth.finish_sign_in(
            provider=provider,
            link=pending.link,
            challenge_id=attempt.challenge_id,
            browser_secret=attempt.browser_secret,
            params={name: request.GET.get(name, "") for name in ("state", "code", "error")},
            redirect_uri=_callback(request, found, provider),
        )
    except oauth.StateMismatch as refused:
        return views._verify_page(request, pending, status=refused.status, error=str(refused))
    except oauth.SignInRefused as refused:
        response = views._verify_page(request, pending, status=refused.status, error=str(refused))
    else:
        response = views.signed_in(found, session, secret)
    return views._forget(response, found, OAUTH_COOKIE)  # the attempt is spent


def _callback(request: HttpRequest, workspace: Workspace, provider: oauth.Provider) -> str:
    """The redirect URI registered with the platform for this workspace's portal."""
    name = f"portal:oauth-{provider.kind}-callback"
    path = reverse(name, kwargs={"workspace": workspace.slug})
    return request.build_absolute_uri(path)


def _attempt(request: HttpRequest, workspace: Workspace) -> Attempt | None:
    raw = request.get_signed_cookie(
        OAUTH_COOKIE, default=None, salt=OAUTH_SALT, max_age=OAUTH_MAX_AGE
    )
    parts = str(raw or "").split(":")
    if len(parts) != 4 or parts[0] != str(workspace.pk) or not parts[1].isdigit():
        return None
    try:
        challenge_id = uuid.UUID(parts[2])
    except ValueError:
        return None
    return Attempt(link_id=int(parts[1]), challenge_id=challenge_id, browser_secret=parts[3])
