from django.urls import URLPattern, path

from fairdesk.knowledge import views

urlpatterns: list[URLPattern] = [
    path("settings/canned-replies/", views.canned_list, name="canned-replies"),
    path("settings/canned-replies/new/", views.canned_edit, name="canned-reply-new"),
    path("settings/canned-replies/<uuid:public_id>/", views.canned_edit, name="canned-reply-edit"),
    path("settings/articles/", views.article_list, name="articles"),
    path("settings/articles/new/", views.article_edit, name="article-new"),
    path("settings/articles/<uuid:public_id>/", views.article_edit, name="article-edit"),
    path("cases/<uuid:public_id>/composer/picker/", views.picker, name="composer-picker"),
    path("cases/<uuid:public_id>/composer/preview/", views.preview, name="composer-preview"),
    path("help/<uuid:public_id>/", views.article_public, name="article-public"),
]
