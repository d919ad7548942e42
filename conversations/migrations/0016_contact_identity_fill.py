"""Each contact's identities from the rows already stored, in batches of ids, each one short statement.

First the column the core used to hold (``Contact.wa_id``, the WhatsApp channel's address), then the
address of every ContactInbox on its inbox's channel type, for contacts that have no identity there yet
(the older column wins where both name one). Only what is missing is written, so the fill resumes
where an interrupted run stopped, and 0014 runs it again to catch rows written meanwhile.
"""

from django.db import migrations
from django.utils import timezone

BATCH = 10_000
# The channel whose address the dropped column held.
COLUMN_CHANNEL_TYPE = "whatsapp"

FROM_COLUMN = """
    INSERT INTO conversations_contactidentity (created_at, updated_at, tenant_id, contact_id, channel_type, address)
    SELECT %s, %s, c.tenant_id, c.id, %s, c.wa_id FROM conversations_contact c
    WHERE c.id >= %s AND c.id < %s AND c.wa_id <> ''
      AND NOT EXISTS (
        SELECT 1 FROM conversations_contactidentity i WHERE i.contact_id = c.id AND i.channel_type = %s
      )
    ON CONFLICT DO NOTHING
"""
# A contact's identity on a channel type is one address: the oldest link names it.
FROM_LINKS = """
    INSERT INTO conversations_contactidentity (created_at, updated_at, tenant_id, contact_id, channel_type, address)
    SELECT %s, %s, l.tenant_id, l.contact_id, b.channel_type, l.source_id
    FROM conversations_contactinbox l JOIN conversations_inbox b ON b.id = l.inbox_id
    WHERE l.id >= %s AND l.id < %s AND l.source_id <> ''
      AND NOT EXISTS (
        SELECT 1 FROM conversations_contactidentity i
        WHERE i.contact_id = l.contact_id AND i.channel_type = b.channel_type
      )
      AND NOT EXISTS (
        SELECT 1 FROM conversations_contactinbox o JOIN conversations_inbox ob ON ob.id = o.inbox_id
        WHERE o.contact_id = l.contact_id AND ob.channel_type = b.channel_type AND o.id < l.id
      )
    ON CONFLICT DO NOTHING
"""


def _id_range(cursor, table: str) -> tuple[int, int]:
    cursor.execute(f"SELECT COALESCE(MIN(id), 0), COALESCE(MAX(id), -1) FROM {table}")  # noqa: S608
    low, high = cursor.fetchone()
    return low, high


def fill(apps, schema_editor, *, batch: int = 0):
    """Write the missing identities, ``batch`` ids per statement (default ``BATCH``)."""
    batch = batch or BATCH
    now = timezone.now()
    with schema_editor.connection.cursor() as cursor:
        low, high = _id_range(cursor, "conversations_contact")
        for start in range(low, high + 1, batch):
            cursor.execute(FROM_COLUMN, [now, now, COLUMN_CHANNEL_TYPE, start, start + batch, COLUMN_CHANNEL_TYPE])
        low, high = _id_range(cursor, "conversations_contactinbox")
        for start in range(low, high + 1, batch):
            cursor.execute(FROM_LINKS, [now, now, start, start + batch])


def unfill(apps, schema_editor):
    Contact = apps.get_model("conversations", "Contact")
    ContactIdentity = apps.get_model("conversations", "ContactIdentity")
    last = 0
    while True:
        rows = list(
            ContactIdentity.objects.filter(pk__gt=last, channel_type=COLUMN_CHANNEL_TYPE)
            .order_by("pk")
            .values_list("pk", "contact_id", "address")[:BATCH]
        )
        if not rows:
            break
        for _pk, contact_id, address in rows:
            Contact.objects.filter(pk=contact_id).update(wa_id=address)
        last = rows[-1][0]


class Migration(migrations.Migration):
    dependencies = [("conversations", "0015_contact_identity")]

    operations = [migrations.RunPython(fill, unfill)]
