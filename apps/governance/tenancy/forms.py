from django import forms

from apps.governance.tenancy.models import SLUG_MAX


class SignupForm(forms.Form):
    name = forms.CharField(label="Company name", max_length=200)
    slug = forms.CharField(
        label="Workspace address",
        max_length=SLUG_MAX,
        help_text="Lower-case letters, digits and hyphens; your workspace lives at <address>.<our domain>.",
    )
    admin_email = forms.EmailField(label="Your work email")
    password = forms.CharField(label="Password", widget=forms.PasswordInput, strip=False)
