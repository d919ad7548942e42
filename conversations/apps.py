from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConversationsConfig(AppConfig):
    name = "conversations"
    verbose_name = _("Conversations")

    def ready(self) -> None:
        # Imported here, not at the top: models are not loaded before ready(). The tasks module is imported
        # so its tasks are in Celery's registry, where conversations.events.outbox finds them by name.
        import conversations.receivers
        import conversations.tasks  # noqa: F401
        from conversations.models import Conversation, Inbox, Message, QuickReply
        from tenants import audit_display
        from tenants.models import AuditLogEntry

        def inbox_names(tenant_id: int, values: set[object]) -> dict[object, str]:
            ids = {v for v in values if isinstance(v, int) and not isinstance(v, bool)}
            return dict(Inbox.objects.filter(tenant_id=tenant_id, pk__in=ids).values_list("pk", "name"))

        Action = AuditLogEntry.Action
        audit_display.register_kind("inbox", inbox_names)
        audit_display.register_kind("conversation_status", audit_display.choices_kind(Conversation.Status.choices))
        audit_display.register_kind("conversation_priority", audit_display.choices_kind(Conversation.Priority.choices))
        audit_display.register_kind("quick_reply_scope", audit_display.choices_kind(QuickReply.Scope.choices))
        audit_display.register_kind("message_type", audit_display.choices_kind(Message.Type.choices))
        audit_display.register_keys({"inbox_id": "inbox", "snoozed_until": "moment"})
        audit_display.register_keys({"from": "user", "to": "user"}, action=Action.CONVERSATION_ASSIGNED)
        status = {"from": "conversation_status", "to": "conversation_status"}
        audit_display.register_keys(status, action=Action.CONVERSATION_STATUS_CHANGED)
        priority = {"from": "conversation_priority", "to": "conversation_priority"}
        audit_display.register_keys(priority, action=Action.CONVERSATION_PRIORITY_CHANGED)
        audit_display.register_keys({"type": "message_type"}, action=Action.MESSAGE_SENT)
        for action in (Action.QUICK_REPLY_CREATED, Action.QUICK_REPLY_CHANGED, Action.QUICK_REPLY_DELETED):
            audit_display.register_keys({"scope": "quick_reply_scope"}, action=action)
