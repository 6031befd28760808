from django.urls import URLPattern, path

from fairdesk.connectors import views

urlpatterns: list[URLPattern] = [
    path("", views.channel_list, name="channels"),
    path("new/<slug:kind>/", views.channel_new, name="channel-new"),
    path("<uuid:public_id>/", views.channel_edit, name="channel-edit"),
]
