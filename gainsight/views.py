"""Settings > Integrations > Gainsight Integration: Submit (the Add form) and Remove.
Thin: the check against Gainsight and the rules live in ``services``. A refused
Submit shows the whole Integrations page again with the form open and its errors."""

from __future__ import annotations

import logging

from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.shortcuts import redirect
from django.urls import reverse
from django.views import View

from chorus.views import OrgAdminMixin, form_errors_to
from gainsight import services
from gainsight.client import GainsightError
from gainsight.forms import GainsightForm
from integrations.pages import integrations_page

log = logging.getLogger(__name__)
SECTION_KEY = "gainsight"
REQUEST_FORM = "_gainsight_form"


def section_url() -> str:
    return reverse("settings-integrations") + f"#{SECTION_KEY}"


class GainsightConnectView(OrgAdminMixin, View):
    def get(self, request):
        return redirect(reverse("settings-integrations") + "?gainsight=add#gainsight")

    def post(self, request):
        if not self.org.is_enterprise:
            raise PermissionDenied(services.ENTERPRISE_ONLY)
        form = GainsightForm(request.POST)
        problem = services.salesforce_problem(org=self.org)
        if problem:
            form.add_error(None, problem)
        elif form.is_valid():
            try:
                connection = services.gainsight_connect(
                    org=self.org, actor=request.user, access_key=form.cleaned_data["access_key"],
                    domain=form.cleaned_data["domain"])
            except ValidationError as exc:
                form_errors_to(form, exc)
            except GainsightError as exc:
                form.add_error(None, str(exc))
            except Exception:
                log.exception("Connecting Gainsight failed (org %s)", self.org.pk)
                form.add_error(None, "Something went wrong while checking the Access Key; nothing was saved. "
                                     "Try again, and contact Chorus support if it keeps happening.")
            else:
                messages.success(request, f"Gainsight is connected ({connection.config['domain']}.gainsightcloud.com). "
                                          "Chorus adds a Timeline activity for each meeting matched to a Salesforce "
                                          "account that Gainsight knows.")
                return redirect(section_url())
        setattr(request, REQUEST_FORM, form)
        return integrations_page.render_again(request, status=422)


class GainsightRemoveView(OrgAdminMixin, View):
    def post(self, request):
        connection = services.gainsight_connection(org=self.org)
        if connection is not None:
            services.gainsight_disconnect(connection=connection, actor=request.user)
            messages.success(request, "Gainsight is disconnected: Chorus no longer adds Timeline activities. "
                                      "Activities already there stay.")
        return redirect(section_url())
