from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _


class ChannelForm(forms.Form):
    name = forms.CharField(
        label=_("Inbox name"), max_length=120, help_text=_("Shown to agents, e.g. Sales or Support.")
    )
    display_phone_number = forms.CharField(label=_("Phone number"), max_length=32, help_text=_("With country code."))
    phone_number_id = forms.CharField(label=_("Phone number ID"), max_length=32)
    waba_id = forms.CharField(label=_("WhatsApp Business Account ID"), max_length=32)
    access_token = forms.CharField(
        label=_("Access token"),
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=_(
            "A permanent system-user token that can read this number at Meta (checked when you connect). "
            "Stored encrypted; never shown again."
        ),
    )
    app_secret = forms.CharField(
        label=_("App secret"),
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=_("Used to check the signature of every webhook. Stored encrypted."),
    )
    throughput_per_second = forms.IntegerField(label=_("Messages per second"), min_value=1, max_value=1000, initial=80)
    catalog_id = forms.CharField(
        label=_("Catalog ID"),
        max_length=32,
        required=False,
        help_text=_(
            "Optional: the ID of the Meta catalog (Commerce Manager) this number shows. The workspace's products "
            "are synced to it."
        ),
    )

    def clean_catalog_id(self) -> str:
        return _catalog_id(self.cleaned_data.get("catalog_id", ""))


class CatalogForm(forms.Form):
    catalog_id = forms.CharField(
        label=_("Catalog ID"),
        max_length=32,
        required=False,
        help_text=_(
            "The ID of the Meta catalog (Commerce Manager) this number shows; empty for none. The workspace's "
            "products are synced to it."
        ),
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )

    def clean_catalog_id(self) -> str:
        return _catalog_id(self.cleaned_data.get("catalog_id", ""))


def _catalog_id(value: str) -> str:
    value = value.strip()
    if value and not (value.isascii() and value.isdigit()):
        raise forms.ValidationError(_("The catalog ID must contain digits only."))
    return value
