"""Leads get a stored, indexed email domain (account ownership without LIKE '%@domain'), and
deliveries an index on (status, id) for the batch lease. Existing leads are backfilled here."""

from tortoise import migrations
from tortoise.fields import CharField
from tortoise.indexes import Index
from tortoise.migrations import operations as ops

BACKFILL_BATCH = 50_000


async def backfill_email_domain(apps, schema_editor):
    """Fill email_domain for leads stored before this migration, in batches of ids so a
    large table is not rewritten in one statement (emails hold exactly one "@")."""
    client = schema_editor.client
    if client.capabilities.dialect == "postgres":
        domain = "lower(split_part(email, '@', 2))"
    else:
        domain = "lower(substr(email, instr(email, '@') + 1))"
    _, rows = await client.execute_query("SELECT min(id), max(id) FROM leads")
    low, high = (rows[0][0], rows[0][1]) if rows else (None, None)
    if low is None:
        return
    for start in range(low, high + 1, BACKFILL_BATCH):
        await client.execute_query(
            f"UPDATE leads SET email_domain = {domain} "  # noqa: S608 - constant SQL
            f"WHERE id >= {start} AND id < {start + BACKFILL_BATCH} AND email_domain IS NULL"
        )


class Migration(migrations.Migration):
    dependencies = [("models", "0005_hubspot_contact_id")]

    initial = False

    operations = [
        ops.AddIndex(
            model_name="Delivery",
            index=Index(fields=["status", "id"]),
        ),
        ops.AddField(
            model_name="Lead",
            name="email_domain",
            field=CharField(null=True, max_length=255),
        ),
        ops.AddIndex(
            model_name="Lead",
            index=Index(fields=["email_domain", "claimed_at"]),
        ),
        ops.RunPython(backfill_email_domain, ops.RunPython.noop),
    ]
