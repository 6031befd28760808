from django.urls import URLPattern, path

from fairdesk.followthrough import views

urlpatterns: list[URLPattern] = [
    path("work/", views.queue, name="work-orders"),
    path("cases/<uuid:public_id>/work-orders/", views.create, name="work-order-create"),
    path("work-orders/<uuid:public_id>/status/", views.change_status, name="work-order-status"),
    path("cases/<uuid:public_id>/resolution/", views.propose, name="resolution-propose"),
]
