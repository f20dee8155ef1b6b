from django import forms
from django.contrib.auth.forms import PasswordResetForm

from tenants.models import User
from tenants.roles import Role


class MemberAddForm(forms.Form):
    email = forms.EmailField(max_length=254)
    role = forms.ChoiceField(choices=Role.choices, initial=Role.WRITER)


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)


class InvitationEmailForm(PasswordResetForm):
    """Sends a new member a link to choose their first password.

    Django's reset form skips accounts without a usable password, which is
    exactly what a newly invited member has.
    """

    def get_users(self, email):
        return User.objects.filter(email__iexact=email, is_active=True)
