"""Portal URLs, included at ``/portal/``.

Agents' actions come first; their paths hold a uuid where every customer path holds a
fixed word, so no workspace slug can shadow them.
"""

from django.urls import URLPattern, path

from fairdesk.portal import oauth_views, views

app_name = "portal"

urlpatterns: list[URLPattern] = [
    path("cases/<uuid:public_id>/link/", views.send_link, name="send-link"),
    path("links/<uuid:public_id>/revoke/", views.revoke, name="revoke-link"),
    path("<slug:workspace>/", views.home, name="home"),
    path("<slug:workspace>/l/<str:token>/", views.open_link, name="open"),
    path("<slug:workspace>/verify/", views.verify, name="verify"),
    path("<slug:workspace>/verify/send/", views.send_code, name="send-code"),
    path("<slug:workspace>/verify/check/", views.check_code, name="check-code"),
    path("<slug:workspace>/oauth/mastodon/", oauth_views.mastodon_start, name="oauth-mastodon"),
    path(
        "<slug:workspace>/oauth/mastodon/callback/",
        oauth_views.mastodon_callback,
        name="oauth-mastodon-callback",
    ),
    path("<slug:workspace>/oauth/x/", oauth_views.x_start, name="oauth-x"),
    path("<slug:workspace>/oauth/x/callback/", oauth_views.x_callback, name="oauth-x-callback"),
    path("<slug:workspace>/signed-out/", views.signed_out, name="signed-out"),
    path("<slug:workspace>/logout/", views.logout, name="logout"),
    path("<slug:workspace>/cases/<uuid:public_id>/", views.case_page, name="case"),
    path("<slug:workspace>/cases/<uuid:public_id>/reply/", views.reply, name="reply"),
    path("<slug:workspace>/cases/<uuid:public_id>/csat/", views.csat, name="csat"),
    path("<slug:workspace>/files/<uuid:public_id>/", views.download, name="file"),
]
