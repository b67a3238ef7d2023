"""Forms of the account pages: API tokens and the TOTP second factor."""

import datetime as dt

from django import forms
from django.utils import timezone

from .models import ApiToken, User


class ApiTokenCreateForm(forms.Form):
    """A token a user creates for themself; viewers may only create read-only ones."""

    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. “CRM sync”.")
    scope = forms.ChoiceField(choices=ApiToken.Scope.choices, initial=ApiToken.Scope.READ)
    expires_on = forms.DateField(
        required=False,
        label="Valid until (optional)",
        help_text="The last day the token works; empty means until revoked.",
        widget=forms.DateInput(attrs={"type": "date"}),
    )

    def __init__(self, *args, user: User, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.user = user

    def clean_scope(self) -> str:
        scope = self.cleaned_data["scope"]
        if scope == ApiToken.Scope.WRITE and not self.user.can_write:
            raise forms.ValidationError(
                "Your role can only read, so the token can only be read-only."
            )
        return scope

    def clean_expires_on(self) -> dt.date | None:
        day = self.cleaned_data.get("expires_on")
        if day is not None and day < timezone.localdate():
            raise forms.ValidationError("The last valid day cannot be in the past.")
        return day

    def expires_at(self) -> dt.datetime | None:
        """The end of the chosen day in the site's time zone."""
        day = self.cleaned_data.get("expires_on")
        if day is None:
            return None
        return timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=1), dt.time.min))


class OtpTokenForm(forms.Form):
    """The six-digit code an authenticator app shows."""

    otp_token = forms.RegexField(
        regex=r"^\s*\d{6}\s*$",
        label="Code from your authenticator app",
        error_messages={"invalid": "Enter the 6-digit code your authenticator app shows."},
        widget=forms.TextInput(
            attrs={"autocomplete": "one-time-code", "inputmode": "numeric", "autofocus": True}
        ),
    )

    def clean_otp_token(self) -> str:
        return self.cleaned_data["otp_token"].strip()
