"""CRM Connect, Select CRM Fields and CRM sign-in. Thin: they read the org from
``request.user``, call ``crm.services`` and turn a refusal into a sentence on the page."""

from __future__ import annotations

import logging

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login as auth_login
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views import View

from chorus.tenancy import get_for_org_or_404
from chorus.views import OrgAdminMixin
from crm import services
from crm.forms import FieldSelectionForm
from crm.models import CrmField
from crm.providers import crm_keys, crm_providers, get_provider
from crm.providers.base import CrmError
from integrations.models import Connection

log = logging.getLogger(__name__)

SESSION_KEY = "crm_oauth"
UNEXPECTED = ("Something went wrong while talking to {label}; nothing was changed. "
              "Try again in a few minutes, and contact Chorus support if it keeps happening.")


def integrations_url() -> str:
    return reverse("settings-integrations") + "#crm-connect"


def redirect_uri(provider_key: str) -> str:
    """The callback registered with each CRM app: ``CHORUS_BASE_URL/integrations/<name>/oauth/``."""
    return settings.CHORUS_BASE_URL + reverse("crm-oauth-callback", args=[provider_key])


def _provider_or_404(key: str):
    try:
        return get_provider(key)
    except KeyError:
        raise Http404("No such CRM.") from None


class EnableView(OrgAdminMixin, View):
    """Enable next to a CRM. Salesforce (production by default; sandbox or My
    Domain on the options page) and HubSpot go straight to their sign-in;
    Dynamics first asks for the org URL."""

    template_name = "crm/enable.html"

    def render(self, provider, form, status=200):
        return render(self.request, self.template_name, {"provider": provider, "form": form}, status=status)

    def get(self, request, provider):
        p = _provider_or_404(provider)
        form_class = p.connect_form
        if form_class is None:
            return redirect(integrations_url())
        return self.render(p, form_class())

    def post(self, request, provider):
        p = _provider_or_404(provider)
        form_class = p.connect_form
        form = form_class(request.POST) if form_class else None
        if form is not None and not form.is_valid():
            return self.render(p, form, status=400)
        options = form.cleaned_data if form is not None else {}
        try:
            url, pending = services.crm_oauth_begin(org=self.org, provider_key=provider, options=options,
                                                    redirect_uri=redirect_uri(provider))
        except Exception as exc:
            if isinstance(exc, CrmError):
                message = str(exc)
            else:
                log.exception("Could not start the %s sign-in", provider)
                message = UNEXPECTED.format(label=p.label)
            if form is not None and request.POST.get("from_options"):
                form.add_error(None, message)
                return self.render(p, form, status=400)
            messages.error(request, message)
            return redirect(integrations_url())
        request.session[SESSION_KEY] = pending
        return redirect(url)


class OAuthCallbackView(View):
    """``/integrations/<name>/oauth/``: the one redirect URI per CRM app, for
    connecting (an admin) and for CRM sign-in (anyone), told apart by what the
    session holds. The ``state`` must match the one this browser was sent with."""

    def get(self, request, provider):
        p = _provider_or_404(provider)
        pending = request.session.pop(SESSION_KEY, None)
        params = request.GET.dict()
        if pending and pending.get("login"):
            return self.sign_in(request, p, pending, params)
        user = request.user
        if not user.is_authenticated:
            return redirect(f"{reverse('login')}?next={reverse('settings-integrations')}")
        if not user.org_id or not user.is_org_admin:
            raise PermissionDenied("Only Chorus admins can connect a CRM.")
        try:
            connection = services.crm_oauth_complete(pending=pending, provider_key=provider, params=params,
                                                     org=user.org, user=user, redirect_uri=redirect_uri(provider))
        except CrmError as exc:
            messages.error(request, str(exc))
        except Exception:
            log.exception("CRM connect failed (%s)", provider)
            messages.error(request, UNEXPECTED.format(label=p.label))
        else:
            messages.success(request, f"{p.label} is connected. The first sync has started; "
                                       "its progress shows below.")
            log.info("CRM %s connected for org %s (connection %s)", provider, user.org_id, connection.pk)
        return redirect(integrations_url())

    def sign_in(self, request, p, pending, params):
        try:
            user = services.crm_sign_in_complete(pending=pending, provider_key=p.key, params=params,
                                                 redirect_uri=redirect_uri(p.key))
        except CrmError as exc:
            return render(request, "crm/login.html", {"providers": crm_providers(), "error": str(exc)},
                          status=400)
        except Exception:
            log.exception("CRM sign-in failed (%s)", p.key)
            return render(request, "crm/login.html", {"providers": crm_providers(),
                                                      "error": UNEXPECTED.format(label=p.label)}, status=400)
        auth_login(request, user, backend="chorus.auth.EmailBackend")
        return redirect("home")


class DisconnectView(OrgAdminMixin, View):
    def post(self, request, pk):
        connection = get_for_org_or_404(Connection.objects.filter(provider__in=crm_keys()), self.org, pk=pk)
        left_to_do = services.crm_disconnect(connection=connection, actor=request.user)
        label = get_provider(connection.provider).label
        messages.success(request, f"{label} is disconnected{'' if left_to_do else ' and Chorus’s access is revoked'}. "
                                  "Chorus no longer syncs from it or signs people in with it; the CRM data already "
                                  "synced stays for filtering.")
        if left_to_do:
            messages.warning(request, left_to_do)
        return redirect(integrations_url())


class SyncNowView(OrgAdminMixin, View):
    def post(self, request, pk):
        connection = get_for_org_or_404(
            Connection.objects.filter(provider__in=crm_keys()).exclude(status="disconnected"), self.org, pk=pk)
        if connection.config.get("needs_reconnect"):
            messages.error(request, connection.last_error)
        else:
            services.crm_sync_request(connection=connection, actor=request.user)
            messages.success(request, "Sync queued. Progress shows below.")
        return redirect(integrations_url())


class StatusView(OrgAdminMixin, View):
    """The connection's status block, polled by htmx while a sync runs."""

    def get(self, request, pk):
        connection = get_for_org_or_404(Connection.objects.filter(provider__in=crm_keys()), self.org, pk=pk)
        return render(request, "crm/_status.html", {"ctx": services.crm_connect_context(connection=connection)})


class FieldsView(OrgAdminMixin, View):
    """Select CRM Fields: every custom field of Task, Lead, Account and
    Opportunity; supported types selectable, the rest shown with the reason."""

    template_name = "crm/fields.html"

    def connection(self):
        return services.crm_connection_get(org=self.org)

    def render(self, connection, form=None, status=200):
        ctx = services.crm_fields_page(connection=connection) if connection else {}
        return render(self.request, self.template_name,
                      {"connection": connection, "form": form, **ctx}, status=status)

    def get(self, request):
        connection = self.connection()
        if connection and not CrmField.objects.for_org(self.org).filter(provider=connection.provider).exists() \
                and not connection.config.get("needs_reconnect") and connection.status != "failed":
            self._import(connection, quiet=True)
        return self.render(connection)

    def _import(self, connection, quiet=False) -> bool:
        label = get_provider(connection.provider).label
        try:
            result = services.crm_fields_import(connection=connection)
        except CrmError as exc:
            messages.error(self.request, str(exc))
            return False
        except Exception:
            log.exception("CRM field import failed (connection %s)", connection.pk)
            messages.error(self.request, UNEXPECTED.format(label=label))
            return False
        if result["missing"]:
            messages.warning(self.request, "No longer in " + label + ": " + ", ".join(result["missing"])
                             + ". They stay listed, unselectable, and are not synced any more.")
        for warning in result["warnings"]:
            messages.warning(self.request, f"Some fields could not be read: {warning}")
        if not quiet:
            messages.success(self.request, f"Field list refreshed from {label}.")
        return True

    def post(self, request):
        connection = self.connection()
        if connection is None:
            messages.error(request, "Connect a CRM first: click Enable next to your CRM under CRM Connect.")
            return redirect(integrations_url())
        if request.POST.get("action") == "refresh":
            self._import(connection)
            return redirect("crm-fields")
        form = FieldSelectionForm(request.POST)
        if not form.is_valid():
            return self.render(connection, form, status=400)
        ids = form.cleaned_data["fields"]
        owned = set(CrmField.objects.for_org(self.org).filter(pk__in=ids).values_list("pk", flat=True))
        if owned != set(ids):
            raise Http404("No such field.")
        try:
            chosen = services.crm_fields_select(connection=connection, field_ids=ids, actor=request.user)
        except ValidationError as exc:
            for message in exc.messages:
                form.add_error(None, message)
            return self.render(connection, form, status=400)
        messages.success(request, f"Saved: {len(chosen)} CRM field{'s' if len(chosen) != 1 else ''} imported for "
                                  "filtering. New fields fill in with the next sync.")
        return redirect(reverse("settings-integrations") + "#crm-fields")


class LoginChoicesView(View):
    """Log in with Salesforce / HubSpot / Microsoft (seed: any member of your CRM
    org can sign in to Chorus using CRM authentication)."""

    def get(self, request):
        return render(request, "crm/login.html", {"providers": crm_providers()})


class CrmLoginView(View):
    def get(self, request, provider):
        p = _provider_or_404(provider)
        try:
            url, pending = services.crm_oauth_begin(org=None, provider_key=provider, options={},
                                                    redirect_uri=redirect_uri(provider), login=True)
        except Exception as exc:
            if not isinstance(exc, CrmError):
                log.exception("Could not start the %s sign-in", provider)
            message = str(exc) if isinstance(exc, CrmError) else UNEXPECTED.format(label=p.label)
            return render(request, "crm/login.html", {"providers": crm_providers(), "error": message},
                          status=400)
        request.session[SESSION_KEY] = pending
        return redirect(url)
