"""Custom Media Bucket URLs, mounted at /settings/integrations/bucket/ (and the signed
recording URL of embedded views, at /integrations/media/)."""

from django.urls import path

from integrations.storage import views

urlpatterns = [
    path("new/", views.BucketFormView.as_view(), name="bucket-new"),
    path("<int:pk>/edit/", views.BucketFormView.as_view(), name="bucket-edit"),
    path("<int:pk>/remove/", views.BucketRemoveView.as_view(), name="bucket-remove"),
    # /settings/integrations/bucket/recordings/<engagement id>/media/ — the recording's file
    path("recordings/<int:pk>/media/", views.RecordingMediaView.as_view(), name="recording-media"),

]

# Mounted at /integrations/media/: /integrations/media/<signed token>/ is the same file for
# embedded views' players (no Chorus session inside another site's frame; see
# services.signed_media_url).
signed_media_urlpatterns = [
    path("<str:token>/", views.signed_recording_media, name="recording-media-signed"),
]
