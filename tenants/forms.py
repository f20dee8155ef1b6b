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


class InvitationAcceptForm(forms.Form):
    """The password of the account a new address gets; the service checks its strength."""

    password = forms.CharField(
        label="Choose a password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )
    password_again = forms.CharField(
        label="The same password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def clean(self):
        cleaned = super().clean() or {}
        if cleaned.get("password") and cleaned.get("password") != cleaned.get("password_again"):
            self.add_error("password_again", "The two passwords differ.")
        return cleaned
