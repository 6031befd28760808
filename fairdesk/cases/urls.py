from django.contrib.auth import views as auth_views
from django.urls import URLPattern, path

from fairdesk.cases import live, merge_views, views

urlpatterns: list[URLPattern] = [
    path("", views.queue, name="queue"),
    path("search/", views.search, name="search"),
    path("queue/bulk/", views.bulk, name="queue-bulk"),
    path("queue/take-next/", views.take_next, name="take-next"),
    path("queue/availability/", views.availability, name="availability"),
    path("queue/load/", views.load, name="load"),
    path("views/", views.save_view, name="view-save"),
    path("views/<uuid:public_id>/delete/", views.delete_view, name="view-delete"),
    path("cases/<uuid:public_id>/", views.case_detail, name="case"),
    path("cases/<uuid:public_id>/reply/", views.reply, name="case-reply"),
    path(
        "cases/<uuid:public_id>/held/<int:outbox_id>/approve/",
        views.approve,
        name="case-approve-held",
    ),
    path("cases/<uuid:public_id>/merge/", merge_views.merge, name="case-merge"),
    path("cases/<uuid:public_id>/split/", merge_views.split, name="case-split"),
    path("cases/<uuid:public_id>/contact-merge/", merge_views.merge_contact, name="contact-merge"),
    path(
        "cases/<uuid:public_id>/merges/<int:event_id>/undo/",
        merge_views.undo_merge,
        name="case-merge-undo",
    ),
    path(
        "cases/<uuid:public_id>/contact-merges/<int:event_id>/undo/",
        merge_views.undo_contact_merge,
        name="contact-merge-undo",
    ),
    path("attachments/<uuid:public_id>/", views.attachment, name="attachment"),
    path("live/changes/", live.changes, name="live-changes"),
    path(
        "login/",
        auth_views.LoginView.as_view(redirect_authenticated_user=True),
        name="login",
    ),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
]
