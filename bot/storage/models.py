"""Tortoise models. Only `bot.storage` imports these; everyone else gets domain values."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model


class Lead(Model):
    id = fields.BigIntField(primary_key=True)
    email = fields.CharField(max_length=320, unique=True)  # normalised: trimmed, lower case
    # The part after "@", stored so account-ownership lookups use an index, not LIKE '%@x'.
    email_domain = fields.CharField(max_length=255, null=True)
    first_name = fields.CharField(max_length=200, null=True)
    last_name = fields.CharField(max_length=200, null=True)
    title = fields.CharField(max_length=300, null=True)
    company = fields.CharField(max_length=300, null=True)
    company_size = fields.IntField(null=True)
    industry = fields.CharField(max_length=200, null=True)
    country = fields.CharField(max_length=2, null=True)
    phone = fields.CharField(max_length=64, null=True)
    website = fields.CharField(max_length=500, null=True)
    source = fields.CharField(max_length=200, null=True)
    campaign = fields.CharField(max_length=200, null=True, db_index=True)  # utm.campaign, for SQL
    utm: dict[str, Any] = fields.JSONField(default=dict)
    custom: dict[str, Any] = fields.JSONField(default=dict)
    hubspot_contact_id = fields.CharField(max_length=40, null=True, db_index=True)

    state = fields.CharField(max_length=20, default="nurturing", db_index=True)
    score = fields.IntField(default=0)
    grade = fields.CharField(max_length=2, default="D")
    score_reasons: list[list[Any]] = fields.JSONField(default=list)
    scored_at = fields.DatetimeField(null=True, db_index=True)  # the decay sweep reads oldest

    created_at = fields.DatetimeField(db_index=True)
    updated_at = fields.DatetimeField()
    hot_at = fields.DatetimeField(null=True)
    cooldown_until = fields.DatetimeField(null=True)
    recontact_after = fields.DatetimeField(null=True)

    # Routing decision and the Slack card it produced (filled by the handoff service).
    # `cycle` counts hand-offs: it grows each time the lead is routed again (after a return or a
    # release), so per-cycle records such as nudges can fire again for the new hand-off.
    cycle = fields.IntField(default=0)
    routed_at = fields.DatetimeField(null=True, db_index=True)
    route_channel = fields.CharField(max_length=100, null=True)
    route_rule = fields.CharField(max_length=200, null=True)
    route_reason = fields.TextField(null=True)
    offered_to = fields.CharField(max_length=50, null=True)
    card_channel = fields.CharField(max_length=100, null=True)
    card_ts = fields.CharField(max_length=50, null=True)
    dm_channel = fields.CharField(max_length=100, null=True)  # the owner's DM about this lead
    dm_ts = fields.CharField(max_length=50, null=True)
    offer_channel = fields.CharField(max_length=100, null=True)  # the account owner's DM copy
    offer_ts = fields.CharField(max_length=50, null=True)

    claimed_by = fields.CharField(max_length=50, null=True, db_index=True)
    claimed_at = fields.DatetimeField(null=True, db_index=True)
    contacted_at = fields.DatetimeField(null=True, db_index=True)
    snoozed_until = fields.DatetimeField(null=True)
    closed_at = fields.DatetimeField(null=True, db_index=True)
    returned_at = fields.DatetimeField(null=True)
    return_reason = fields.CharField(max_length=50, null=True)
    return_note = fields.TextField(null=True)
    returned_by = fields.CharField(max_length=50, null=True)

    class Meta:
        table = "leads"
        indexes = (("email_domain", "claimed_at"),)


class Event(Model):
    id = fields.BigIntField(primary_key=True)
    lead: fields.ForeignKeyRelation[Lead] = fields.ForeignKeyField(
        "models.Lead", related_name="events", on_delete=fields.CASCADE
    )
    type = fields.CharField(max_length=64)
    occurred_at = fields.DatetimeField(db_index=True)
    properties: dict[str, Any] = fields.JSONField(default=dict)
    # UNIQUE: a delivery retried after a crash mid-processing adds its event once.
    delivery_id = fields.BigIntField(null=True, unique=True)
    created_at = fields.DatetimeField()

    class Meta:
        table = "events"


class ScoreSnapshot(Model):
    id = fields.BigIntField(primary_key=True)
    lead: fields.ForeignKeyRelation[Lead] = fields.ForeignKeyField(
        "models.Lead", related_name="scores", on_delete=fields.CASCADE
    )
    points = fields.IntField()
    grade = fields.CharField(max_length=2)
    reasons: list[list[Any]] = fields.JSONField(default=list)
    trigger = fields.CharField(max_length=64)
    created_at = fields.DatetimeField()

    class Meta:
        table = "score_snapshots"


class Transition(Model):
    """Audit trail: who did what to a lead, when, and the state before and after."""

    id = fields.BigIntField(primary_key=True)
    lead: fields.ForeignKeyRelation[Lead] = fields.ForeignKeyField(
        "models.Lead", related_name="transitions", on_delete=fields.CASCADE
    )
    actor = fields.CharField(max_length=100)  # Slack user ID, "system", or "delivery:<id>"
    action = fields.CharField(max_length=50)
    from_state = fields.CharField(max_length=20, null=True)
    to_state = fields.CharField(max_length=20)
    detail: dict[str, Any] = fields.JSONField(default=dict)
    at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "transitions"
        indexes = (("action", "at"),)


class Delivery(Model):
    """A raw inbound webhook body, stored before any processing so nothing is lost."""

    id = fields.BigIntField(primary_key=True)
    kind = fields.CharField(max_length=20)  # "lead" | "event"
    source = fields.CharField(max_length=50, default="generic")
    idempotency_key = fields.CharField(max_length=300, unique=True)
    body = fields.TextField()
    status = fields.CharField(max_length=20, default="pending", db_index=True)
    attempts = fields.IntField(default=0)
    error = fields.TextField(null=True)
    leased_until = fields.DatetimeField(null=True)
    received_at = fields.DatetimeField()
    processed_at = fields.DatetimeField(null=True)
    lead_id = fields.BigIntField(null=True)

    class Meta:
        table = "deliveries"
        # The worker leases the oldest due deliveries through a partial index of the
        # unprocessed ones, `deliveries_due`, made in raw SQL by migration 0009 (Tortoise's
        # PartialIndex cannot say `status IN (...)`). See `fetch_due`.


class OutboxItem(Model):
    """A Slack call or outbound webhook waiting to be delivered, at least once, in order."""

    id = fields.BigIntField(primary_key=True)
    kind = fields.CharField(max_length=30)  # "slack" | "webhook"
    method = fields.CharField(max_length=100)  # Slack method or webhook event name
    payload: dict[str, Any] = fields.JSONField()
    dedupe_key = fields.CharField(max_length=300, unique=True, null=True)
    lead_id = fields.BigIntField(null=True, db_index=True)
    status = fields.CharField(max_length=20, default="pending", db_index=True)
    attempts = fields.IntField(default=0)
    next_attempt_at = fields.DatetimeField(db_index=True)
    leased_until = fields.DatetimeField(null=True)
    # Who holds the lease: a fresh token per lease, so a worker whose lease ran out and was
    # taken over can no longer mark the item, however late its Slack call returns.
    lease_token = fields.CharField(max_length=64, null=True)
    # Lower goes first: cards and owner DMs before Home refreshes and digests.
    priority = fields.SmallIntField(default=1)
    last_error = fields.TextField(null=True)
    result: dict[str, Any] | None = fields.JSONField(null=True)
    created_at = fields.DatetimeField()
    sent_at = fields.DatetimeField(null=True)

    class Meta:
        table = "outbox"
        # The worker's scan (due pending items by priority) and its per-lead "older item
        # still pending" check.
        indexes = (("status", "priority", "id"), ("lead_id", "status", "id"))


class Nudge(Model):
    """A reminder or escalation: recorded once per lead, kind and hand-off cycle."""

    id = fields.BigIntField(primary_key=True)
    lead_id = fields.BigIntField(db_index=True)
    kind = fields.CharField(max_length=40)
    cycle = fields.IntField()
    status = fields.CharField(max_length=20, default="sent")
    target = fields.CharField(max_length=100, null=True)  # channel or user it went to
    created_at = fields.DatetimeField(db_index=True)

    class Meta:
        table = "nudges"
        unique_together = (("lead_id", "kind", "cycle"),)


class Rep(Model):
    """A sales rep's availability and fair-assignment counter."""

    user_id = fields.CharField(max_length=50, primary_key=True)
    paused_until = fields.DatetimeField(null=True)
    deactivated = fields.BooleanField(default=False)
    assigned_count = fields.IntField(default=0)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "reps"


class SlackEventReceipt(Model):
    """Slack redelivers events: a UNIQUE event_id makes handling them exactly once."""

    event_id = fields.CharField(max_length=100, primary_key=True)
    received_at = fields.DatetimeField()

    class Meta:
        table = "slack_event_receipts"


class CrmContact(Model):
    """The HubSpot contact a lead was matched to, and the newest move written to it."""

    lead_id = fields.BigIntField(primary_key=True)
    hubspot_id = fields.CharField(max_length=50)
    # When the newest move written to the contact happened: an older one retried late must not
    # overwrite it (write-back items are not ordered per lead).
    synced_at = fields.DatetimeField(null=True)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "crm_contacts"


class CrmOwner(Model):
    """A rep's HubSpot owner, looked up by their Slack email (no owner_id: no match)."""

    user_id = fields.CharField(max_length=50, primary_key=True)
    email = fields.CharField(max_length=320, null=True)
    owner_id = fields.CharField(max_length=50, null=True)
    checked_at = fields.DatetimeField()

    class Meta:
        table = "crm_owners"


class WebhookEndpoint(Model):
    """Health of one subscriber endpoint: failing after an hour of errors, fine once it answers."""

    name = fields.CharField(max_length=50, primary_key=True)
    url = fields.CharField(max_length=2000)
    failing_since = fields.DatetimeField(null=True)  # first failure since the last success
    marked_failing_at = fields.DatetimeField(null=True)  # when managers were told
    last_error = fields.TextField(null=True)
    last_success_at = fields.DatetimeField(null=True)
    updated_at = fields.DatetimeField()

    class Meta:
        table = "webhook_endpoints"
