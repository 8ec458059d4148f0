"""The seed's Gainsight Integration form: Access Key (required) and Domain Name."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from gainsight.services import KEY_REQUIRED, gainsight_domain_normalize


class GainsightForm(forms.Form):
    # A secret: never rendered back (render_value=False), not even after a refusal.
    access_key = forms.CharField(label="Access Key", strip=True, error_messages={"required": KEY_REQUIRED},
                                 widget=forms.PasswordInput(attrs={"autocomplete": "off", "spellcheck": "false"}))
    domain = forms.CharField(label="Domain Name", required=False, strip=True,
                             help_text="The leading part of your Gainsight address: for "
                                       "https://NAME.gainsightcloud.com/ enter NAME.",
                             widget=forms.TextInput(attrs={"placeholder": "NAME", "autocomplete": "off",
                                                           "spellcheck": "false"}))

    def clean_domain(self) -> str:
        try:
            return gainsight_domain_normalize(self.cleaned_data.get("domain", ""))
        except ValidationError as exc:
            raise ValidationError(exc.messages) from None
