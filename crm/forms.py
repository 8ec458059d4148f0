from django import forms


class FieldSelectionForm(forms.Form):
    fields = forms.TypedMultipleChoiceField(coerce=int, required=False, choices=())

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Any integer is accepted here; the view checks each id belongs to the org.
        self.fields["fields"].valid_value = lambda value: str(value).isdigit()
