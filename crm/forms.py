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


class FieldSelectionForm(forms.Form):
    fields = forms.TypedMultipleChoiceField(coerce=int, required=False, choices=())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Any integer is accepted here; the view checks each id belongs to the org.
        self.fields["fields"].valid_value = lambda value: str(value).isdigit()
