"""One form per dialer, built from its catalogue row: its credential fields (secret
ones masked and never rendered back) and the CRM field picked from the connected
CRM's Task fields, with a free-text fallback."""

from __future__ import annotations

import re

from django import forms

from chorus.secrets import mask
from dialers.catalogue import BLANK_FIELD, HUBSPOT_FIELD, OPTIONAL_FIELD, ZOOM_PHONE, Dialer

OTHER = "__other__"
API_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")


def crm_field_label(dialer: Dialer, crm_label: str) -> str:
    if dialer.crm_field in (BLANK_FIELD, OPTIONAL_FIELD) or dialer.family == ZOOM_PHONE:
        return "Call Disposition Field"
    if dialer.crm_field == HUBSPOT_FIELD:
        return "HubSpot API field name (call recording)"
    return f"{crm_label or 'Salesforce'} API field name (call recording)"


class DialerForm(forms.Form):
    def __init__(self, *args, dialer: Dialer, task_fields: list[tuple[str, str]], crm_label: str = "",
                 crm_key: str = "", connection=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.dialer = dialer
        stored_secrets = connection.secrets if connection else {}
        config = connection.config if connection else {}
        self.credentials = dialer.credentials_asked(crm_key)
        for f in self.credentials:
            if f.secret:
                stored = stored_secrets.get(f.name)
                help_text = f.help
                if stored:
                    help_text = f"Saved ({mask(stored)}). Leave blank to keep it."
                self.fields[f.name] = forms.CharField(
                    label=f.label, required=not stored, help_text=help_text, strip=True,
                    widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}))
            else:
                self.fields[f.name] = forms.CharField(label=f.label, required=True, help_text=f.help,
                                                      initial=config.get(f.name, ""),
                                                      widget=forms.TextInput(attrs={"autocomplete": "off"}))
        if dialer.asks_crm_field:
            current = config.get("crm_field", "")
            known = {api for api, _ in task_fields}
            required = dialer.crm_field_required
            if dialer.crm_field == BLANK_FIELD:
                help_text = 'Leave the "Call Disposition" field blank.'
            elif dialer.crm_field == OPTIONAL_FIELD:
                help_text = ("Select the Salesforce API field name your organization uses to log your call outcome "
                             "(e.g. Call_Recording__c). If you do not have a field for this, leave this drop "
                             "down blank.")
            else:
                help_text = "The Task field your dialer writes the call recording URL to (e.g. Call_Recording__c)."
            choices = [("", "— Leave blank —" if not required else "— Select a Task field —")]
            choices += [(api, f"{label} ({api})") for api, label in task_fields]
            if dialer.crm_field != BLANK_FIELD:
                choices.append((OTHER, "Not listed: type the API name"))
            initial = current if (current in known or not current) else OTHER
            self.fields["crm_field"] = forms.ChoiceField(
                label=crm_field_label(dialer, crm_label), choices=choices, required=False, initial=initial,
                help_text=help_text)
            if dialer.crm_field != BLANK_FIELD:
                self.fields["crm_field_other"] = forms.CharField(
                    label="Not in the list? Field API name", required=False,
                    initial=current if current not in known else "",
                    help_text="As in your CRM's Task object, e.g. Call_Recording__c.",
                    widget=forms.TextInput(attrs={"placeholder": "Call_Recording__c", "autocomplete": "off"}))

    def clean(self):
        cleaned = super().clean()
        other = (cleaned.get("crm_field_other") or "").strip()
        if other and not API_NAME.match(other):
            self.add_error("crm_field_other", "Enter the field's API name (letters, digits and underscores, "
                                              "e.g. Call_Recording__c).")
        return cleaned

    def values(self) -> dict[str, str]:
        data = {name: value for name, value in self.cleaned_data.items()
                if name not in ("crm_field", "crm_field_other")}
        if "crm_field" in self.cleaned_data:
            picked = self.cleaned_data.get("crm_field") or ""
            other = (self.cleaned_data.get("crm_field_other") or "").strip()
            data["crm_field"] = other if picked == OTHER or (not picked and other) else picked
        return data

    def credential_fields(self):
        return [self[f.name] for f in self.credentials]

    def crm_fields(self):
        return [self[n] for n in ("crm_field", "crm_field_other") if n in self.fields]


class NotificationDetectionForm(forms.Form):
    """How Delete Calls Without Recording Notification recognises the notification."""

    phrases = forms.CharField(
        label="Recording notification phrases", required=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text="One per line, case-insensitive. Empty: Chorus' defaults (shown as placeholder).",
    )
    window_seconds = forms.IntegerField(label="Heard within the first (seconds)", min_value=5, max_value=600)

    @classmethod
    def for_settings(cls, settings_row, data=None):
        from dialers.models import DEFAULT_NOTIFICATION_PHRASES

        form = cls(data, initial={"phrases": "\n".join(settings_row.phrases or []),
                                  "window_seconds": settings_row.window_seconds})
        form.fields["phrases"].widget.attrs["placeholder"] = "\n".join(DEFAULT_NOTIFICATION_PHRASES)
        return form

    def cleaned_phrases(self) -> list[str]:
        return [line for line in self.cleaned_data["phrases"].splitlines() if line.strip()]
