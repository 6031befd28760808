from django.urls import URLPattern, path

from fairdesk.insights import views

urlpatterns: list[URLPattern] = [
    path("", views.overview, name="insights"),
    path("section/<str:name>/", views.overview_section, name="insights-section"),
    path(
        "section/parity/trend/<str:dimension>/",
        views.parity_trend,
        name="insights-parity-trend",
    ),
    path("crickets/", views.cricket_list, name="insights-crickets"),
    path("sps/<str:kind>/", views.sps_messages, name="insights-sps"),
    path("kudos/", views.kudos_list, name="insights-kudos"),
    path("root-causes/", views.root_cause_report, name="insights-root-causes"),
    path("root-causes/cases/<uuid:public_id>/", views.tag_case, name="insights-tag-root-cause"),
    path("export/<str:figure>.csv", views.export, name="insights-export"),
]
