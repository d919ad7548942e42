from __future__ import annotations

from typing import Any, cast

from django import forms
from django.utils.translation import gettext_lazy as _

from conversations.media import QUICK_REPLY_ATTACHMENT_TYPES
from conversations.models import Inbox, QuickReply
from tenants.models import Membership


class LabelForm(forms.Form):
    name = forms.CharField(label=_("Name"), max_length=60)
    color = forms.CharField(
        label=_("Colour"), max_length=7, initial="#1f6feb", widget=forms.TextInput(attrs={"type": "color"})
    )
    description = forms.CharField(label=_("Description"), max_length=255, required=False)


class QuickReplyForm(forms.Form):
    shortcut = forms.SlugField(
        label=_("Shortcut"), max_length=40, help_text=_("Typed after a slash in the reply box, e.g. /hours.")
    )
    text = forms.CharField(
        label=_("Text"),
        max_length=4096,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_("May use variables such as {{contact.name}}."),
    )
    scope = forms.ChoiceField(label=_("Who can use it"), choices=QuickReply.Scope.choices, widget=forms.RadioSelect)
    inbox = forms.ModelChoiceField(
        label=_("Inbox"), queryset=Inbox.objects.none(), required=False, help_text=_("Only for “One inbox”.")
    )
    attachment = forms.FileField(
        label=_("Attachment"),
        required=False,
        widget=forms.FileInput(attrs={"accept": ",".join(sorted(QUICK_REPLY_ATTACHMENT_TYPES))}),
        help_text=_("JPEG, PNG, PDF, MP4, OGG or MP3, up to 16 MB."),
    )
    remove_attachment = forms.BooleanField(label=_("Remove the current attachment"), required=False)

    def __init__(self, *args: Any, inboxes: Any, can_share: bool, has_attachment: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        cast(forms.ModelChoiceField, self.fields["inbox"]).queryset = inboxes
        if not can_share:
            # Members who do not manage the shared library create replies for themselves only.
            cast(forms.ChoiceField, self.fields["scope"]).choices = [
                (QuickReply.Scope.PERSONAL, QuickReply.Scope.PERSONAL.label)
            ]
            self.fields["scope"].initial = QuickReply.Scope.PERSONAL
            del self.fields["inbox"]
        else:
            self.fields["scope"].initial = QuickReply.Scope.TENANT
        if not has_attachment:
            del self.fields["remove_attachment"]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("scope") == QuickReply.Scope.INBOX and not data.get("inbox"):
            self.add_error("inbox", _("Choose the inbox that can use the quick reply."))
        return data


class AvailabilityForm(forms.Form):
    availability = forms.ChoiceField(
        label=_("Your availability"), choices=Membership.Availability.choices, widget=forms.RadioSelect
    )
