"""Custom Media Bucket: the Add a new Bucket popup (htmx), edit and remove.
Thin: the probe, the encryption and the Enterprise rule live in ``services``."""

from __future__ import annotations

import logging
import re

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import FileResponse, Http404, HttpResponse, HttpResponseNotAllowed, StreamingHttpResponse
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
BYTE_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


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
    URL when it sits in a Custom Media Bucket, streamed from Chorus' storage otherwise.
    Chorus' storage answers byte ranges: a player needs them to learn an Ogg or MP4's
    length and to seek (the engagement page's Moments and transcript lines)."""

    def get(self, request, pk):
        return recording_response(request, org_id=self.org.pk, engagement_id=pk)


def recording_response(request, *, org_id: int, engagement_id: int):
    """The engagement's recording (never a transcript file) as a player wants it: a
    redirect to a short-lived bucket URL, else the file from Chorus' storage with byte
    ranges. 404 unless the engagement belongs to ``org_id`` and has a recording."""
    rf = (RecordingFile.objects.select_related("bucket").filter(org_id=org_id, engagement_id=engagement_id)
          .exclude(file_type__iexact="TRANSCRIPT").order_by("id").first())
    if rf is None:
        raise Http404("No recording.")
    if rf.bucket is not None:
        return redirect(services.storage_for(bucket=rf.bucket).url(rf.name))
    fh = services.recording_open(recording_file=rf)
    content_type = rf.content_type or "application/octet-stream"
    wanted = byte_range(request.headers.get("Range", ""), size=fh.size)
    if wanted is None:
        response = FileResponse(fh, content_type=content_type, filename=rf.name.rsplit("/", 1)[-1])
    elif wanted == ():
        fh.close()
        response = HttpResponse(status=416)
        response["Content-Range"] = f"bytes */{fh.size}"
    else:
        start, end = wanted
        fh.seek(start)
        response = StreamingHttpResponse(_chunks(fh, end - start + 1), status=206, content_type=content_type)
        response["Content-Range"] = f"bytes {start}-{end}/{fh.size}"
        response["Content-Length"] = str(end - start + 1)
    response["Accept-Ranges"] = "bytes"
    return response


def signed_recording_media(request, token: str):
    """``signed_media_url``'s target: the same answer as ``RecordingMediaView`` without
    a Chorus session — the signed, dated token names the org and the engagement (a
    tampered or expired one is a 404, like another org's id). GET and HEAD only."""
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    target = services.signed_media_target(token)
    if target is None:
        raise Http404("This link to the recording is no longer valid; reload the page.")
    org_id, engagement_id = target
    response = recording_response(request, org_id=org_id, engagement_id=engagement_id)
    response["Cache-Control"] = "private, max-age=3600"
    response["Referrer-Policy"] = "no-referrer"
    return response


def byte_range(header: str, *, size: int) -> tuple[int, int] | tuple[()] | None:
    """(first, last) of a single ``Range: bytes=a-b`` (or ``a-`` or ``-n``), ``()`` when
    it cannot be satisfied, None for no range (or several: the whole file then)."""
    match = BYTE_RANGE.match(header.strip())
    if not match or not any(match.groups()):
        return None
    first, last = match.groups()
    if first:
        start, end = int(first), min(int(last) if last else size - 1, size - 1)
    else:
        start, end = max(0, size - int(last)), size - 1
    return (start, end) if start <= end else ()


def _chunks(fh, length: int, chunk: int = 64 * 1024):
    try:
        while length > 0:
            data = fh.read(min(chunk, length))
            if not data:
                break
            length -= len(data)
            yield data
    finally:
        fh.close()


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
