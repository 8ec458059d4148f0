from django.urls import path

from integrations.streaming import views

urlpatterns: list = [
    path("stream/publish", views.stream_publish, name="stream-publish"),
    path("stream/done", views.stream_done, name="stream-done"),
]
