"""Each contact's identities from the rows already stored, in batches (resumable: a rerun skips what exists).

First the column the core used to hold (``Contact.wa_id``, the WhatsApp channel's address), then the
address of every ContactInbox on its inbox's channel type, for contacts that have no identity there yet
(the older column wins where both name one).
"""

from django.db import migrations

BATCH = 2000
# The channel whose address the dropped column held.
COLUMN_CHANNEL_TYPE = "whatsapp"


def fill(apps, schema_editor):
    Contact = apps.get_model("conversations", "Contact")
    ContactInbox = apps.get_model("conversations", "ContactInbox")
    ContactIdentity = apps.get_model("conversations", "ContactIdentity")
    last = 0
    while True:
        rows = list(
            Contact.objects.filter(pk__gt=last)
            .exclude(wa_id="")
            .order_by("pk")
            .values_list("pk", "tenant_id", "wa_id")[:BATCH]
        )
        if not rows:
            break
        ContactIdentity.objects.bulk_create(
            [
                ContactIdentity(tenant_id=tenant_id, contact_id=pk, channel_type=COLUMN_CHANNEL_TYPE, address=address)
                for pk, tenant_id, address in rows
            ],
            ignore_conflicts=True,
        )
        last = rows[-1][0]
    last = 0
    while True:
        rows = list(
            ContactInbox.objects.filter(pk__gt=last)
            .order_by("pk")
            .values_list("pk", "tenant_id", "contact_id", "inbox__channel_type", "source_id")[:BATCH]
        )
        if not rows:
            break
        # A contact's identity on a channel type is one address: the first (oldest) link names it.
        ContactIdentity.objects.bulk_create(
            [
                ContactIdentity(tenant_id=tenant_id, contact_id=contact_id, channel_type=channel_type, address=address)
                for _pk, tenant_id, contact_id, channel_type, address in rows
                if address
            ],
            ignore_conflicts=True,
        )
        last = rows[-1][0]


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
    dependencies = [("conversations", "0012_contact_identity")]

    operations = [migrations.RunPython(fill, unfill)]
