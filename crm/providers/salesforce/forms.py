"""Salesforce's connect options: production, a sandbox, or the org's My Domain."""

from django import forms


class SalesforceConnectForm(forms.Form):
    environment = forms.ChoiceField(
        label="Salesforce environment",
        choices=[("production", "Production (login.salesforce.com)"), ("sandbox", "Sandbox (test.salesforce.com)"),
                 ("mydomain", "My Domain")],
        initial="production", widget=forms.RadioSelect, required=False,
    )
    my_domain = forms.CharField(
        label="My Domain URL", required=False, max_length=255,
        widget=forms.TextInput(attrs={"placeholder": "https://acme.my.salesforce.com", "inputmode": "url"}),
        help_text="Only when your company signs in to Salesforce through its My Domain.",
    )

    def clean(self):
        data = super().clean()
        if data.get("environment") == "mydomain" and not data.get("my_domain"):
            self.add_error("my_domain", "Enter your My Domain URL, for example https://acme.my.salesforce.com.")
        return data

