from django.contrib import admin

from integrations.storage.models import RecordingFile


@admin.register(RecordingFile)
class RecordingFileAdmin(admin.ModelAdmin):
    list_display = ("created_at", "org", "engagement", "bucket", "name", "file_type", "size")
    list_filter = ("file_type",)
    search_fields = ("name", "org__slug")
    readonly_fields = [f.name for f in RecordingFile._meta.fields]

    def has_add_permission(self, request):
        return False
