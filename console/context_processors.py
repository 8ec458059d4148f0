"""The settings-console shell: navigation the seed names, shown to everyone
signed in; admin-only entries only to org admins."""

from django.urls import reverse

from crm.push.models import CrmFieldRequest

MAIN_NAV = (("Recordings", "recordings"), ("Deals", "deals"), ("Analytics", "analytics"))
SETTINGS_NAV = (
    ("Integrations", "settings-integrations", True),
    ("Organization Settings", "settings-organization", True),
    ("Roles and Permissions", "settings-roles", True),
    ("Trackers", "settings-trackers", True),
    ("Personal Settings", "settings-personal", False),
    ("SSO", "settings-sso", True),
)


def console(request):
    user = getattr(request, "user", None)
    if not user or not user.is_authenticated:
        return {}
    path = request.path
    is_admin = user.is_org_admin

    def item(label, name):
        url = reverse(name)
        return {"label": label, "url": url, "active": path.startswith(url)}

    # Seed: reps are required to fill out CRM picklists after their meetings and calls.
    pending = CrmFieldRequest.objects.filter(user=user, answered_at__isnull=True).count()
    return {
        "pending_crm_fields": pending,
        "pending_crm_fields_url": reverse("crm-field-requests"),
        "main_nav": [item(label, name) for label, name in MAIN_NAV],
        "settings_nav": [item(label, name) for label, name, admin_only in SETTINGS_NAV if is_admin or not admin_only],
        "current_org": user.org,
    }
