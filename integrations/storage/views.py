"""Custom Media Bucket: the Add a new Bucket popup (htmx), edit and remove.
Thin: the probe, the encryption and the Enterprise rule live in ``services``."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View

from chorus.tenancy import get_for_org_or_404
from chorus.views import OrgAdminMixin, OrgMemberMixin, form_errors_to
from integrations.models import Connection, ConnectionStatus
from integrations.storage import services
from integrations.storage.forms import BucketForm
from integrations.storage.models import RecordingFile
from integrations.storage.providers import KINDS, PROVIDER_KEY
from integrations.storage.services import BucketError

log = logging.getLogger(__name__)


def section_url() -> str:
    return reverse("settings-integrations") + "#custom-media-bucket"


class EnterpriseAdminMixin(OrgAdminMixin):
    def check_enterprise(self):
        if not self.org.is_enterprise:
            raise PermissionDenied(services.ENTERPRISE_ONLY)


class BucketFormView(EnterpriseAdminMixin, View):
    """GET: the popup (or a full page without htmx); ``?kind=`` switches the
    provider in place. POST: validate with a probe object, then save."""

    def get_bucket(self, pk):
        if pk is None:
            return None
        return get_for_org_or_404(
            Connection.objects.filter(provider=PROVIDER_KEY, status=ConnectionStatus.OK), self.org, pk=pk
        )

    def render_form(self, form, bucket, status=200):
        template = "storage/_bucket_dialog.html" if self.request.htmx else "storage/bucket_form.html"
        ctx = {
            "form": form,
            "bucket": bucket,
            "kind": KINDS[form.kind_key],
            "kinds": KINDS.values(),
            "action": (reverse("bucket-edit", args=[bucket.pk]) if bucket else reverse("bucket-new")),
        }
        return render(self.request, template, ctx, status=status)

    def get(self, request, pk=None):
        self.check_enterprise()
        bucket = self.get_bucket(pk)
        kind = request.GET.get("kind") or (bucket.config["kind"] if bucket else "s3")
        return self.render_form(BucketForm(kind=kind, bucket=bucket), bucket)

    def post(self, request, pk=None):
        self.check_enterprise()
        bucket = self.get_bucket(pk)
        kind = request.POST.get("kind", "")
        form = BucketForm(request.POST, kind=kind, bucket=bucket)
        form.is_valid()
        try:
            saved = services.bucket_save(org=self.org, actor=request.user, kind=kind, data=form.values(), bucket=bucket)
        except ValidationError as exc:
            form_errors_to(form, exc)
        except BucketError as exc:
            form.add_error(None, str(exc))
        except Exception:
            log.exception("Saving a media bucket failed (org %s)", self.org.pk)
            form.add_error(
                None,
                "Something went wrong while checking the bucket; nothing was saved. "
                "Try again, and contact Chorus support if it keeps happening.",
            )
        else:
            messages.success(
                request,
                f"Recordings are now stored in {KINDS[kind].label} "
                f"“{saved.config['bucket']}”. Chorus wrote, read and deleted a test file there.",
            )
            if request.htmx:
                response = HttpResponse(status=204)
                # A query string, so the browser reloads even when only the #fragment differs.
                response["HX-Redirect"] = reverse("settings-integrations") + "?bucket=saved#custom-media-bucket"
                return response
            return redirect(section_url())
        # 200 for htmx (it swaps only 2xx answers), 400 for a plain form post
        return self.render_form(form, bucket, status=200 if request.htmx else 400)


class RecordingMediaView(OrgMemberMixin, View):
    """The recording's audio/video for members of its org: a short-lived signed
    URL when it sits in a Custom Media Bucket, streamed from Chorus' storage otherwise."""

    def get(self, request, pk):
        rf = get_for_org_or_404(RecordingFile.objects.select_related("bucket"), self.org, engagement_id=pk)
        if rf.bucket is not None:
            return redirect(services.storage_for(bucket=rf.bucket).url(rf.name))
        fh = services.recording_open(recording_file=rf)
        return FileResponse(
            fh, content_type=rf.content_type or "application/octet-stream", filename=rf.name.rsplit("/", 1)[-1]
        )


class BucketRemoveView(EnterpriseAdminMixin, View):
    def post(self, request, pk):
        bucket = get_for_org_or_404(
            Connection.objects.filter(provider=PROVIDER_KEY, status=ConnectionStatus.OK), self.org, pk=pk
        )
        services.bucket_remove(bucket=bucket, actor=request.user)
        messages.success(
            request,
            f"New recordings are stored by Chorus again. Recordings already in "
            f"“{bucket.config.get('bucket')}” stay there and remain playable.",
        )
        return redirect(section_url())
