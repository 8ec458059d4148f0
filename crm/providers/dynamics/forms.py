"""Dynamics' connect option: the organisation's own Dynamics URL."""

from django import forms


class DynamicsConnectForm(forms.Form):
    org_url = forms.CharField(
        label="Your organization's Dynamics URL", max_length=255,
        widget=forms.TextInput(attrs={"placeholder": "https://EXAMPLE.crm.dynamics.com", "inputmode": "url",
                                      "autocomplete": "url"}),
        help_text="You can find this link when logging into Dynamics. It will look similar to "
                  "https://EXAMPLE.crm.dynamics.com.",
        error_messages={"required": "Enter your organization's Dynamics URL, for example "
                                    "https://EXAMPLE.crm.dynamics.com."},
    )

