from django.urls import URLPattern, path

from fairdesk.routing import views

urlpatterns: list[URLPattern] = [
    path("settings/routing-rules/", views.rule_list, name="routing-rules"),
    path("settings/routing-rules/new/", views.rule_edit, name="routing-rule-new"),
    path("settings/routing-rules/<uuid:public_id>/", views.rule_edit, name="routing-rule-edit"),
    path(
        "settings/routing-rules/<uuid:public_id>/move/", views.rule_move, name="routing-rule-move"
    ),
    path(
        "settings/routing-rules/<uuid:public_id>/enabled/",
        views.rule_enabled,
        name="routing-rule-enabled",
    ),
    path(
        "settings/routing-rules/<uuid:public_id>/delete/",
        views.rule_delete,
        name="routing-rule-delete",
    ),
]
