"""Settings > Integrations > Install Salesforce Package (seed: "Install the Chorus for
Salesforce Managed Package" … "Sync Chorus Trackers with Salesforce"): the steps a
Salesforce admin follows, the package's source to download, and what the admin types
into Salesforce (the canvas app URL, the namespace).

Org admins only, and only while the org's Salesforce connection is connected: anyone
else is sent back to Settings > Integrations with the reason."""

from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.utils.html import escape
from django.utils.safestring import mark_safe
from django.views import View

from chorus.views import OrgAdminMixin
from crm import services
from crm.providers.salesforce import package
from crm.providers.salesforce.connect import provider as salesforce
from crm.views import integrations_url
from integrations.models import Connection

# The embedded view Salesforce posts the signed canvas request to (its own app).
CANVAS_PATH = "/integrations/salesforce/canvas/"
ZIP_NAME = "chorus-salesforce-package.zip"
NOT_CONNECTED = ("Connect Salesforce under CRM Connect first: the Chorus package reads your recordings through "
                 "that connection.")
NEEDS_RECONNECT = "Reconnect Salesforce under CRM Connect first, then install the Chorus package."

# Seed, "Create a New Lightning Component", step 6 (verbatim; the namespace is the package's).
LIGHTNING_COMPONENT = (
    '<aura:component description="canvasly"\n'
    'implements="force:lightningQuickAction,force:appHostable,flexipage:availableForAllPageTypes,'
    'flexipage:availableForRecordHome,force:hasRecordId,forceCommunity:availableForAllPageTypes" access="global">\n'
    '<force:canvasApp developerName="AffectLayer_Notes" namespacePrefix="{namespace}"\n'
    'width="99%" scrolling="false" />\n'
    '</aura:component>'
)
# Seed, "Sync Chorus Trackers with Salesforce", step 14a.
COMPETITOR_FORMULA = ('IF (CONTAINS (Chorus_Competitor__c "Your competitor name"), "Your competitor name", '
                      '"Text that will display if competitor is not found")')
REPORT_TYPES = ("Account_Opportunities_with_engagement", "Opportunity With Engagement", "Opportunity_With_Moment")


def canvas_url() -> str:
    return settings.CHORUS_BASE_URL + CANVAS_PATH


def _wrappable(code: str):
    """The code, escaped, with a line-break opportunity after each comma (``<wbr>``
    adds no text: what Copy puts on the clipboard is the code exactly)."""
    return mark_safe(escape(code).replace(",", ",<wbr>"))  # noqa: S308 — escaped above


class SalesforcePackageMixin(OrgAdminMixin):
    """The org's connected Salesforce, else back to Settings > Integrations."""

    def connection_or_redirect(self) -> Connection | HttpResponse:
        connection = services.crm_connection_get(org=self.org)
        if connection is None or connection.provider != salesforce.key:
            messages.error(self.request, NOT_CONNECTED)
            return redirect(integrations_url())
        if connection.config.get("needs_reconnect"):
            messages.error(self.request, NEEDS_RECONNECT)
            return redirect(integrations_url())
        return connection


class SalesforcePackageView(SalesforcePackageMixin, View):
    template_name = "crm/salesforce_package.html"

    def get(self, request):
        connection = self.connection_or_redirect()
        if not isinstance(connection, Connection):
            return connection
        return render(request, self.template_name, {
            "connection": connection,
            "instance_url": connection.config.get("instance_url", ""),
            "crm_org_name": connection.config.get("crm_org_name", ""),
            "canvas_url": canvas_url(),
            "namespace": package.NAMESPACE,
            "canvas_secret_set": bool(settings.SALESFORCE_CANVAS_SECRET),
            "component_code": _wrappable(LIGHTNING_COMPONENT.format(namespace=package.NAMESPACE)),
            "competitor_formula": COMPETITOR_FORMULA,
            "report_types": REPORT_TYPES,
            "zip_name": ZIP_NAME,
        })


class SalesforcePackageDownloadView(SalesforcePackageMixin, View):
    """Download package source (.zip): the SFDX project, the canvas URL filled in."""

    def get(self, request):
        connection = self.connection_or_redirect()
        if not isinstance(connection, Connection):
            return connection
        response = HttpResponse(package.package_zip(canvas_url=canvas_url()), content_type="application/zip")
        response["Content-Disposition"] = f'attachment; filename="{ZIP_NAME}"'
        response["Cache-Control"] = "private, no-store"
        return response
