"""The Add a new Bucket popup: one form built from the chosen kind's parameters.
Secret fields never render their value back; on edit, blank keeps the stored one."""

from __future__ import annotations

from django import forms

from chorus.secrets import mask
from integrations.storage.providers import KINDS


class BucketForm(forms.Form):
    kind = forms.ChoiceField(label="Storage provider", choices=[(k.key, k.label) for k in KINDS.values()])

    def __init__(self, *args, kind: str = "s3", bucket=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.kind_key = kind if kind in KINDS else "s3"
        self.bucket = bucket
        self.fields["kind"].initial = self.kind_key
        stored = bucket.secrets if bucket is not None and bucket.config.get("kind") == self.kind_key else {}
        for p in KINDS[self.kind_key].params:
            if p.secret:
                widget = (
                    forms.Textarea(attrs={"rows": 4, "spellcheck": "false", "autocomplete": "off"})
                    if p.name == "service_account_json"
                    else forms.PasswordInput(attrs={"autocomplete": "off"})
                )
                help_text = p.help
                if stored.get(p.name):
                    widget.attrs["placeholder"] = f"Stored ({mask(stored[p.name])}) — leave blank to keep"
                    help_text = (help_text + " " if help_text else "") + "Leave blank to keep the stored value."
                self.fields[p.name] = forms.CharField(
                    label=p.label, required=False, widget=widget, help_text=help_text, strip=True
                )
            else:
                self.fields[p.name] = forms.CharField(
                    label=p.label,
                    required=False,
                    help_text=p.help,
                    initial=(
                        bucket.config.get(p.name, "")
                        if stored or (bucket and bucket.config.get("kind") == self.kind_key)
                        else ""
                    ),
                )

    def values(self) -> dict[str, str]:
        return {name: (self.data.get(name) or "") for name in self.fields if name != "kind"}
