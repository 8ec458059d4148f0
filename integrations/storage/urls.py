"""Custom Media Bucket URLs, mounted at /settings/integrations/bucket/."""

from django.urls import path

from integrations.storage import views

urlpatterns = [
    path("new/", views.BucketFormView.as_view(), name="bucket-new"),
    path("<int:pk>/edit/", views.BucketFormView.as_view(), name="bucket-edit"),
    path("<int:pk>/remove/", views.BucketRemoveView.as_view(), name="bucket-remove"),
    # /settings/integrations/bucket/recordings/<engagement id>/media/ — the recording's file
    path("recordings/<int:pk>/media/", views.RecordingMediaView.as_view(), name="recording-media"),
]
