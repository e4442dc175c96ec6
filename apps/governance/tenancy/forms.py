from django import forms
from django.conf import settings

from apps.governance.tenancy.models import SLUG_MAX


class SignupForm(forms.Form):
    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["slug"].help_text = (
            f"Lower-case letters, digits and hyphens; your workspace will live at "
            f"<address>.{settings.KIKI_BASE_DOMAIN}"
        )

    name = forms.CharField(label="Company name", max_length=200)
    slug = forms.CharField(
        label="Workspace address",
        max_length=SLUG_MAX,
        help_text="Lower-case letters, digits and hyphens; your workspace lives at <address>.<our domain>.",
    )
    admin_email = forms.EmailField(label="Your work email")
    password = forms.CharField(label="Password", widget=forms.PasswordInput, strip=False)
