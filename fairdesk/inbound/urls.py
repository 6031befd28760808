from django.urls import path

from fairdesk.inbound import views

urlpatterns = [
    path("", views.dead_letters, name="dead-letters"),
    path("retry/", views.retry, name="dead-letters-retry"),
]
