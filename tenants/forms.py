from django import forms

from tenants.roles import Role


class MemberAddForm(forms.Form):
    email = forms.EmailField(max_length=254)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.WRITER)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
