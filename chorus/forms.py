from django import forms
from django.contrib.auth.forms import AuthenticationForm

from chorus.models import Organization, Role


class EmailLoginForm(AuthenticationForm):
    username = forms.EmailField(
        label="Email", widget=forms.EmailInput(attrs={"autofocus": True, "autocomplete": "email"})
    )

    error_messages = {
        "invalid_login": "That email and password do not match an active account.",
        "inactive": "This account is deactivated. Ask your Chorus admin to reactivate it.",
    }


class DomainsField(forms.CharField):
    """Comma- or space-separated email domains, each checked for shape."""

    def to_python(self, value):
        value = super().to_python(value) or ""
        return [d.strip().lower().lstrip("@") for d in value.replace(",", " ").split() if d.strip()]

    def validate(self, value):
        super().validate(value)
        for d in value:
            if "." not in d or any(c in d for c in "/:@ ") or d.startswith("."):
                raise forms.ValidationError(f"“{d}” is not an email domain (for example: acme.com).")

    def prepare_value(self, value):
        return ", ".join(value) if isinstance(value, list) else value


class AddressListField(forms.CharField):
    """Email addresses and domains, one per line (or comma-separated)."""

    widget = forms.Textarea(attrs={"rows": 3, "placeholder": "assistant@acme.com\npartner-agency.com"})

    def to_python(self, value):
        value = super().to_python(value) or ""
        entries = (e.lower() for e in value.replace(",", " ").split())
        return [e[1:] if e.startswith("@") else e for e in entries]  # "@acme.com" is the domain

    def validate(self, value):
        super().validate(value)
        for entry in value:
            local, _, domain = entry.rpartition("@")
            if ("@" in entry and not local) or "." not in domain or any(c in domain for c in "/:@ ") \
                    or domain.startswith(".") or domain.endswith("."):
                raise forms.ValidationError(f"“{entry}” is neither an email address nor a domain "
                                            "(for example: jo@acme.com or acme.com).")

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list) else value


class OrganizationForm(forms.Form):
    name = forms.CharField(label="Organization name", max_length=200)
    email_domains = DomainsField(
        label="Internal email domains", required=False,
        help_text="Attendees with these domains are your colleagues; anyone else is external.",
    )
    ignored_participants = AddressListField(
        label="Ignored participants", required=False,
        help_text="Neither colleagues nor prospects — assistants, partner agencies, shared mailboxes. A meeting with "
                  "only colleagues and ignored participants is not recorded and not pushed to the CRM. One email "
                  "address or domain per line.",
    )
    blocked_participants = AddressListField(
        label="Block list", required=False,
        help_text="Chorus never records meetings with anyone on this list, and never pushes them to the CRM. One "
                  "email address or domain per line.",
    )

    @classmethod
    def for_org(cls, org):
        return cls(initial={name: getattr(org, name) for name in cls.base_fields})


class DisplayAsForm(forms.Form):
    notetaker_display_name = forms.CharField(
        label="Display As", max_length=Organization._meta.get_field("notetaker_display_name").max_length,
        widget=forms.TextInput(attrs={"autofocus": True}),
        help_text="The name the Chorus Notetaker joins meetings with.",
    )

    @classmethod
    def for_org(cls, org):
        return cls(initial={"notetaker_display_name": org.notetaker_display_name})


class RoleCreateForm(forms.Form):
    name = forms.CharField(label="Role name", max_length=100)


class ComplianceForm(forms.Form):
    compliance_mode_enabled = forms.BooleanField(label="Enabled", required=False)
    compliance_mode_enforced = forms.BooleanField(label="Enforced", required=False)
    delete_calls_without_notification = forms.TypedChoiceField(
        label="Delete Calls Without Recording Notification",
        choices=[(False, "Disabled"), (True, "Enabled")], coerce=lambda v: v in (True, "True"),
        widget=forms.RadioSelect, initial=False,
    )

    @classmethod
    def for_role(cls, role: Role, data=None):
        return cls(data, initial={f: getattr(role, f) for f in cls.base_fields})


class ApiTokenForm(forms.Form):
    name = forms.CharField(label="Token name", max_length=100, help_text="For example “Zapier”.")
