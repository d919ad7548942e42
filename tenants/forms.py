from __future__ import annotations

from typing import Any, cast

from django import forms
from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.utils.translation import gettext_lazy as _

from tenants.countries import country_choices
from tenants.models import Role, Tenant
from tenants.permissions import Perm
from tenants.timezones import time_zone_names


class WorkspaceCreateForm(forms.Form):
    name = forms.CharField(label=_("Workspace name"), max_length=120)
    timezone = forms.ChoiceField(label=_("Time zone"), initial="America/Sao_Paulo")
    locale = forms.ChoiceField(label=_("Language"), choices=settings.LANGUAGES, initial="pt-br")

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["timezone"]).choices = [(tz, tz) for tz in time_zone_names()]


class WorkspaceSettingsForm(forms.Form):
    locale = forms.ChoiceField(
        label=_("Language"),
        choices=settings.LANGUAGES,
        help_text=_(
            "The product is shown in this language to members who have not chosen their own, and customers"
            " whose language is not known get the messages the product sends in it."
        ),
    )
    timezone = forms.ChoiceField(
        label=_("Time zone"), help_text=_("Times are shown in this zone to members who have not chosen their own.")
    )
    country = forms.ChoiceField(
        label=_("Country"), help_text=_("Phone numbers of this country are shown in its national format.")
    )

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["timezone"]).choices = [(tz, tz) for tz in time_zone_names()]
        cast(forms.ChoiceField, self.fields["country"]).choices = country_choices()


class PreferencesForm(forms.Form):
    language = forms.ChoiceField(label=_("Language"), required=False)
    time_zone = forms.ChoiceField(label=_("Time zone"), required=False)

    def __init__(self, *args: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["language"]).choices = [
            ("", _("The workspace's language")),
            *settings.LANGUAGES,
        ]
        cast(forms.ChoiceField, self.fields["time_zone"]).choices = [
            ("", _("The workspace's time zone")),
            *((tz, tz) for tz in time_zone_names()),
        ]


def _least_privileged(roles: Any) -> Role | None:
    return roles.filter(builtin=True, key="agent").first()


class InviteForm(forms.Form):
    email = forms.EmailField(label=_("E-mail address"))
    role = forms.ModelChoiceField(label=_("Role"), queryset=Role.objects.none(), empty_label=None)

    def __init__(self, *args: Any, roles: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["role"]).queryset = roles
        self.fields["role"].initial = _least_privileged(roles)


class MemberRoleForm(forms.Form):
    role = forms.ModelChoiceField(queryset=Role.objects.none(), empty_label=None)

    def __init__(self, *args: Any, roles: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["role"]).queryset = roles


class RoleForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=80)
    description = forms.CharField(label=_("Description"), max_length=255, required=False)
    permissions = forms.MultipleChoiceField(
        label=_("Permissions"), choices=Perm.choices, widget=forms.CheckboxSelectMultiple, required=False
    )


class SecurityForm(forms.Form):
    mfa_policy = forms.ChoiceField(
        label=_("Multi-factor authentication"), choices=Tenant.MfaPolicy.choices, widget=forms.RadioSelect
    )
    roles = forms.ModelMultipleChoiceField(
        label=_("Roles that must use MFA"),
        queryset=Role.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    def __init__(self, *args: Any, roles: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["roles"]).queryset = roles


class ApiTokenForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=80)
    role = forms.ModelChoiceField(label=_("Role"), queryset=Role.objects.none(), empty_label=None)

    def __init__(self, *args: Any, roles: Any, **kwargs: Any):
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["role"]).queryset = roles
        self.fields["role"].initial = _least_privileged(roles)


class AuditFilterForm(forms.Form):
    actor = forms.TypedChoiceField(label=_("Actor"), required=False, coerce=int, empty_value=None)
    action = forms.ChoiceField(label=_("Action"), required=False)
    date_from = forms.DateField(label=_("From"), required=False, widget=forms.DateInput(attrs={"type": "date"}))
    date_to = forms.DateField(label=_("To"), required=False, widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, actors: list[tuple[int, str]], actions: list[tuple[str, str]], **kwargs: Any):
        super().__init__(*args, **kwargs)
        cast(forms.ChoiceField, self.fields["actor"]).choices = [("", _("Anyone")), *actors]
        cast(forms.ChoiceField, self.fields["action"]).choices = [("", _("Any action")), *actions]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("date_from") and data.get("date_to") and data["date_from"] > data["date_to"]:
            raise forms.ValidationError(_("The start date is after the end date."))
        return data


class AcceptInvitationForm(forms.Form):
    name = forms.CharField(label=_("Your name"), max_length=150)
    password1 = forms.CharField(label=_("Password"), widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}))
    password2 = forms.CharField(
        label=_("Password (again)"), widget=forms.PasswordInput(attrs={"autocomplete": "new-password"})
    )

    def __init__(self, *args: Any, email: str, **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.email = email

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        p1, p2 = data.get("password1"), data.get("password2")
        if p1 and p2 and p1 != p2:
            self.add_error("password2", _("The two passwords differ."))
        elif p1:
            from tenants.models import User

            try:
                validate_password(p1, user=User(email=self.email, name=data.get("name", "")))
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return data
