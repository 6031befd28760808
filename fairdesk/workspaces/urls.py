from django.urls import URLPattern, path

from fairdesk.workspaces import views

urlpatterns: list[URLPattern] = [
    path("settings/teams/", views.team_list, name="teams"),
    path("settings/teams/<slug:slug>/", views.team_edit, name="team-edit"),
]
