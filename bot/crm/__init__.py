"""Clients for the CRMs Handoff reads from and writes back to."""
