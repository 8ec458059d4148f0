"""Settings > Integrations > Dialer Integrations: thin views over ``dialers.services``.

Mounted at ``/settings/integrations/dialers/``."""

from __future__ import annotations

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View

from chorus.tenancy import get_for_org_or_404
from chorus.views import OrgAdminMixin, form_errors_to
from dialers import services
from dialers.catalogue import (
    CATALOGUE,
    OUTREACH_MAPPING,
    ZOOM_PHONE,
    ZOOM_PHONE_ACCOUNT_NOTE,
    dialer_get,
)
from dialers.forms import DialerForm, NotificationDetectionForm
from integrations.models import Connection, ConnectionStatus
from integrations.pages import roles_page
from integrations.registry import PROVIDERS


def crm_label(crm) -> str:
    """The connected CRM's name, from the provider registry."""
    provider = PROVIDERS.get(crm.provider) if crm else None
    return provider.label if provider else ""


def section_url() -> str:
    return reverse("settings-integrations") + "#dialers"


def _task_fields(org, crm) -> list[tuple[str, str]]:
    """The connected CRM's Task fields (its provider reads them from the field import)."""
    provider = PROVIDERS.get(crm.provider) if crm else None
    return provider.task_fields(org=org) if provider is not None else []


def dialers_section(request, org) -> dict:
    """Context of the Dialer Integrations section of Settings > Integrations."""
    crm = services.crm_connection_for(org=org)
    rows = [services.dialer_status(c) for c in services.dialer_connections(org=org).order_by("created_at")]
    return {
        "rows": rows, "crm": crm, "crm_label": crm_label(crm),
        "zoom_phone": next((r for r in rows if r["dialer"].family == ZOOM_PHONE), None),
        "enterprise": org.is_enterprise,
    }


class DialerAddView(OrgAdminMixin, View):
    """Add a New Dialer: the Connect Dialer search box and a Select button per dialer."""

    def get(self, request):
        query = request.GET.get("q", "")
        crm = services.crm_connection_for(org=self.org)
        ctx = {"rows": services.dialer_choices(org=self.org, query=query), "q": query, "crm": crm,
               "crm_label": crm_label(crm)}
        if request.headers.get("HX-Request"):
            return render(request, "dialers/_dialer_list.html", ctx)
        return render(request, "dialers/add.html", ctx)


class DialerFormView(OrgAdminMixin, View):
    """The dialer's form (new: "Sync Dialer"; existing: "Save"). Zoom Phone follows
    the seed's steps instead: Connect, Edit Call Disposition, Complete."""

    def setup_dialer(self, key=None, pk=None):
        if pk is not None:
            self.connection = get_for_org_or_404(Connection.objects.exclude(status=ConnectionStatus.DISCONNECTED)
                                                 .filter(provider__in=list(CATALOGUE)), self.org, pk=pk)
            self.dialer = CATALOGUE[self.connection.provider]
        else:
            self.dialer = dialer_get(key)
            if self.dialer is None:
                raise Http404("No such dialer.")
            self.connection = services.dialer_connection_for(org=self.org, key=key)
        self.crm = services.crm_connection_for(org=self.org)

    def form(self, data=None):
        return DialerForm(data, dialer=self.dialer, task_fields=_task_fields(self.org, self.crm),
                          crm_label=crm_label(self.crm), crm_key=self.crm.provider if self.crm else "",
                          connection=self.connection)

    def render_page(self, form, status=200):
        refusal = services.dialer_connect_refusal(org=self.org, dialer=self.dialer, crm=self.crm)
        return render(self.request, "dialers/connect.html", {
            "dialer": self.dialer, "form": form, "connection": self.connection, "crm": self.crm,
            "crm_label": crm_label(self.crm), "refusal": refusal,
            # Connecting a CRM lifts the refusal (not for a dialer Chorus cannot import at all).
            "refusal_needs_crm": bool(refusal) and self.dialer.importable and (self.crm is None or bool(
                self.dialer.only_crm_key)),
            "outreach_mapping": OUTREACH_MAPPING if self.dialer.key == "outreach" else None,
            "zoom_account_note": ZOOM_PHONE_ACCOUNT_NOTE, "is_zoom": self.dialer.family == ZOOM_PHONE,
            "editing_disposition": self.request.GET.get("edit") == "disposition",
        }, status=status)

    def get(self, request, key=None, pk=None):
        self.setup_dialer(key, pk)
        if key is not None and self.connection is not None and self.dialer.family != ZOOM_PHONE:
            return redirect("dialer-edit", pk=self.connection.pk)
        return self.render_page(self.form())

    def post(self, request, key=None, pk=None):
        self.setup_dialer(key, pk)
        if self.dialer.family == ZOOM_PHONE and request.POST.get("action") == "connect" and self.connection is None:
            try:
                self.connection = services.dialer_save(org=self.org, dialer=self.dialer, values={}, actor=request.user)
            except ValidationError as exc:
                messages.error(request, " ".join(exc.messages))
                return redirect("dialer-connect", key=self.dialer.key)
            return redirect("dialer-connect", key=self.dialer.key)
        form = self.form(request.POST)
        if not form.is_valid():
            return self.render_page(form, status=400)
        new = self.connection is None
        try:
            self.connection = services.dialer_save(org=self.org, dialer=self.dialer, values=form.values(),
                                                   actor=request.user, connection=self.connection)
        except ValidationError as exc:
            if hasattr(exc, "error_dict"):
                form_errors_to(form, exc)
            else:
                form.add_error(None, exc.messages)
            return self.render_page(form, status=400)
        if self.dialer.family == ZOOM_PHONE:
            messages.success(request, "Zoom Phone is set up. Now scroll to Zoom Phone Integration and click Activate.")
            return redirect(reverse("settings-integrations") + "#zoom-phone")
        if new:
            messages.success(request, f"{self.dialer.label} is connected. Chorus is importing the last seven days of "
                                      "calls; then it imports new calls every hour.")
        else:
            messages.success(request, f"{self.dialer.label} settings saved.")
        return redirect(section_url())


class ConnectionActionView(OrgAdminMixin, View):
    def get_connection(self, pk) -> Connection:
        return get_for_org_or_404(Connection.objects.exclude(status=ConnectionStatus.DISCONNECTED)
                                  .filter(provider__in=list(CATALOGUE)), self.org, pk=pk)


class DialerDisconnectView(ConnectionActionView):
    def post(self, request, pk):
        connection = self.get_connection(pk)
        services.dialer_disconnect(connection=connection, actor=request.user)
        messages.success(request, f"{CATALOGUE[connection.provider].label} is disconnected. Calls already imported "
                                  "stay in Chorus.")
        return redirect(section_url())


class DialerImportNowView(ConnectionActionView):
    def post(self, request, pk):
        connection = self.get_connection(pk)
        services.dialer_import_request(connection=connection)
        return redirect(section_url())


class ZoomPhoneActivateView(ConnectionActionView):
    def post(self, request, pk):
        connection = self.get_connection(pk)
        if CATALOGUE[connection.provider].family != ZOOM_PHONE:
            raise Http404
        services.dialer_zoom_phone_activate(connection=connection, actor=request.user)
        messages.success(request, "Zoom Phone Integration is active: Chorus imports the last seven days of "
                                  "automatically recorded calls, then new ones every hour.")
        return redirect(reverse("settings-integrations") + "#zoom-phone")


class DialerRecordingsView(ConnectionActionView):
    """Every call of the connection whose recording was not downloaded, with its
    reason and whether and when it is tried again, a page at a time."""

    PER_PAGE = 50

    def get(self, request, pk):
        connection = self.get_connection(pk)
        page = Paginator(services.dialer_media_problems(connection=connection), self.PER_PAGE).get_page(
            request.GET.get("page"))
        return render(request, "dialers/recordings.html", {
            "connection": connection, "dialer": CATALOGUE[connection.provider], "page": page,
            "rows": services.media_problem_rows(page.object_list),
            "media": services.media_summary(connection=connection)})


class DialerStatusView(ConnectionActionView):
    """The status block alone, polled by htmx while an import runs."""

    def get(self, request, pk):
        connection = self.get_connection(pk)
        return render(request, "dialers/_status.html", {"row": services.dialer_status(connection)})


def notification_detection_section(request, org) -> dict | None:
    """Context of Roles and Permissions > Compliance: recording notification
    detection (Enterprise only; ``None`` leaves the section out). After a refused
    save, the form with its errors (see :class:`NotificationDetectionView`)."""
    if not org.is_enterprise:
        return None
    form = getattr(request, "_notification_detection_form", None)
    if form is None:
        form = NotificationDetectionForm.for_settings(services.compliance_settings(org=org))
    return {"form": form}


class NotificationDetectionView(OrgAdminMixin, View):
    """Saves Roles and Permissions > Compliance > recording notification detection."""

    def post(self, request):
        if not self.org.is_enterprise:
            raise Http404
        form = NotificationDetectionForm.for_settings(services.compliance_settings(org=self.org), request.POST)
        if form.is_valid():
            try:
                services.compliance_settings_update(org=self.org, actor=request.user, phrases=form.cleaned_phrases(),
                                                    window_seconds=form.cleaned_data["window_seconds"])
            except ValidationError as exc:
                form_errors_to(form, exc)
            else:
                messages.success(request, "Recording notification detection saved.")
                return redirect(reverse("settings-roles") + "#notification-detection")
        request._notification_detection_form = form  # the Roles page again, with the errors in place
        return roles_page.render_again(request, status=400)
