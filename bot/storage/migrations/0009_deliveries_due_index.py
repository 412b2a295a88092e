"""The batch lease reads the oldest due deliveries. With (status, id) neither database walked
the index in id order for `pending OR expired processing`: both scanned from the lowest id,
skipping every processed delivery, on each batch (15-18 ms per lease behind 150k processed,
and growing with the table). A partial index holds only the unprocessed ones, so a lease
reads about as many index entries as it locks. Tortoise's PartialIndex takes only equality
conditions, hence raw SQL; the statement is the same on SQLite and PostgreSQL."""

from tortoise import migrations
from tortoise.migrations import operations as ops


class Migration(migrations.Migration):
    dependencies = [("models", "0006_crm_and_webhooks")]

    initial = False

    operations = [
        ops.RemoveIndex(model_name="Delivery", fields=["status", "id"]),
        ops.RunSQL(
            "CREATE INDEX IF NOT EXISTS deliveries_due ON deliveries (id) "
            "WHERE status IN ('pending', 'processing')",
            reverse_sql="DROP INDEX IF EXISTS deliveries_due",
        ),
    ]
