from django import forms

from api.models import Scope


class ApiKeyForm(forms.Form):
    name = forms.CharField(max_length=80, help_text="Who uses it, e.g. HubSpot sync.")
    scopes = forms.MultipleChoiceField(
        choices=Scope.choices, widget=forms.CheckboxSelectMultiple, initial=[Scope.READ]
    )
    requests_per_minute = forms.IntegerField(min_value=0, initial=60, help_text="API requests; 0: no limit.")
    tokens_per_minute = forms.IntegerField(
        min_value=0, initial=0, help_text="Model tokens through /v1/chat/completions; 0: no limit."
    )
