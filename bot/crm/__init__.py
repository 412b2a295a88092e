"""CRM write-back: HubSpot client and the outbox sender that keeps contacts in step."""
