from django.apps import AppConfig
from django.core.exceptions import FieldDoesNotExist
from django.utils.translation import get_language_info, pgettext_lazy
from django.utils.translation import gettext_lazy as _


class ConversationsConfig(AppConfig):
    name = "conversations"
    verbose_name = _("Conversations")

    def ready(self) -> None:
        # Imported here, not at the top: models are not loaded before ready(). The tasks module is imported
        # so its tasks are in Celery's registry, where conversations.events.outbox finds them by name.
        import conversations.receivers
        import conversations.tasks  # noqa: F401
        from conversations.actors import actor_audit_label_display
        from conversations.models import Contact, Conversation, Inbox, Message, QuickReply, Team
        from tenants import audit_display
        from tenants.models import AuditLogEntry

        def inbox_names(tenant_id: int, values: set[object]) -> dict[object, str]:
            ids = {v for v in values if isinstance(v, int) and not isinstance(v, bool)}
            return dict(Inbox.objects.filter(tenant_id=tenant_id, pk__in=ids).values_list("pk", "name"))

        def team_names(tenant_id: int, values: set[object]) -> dict[object, str]:
            ids = {v for v in values if isinstance(v, int) and not isinstance(v, bool)}
            return dict(Team.objects.filter(tenant_id=tenant_id, pk__in=ids).values_list("pk", "name"))

        def language_names(tenant_id: int, values: set[object]) -> dict[object, str]:
            names = {}
            for value in values:
                try:
                    names[value] = str(get_language_info(str(value))["name_translated"])
                except KeyError:
                    names[value] = str(value)
            return names

        def contact_fields(tenant_id: int, values: set[object]) -> dict[object, str]:
            names = {}
            for value in values:
                try:
                    field = Contact._meta.get_field(str(value))
                except FieldDoesNotExist:
                    field = None
                names[value] = str(getattr(field, "verbose_name", value))
            return names

        Action = AuditLogEntry.Action
        audit_display.register_actor_reader(actor_audit_label_display)
        audit_display.register_kind("inbox", inbox_names, empty=pgettext_lazy("inbox", "none"))
        audit_display.register_kind("team", team_names, empty=pgettext_lazy("team", "none"))
        audit_display.register_kind("label", audit_display.as_written, empty=pgettext_lazy("labels", "none"))
        audit_display.register_kind("file", audit_display.as_written, empty=pgettext_lazy("attachment", "none"))
        audit_display.register_kind("language", language_names, empty=pgettext_lazy("languages", "none"))
        audit_display.register_kind("contact_field", contact_fields, empty=pgettext_lazy("contact fields", "none"))
        audit_display.register_kind("conversation_status", audit_display.choices_kind(Conversation.Status.choices))
        audit_display.register_kind("conversation_priority", audit_display.choices_kind(Conversation.Priority.choices))
        audit_display.register_kind("quick_reply_scope", audit_display.choices_kind(QuickReply.Scope.choices))
        audit_display.register_kind("message_type", audit_display.choices_kind(Message.Type.choices))
        audit_display.register_keys({"inbox_id": "inbox", "snoozed_until": "moment"})
        audit_display.register_keys({"from": "user", "to": "user"}, action=Action.CONVERSATION_ASSIGNED)
        audit_display.register_keys({"from": "team", "to": "team"}, action=Action.CONVERSATION_TEAM_CHANGED)
        status = {"from": "conversation_status", "to": "conversation_status"}
        audit_display.register_keys(status, action=Action.CONVERSATION_STATUS_CHANGED)
        priority = {"from": "conversation_priority", "to": "conversation_priority"}
        audit_display.register_keys(priority, action=Action.CONVERSATION_PRIORITY_CHANGED)
        audit_display.register_keys({"type": "message_type"}, action=Action.MESSAGE_SENT)
        for action in (Action.QUICK_REPLY_CREATED, Action.QUICK_REPLY_CHANGED, Action.QUICK_REPLY_DELETED):
            audit_display.register_keys({"scope": "quick_reply_scope", "attachment": "file"}, action=action)
        audit_display.register_keys({"fields": "contact_field", "labels_added": "label", "labels_removed": "label"})
        audit_display.register_keys({"added": "label", "removed": "label"}, action=Action.CONVERSATION_LABELS_CHANGED)
        for action in (Action.CUSTOMER_TEXT_CREATED, Action.CUSTOMER_TEXT_CHANGED, Action.CUSTOMER_TEXT_DELETED):
            audit_display.register_keys(
                {"languages": "language", "added": "language", "removed": "language", "changed": "language"},
                action=action,
            )
        audit_display.register_labels(
            {
                "inbox_id": _("inbox"),
                "snoozed_until": _("until"),
                "labels_added": _("labels added"),
                "labels_removed": _("labels removed"),
                "fields": _("fields changed"),
                "color": _("colour"),
                "shortcut": _("shortcut"),
                "scope": _("scope"),
                "attachment": _("attachment"),
                "text_length": _("text length"),
                "message_id": _("message id"),
                "key": _("text"),
                "languages": _("languages"),
                "subscriber": _("subscriber"),
                "event_type": _("event type"),
                "event_id": _("event id"),
                "attempts": _("attempts"),
                "last_error": _("last error"),
            }
        )
        audit_display.register_labels(
            {"added": pgettext_lazy("labels", "added"), "removed": pgettext_lazy("labels", "removed")},
            action=Action.CONVERSATION_LABELS_CHANGED,
        )
        audit_display.register_labels(
            {
                "added": pgettext_lazy("languages", "added"),
                "removed": pgettext_lazy("languages", "removed"),
                "changed": pgettext_lazy("languages", "changed"),
            },
            action=Action.CUSTOMER_TEXT_CHANGED,
        )
